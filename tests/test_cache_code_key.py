"""The feature cache is keyed by the code that computes a feature (issue 15, case 3), and can be refreshed or
bypassed.

Before: the key held the weights and meta only; a fix to an encoder's forward, pooling or front end that left
the weights unchanged silently reused the stale features.
"""
from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from avbench.cli.app import main
from avbench.provenance import code_fingerprint
from avbench.evaluation.runner import RunOptions, run
from tests._toys import ToyAudio

FAST = {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"], "classifier": {"costs": [0.01, 1.0]}}

PACKAGE = '''
from tests._toys import ToyAudio


class Scaled(ToyAudio):
    def encode_audio(self, x, layers=("pooled",)):
        return super().encode_audio(x * SCALE, layers)


SCALE = {scale}


def build(weights=None, init_seed=0):
    return Scaled(name="pkgtoy")
'''


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    """A user's encoder package ``userenc`` on sys.path; ``write(scale)`` rewrites its forward and reloads it."""
    folder = tmp_path / "src" / "userenc"
    folder.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))

    def write(scale: float) -> None:
        (folder / "__init__.py").write_text(textwrap.dedent(PACKAGE.format(scale=scale)))
        importlib.invalidate_caches()
        if "userenc" in sys.modules:
            importlib.reload(sys.modules["userenc"])

    write(1.0)
    yield write
    sys.modules.pop("userenc", None)


def _opts(tmp_path, **kw):
    return RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None, **kw)


def _work(record):
    views = [v for v in record.features["seed0"].values() if isinstance(v, dict)]
    return sum(v["shards_reused"] for v in views), sum(v["shards_computed"] for v in views)


def test_a_code_change_with_the_same_weights_is_not_served_stale_features(esc50_root, tmp_path, toy_package):
    first, _ = run("userenc:build", "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    again, _ = run("userenc:build", "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert _work(first)[0] == 0 and _work(again)[1] == 0  # unchanged code: everything reused
    toy_package(3.0)  # a fix to forward; weights (state) unchanged
    fixed, _ = run("userenc:build", "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert fixed.encoder.state_sha256 == first.encoder.state_sha256
    assert _work(fixed) == (0, _work(first)[1])  # nothing reused: recomputed with the new code
    assert fixed.encoder.code["encoder_packages"]["userenc"]["sha256"] != first.encoder.code["encoder_packages"]["userenc"]["sha256"]
    assert fixed.cache.keys != first.cache.keys and fixed.cache.shards_reused == 0


def test_the_fingerprint_names_what_it_hashes():
    fp = code_fingerprint(ToyAudio(), "tests._toys")
    assert fp["encoder_packages"]["tests"]["files"] > 1 and fp["encoder_packages"]["torch"]["dist"].startswith("torch==")
    assert len(fp["avbench_feature_path"]) == 64
    assert set(fp["libraries"]) == {"torch", "torchvision", "torchaudio", "av", "ffmpeg"}


def test_a_declared_code_version_changes_the_key(esc50_root, tmp_path):
    import dataclasses

    a = ToyAudio()
    b = ToyAudio()
    b.meta = dataclasses.replace(b.meta, code_version="2")
    ra, _ = run(a, "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    rb, _ = run(b, "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert rb.cache.shards_reused == 0 and set(ra.cache.keys.values()).isdisjoint(rb.cache.keys.values())


def test_refresh_and_no_cache_from_the_command_line(esc50_root, tmp_path, capsys):
    base = ["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", str(esc50_root),
            "--set", "train.clips=1", "--set", "test.clips=1", "--set", "splits=[fold1]",
            "--set", "classifier.costs=[0.01,1.0]", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--no-progress", "--workers", "0"]
    assert main(base) == 0
    out = capsys.readouterr()
    assert "feature cache (use): 0 shard(s) reused, 3 computed" in out.out  # train 41 samples (2 shards), test 1
    log = " ".join(out.err.split())  # rich wraps long lines
    assert "train features (seed 0): cache use, key " in log and "0 of 2 shard(s) reused, 2 computed" in log
    assert main(base) == 0
    assert "feature cache (use): 3 shard(s) reused, 0 computed" in capsys.readouterr().out
    assert main([*base, "--refresh"]) == 0
    assert "feature cache (refresh): 0 shard(s) reused, 3 computed" in capsys.readouterr().out
    entries = sorted((tmp_path / "cache" / "features").glob("*/*"))
    assert main([*base, "--no-cache", "--cache-dir", str(tmp_path / "cache2")]) == 0
    assert "feature cache (off): 0 shard(s) reused, 3 computed" in capsys.readouterr().out
    assert not (tmp_path / "cache2" / "features").exists()  # nothing kept
    assert sorted((tmp_path / "cache" / "features").glob("*/*")) == entries
    with pytest.raises(SystemExit):
        main([*base, "--refresh", "--no-cache"])
