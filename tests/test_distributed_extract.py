"""Distributed extraction under ``torchrun`` (gloo, 2 processes on CPU): the feature shards are shared out between
the ranks, each rank writes its own, rank 0 alone reads them all and writes the record; the features are bitwise
those of a one-process run and the record is equal apart from timings and work counts. A job whose rank 1 is
SIGKILLed mid-extraction resumes in ONE process, reusing every shard either rank had committed."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avbench.runtime import faults
from avbench.cli.app import main

from ._resume_helpers import comparable, one_thread, only_record, same_shard, write_tiny_weights

SHARD = 4


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("w") / "crisscross-w4.safetensors")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def esc_root(tmp_path_factory) -> Path:
    from avbench.synth.audio_fixtures import write_esc50

    return write_esc50(tmp_path_factory.mktemp("esc"), n_classes=3, clips_per_class=12, seconds=2.5, seed=1)


def _args(root: Path, weights: Path, tmp: Path, tag: str) -> list[str]:
    return ["eval", "--model", "crisscross", "--weights", str(weights), "--task", "esc50", "--data-root", str(root),
            "--set", "train.clips=2", "--set", "test.clips=2", "--set", "splits=[fold1]",
            "--set", "classifier.costs=[0.001,1.0]", "--cache-dir", str(tmp / f"cache-{tag}"),
            "--out", str(tmp / f"out-{tag}"), "--no-progress", "--workers", "0"]


def _torchrun(args: list[str], **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AVBENCH_SHARD_SIZE": str(SHARD), **env_extra}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "avbench", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _shards(cache: Path) -> list[Path]:
    return sorted(p.relative_to(cache) for p in (cache / "features").rglob("shard-*.safetensors"))


def test_two_process_extraction_equals_one_process(esc_root, tiny_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AVBENCH_SHARD_SIZE", str(SHARD))
    assert main(_args(esc_root, tiny_weights, tmp_path, "one")) == 0
    capsys.readouterr()
    done = _torchrun(_args(esc_root, tiny_weights, tmp_path, "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("record: ") == 1  # rank 0 alone reports and writes
    one, two = only_record(tmp_path / "out-one"), only_record(tmp_path / "out-two")
    for side in ("train", "test"):
        a, b = one["features"]["seed0"][side], two["features"]["seed0"][side]
        n = a["shards_computed"]
        assert a["processes"] == 1 and b["processes"] == 2
        assert b["shards_computed"] == a["shards_computed"] == n and b["shards_reused"] == 0
        assert b["shards_by_rank"] == [(n + 1) // 2, n // 2]  # every rank wrote its share
        assert b["rows_computed"] == a["rows_computed"] == a["rows"]
    files = _shards(tmp_path / "cache-one")
    assert files == _shards(tmp_path / "cache-two") and len(files) >= 4
    for rel in files:  # the same shard files, tensors bitwise equal
        assert same_shard(tmp_path / "cache-one" / rel, tmp_path / "cache-two" / rel), rel
    assert comparable(one) == comparable(two)
    assert one["sidecar"]["sha256"] == two["sidecar"]["sha256"]


def test_a_job_whose_rank_dies_resumes_in_one_process(esc_root, tiny_weights, tmp_path, monkeypatch, capsys):
    done = _torchrun(_args(esc_root, tiny_weights, tmp_path, "k"), **{faults.ENV: "extract:2@1"})
    assert done.returncode != 0 and "at extract #2" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "out-k").exists()
    left = _shards(tmp_path / "cache-k")
    assert len(left) >= 2  # rank 1 committed two shards before it was killed (rank 0 maybe some more)
    monkeypatch.setenv("AVBENCH_SHARD_SIZE", str(SHARD))
    assert main(_args(esc_root, tiny_weights, tmp_path, "k")) == 0
    assert main(_args(esc_root, tiny_weights, tmp_path, "ref")) == 0
    capsys.readouterr()
    resumed, ref = only_record(tmp_path / "out-k"), only_record(tmp_path / "out-ref")
    views = [resumed["features"]["seed0"][s] for s in ("train", "test")]
    total = sum(ref["features"]["seed0"][s]["shards_computed"] for s in ("train", "test"))
    assert sum(v["shards_reused"] for v in views) == len(left)
    assert sum(v["shards_computed"] for v in views) == total - len(left)
    assert not list((tmp_path / "cache-k").rglob(".shard-*.tmp"))  # a torn commit of the killed job is cleaned
    for rel in _shards(tmp_path / "cache-ref"):
        assert same_shard(tmp_path / "cache-k" / rel, tmp_path / "cache-ref" / rel), rel
    assert comparable(resumed) == comparable(ref)
    assert torch.get_num_threads() == 1
