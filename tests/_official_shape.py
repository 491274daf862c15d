"""Copies of the benchmarks with the OFFICIAL annotation shape (the release's classes, rows, folds, splits and
per-class counts, written by avbench's own list writers or in the release's file formats) and small media.

No ``avbench_fixture.json`` marker is written: to avbench these are a user's copies, so their data identity is
decided by the annotation alone (``official``), and ``media_verified`` only by a checksum manifest. The media are
tiny: real 0.6-s wav files for ESC-50 and DCASE (above the cards' 0.5-s minimum, so they evaluate), empty
placeholder files for the video sets (enough for ``data verify --no-decode`` and the identity, which look at the
lists and at which files exist).
Class names are the sourced official ones (:mod:`avbench.datasets.official`); Kinetics-400 and VGG-Sound label
strings come from the user's file in the real releases, so any strings do.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from avbench.datasets.kinetics import KINETICS_SOUND_CLASSES
from avbench.datasets.official import ESC10_CATEGORIES, ESC50_CATEGORIES, HMDB51_CLASSES, UCF101_CLASSIND
from avbench.synth.audio_fixtures import ESC50_HEADER, write_dcase2013, write_wav
from avbench.synth.ucf101_fixtures import UCF101_FILE_SPELLING, write_ucf101_lists


def esc50(out: Path, *, seconds: float = 0.6, sample_rate: int = 8000) -> Path:
    """2000 rows, 50 categories x 40, folds of 400 (8 clips per category per fold); noise wavs."""
    rows = []
    for target, category in enumerate(ESC50_CATEGORIES):
        for fold in range(1, 6):
            for i in range(8):
                src = 10_000 + target * 100 + fold * 10 + i
                rows.append([f"{fold}-{src}-A-{target}.wav", fold, target, category,
                             str(category in ESC10_CATEGORIES), src, "A"])
    rng = np.random.default_rng(50)
    for r in rows:
        write_wav(out / "audio" / r[0], 0.1 * rng.standard_normal((1, int(seconds * sample_rate))), sample_rate)
    (out / "meta").mkdir(parents=True, exist_ok=True)
    with open(out / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(ESC50_HEADER)
        w.writerows(sorted(rows))
    return out


def _spread(total: int, cells: int) -> list[int]:
    base, extra = divmod(total, cells)
    return [base + (1 if i < extra else 0) for i in range(cells)]


def ucf101(out: Path) -> Path:
    """13,320 clips of the 101 classInd classes in 25 groups; test groups of split k are 7(k-1)+1..7k, the clip
    counts spread so that the splits hold 9,537/3,783, 9,586/3,734 and 9,624/3,696 train/test clips."""
    blocks = {1: 3783, 2: 3734, 3: 3696, 4: 13320 - 3783 - 3734 - 3696}  # groups 1-7, 8-14, 15-21, 22-25
    files: list[tuple[str, int, int]] = []
    for block, total in blocks.items():
        groups = list(range(7 * (block - 1) + 1, 7 * block + 1)) if block < 4 else [22, 23, 24, 25]
        counts = iter(_spread(total, len(UCF101_CLASSIND) * len(groups)))
        for k, cls in enumerate(UCF101_CLASSIND):
            for g in groups:
                for c in range(1, next(counts) + 1):
                    rel = f"{cls}/v_{UCF101_FILE_SPELLING.get(cls, cls)}_g{g:02d}_c{c:02d}.avi"
                    (out / "UCF-101" / cls).mkdir(parents=True, exist_ok=True)
                    (out / "UCF-101" / rel).touch()
                    files.append((rel, k, g))
    write_ucf101_lists(out, list(UCF101_CLASSIND), files, groups=21)  # 21 // 3 = 7 groups per test block
    return out


def hmdb51(out: Path) -> Path:
    """6,766 clips of the 51 classes; per split 70 train (1) and 30 test (2) per class, the rest unused (0)."""
    splits = out / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for k, (cls, n) in enumerate(zip(HMDB51_CLASSES, _spread(6766, len(HMDB51_CLASSES)))):
        names = [f"Movie_{j // 10}_{cls}_f_cm_np1_fr_med_{j}.avi" for j in range(n)]
        (out / "hmdb51_org" / cls).mkdir(parents=True)
        for name in names:
            (out / "hmdb51_org" / cls / name).touch()
        for split in (1, 2, 3):
            order = names[(split - 1) * 30:] + names[:(split - 1) * 30]  # another 30 test clips per split
            marks = [2] * 30 + [1] * 70 + [0] * (n - 100)
            (splits / f"{cls}_test_split{split}.txt").write_text("".join(f"{a} {m} \n" for a, m in zip(order, marks)))
    return out


def dcase(out: Path) -> Path:
    """10 classes x 10 development + 10 test recordings (0.6 s instead of 30: the length is not the identity)."""
    write_dcase2013(out, n_classes=10, per_class=10, seconds=0.6, seed=0)
    (out / "avbench_fixture.json").unlink()
    return out


def kinetics400(out: Path, *, n_classes: int = 400, train: int = 250, val: int = 50) -> Path:
    """``n_classes`` labels x ``train`` train + ``val`` val rows (the release: 400, 250-1000, at most 50); the
    first 32 labels are the Kinetics-Sound classes as Kinetics spells them (spaces), so the copy serves
    ``kinetics_sound`` too."""
    labels = [c.replace("_", " ") for c in KINETICS_SOUND_CLASSES]
    labels += [f"action {k:03d}" for k in range(len(labels), n_classes)]
    rows = []
    for k, label in enumerate(labels[:n_classes]):
        for split, n in (("train", train), ("val", val)):
            for i in range(n):
                rows.append([label, f"y{k:03d}{split[0]}{i:05d}", 10, 20, split])
    (out / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        with open(out / "annotations" / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            w.writerows(r for r in rows if r[4] == split)
        (out / split).mkdir()
    for r in rows:
        (out / r[4] / f"{r[1]}_000010_000020.mp4").touch()
    return out


def vggsound(out: Path, *, n_classes: int = 310, train: int = 180, test: int = 20) -> Path:
    """``n_classes`` label strings x ``train`` + ``test`` rows (the release: 309/310, at least 200 per class)."""
    (out / "video").mkdir(parents=True)
    lines = []
    for k in range(n_classes):
        for split, n in (("train", train), ("test", test)):
            for i in range(n):
                ytid = f"v{k:03d}{split[1]}{i:05d}"
                lines.append(f'{ytid},30,"sound {k:03d}, kind",{split}\n')
                (out / "video" / f"{ytid}_000030.mp4").touch()
    (out / "vggsound.csv").write_text("".join(lines))
    return out


def write_checksums(root: Path, out: Path) -> Path:
    """A checksum manifest (sha256sum format) of every media file under ``root`` (annotation files left out)."""
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".wav", ".avi", ".mp4"):
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n")
    out.write_text("".join(lines))
    return out
