"""The embedded default data: small synthetic sets in the official layouts, written on first use.

`avbench eval --model crisscross --task esc50` with no data root configured evaluates on these, and says
so in its output and in the record (``data.synthetic: true``). They exist to show the pipeline working
end to end on a fresh machine; their numbers say nothing about real ESC-50, DCASE, UCF101, HMDB51 or Kinetics.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from .audio_fixtures import write_dcase2013, write_esc50
from .video_fixtures import write_hmdb51, write_kinetics400, write_ucf101
from .vggsound_fixtures import write_vggsound

#: CSV labels (spaces, as Kinetics spells them) of the synthetic Kinetics-Sound set: Kinetics-Sound classes.
KINETICS_SOUND_FIXTURE_LABELS = ("blowing out candles", "playing drums", "playing guitar", "ripping paper",
                                 "shoveling snow", "tap dancing")

#: dataset -> (folder name, writer). Bump the folder's version suffix when a writer's output changes.
_WRITERS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "esc50": ("esc50-synthetic-v1", lambda out: write_esc50(out, n_classes=10, clips_per_class=10, seed=0)),
    "dcase2013": ("dcase2013-synthetic-v1", lambda out: write_dcase2013(out, n_classes=10, per_class=4, seed=0)),
    # video sets: >= 20 training videos per split, so retrieval at R@20 has enough neighbours
    "ucf101": ("ucf101-synthetic-v1", lambda out: write_ucf101(out, n_classes=6, groups=3, clips_per_group=2, seed=0)),
    "hmdb51": ("hmdb51-synthetic-v1", lambda out: write_hmdb51(out, n_classes=5, per_class=9, seed=0)),
    "kinetics400": ("kinetics400-synthetic-v1", lambda out: write_kinetics400(
        out, n_classes=6, train_per_class=6, val_per_class=3, missing=2, seed=0)),
    "kinetics_sound": ("kinetics_sound-synthetic-v1", lambda out: write_kinetics400(
        out, class_names=KINETICS_SOUND_FIXTURE_LABELS, train_per_class=6, val_per_class=3, missing=2, seed=1)),
    "vggsound": ("vggsound-synthetic-v1", lambda out: write_vggsound(
        out, n_classes=6, train_per_class=6, test_per_class=3, missing=2, seed=0)),
    "augvgg": ("augvgg-synthetic-v2", lambda out: _write_augvgg(out)),
    # the synthetic audio-visual world (avbench.synth.world): pretraining set and its downstream copies
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
    from . import identity_writers

    return getattr(identity_writers, writer)(out)


def _world(writer: str, out: Path, **kwargs: object) -> Path:
    from . import world

    return getattr(world, writer)(out, **kwargs)


def _write_augvgg(out: Path) -> Path:
    """A small VGG-Sound set with all four AugVGG query sets under ``out/augvgg/<variant>``."""
    from ..augvgg.generate import generate_augvgg

    write_vggsound(out, n_classes=6, train_per_class=2, test_per_class=3, missing=1, seed=2)
    for variant in ("ip", "s", "t", "c"):
        generate_augvgg(out, out / "augvgg", variant, seed=0)
    return out


def synthetic_root(dataset: str, cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    """Root of the synthetic ``dataset`` under ``cache_dir/fixtures``, writing it first if needed (atomically)."""
    if dataset not in _WRITERS:
        raise ValueError(f"no data root configured for {dataset!r} and no synthetic default exists for it; "
                         f"pass --data-root or set AVBENCH_DATA_{dataset.upper()}")
    folder, writer = _WRITERS[dataset]
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
