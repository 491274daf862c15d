"""``avbench eval`` as a function: task card + encoder + data root -> result record on disk.

    card ─┐
          ├─ plan (card, encoder, data, splits, seeds, store) -> loop by protocol kind -> record
    encoder ┘

:func:`run` builds the :class:`~avbench.evaluation.plan.Plan` once, extracts each view through the feature store
and hands the features to the card's protocol (or, for a training protocol such as finetuning, the samples), and
writes the record (:mod:`avbench.evaluation.record`). Under ``torchrun`` every rank extracts its share of the
feature shards (or trains on its share of the videos); rank 0 alone classifies and writes the record.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from avbench.encoder import Encoder
from avbench.evaluation.loops import extract_views, frozen_loop, fusion_loop, training_loop
from avbench.evaluation.options import RunOptions, shard_size
from avbench.evaluation.plan import column_spans, make_plan
from avbench.evaluation.record import SELECTION_NOTES, Results, card_track, ids_sha, per_sample_hits, write
from avbench.features.clips import fuse, select
from avbench.features.skips import SkipLog
from avbench.metrics import bootstrap_ci
from avbench.results import ResultRecord
from avbench.runtime.distributed import dist_context

__all__ = ["RunOptions", "run", "evaluate", "card_track", "per_sample_hits", "fuse", "column_spans", "shard_size",
           "dist_context", "SELECTION_NOTES"]

# the names these helpers had in this module before the redesign (tests and notes refer to them)
_clip_features = select
_ids_sha = ids_sha
_bootstrap_ci = bootstrap_ci


def run(encoder: str | Encoder, task: str, *, data_root: str | Path | None = None,
        overrides: dict[str, Any] | None = None, seeds: int | Sequence[int] | None = None,
        weights: str | None = None, init_seed: int = 0, options: RunOptions | None = None) -> tuple[ResultRecord, Path]:
    """Evaluate and write the record; returns (record, record path). See :func:`evaluate` for the arguments.

    Under ``torchrun`` every rank extracts its share of the feature shards; only rank 0 classifies, writes
    the record and returns it (other ranks return ``(None, None)``).
    """
    opts = options or RunOptions()
    t_start = time.perf_counter()
    plan = make_plan(encoder, task, data_root=data_root, overrides=overrides, seeds=seeds, weights=weights,
                     init_seed=init_seed, opts=opts)
    results = Results(metrics=tuple(plan.card.metrics), layer=plan.layer)
    skips = SkipLog().merge([{"id": s.id, "path": s.path, "reason": s.reason} for s in plan.manifest.skipped])
    if plan.protocol.kind == "training":
        if not training_loop(plan, opts, results, skips):
            return None, None  # type: ignore[return-value]  # other DDP ranks: rank 0 writes the record
        feature_info: dict[str, Any] = {}
    else:
        views = extract_views(plan, opts)
        if plan.rank != 0:  # other ranks only extract their shards; rank 0 classifies and writes the record
            return None, None  # type: ignore[return-value]
        loop = fusion_loop if len(plan.mods) == 2 else frozen_loop
        feature_info = loop(plan, opts, views, results, skips)
    record, path = write(plan, results, skips, feature_info, opts, t_start)
    if plan.scratch is not None:
        plan.scratch.cleanup()
    return record, path


def evaluate(encoder: str | Encoder, task: str, *, data_root: str | Path | None = None,
             seeds: int | Sequence[int] | None = None, weights: str | None = None, init_seed: int = 0,
             device: str | None = None, dtype: str = "float32", cache_dir: str | Path | None = None,
             out_dir: str | Path = "avbench-results", batch_size: int | None = None, num_workers: int = 0,
             **overrides: Any) -> dict[str, Any]:
    """Evaluate ``encoder`` on ``task`` and return the result record as a dict (also written under ``out_dir``).

    encoder: registered name, ``"pkg.module:factory"``, a submission folder, or an
      :class:`~avbench.encoder.Encoder` instance.
    task: shipped card name (``avbench list tasks``) or a path to a YAML card.
    data_root: the data set's root; None uses ``AVBENCH_DATA_<DATASET>`` / the config file, else the built-in
      synthetic set; "synthetic" forces it.
    seeds: number of seeds (0..N-1) or an explicit list, for the stochastic parts (training crops and
      augmentations, classifier initialisation).
    **overrides: task-card keys to override, e.g. ``classifier={"selection": "clean"}``.
    """
    record, path = run(encoder, task, data_root=data_root, overrides=overrides or None, seeds=seeds, weights=weights,
                       init_seed=init_seed, options=RunOptions(device=device, dtype=dtype, cache_dir=cache_dir,
                                                               out_dir=out_dir, batch_size=batch_size,
                                                               num_workers=num_workers))
    out = record.model_dump(mode="json")
    out["_path"] = str(path)
    return out
