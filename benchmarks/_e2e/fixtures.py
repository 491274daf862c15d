"""Fixture data at realistic media sizes, written once under ``--data-dir`` and reused: ESC-50 (5-s 44.1 kHz mono
wav) and UCF101 (320x240, 25 fps, 7-s MPEG-4 in AVI)."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from avbench.synth.audio_fixtures import write_esc50
from avbench.synth.video_fixtures import write_ucf101


def _atomic_write(root: Path, writer: Callable[[Path], Any]) -> Path:
    if (root / "avbench_fixture.json").exists():
        return root
    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer(tmp)
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
    return root


def esc50_fixture(data_dir: Path, clips: int) -> tuple[Path, float]:
    """``clips`` 5-s 44.1 kHz mono 16-bit ESC-50 files over the 50 classes (``clips // 50`` per class, at least
    1); returns (root, seconds spent writing, 0 when reused)."""
    per_class = max(1, clips // 50)
    t0 = time.perf_counter()
    root = _atomic_write(data_dir / f"esc50-{per_class}x50-5s-44k",
                         lambda out: write_esc50(out, n_classes=50, clips_per_class=per_class, seconds=5.0,
                                                 seed=0, variety=False))
    return root, time.perf_counter() - t0


def ucf101_shape(videos: int) -> tuple[int, int, int]:
    """(classes, groups, clips per group) giving about ``videos`` files: up to 10 classes, >= 3 groups."""
    n_classes = max(2, min(10, videos // 6))
    per_class = max(3, round(videos / n_classes))
    groups = max(3, min(25, per_class // 2))
    return n_classes, groups, max(1, round(per_class / groups))


def ucf101_fixture(data_dir: Path, videos: int) -> tuple[Path, float]:
    """About ``videos`` UCF101 files as the real set ships them: 320x240, 25 fps, 7 s, MPEG-4 Part 2 in AVI."""
    n_classes, groups, per_group = ucf101_shape(videos)
    t0 = time.perf_counter()
    root = _atomic_write(data_dir / f"ucf101-{n_classes}x{groups}x{per_group}-320x240-25fps-7s",
                         lambda out: write_ucf101(out, n_classes=n_classes, groups=groups, clips_per_group=per_group,
                                                  seed=0, frame_size=(320, 240), seconds=7.0, fps=25))
    return root, time.perf_counter() - t0
