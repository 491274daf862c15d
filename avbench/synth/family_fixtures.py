"""The small fixture sets of the end-to-end family checks: one per task family, written in the official layouts by
avbench's own writers. Shared by the golden records (``tests/golden_records.py``) and the prepared GPU check
(``benchmarks/_gpu/families.py``), so both run the same files. Each function writes under ``root`` and returns the
data set's root folder."""
from __future__ import annotations

from pathlib import Path


def small_dcase(root: Path) -> Path:
    """DCASE 2013 scenes: 4 classes x 3 clips of 4.0 s."""
    from avbench.synth.audio_fixtures import write_dcase2013

    return write_dcase2013(root / "dcase", n_classes=4, per_class=3, seconds=4.0, seed=2)


def small_ucf101(root: Path) -> Path:
    """UCF101: 4 classes x 3 groups x 2 clips, the three official splits."""
    from avbench.synth.video_fixtures import write_ucf101

    return write_ucf101(root / "UCF101", n_classes=4, groups=3, clips_per_group=2, seed=0)


def small_kinetics_sounds(root: Path) -> Path:
    """Kinetics-Sounds (the Kinetics-400 layout): 3 classes, 4 train + 2 val clips each."""
    from avbench.synth.video_fixtures import write_kinetics400

    return write_kinetics400(root / "ks", n_classes=3, train_per_class=4, val_per_class=2,
                             class_names=["playing_drums", "singing", "bowling"], seed=0)


def small_vggsound_augvgg(root: Path) -> Path:
    """VGGSound (3 classes, 1 train + 3 test clips each, one listed file missing) with its AugVGG-IP set."""
    from avbench.datasets.augvgg.generate import generate_augvgg
    from avbench.synth.vggsound_fixtures import write_vggsound

    out = write_vggsound(root / "vgg", n_classes=3, train_per_class=1, test_per_class=3, missing=1, seed=5)
    generate_augvgg(out, out / "augvgg", "ip", seed=0)
    return out
