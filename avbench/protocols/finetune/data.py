"""Clip batches for full finetuning: fresh random augmented clips every epoch, and the fixed test clips.

Training (CrissCross ``video_fullft.py``: 10 random clips per video per epoch, all N x 10 clips shuffled globally,
so a batch of 64 holds about 63.8 distinct videos): each video is decoded ONCE per epoch in a DataLoader worker and
its K clips are cut from that decode; they join a pool of up to ``buffer_videos`` videos (default 1.5 x the batch),
and every batch takes ONE clip from each of ``batch_size`` videos drawn at random from the pool (:func:`mix_batches`),
so a batch holds ``batch_size`` distinct videos whenever the pool has that many (until 0.5.0: a buffer of 8 videos
shuffled together, about 9 videos x 7 clips per batch of 64). A video leaves the pool when its K clips are used;
the last partial batch of an epoch is dropped (``drop_last``, as the released ``ucf101 full_ft_*.yaml``). The video
order, clip starts and augmentation parameters of epoch e come from seeds derived from (seed, "epoch", e), so a
resumed run sees exactly the clips an uninterrupted one would.

Testing: the K uniform unaugmented clips of every test video (resize, centre crop), batched in order.

Yields uint8 clips on the device; the model normalises them (and applies cutout, which runs after
normalisation as in the reference code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from avbench.datasets.base import Sample
from avbench.features.spec import DecodedSample, ExtractionSpec
from avbench.features.skips import SkipLog
from avbench.features.video import VideoPath
from avbench.media.seeding import derive_seed, generator_for


@dataclass
class ClipBatch:
    """``clips`` ``[B, 3, T, S, S]`` uint8 on the device; ``labels`` ``[B]`` int64; ``sample`` ``[B]`` positions in
    the sample list; ``params`` the per-clip augmentation parameters (cutout is applied from them)."""

    clips: torch.Tensor
    labels: torch.Tensor
    sample: torch.Tensor
    params: list[Any]


def _first(batch: list[DecodedSample]) -> DecodedSample:
    return batch[0]


def _loader(path: VideoPath, samples: Sequence[Sample], order: Sequence[int], workers: int) -> DataLoader:
    return DataLoader(path.source(samples, order), batch_size=1, num_workers=workers, collate_fn=_first,
                      prefetch_factor=4 if workers else None)


def epoch_view(view: ExtractionSpec, seed: int, epoch: int) -> ExtractionSpec:
    """The training view of ``epoch`` (0-based): same sampling and augmentation, its own seed."""
    return ExtractionSpec(**{**view.__dict__, "seed": derive_seed(seed, "epoch", epoch)})


def mix_batches(videos: Iterable[tuple[int, list[Any]]], *, batch_size: int, buffer_videos: int,
                gen: torch.Generator, drop_last: bool = False) -> Iterator[list[Any]]:
    """Batches of clips with as many distinct videos as possible (module docstring).

    videos: ``(video position, its clips)`` in the epoch's order; clips are any objects. A pool holds up to
    ``buffer_videos`` videos (at least ``batch_size``); each batch draws ``batch_size`` pool videos at random
    (``gen``) and takes one clip of each, in the order the video's clips were given. At the end of the stream the
    pool drains with as many distinct videos per batch as remain (then several clips of a video). Yields lists of
    clips; the last partial batch is dropped with ``drop_last`` unless it is the epoch's only batch (fixture-sized
    sets).
    """
    limit = max(buffer_videos, batch_size)
    pool: dict[int, list[Any]] = {}
    slots: list[int] = []  # pool keys in insertion order (the draw is over this list)

    def draw(n: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < n and slots:
            perm = torch.randperm(len(slots), generator=gen).tolist()[:n - len(out)]
            picked = [slots[i] for i in perm]
            for key in picked:
                out.append(pool[key].pop(0))
                if not pool[key]:
                    del pool[key]
            slots[:] = [key for key in slots if key in pool]
        return out

    yielded = 0
    for key, clips in videos:
        if clips:
            pool[key] = list(clips)
            slots.append(key)
        while len(slots) >= limit:
            yielded += 1
            yield draw(batch_size)
    while slots:
        batch = draw(batch_size)
        if len(batch) < batch_size and drop_last and yielded:
            return
        yielded += 1
        yield batch


def train_batches(path: VideoPath, samples: Sequence[Sample], labels: Sequence[int], *, seed: int, epoch: int,
                  batch_size: int, buffer_videos: int | None = None, workers: int = 0, log: SkipLog | None = None,
                  drop_last: bool = False, rank: int = 0, world_size: int = 1) -> Iterator[ClipBatch]:
    """Batches of epoch ``epoch``'s random augmented clips (``path.view`` must be that epoch's view), each from
    as many distinct videos as possible (:func:`mix_batches`; ``buffer_videos`` default 1.5 x the batch).

    Under DDP (``world_size`` > 1) rank r takes every world_size-th video of the epoch's order and yields
    batches of ``batch_size // world_size`` clips, so a step's global batch is ``batch_size`` clips."""
    if batch_size % world_size:
        raise ValueError(f"batch size {batch_size} does not split over {world_size} processes")
    gen = generator_for(seed, "order", epoch)
    order = torch.randperm(len(samples), generator=gen).tolist()[rank::world_size]
    batch_size //= world_size
    pool_size = buffer_videos // world_size if buffer_videos else batch_size + batch_size // 2
    log = log or SkipLog()
    device = path.device

    def decoded() -> Iterator[tuple[int, list[Any]]]:
        for item in _loader(path, samples, order, workers):
            s = samples[item.pos]
            if not log.note(s, item):
                continue
            clips, params = path.prepare(item, s)
            yield item.pos, [(clips[j], labels[item.pos], item.pos, params[j]) for j in range(clips.shape[0])]

    for chosen in mix_batches(decoded(), batch_size=batch_size, buffer_videos=pool_size, gen=gen,
                              drop_last=drop_last):
        yield ClipBatch(torch.stack([c[0] for c in chosen]),
                        torch.tensor([c[1] for c in chosen], dtype=torch.long, device=device),
                        torch.tensor([c[2] for c in chosen], dtype=torch.long), [c[3] for c in chosen])


def test_batches(path: VideoPath, samples: Sequence[Sample], labels: Sequence[int], *, batch_size: int,
                 workers: int = 0, log: SkipLog | None = None) -> Iterator[ClipBatch]:
    """The uniform test clips of every sample, in sample order, ``batch_size`` clips at a time."""
    log = log or SkipLog()
    pending: list[tuple[torch.Tensor, int, int, Any]] = []
    device = path.device
    for item in _loader(path, samples, range(len(samples)), workers):
        s = samples[item.pos]
        if not log.note(s, item):
            continue
        clips, params = path.prepare(item, s)
        pending.extend((clips[j], labels[item.pos], item.pos, params[j]) for j in range(clips.shape[0]))
        while len(pending) >= batch_size:
            chunk, pending[:] = pending[:batch_size], pending[batch_size:]
            yield ClipBatch(torch.stack([c[0] for c in chunk]),
                            torch.tensor([c[1] for c in chunk], dtype=torch.long, device=device),
                            torch.tensor([c[2] for c in chunk], dtype=torch.long), [c[3] for c in chunk])
    if pending:
        yield ClipBatch(torch.stack([c[0] for c in pending]),
                        torch.tensor([c[1] for c in pending], dtype=torch.long, device=device),
                        torch.tensor([c[2] for c in pending], dtype=torch.long), [c[3] for c in pending])
