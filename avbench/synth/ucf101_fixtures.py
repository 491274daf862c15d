"""The UCF101 fixture writer: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` (``classInd.txt``,
``trainlist0k.txt`` with 1-based labels, ``testlist0k.txt`` without) in CRLF with trailing blank lines."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from avbench.synth.video_render import avi_spec, write_class_video, write_marker

#: real UCF101 class names (a subset) in the order the fixture takes them; HandstandPushups comes first so every
#: fixture has the folder/file-name wart. The classInd of a fixture lists its classes sorted case-insensitively,
#: as the real classInd.txt does.
UCF101_CLASSES = (
    "HandstandPushups", "ApplyEyeMakeup", "PlayingGuitar", "YoYo", "Archery", "Basketball", "BenchPress", "Biking",
    "Billiards", "BlowDryHair", "Bowling", "Drumming", "Fencing", "GolfSwing", "HorseRiding", "JumpRope", "Knitting",
    "PlayingPiano", "PlayingViolin", "PullUps", "Punch", "PushUps", "Rowing", "Skiing", "Surfing", "TaiChi",
    "TennisSwing", "WalkingWithDog", "WritingOnBoard",
)
#: the spelling the real files use where it differs from the folder (class) name.
UCF101_FILE_SPELLING = {"HandstandPushups": "HandStandPushups"}


def ucf101_test_groups(split: int, groups: int) -> set[int]:
    """Groups (1-based) that split ``split`` (1..3) tests: the k-th block of ``max(1, groups // 3)`` groups
    (the real set: 7 of 25, groups 22-25 always train)."""
    block = max(1, groups // 3)
    return set(range(block * (split - 1) + 1, block * split + 1))


def write_ucf101(out: Path, *, n_classes: int = 4, groups: int = 3, clips_per_group: int = 2, seed: int = 0,
                 frame_size: tuple[int, int] | None = None, seconds: float | None = None,
                 fps: float | None = None) -> Path:
    """Write a synthetic UCF101 in the official layout under ``out``; returns ``out``.

    Classes: the first ``n_classes`` of :data:`UCF101_CLASSES` (always including ``HandstandPushups``), numbered
    in classInd.txt in case-insensitive sorted order (label = index - 1). Each class has ``groups`` groups
    (g01..) of ``clips_per_group`` clips (c01..); every file is listed in each split (train or test), so split k
    has ``n_classes * clips_per_group * len(ucf101_test_groups(k, groups))`` test files.
    frame_size ``(width, height)`` px, seconds and fps (Hz), when given, replace the small defaults of every file
    (e.g. ``(320, 240), 7.0, 25`` for real UCF101 sizes, as ``benchmarks/e2e_speed.py`` writes).
    """
    if not 1 <= n_classes <= len(UCF101_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(UCF101_CLASSES)}, got {n_classes}")
    if groups < 3 or clips_per_group < 1:
        raise ValueError("need groups >= 3 (one test block per split) and clips_per_group >= 1")
    out = Path(out)
    classes = sorted(UCF101_CLASSES[:n_classes], key=str.lower)
    files: list[tuple[str, int, int]] = []  # (relative path, class index, group)
    i = 0
    for k, cls in enumerate(classes):
        stem_cls = UCF101_FILE_SPELLING.get(cls, cls)
        for g in range(1, groups + 1):
            for c in range(1, clips_per_group + 1):
                rel = f"{cls}/v_{stem_cls}_g{g:02d}_c{c:02d}.avi"
                rng = np.random.default_rng([seed, 101, k, g, c])
                spec = avi_spec(i, rng)
                if frame_size is not None:
                    spec = replace(spec, width=int(frame_size[0]), height=int(frame_size[1]))
                if seconds is not None:
                    spec = replace(spec, seconds=float(seconds))
                if fps is not None:
                    spec = replace(spec, fps=Fraction(fps).limit_denominator(1001))
                write_class_video(out / "UCF-101" / rel, k, n_classes, spec, rng)
                files.append((rel, k, g))
                i += 1
    write_ucf101_lists(out, classes, files, groups)
    write_marker(out, {"dataset": "ucf101", "n_classes": n_classes, "classes": classes, "groups": groups,
                        "clips_per_group": clips_per_group, "seed": seed, "files": len(files)})
    return out


def write_ucf101_lists(out: Path, classes: list[str], files: list[tuple[str, int, int]], groups: int) -> None:
    """``ucfTrainTestlist/``: classInd.txt and the three train/test lists for ``files`` (relative path, class
    index, group), in CRLF with the real set's trailing blank lines."""
    lists = out / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    _crlf(lists / "classInd.txt", [f"{k + 1} {cls}" for k, cls in enumerate(classes)], blank_tail=0)
    for split in (1, 2, 3):
        test = ucf101_test_groups(split, groups)
        _crlf(lists / f"trainlist0{split}.txt", [f"{rel} {k + 1}" for rel, k, g in files if g not in test],
              blank_tail=split % 2)
        _crlf(lists / f"testlist0{split}.txt", [rel for rel, _, g in files if g in test], blank_tail=2 if split == 3 else 0)


def _crlf(path: Path, lines: list[str], *, blank_tail: int) -> None:
    path.write_bytes(("\r\n".join(lines) + "\r\n" + "\r\n" * blank_tail).encode())

