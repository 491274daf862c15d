"""THE data-root resolver (evaluation, pretraining, reproduction and the demo all ask here), and layout detection.

A data set's root is, first found: the ``--data-root`` / ``data_root=`` given (``"synthetic"`` forces the built-in
set), ``AVBENCH_DATA_<DATASET>``, ``AVBENCH_DATA_ROOT/<dataset>``, ``data: {<dataset>: DIR}`` in the config file
(:func:`avbench.config.resolve_data_root`), else the built-in synthetic set written to the cache on first use
(:func:`avbench.synth.defaults.synthetic_root`; under ``torchrun`` rank 0 writes it while the others wait).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from avbench.config import resolve_data_root
from avbench.datasets import DATASETS
from avbench.runtime.distributed import rank0_first

__all__ = ["configured_root", "data_root", "detect_layout"]


def configured_root(dataset: str, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The root given or configured for ``dataset`` (argument, environment, config file), or None; never the
    synthetic set (``avbench reproduce`` wants real data or nothing)."""
    return resolve_data_root(dataset, explicit)


def data_root(dataset: str, explicit: str | os.PathLike[str] | None = None, *, cache_dir: Path,
              log: Callable[[str], None] = print, world: int = 1, rank: int = 0) -> tuple[Path, bool]:
    """(the root of ``dataset``, whether it is the built-in SYNTHETIC set) (module docstring)."""
    from avbench.synth.defaults import synthetic_root

    root = None if str(explicit) == "synthetic" else configured_root(dataset, explicit)
    if root is not None:
        return Path(root), False
    quiet: Callable[[str], None] = lambda _m: None  # noqa: E731
    return rank0_first(lambda: synthetic_root(dataset, cache_dir, log=log if rank == 0 else quiet), world), True


def detect_layout(root: Path, among: Sequence[str] | None = None) -> str | None:
    """The first data set (of ``among``, default every registered one, in registry order) whose adapter recognises
    ``root``'s layout (:meth:`~avbench.datasets.base.DatasetAdapter.detect`), or None."""
    for name in among if among is not None else DATASETS.names():
        if DATASETS.load(name).detect(Path(root)):
            return name
    return None
