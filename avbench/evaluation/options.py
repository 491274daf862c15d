"""How (not what) a run is carried out: devices, caches, output, parallelism. None of these change a metric."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["RunOptions", "default_workers", "shard_size"]


def default_workers() -> int:
    """DataLoader decode workers when none are named (the CLI's ``--workers`` and the Python API): min(8, CPUs - 1)."""
    return min(8, max(0, (os.cpu_count() or 1) - 1))


@dataclass
class RunOptions:
    """How (not what) to run: devices, caches, output, parallelism. None of these change a metric."""

    device: str | None = None
    dtype: str = "float32"
    cache_dir: str | Path | None = None
    out_dir: str | Path = "avbench-results"
    batch_size: int | None = None
    num_workers: int = 0  # decode workers (0: in the main process); run() / evaluate() without options: default_workers()
    shard_size: int | None = None  # samples per feature shard (resume granularity); None: AVBENCH_SHARD_SIZE or 32
    command: str | None = None
    #: feature cache: "use" (reuse finished shards), "refresh" (recompute every shard of the run's entries),
    #: "off" (a temporary store and finetuning checkpoints, removed after the run)
    cache: str = "use"
    #: a media checksum manifest (sha256sum format, paths relative to the data root): every media file is hashed and
    #: the record says whether all matched (``data.media_verified``)
    checksums: str | Path | None = None
    #: sample identity (:mod:`avbench.datasets.sample_identity`): "edges" (size + sha256 of each file's first and last
    #: 64 KiB) or "full" (whole files too, in parallel: archival runs; the whole-file hash keys the cache)
    verify_data: str = "edges"
    #: follow symlinks that lead out of the data root (recorded per sample in ``data.outside_root``); False refuses
    #: such samples as skips
    follow_symlinks: bool = True
    #: the coverage gate (:mod:`avbench.evaluation.coverage`); None: the card's ``dataset.min_coverage``
    min_coverage: float | None = None
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    progress: Callable[[str, int], Callable[[int], None]] | None = None  # (description, total) -> advance(n)
    #: how errors name the card overrides (the CLI: "--set")
    override_source: str = "override"

    def shard_count(self) -> int:
        """Samples per feature shard (:func:`shard_size`)."""
        return shard_size(self.shard_size)


def shard_size(value: int | None = None) -> int:
    """Samples per feature shard: ``value``, else ``AVBENCH_SHARD_SIZE``, else 32. A shard is the unit a killed
    extraction loses and the unit the processes of a ``torchrun`` share out; it changes no feature, and a cache
    entry keeps the size it was started with (``plan.json``)."""
    if value is None:
        text = os.environ.get("AVBENCH_SHARD_SIZE", "32")
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"AVBENCH_SHARD_SIZE={text!r}: expected a whole number of samples >= 1")
        value = int(text)
    if value < 1:
        raise ValueError(f"shard_size must be >= 1, got {value}")
    return int(value)


