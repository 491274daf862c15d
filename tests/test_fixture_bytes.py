"""Fixture writers give the same bytes every run: sample identity hashes file content (datasets/sample_identity.py),
so a fixture that varies run to run (x264's AVX-512 paths; Matroska's random segment UID) changes every record's
manifest hash and every golden record made on it."""
from __future__ import annotations

from pathlib import Path

from avbench.synth.video_fixtures import write_kinetics400


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_kinetics_fixture_with_its_vfr_mkv_files_is_byte_identical_run_to_run(tmp_path):
    kw = dict(n_classes=2, train_per_class=2, val_per_class=1, class_names=["playing_drums", "bowling"], seed=0)
    a, b = (write_kinetics400(tmp_path / d, **kw) for d in ("a", "b"))
    fa, fb = _files(a), _files(b)
    assert any(name.endswith(".mkv") for name in fa)
    assert fa.keys() == fb.keys() and [n for n in fa if fa[n] != fb[n]] == []
