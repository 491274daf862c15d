"""The embedded default data: small synthetic sets in the official layouts, written on first use.

`avbench eval --model crisscross --task esc50` with no data root configured evaluates on these, and says
so in its output and in the record (``data.synthetic: true``). They exist to show the pipeline working
end to end on a fresh machine; their numbers say nothing about real ESC-50, DCASE, UCF101, HMDB51 or Kinetics.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Mapping

from avbench.datasets.kinetics import KINETICS_SOUND_FIXTURE_LABELS  # noqa: F401  (kept importable from here)

#: the synthetic audio-visual world (avbench.synth.world): its pretraining set and its downstream copies in the
#: ESC-50 and UCF101 layouts. Data sets proper take their built-in set from their adapter
#: (:meth:`avbench.datasets.base.DatasetAdapter.write_synthetic`). Bump a version suffix when the output changes.
_WORLD_SETS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "world": ("world-synthetic-v1", lambda out: _world("write_world", out, n_per_class=40, seed=0)),
    "world_esc50": ("world-esc50-synthetic-v1", lambda out: _world("write_world_esc50", out, n_classes=6,
                                                                   clips_per_class=10, seed=1)),
    "world_ucf101": ("world-ucf101-synthetic-v1", lambda out: _world("write_world_ucf101", out, n_classes=6,
                                                                     groups=3, clips_per_group=3, seed=2)),
    # the identity world (avbench.synth.identity_world): the demo's sets, 300 and 306 test clips
    "identity_esc50": ("identity-esc50-synthetic-v1", lambda out: _identity("write_identity_esc50", out)),
    "identity_ucf101": ("identity-ucf101-synthetic-v1", lambda out: _identity("write_identity_ucf101", out)),
}


def _identity(writer: str, out: Path) -> Path:
    from avbench.synth import identity_writers

    return getattr(identity_writers, writer)(out)


def _world(writer: str, out: Path, **kwargs: object) -> Path:
    from avbench.synth import world

    return getattr(world, writer)(out, **kwargs)


def _writer(dataset: str) -> tuple[str, Callable[[Path], Path]]:
    """(folder name, writer) of the built-in synthetic ``dataset``."""
    if dataset in _WORLD_SETS:
        return _WORLD_SETS[dataset]
    from avbench.datasets import DATASETS, get_dataset

    if dataset not in DATASETS:
        raise ValueError(f"no data root configured for {dataset!r} and no synthetic default exists for it; "
                         f"pass --data-root or set AVBENCH_DATA_{dataset.upper()}")
    adapter = get_dataset(dataset)
    return f"{dataset}-synthetic-v{adapter.synthetic_version}", adapter.write_synthetic


class _Writers(Mapping[str, tuple[str, Callable[[Path], Path]]]):
    """Every built-in synthetic set by name -> (folder, writer): the data sets' (from their adapters) and the world's."""

    def __getitem__(self, dataset: str) -> tuple[str, Callable[[Path], Path]]:
        try:
            return _writer(dataset)
        except ValueError:
            raise KeyError(dataset) from None

    def __iter__(self) -> Iterator[str]:
        from avbench.datasets import dataset_names

        return iter([*dataset_names(), *_WORLD_SETS])

    def __len__(self) -> int:
        return len(list(iter(self)))


_WRITERS = _Writers()


def synthetic_root(dataset: str, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Root of the synthetic ``dataset`` under ``cache_dir/fixtures``, writing it first if needed (atomically)."""
    folder, writer = _writer(dataset)
    root = Path(cache_dir) / "fixtures" / folder
    if not root.exists():
        log(f"no data root configured for {dataset}: writing the built-in SYNTHETIC {dataset} set to {root}")
        tmp = root.with_name(f".{folder}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        writer(tmp)
        os.replace(tmp, root)
    log(f"using the SYNTHETIC {dataset} set at {root} (numbers say nothing about the real data set)")
    return root
