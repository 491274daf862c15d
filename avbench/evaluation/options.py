"""How (not what) a run is carried out: devices, caches, output, parallelism. None of these change a metric."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["RunOptions", "shard_size"]


@dataclass
class RunOptions:
    """How (not what) to run: devices, caches, output, parallelism. None of these change a metric."""

    device: str | None = None
    dtype: str = "float32"
    cache_dir: str | Path | None = None
    out_dir: str | Path = "avbench-results"
    batch_size: int | None = None
    num_workers: int = 0
    shard_size: int | None = None  # samples per feature shard (resume granularity); None: AVBENCH_SHARD_SIZE or 32
    command: str | None = None
    #: feature cache: "use" (reuse finished shards), "refresh" (recompute every shard of the run's entries),
    #: "off" (a temporary store and finetuning checkpoints, removed after the run)
    cache: str = "use"
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    progress: Callable[[str, int], Callable[[int], None]] | None = None  # (description, total) -> advance(n)

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


