"""Feature extraction: samples -> decoded clips -> encoder -> pooled features -> feature store shards.

One *view* is one side of a protocol (e.g. ESC-50 "train": 10 random augmented 2-s crops per clip; UCF101
"train": 25 random augmented 8-frame clips per video). Each file is decoded ONCE per view (in DataLoader
workers, overlapping the forward pass) and all of its clips are cut from that decode. Random choices
(window starts, augmentation parameters) come from generators seeded by (seed, side, sample id, clip index,
stage), so features never depend on batch size, worker count or rank. Files that fail to decode are recorded
as skipped with the reason; the run goes on.

The loop here knows nothing about audio or video: a *media path* (:class:`~avbench.features.audio.AudioPath`,
:class:`~avbench.features.video.VideoPath`) supplies the worker dataset, the per-sample preparation on the
device and the batched forward pass.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from avbench.runtime import faults
from avbench.datasets.base import Sample
from avbench.encoder import Encoder
from avbench.features.skips import SkipLog
from avbench.features.spec import DecodedSample, ExtractionSpec, NonFiniteFeaturesError, NonFiniteOutput, View
from avbench.features.store import ShardPlan, StoreEntry


class MediaPath(Protocol):
    def source(self, samples: Sequence[Sample], positions: Sequence[int]) -> Dataset: ...

    def prepare(self, item: DecodedSample, sample: Sample) -> tuple[torch.Tensor, list[Any]]: ...

    def forward(self, x: torch.Tensor, extras: list[Any]) -> torch.Tensor: ...


def media_path(encoder: Encoder, view: ExtractionSpec, device: torch.device, dtype: str) -> MediaPath:
    if view.modality == "audio":
        from avbench.features.audio import AudioPath

        return AudioPath(encoder, view, device, dtype)
    if view.modality == "video":
        from avbench.features.video import VideoPath

        return VideoPath(encoder, view, device, dtype)
    raise ValueError(f"unknown modality {view.modality!r}")


@dataclass
class ExtractedView:
    """Features of one view read back from the store."""

    features: list[torch.Tensor]  # row blocks [n_i, D]
    sample: torch.Tensor  # [n] position in the view's sample list
    clip: torch.Tensor  # [n]
    skipped: list[dict[str, str]]
    padded: list[str]
    damaged: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _first(batch: list[DecodedSample]) -> DecodedSample:
    return batch[0]


def _plan_missing(entry: StoreEntry, n_samples: int, shard_size: int, world_size: int,
                  refresh: bool = False) -> tuple[ShardPlan, list[int]]:
    """(the entry's shard plan, the shards not yet finished). With several processes rank 0 alone records the plan
    and lists the store, and broadcasts both, so every rank splits the same list (no shard is computed twice or
    by nobody, even on a shared filesystem whose nodes see a directory a little differently). ``refresh``: rank 0
    first removes every shard of the entry, so all are recomputed."""
    rank = torch.distributed.get_rank() if world_size > 1 else 0
    box: list[Any] = [None]
    if rank == 0:
        try:
            if refresh:
                entry.reset()
            plan = entry.plan(n_samples, shard_size)
            box = [(plan.shard_size, sorted(set(range(plan.n_shards)) - entry.finished_shards()), None)]
        except Exception as exc:  # every rank must learn of it, or the others would wait at the broadcast
            box = [(0, [], f"{type(exc).__name__}: {exc}")]
    if world_size > 1:
        torch.distributed.broadcast_object_list(box, src=0)
    size, missing, error = box[0]
    if error is not None:
        raise RuntimeError(f"planning the shards of {entry.dir} failed on rank 0: {error}")
    return ShardPlan(n_samples, size), missing


def _await_shards(entry: StoreEntry, n_shards: int, timeout: float) -> None:
    """Wait until every shard file is visible here: on a network filesystem a file another node has just renamed
    into place can take a few seconds to appear (attribute caching)."""
    deadline = time.monotonic() + timeout
    while len(entry.finished_shards() & set(range(n_shards))) < n_shards and time.monotonic() < deadline:
        time.sleep(0.5)


def _fresh(extra: Any) -> Any:
    """A per-clip extra as it was before use: a copy of a generator (forward consumes it), anything else as is."""
    if isinstance(extra, torch.Generator):
        g = torch.Generator(device=extra.device)
        g.set_state(extra.get_state())
        return g
    return extra


def _determinism(first: torch.Tensor, second: torch.Tensor, rows: int) -> dict[str, Any]:
    """The determinism probe's verdict: the same batch forwarded twice. Deterministic when the largest absolute
    difference is at most 1e-5 of the largest feature magnitude (float reduction order on a GPU moves values by
    about 1e-7 relative; an encoder that draws noise or keeps dropout on moves them by far more)."""
    diff = float((first - second).abs().max()) if first.numel() else 0.0
    scale = float(first.abs().max()) if first.numel() else 0.0
    return {"checked": True, "rows": rows, "max_abs_diff": diff, "max_abs_feature": scale,
            "tolerance": 1e-5 * max(scale, 1e-12), "deterministic": diff <= 1e-5 * max(scale, 1e-12)}


def _non_finite_error(exc: NonFiniteOutput, encoder: Encoder, sample: Sample, clip: int, entry: StoreEntry,
                      model_ref: str) -> NonFiniteFeaturesError:
    return NonFiniteFeaturesError(
        f"encoder {encoder.meta.name!r} produced a non-finite value (NaN or inf) in {exc.layer!r} for sample "
        f"{sample.id} ({sample.path}), clip {clip}; extraction stopped and nothing of this shard was written to "
        f"the feature cache (entry {entry.key[:16]}, {entry.dir}). Check the encoder with `avbench validate "
        f"{model_ref}`")


class _Forward:
    """The forward passes of one view: batches of ``batch_size`` clips, every output checked finite (the first NaN /
    inf raises, naming the sample), and the determinism probe on the first batch when ``probe`` is set."""

    def __init__(self, encoder: Encoder, path: MediaPath, samples: Sequence[Sample], entry: StoreEntry,
                 batch_size: int, model_ref: str, probe: bool) -> None:
        self.encoder, self.path, self.samples, self.entry = encoder, path, samples, entry
        self.batch_size, self.model_ref, self.probe = batch_size, model_ref, probe

    def __call__(self, pending: list[tuple[int, torch.Tensor, list[Any]]]) -> list[torch.Tensor]:
        """Features ``[n_i, D]`` of the clips of ``pending`` ((sample position, clips [K, ...], per-clip extras))."""
        x = torch.cat([c for _, c, _ in pending])
        extras = [e for _, _, ex in pending for e in ex]
        owner = [(p, j) for p, c, _ in pending for j in range(c.shape[0])]  # row -> (sample position, clip)
        out = []
        for start in range(0, x.shape[0], self.batch_size):
            xb, eb = x[start:start + self.batch_size], extras[start:start + self.batch_size]
            try:
                again = self.path.forward(xb, [_fresh(e) for e in eb]) if self.probe else None
                feats = self.path.forward(xb, eb)
            except NonFiniteOutput as exc:
                pos, clip = owner[start + exc.row]
                raise _non_finite_error(exc, self.encoder, self.samples[pos], clip, self.entry, self.model_ref) from None
            if again is not None:
                self.entry.write_note("determinism", _determinism(feats, again, int(xb.shape[0])))
                self.probe = False
            out.append(feats)
        return out


def _compute_shard(shard: int, positions: Sequence[int], forward: _Forward, num_workers: int,
                   progress: Callable[[int], None] | None) -> int:
    """Decode, forward and commit one shard (its samples at ``positions``); returns the clip rows written."""
    samples, path, batch_size = forward.samples, forward.path, forward.batch_size
    loader = DataLoader(path.source(samples, positions), batch_size=1, num_workers=num_workers, collate_fn=_first,
                        prefetch_factor=4 if num_workers else None, persistent_workers=False)
    feats: list[torch.Tensor] = []
    rows_sample: list[int] = []
    rows_clip: list[int] = []
    log = SkipLog()
    pending: list[tuple[int, torch.Tensor, list[Any]]] = []

    def flush() -> None:
        if pending:
            feats.extend(forward(pending))
            for p, c, _ in pending:
                rows_sample.extend([p] * c.shape[0])
                rows_clip.extend(range(c.shape[0]))
            pending.clear()

    for item in loader:
        s = samples[item.pos]
        if log.note(s, item):
            clips, extras = path.prepare(item, s)
            pending.append((item.pos, clips, extras))
            if sum(c.shape[0] for _, c, _ in pending) >= batch_size:
                flush()
        if progress:
            progress(1)
    flush()
    skipped, padded, damaged = log.in_order()
    forward.entry.write_shard(shard, torch.cat(feats) if feats else torch.zeros(0, 0),
                              torch.tensor(rows_sample, dtype=torch.long), torch.tensor(rows_clip, dtype=torch.long),
                              sample_ids=[samples[p].id for p in positions], skipped=skipped, padded=padded,
                              damaged=damaged)
    return len(rows_sample)


def _work_counts(mine: int, rows: int, world_size: int) -> torch.Tensor:
    """``[W, 2]`` (shards, rows) computed by each process: a collective, after which every rank's shards exist."""
    counts = torch.tensor([[mine, rows]], dtype=torch.long)
    if world_size > 1:
        gathered = [torch.zeros_like(counts) for _ in range(world_size)]
        torch.distributed.all_gather(gathered, counts)
        counts = torch.cat(gathered)
    return counts


def extract_view(encoder: Encoder, samples: Sequence[Sample], view: ExtractionSpec, entry: StoreEntry, *,
                 device: torch.device, dtype: str = "float32", batch_size: int = 64, num_workers: int = 0,
                 shard_size: int = 32, rank: int = 0, world_size: int = 1,
                 progress: Callable[[int], None] | None = None, refresh: bool = False,
                 check_determinism: bool = True, model_ref: str | None = None) -> ExtractedView:
    """Compute the missing shards of ``entry`` (this rank's share), then read every shard back.

    ``samples`` is the view's ordered sample list; rows record positions in it. ``progress(n)`` is called
    with the number of samples finished (computed by this process or found in the cache). ``refresh``: recompute
    every shard. Every forward's outputs (each requested layer and the pooled features) are checked finite: the
    first NaN / inf raises :class:`NonFiniteFeaturesError` naming ``model_ref`` (default the encoder's name) in the
    ``avbench validate`` hint, and nothing non-finite reaches the store. ``check_determinism``: rank 0 forwards
    the first batch it computes twice and stores the verdict in the entry once (``stats["determinism"]``; read
    back from the entry when it holds one).

    Several processes (``world_size > 1``: a ``torch.distributed`` process group must be initialised): the
    unfinished shards are split between the ranks (:meth:`ShardPlan.assign`), each rank writes its own shards,
    all meet at a collective (the gathering of the work counts), and rank 0 alone reads the view back; other
    ranks get an empty view carrying the work counts. ``stats`` counts the work of ALL ranks: ``shards_computed``,
    ``shards_reused`` (finished before this run), ``rows_computed`` (clip feature rows forwarded), ``shards_by_rank``.
    """
    if world_size > 1 and not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise RuntimeError(f"extract_view(world_size={world_size}) needs an initialised torch.distributed process group")
    entry.open()
    plan, missing = _plan_missing(entry, len(samples), shard_size, world_size, refresh)
    # the probe's batch is the first one of the lowest missing shard on rank 0 (which always gets it), and its
    # verdict is kept once written: a resumed or re-split run records exactly what an uninterrupted one does
    probe = check_determinism and rank == 0 and bool(missing) and entry.read_note("determinism") is None
    forward = _Forward(encoder, media_path(encoder, view, device, dtype), samples, entry, batch_size,
                       model_ref or encoder.meta.name, probe)
    mine = plan.assign(missing, rank, world_size)
    t0 = time.perf_counter()
    reused = sum(len(plan.positions(s)) for s in set(range(plan.n_shards)) - set(missing))
    if progress and reused:
        progress(reused)
    rows = 0
    for shard in mine:
        rows += _compute_shard(shard, list(plan.positions(shard)), forward, num_workers, progress)
        faults.point("extract")
    counts = _work_counts(len(mine), rows, world_size)
    stats = {"key": entry.key, "shards": plan.n_shards, "shards_computed": int(counts[:, 0].sum()),
             "shards_reused": plan.n_shards - len(missing), "refreshed": refresh,
             "rows_computed": int(counts[:, 1].sum()), "processes": world_size,
             "shards_by_rank": counts[:, 0].tolist(), "seconds": round(time.perf_counter() - t0, 3)}
    if check_determinism and rank == 0:
        stats["determinism"] = entry.read_note("determinism") or {"checked": False, "reason": "no batch was computed "
                                                                  "by this process and the entry holds no verdict"}
    if rank != 0:
        empty = torch.zeros(0, dtype=torch.long)
        return ExtractedView([], empty, empty, [], [], [], stats)
    if world_size > 1:
        _await_shards(entry, plan.n_shards, float(os.environ.get("AVBENCH_SHARD_WAIT", "120")))
    return read_view(entry, plan.n_shards, stats=stats)


def read_view(entry: StoreEntry, n_shards: int, stats: dict[str, Any] | None = None) -> ExtractedView:
    """Read all ``n_shards`` shards of ``entry`` (they must exist) and mark the entry complete.

    The feature blocks are memory maps of the shard files (:meth:`StoreEntry.read_shard`): nothing is loaded
    until a classifier touches it, and pages a consumer has passed can be dropped by the OS."""
    blocks, samples, clips, skipped, padded, damaged = [], [], [], [], [], []
    for i in range(n_shards):
        if not entry.has_shard(i):
            raise RuntimeError(f"feature shard {entry.shard_path(i)} is missing after extraction")
        sh = entry.read_shard(i)
        if sh.features.numel():
            blocks.append(sh.features)
            samples.append(sh.sample)
            clips.append(sh.clip)
        skipped.extend(sh.skipped)
        padded.extend(sh.padded)
        damaged.extend(sh.damaged)
    dims = {int(b.shape[1]) for b in blocks}
    if len(dims) > 1:
        raise RuntimeError(f"{entry.dir}: shards disagree on the feature dimension {sorted(dims)}")
    if not entry.is_complete():
        entry.mark_complete({"shards": n_shards, "rows": sum(int(b.shape[0]) for b in blocks),
                             "dim": dims.pop() if dims else 0, "skipped": len(skipped)})
    empty = torch.zeros(0, dtype=torch.long)
    return ExtractedView(blocks, torch.cat(samples) if samples else empty, torch.cat(clips) if clips else empty,
                         skipped, padded, damaged, stats or {})


def view_summary(v: ExtractedView) -> dict[str, Any]:
    return {"rows": int(v.sample.numel()), "dim": int(v.features[0].shape[1]) if v.features else 0,
            "skipped": len(v.skipped), "padded": len(v.padded), "damaged": len(v.damaged), **v.stats}


__all__ = ["DecodedSample", "NonFiniteFeaturesError", "ExtractionSpec", "View", "ExtractedView", "extract_view", "media_path", "read_view", "view_summary"]
