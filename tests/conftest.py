"""Shared fixtures: small ESC-50 / DCASE sets written in the official layouts by avbench's own writers."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from avbench.synth.audio_fixtures import write_corrupt_audio, write_dcase2013, write_esc50


#: the coverage gate for runs on a root with :func:`add_bad_rows` (one unusable file per fold: at the lowest, 10 of 11
#: test clips of a 5-class x 10 fixture fold are usable); the default gate of the ESC-50 cards is 1.0
BAD_ROWS_GATE = 0.9


def add_bad_rows(root: Path, corrupt_dir: Path) -> dict[str, str]:
    """Append ESC-50 rows naming a zero-byte file, a text file, a too-short file, a missing file and a
    truncated (but still usable) file.
    Returns {filename: kind}."""
    csv_path = root / "meta" / "esc50.csv"
    rows = list(csv.DictReader(csv_path.open()))
    category0 = next(r["category"] for r in rows if r["target"] == "0")
    corrupt = write_corrupt_audio(corrupt_dir)
    added = {}
    with csv_path.open("a", newline="") as f:
        w = csv.writer(f)
        for fold, (kind, src) in enumerate([("zero_byte", corrupt.get("zero_byte")), ("not_audio", corrupt.get("not_audio")),
                                            ("too_short", corrupt.get("too_short")), ("missing", None),
                                            ("truncated", corrupt.get("truncated"))], start=1):
            name = f"{fold}-90000{fold}-A-0.wav"
            if src is not None:
                shutil.copy(src, root / "audio" / name)
            w.writerow([name, fold, 0, category0, "False", f"90000{fold}", "A"])
            added[name] = kind
    return added


@pytest.fixture(scope="session")
def esc50_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("esc50")
    write_esc50(root, n_classes=5, clips_per_class=10, seed=1)
    add_bad_rows(root, tmp_path_factory.mktemp("corrupt"))
    return root


@pytest.fixture(scope="session")
def dcase_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dcase")
    write_dcase2013(root, n_classes=4, per_class=3, seconds=4.0, seed=2)
    return root


@pytest.fixture(autouse=True)
def _restore_subnormal_flushing():
    """`avbench pretrain` switches subnormal flushing on for its process (avbench.runtime.denormals); a test that
    runs the command in this process must not change the arithmetic of the tests after it."""
    import torch

    from avbench.runtime.denormals import flush_denormal_enabled

    before = flush_denormal_enabled()
    yield
    torch.set_flush_denormal(before)
