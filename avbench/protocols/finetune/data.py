"""Clip batches for full finetuning: fresh random augmented clips every epoch, and the fixed test clips.

Training (CrissCross ``video_fullft.py``: 10 random clips per video per epoch): each video is decoded ONCE per
epoch in a DataLoader worker and its K clips are cut from that decode; the clips of several videos go into a
shuffle buffer (``buffer_videos`` videos) so a batch mixes videos instead of holding K clips of one. The video
order, clip starts and augmentation parameters of epoch e come from seeds derived from (seed, "epoch", e), so a
resumed run sees exactly the clips an uninterrupted one would.

Testing: the K uniform unaugmented clips of every test video (resize, centre crop), batched in order.

Yields uint8 clips on the device; the model normalises them (and applies cutout, which runs after
normalisation as in the reference code).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

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


def train_batches(path: VideoPath, samples: Sequence[Sample], labels: Sequence[int], *, seed: int, epoch: int,
                  batch_size: int, buffer_videos: int = 8, workers: int = 0, log: SkipLog | None = None,
                  drop_last: bool = False, rank: int = 0, world_size: int = 1) -> Iterator[ClipBatch]:
    """Shuffled batches of epoch ``epoch``'s random augmented clips (``path.view`` must be that epoch's view).

    Under DDP (``world_size`` > 1) rank r takes every world_size-th video of the epoch's order and yields
    batches of ``batch_size // world_size`` clips, so a step's global batch is ``batch_size`` clips."""
    if batch_size % world_size:
        raise ValueError(f"batch size {batch_size} does not split over {world_size} processes")
    gen = generator_for(seed, "order", epoch)
    order = torch.randperm(len(samples), generator=gen).tolist()[rank::world_size]
    batch_size //= world_size
    buffer: list[tuple[torch.Tensor, int, int, Any]] = []
    log = log or SkipLog()
    device = path.device

    def emit(n: int) -> ClipBatch:
        perm = torch.randperm(len(buffer), generator=gen).tolist()
        chosen = [buffer[i] for i in perm[:n]]
        rest = [buffer[i] for i in perm[n:]]
        buffer[:] = rest
        return ClipBatch(torch.stack([c[0] for c in chosen]),
                         torch.tensor([c[1] for c in chosen], dtype=torch.long, device=device),
                         torch.tensor([c[2] for c in chosen], dtype=torch.long), [c[3] for c in chosen])

    k = path.view.sampling.clips
    for item in _loader(path, samples, order, workers):
        s = samples[item.pos]
        if not log.note(s, item):
            continue
        clips, params = path.prepare(item, s)
        buffer.extend((clips[j], labels[item.pos], item.pos, params[j]) for j in range(clips.shape[0]))
        while len(buffer) >= max(batch_size, buffer_videos * k):
            yield emit(batch_size)
    while len(buffer) >= batch_size or (buffer and not drop_last):
        yield emit(min(batch_size, len(buffer)))


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
