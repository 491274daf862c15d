"""Kill and resume: extraction, finetuning and pretraining are SIGKILLed at a seeded unit of work
(``AVBENCH_FAULT=<point>:<n>``, :mod:`avbench.runtime.faults`) in a real ``python -m avbench`` process, then the same
command is run again. Nothing that had finished is recomputed (the record / card counts the work of each run)
and the result equals an uninterrupted run's: feature shards byte for byte, finetuned weights and pretrained
weights bitwise (CPU, same thread count), records equal apart from timings and work counts.

A tiny CrissCross (width 4, saved as an avbench .safetensors file) and small fixtures in the official layouts
keep every run to seconds."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avbench.runtime.checkpoint import load_tree
from safetensors.torch import load_file

from avbench.runtime import faults
from avbench.cli.app import main
from avbench.features.store import FeatureStore

from ._resume_helpers import comparable, one_thread, only_record, same_shard, write_tiny_weights

SEED = 20240607  # the kill points are drawn from this seed: deterministic, never flaky


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("w") / "crisscross-w4.safetensors")


def _killed(args: list[str], fault: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, faults.ENV: fault, "OMP_NUM_THREADS": "1", **env_extra}
    env.pop("WORLD_SIZE", None)
    done = subprocess.run([sys.executable, "-m", "avbench", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-3000:])
    point, n = fault.split(":")
    assert f"at {point} #{n}" in done.stderr, done.stderr[-3000:]
    return done


# ---- faults -------------------------------------------------------------------------------------------------
def test_fault_spec_is_validated(monkeypatch):
    monkeypatch.setenv(faults.ENV, "extract:2,finetune:1")
    assert faults.armed() == {"extract": 2, "finetune": 1}
    monkeypatch.setenv(faults.ENV, "extract:2@1,pretrain:3")
    monkeypatch.setenv("RANK", "1")
    assert faults.armed() == {"extract": 2, "pretrain": 3}
    monkeypatch.setenv("RANK", "0")
    assert faults.armed() == {"pretrain": 3}  # the extract point is armed in rank 1 only
    for bad in ("extract", "extract:0", "nowhere:1", "extract:x", "extract:1@x"):
        monkeypatch.setenv(faults.ENV, bad)
        with pytest.raises(ValueError, match="AVBENCH_FAULT"):
            faults.armed()


def test_a_torn_shard_commit_leaves_no_shard_and_is_cleaned_on_resume(tmp_path):
    """SIGKILL between writing shard 2's temporary file and renaming it: shards 0-1 exist, shard 2 does not
    (only its temporary file); the next open removes the dead process's temporary file and plans shard 2-3."""
    script = ("import sys, torch\nfrom avbench.features.store import FeatureStore\n"
              "e = FeatureStore(sys.argv[1]).entry({'t': 1}).open()\n"
              "for i in range(4):\n"
              "    e.write_shard(i, torch.full((2, 3), float(i)), torch.tensor([2 * i, 2 * i + 1]), torch.zeros(2, dtype=torch.long),\n"
              "                  sample_ids=[f's{2 * i}', f's{2 * i + 1}'], skipped=[], padded=[])\n")
    env = {**os.environ, faults.ENV: "extract-commit:3"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    entry = FeatureStore(tmp_path).entry({"t": 1})
    assert entry.finished_shards() == {0, 1}
    torn = [p.name for p in entry.dir.glob(".shard-00002.safetensors.*.tmp")]
    assert len(torn) == 1, sorted(p.name for p in entry.dir.iterdir())
    entry.open()
    assert not list(entry.dir.glob(".*.tmp")) and entry.finished_shards() == {0, 1}
    plan = entry.plan(8, 2)
    assert sorted(set(range(plan.n_shards)) - entry.finished_shards()) == [2, 3]
    assert torch.equal(entry.read_shard(1).features, torch.full((2, 3), 1.0))


# ---- extraction ---------------------------------------------------------------------------------------------
def test_extraction_killed_at_a_seeded_shard_resumes_without_recomputing(tiny_weights, tmp_path, monkeypatch, capsys):
    from avbench.datasets import get_dataset
    from avbench.synth.audio_fixtures import write_esc50

    root = write_esc50(tmp_path / "esc", n_classes=3, clips_per_class=12, seconds=2.5, seed=1)
    shard = 4
    fold = get_dataset("esc50").load(root).splits["fold1"]
    total = -(-len(fold["train"]) // shard) + -(-len(fold["test"]) // shard)
    n = random.Random(SEED).randint(1, total - 1)

    def args(tag: str) -> list[str]:
        return ["eval", "--model", "crisscross", "--weights", str(tiny_weights), "--task", "esc50",
                "--data-root", str(root), "--set", "train.clips=2", "--set", "test.clips=2", "--set", "splits=[fold1]",
                "--set", "classifier.costs=[0.001,1.0]", "--cache-dir", str(tmp_path / f"cache-{tag}"),
                "--out", str(tmp_path / f"out-{tag}"), "--no-progress", "--workers", "0"]

    _killed(args("k"), f"extract:{n}", AVBENCH_SHARD_SIZE=str(shard))
    left = sorted((tmp_path / "cache-k" / "features").rglob("shard-*.safetensors"))
    assert len(left) == n  # exactly the shards committed before the kill
    rows_left = sum(int(load_file(str(p))["sample"].numel()) for p in left)
    assert not (tmp_path / "out-k").exists()  # no record from the killed run

    monkeypatch.setenv("AVBENCH_SHARD_SIZE", str(shard))
    assert main(args("k")) == 0  # the same command again: resumes
    assert main(args("ref")) == 0  # an uninterrupted run in its own cache
    capsys.readouterr()
    resumed, ref = only_record(tmp_path / "out-k"), only_record(tmp_path / "out-ref")
    work = [v for v in resumed["features"]["seed0"].values() if isinstance(v, dict)]
    assert sum(v["shards_reused"] for v in work) == n  # every shard finished before the kill is reused ...
    assert sum(v["shards_computed"] for v in work) == total - n  # ... and only the others are computed
    ref_work = [v for v in ref["features"]["seed0"].values() if isinstance(v, dict)]
    assert sum(v["shards_computed"] for v in ref_work) == total and sum(v["shards_reused"] for v in ref_work) == 0
    assert sum(v["rows_computed"] for v in ref_work) == sum(v["rows"] for v in ref_work)
    assert sum(v["rows_computed"] for v in work) == sum(v["rows"] for v in ref_work) - rows_left
    # the features are the uninterrupted run's, byte for byte, and so is the record
    killed_files = sorted(p.relative_to(tmp_path / "cache-k")
                          for p in (tmp_path / "cache-k" / "features").rglob("shard-*.safetensors"))
    ref_files = sorted(p.relative_to(tmp_path / "cache-ref")
                       for p in (tmp_path / "cache-ref" / "features").rglob("shard-*.safetensors"))
    assert killed_files == ref_files and len(ref_files) == total
    for rel in ref_files:
        assert same_shard(tmp_path / "cache-k" / rel, tmp_path / "cache-ref" / rel), rel
    assert comparable(resumed) == comparable(ref)
    assert resumed["sidecar"]["sha256"] == ref["sidecar"]["sha256"]
    # a third run finds everything finished: it computes nothing
    assert main(args("k")) == 0
    capsys.readouterr()
    again = only_record(tmp_path / "out-k")
    assert all(v["shards_computed"] == 0 for v in again["features"]["seed0"].values() if isinstance(v, dict))


# ---- finetuning ---------------------------------------------------------------------------------------------
def test_finetuning_killed_mid_epoch_resumes_to_the_same_weights(tiny_weights, tmp_path, capsys):
    from avbench.synth.video_fixtures import write_ucf101

    root = write_ucf101(tmp_path / "UCF101", n_classes=3, groups=3, clips_per_group=1, seed=1, frame_size=(80, 64),
                        seconds=1.0)
    epochs = 3

    def args(tag: str) -> list[str]:
        return ["eval", "--model", "crisscross", "--weights", str(tiny_weights), "--task", "ucf101-finetune",
                "--data-root", str(root), "--set", "video.size=64", "--set", "video.resize=72",
                "--set", "splits=[split1]", "--set", "train.clips=1", "--set", "test.clips=2",
                "--set", f"classifier.epochs={epochs}", "--set", "classifier.batch_size=2", "--set", "batch_size=8",
                "--cache-dir", str(tmp_path / f"cache-{tag}"), "--out", str(tmp_path / f"out-{tag}"),
                "--no-progress", "--workers", "0"]

    assert main(args("ref")) == 0  # uninterrupted
    ref = only_record(tmp_path / "out-ref")
    total = ref["runs"][0]["info"]["steps_this_process"]
    per_epoch = total // epochs
    assert per_epoch * epochs == total and per_epoch >= 2
    step = random.Random(SEED + 1).choice([s for s in range(1, total) if s % per_epoch])  # a step inside an epoch
    finished = (step - 1) // per_epoch  # epochs whose checkpoint was written before the kill

    _killed(args("k"), f"finetune-step:{step}")
    assert main(args("k")) == 0  # resumes after the last finished epoch
    capsys.readouterr()
    resumed = only_record(tmp_path / "out-k")
    info = resumed["runs"][0]["info"]
    assert info["resumed_from_epoch"] == finished
    assert info["epochs_this_process"] == epochs - finished  # finished epochs are not trained again
    assert info["steps_this_process"] == total - finished * per_epoch  # the cut epoch is redone from its start
    assert [e["epoch"] for e in resumed["runs"][0]["sweep"]] == list(range(1, epochs + 1))
    assert comparable(resumed) == comparable(ref)
    a = load_tree(Path(ref["runs"][0]["info"]["checkpoint"]))
    b = load_tree(Path(info["checkpoint"]))
    assert a["epoch"] == b["epoch"] == epochs
    for name, t in a["model"].items():
        assert torch.equal(t, b["model"][name]), name  # bitwise (CPU, same thread count)
    for key, state in a["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], b["optimizer"]["state"][key]["momentum_buffer"])
    fresh_head = load_tree(Path(ref["runs"][0]["info"]["checkpoint"]))["model"]["fc.weight"]
    assert fresh_head.abs().sum() > 0


# ---- pretraining --------------------------------------------------------------------------------------------
def test_pretraining_killed_at_a_seeded_step_resumes_to_the_same_weights(tmp_path, capsys):
    from avbench.synth.world import WorldConfig, write_world

    from .test_pretrain import TINY, _sets

    world = write_world(tmp_path / "world", n_per_class=2, seed=3,
                        cfg=WorldConfig(n_classes=4, seconds=2.0, width=32, height=32))
    over = {**TINY["crisscross"], "train": {**TINY["crisscross"]["train"], "checkpoint_every": 1}}

    def args(tag: str) -> list[str]:
        return ["pretrain", "crisscross", "--data", str(world), "--out", str(tmp_path / tag), "--preset", "small",
                "--workers", "0", "--no-progress", "--cache-dir", str(tmp_path / "c"), *_sets(over)]

    assert main(args("ref")) == 0
    ref_card = json.loads((tmp_path / "ref" / "card.json").read_text())
    total = ref_card["steps"]
    assert ref_card["steps_this_process"] == total >= 3 and ref_card["resumed_from_step"] == 0
    n = random.Random(SEED + 2).randint(1, total - 1)
    _killed(args("k"), f"pretrain:{n}")
    assert not (tmp_path / "k" / "encoder.safetensors").exists()
    assert main(args("k")) == 0
    capsys.readouterr()
    card = json.loads((tmp_path / "k" / "card.json").read_text())
    assert card["resumed_from_step"] == n and card["steps_this_process"] == total - n  # no step trained twice
    a, b = load_file(str(tmp_path / "ref" / "encoder.safetensors")), load_file(str(tmp_path / "k" / "encoder.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), (k, float((a[k] - b[k]).abs().max()))
    rows = [json.loads(x) for x in (tmp_path / "k" / "history.jsonl").read_text().splitlines()]
    ref_rows = [json.loads(x) for x in (tmp_path / "ref" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, total + 1))
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]  # the same losses, step for step
