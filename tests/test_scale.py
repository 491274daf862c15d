"""Scale: a Kinetics-400-sized view (240 000 samples) is planned into shards and shared out between processes
exactly once each, resumed from one directory listing without opening a shard, and read back memory-mapped or one
shard at a time. Peak-memory figures are measured by benchmarks/scale_manifest.py, not asserted here."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

import pytest
import torch

from avbench.features.extract import _plan_missing, read_view
from avbench.evaluation.runner import _ids_sha, shard_size
from avbench.features.store import FeatureStore, ShardPlan

KINETICS = 240_000


def _shares_are_exact(plan: ShardPlan, missing: list[int], world: int) -> None:
    shares = [plan.assign(missing, r, world) for r in range(world)]
    flat = [s for share in shares for s in share]
    assert sorted(flat) == sorted(missing) and len(set(flat)) == len(flat)  # each missing shard exactly once
    assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced


def test_a_kinetics_sized_view_is_planned_and_shared_out_exactly_once():
    ids = [f"{i:011x}_{i % 300:06d}_{i % 300 + 10:06d}" for i in range(KINETICS)]
    assert len(_ids_sha(ids)) == 64 and len(set(ids)) == KINETICS
    plan = ShardPlan(KINETICS, 32)
    assert plan.n_shards == 7500
    covered = [p for s in range(plan.n_shards) for p in (plan.positions(s).start, plan.positions(s).stop)]
    assert covered[0] == 0 and covered[-1] == KINETICS
    assert all(covered[i] == covered[i + 1] for i in range(1, len(covered) - 1, 2))  # contiguous, no gap/overlap
    everything = list(range(plan.n_shards))
    for world in (1, 3, 8, 64):
        _shares_are_exact(plan, everything, world)
    half = sorted(random.Random(0).sample(everything, 3750))  # what a killed run left to do
    for world in (1, 3, 8, 64):
        _shares_are_exact(plan, half, world)
    odd = ShardPlan(KINETICS + 5, 32)
    assert odd.n_shards == 7501 and len(odd.positions(7500)) == 5
    assert ShardPlan(0, 32).n_shards == 1 and len(ShardPlan(0, 32).positions(0)) == 0


def test_shard_size_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv("AVBENCH_SHARD_SIZE", raising=False)
    assert shard_size() == 32 and shard_size(7) == 7
    monkeypatch.setenv("AVBENCH_SHARD_SIZE", "128")
    assert shard_size() == 128
    monkeypatch.setenv("AVBENCH_SHARD_SIZE", "zero")
    with pytest.raises(ValueError, match="AVBENCH_SHARD_SIZE"):
        shard_size()


def _write(entry, plan: ShardPlan, shard: int, dim: int = 3) -> torch.Tensor:
    pos = list(plan.positions(shard))
    feats = torch.arange(len(pos) * dim, dtype=torch.float32).view(len(pos), dim) + 1000 * shard
    entry.write_shard(shard, feats, torch.tensor(pos), torch.zeros(len(pos), dtype=torch.long),
                      sample_ids=[f"s{p}" for p in pos], skipped=[], padded=[])
    return feats


def test_resume_finds_finished_shards_without_opening_them(tmp_path):
    entry = FeatureStore(tmp_path).entry({"kinetics": 1}).open()
    plan, missing = _plan_missing(entry, KINETICS, 32, 1)
    assert missing == list(range(7500))
    done = [0, 1, 2, 4999, 7499]
    for s in done[:-1]:
        _write(entry, plan, s)
    # a file under a shard's final name counts as finished: the scan never opens it (this one is not even a shard)
    entry.shard_path(7499).write_bytes(b"not a safetensors file")
    # temporaries: one of a dead process of this host (removed), one of this live process and one of another
    # host (both kept: they may still be committing)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    names = [f".shard-00003.safetensors.{dead.pid}@{host}.tmp", f".shard-00005.safetensors.{os.getpid()}@{host}.tmp",
             f".shard-00006.safetensors.{dead.pid}@elsewhere.example.tmp"]
    for n in names:
        (entry.dir / n).write_bytes(b"partial")
    entry.open()
    assert sorted(p.name for p in entry.dir.glob(".shard-*.tmp")) == sorted(names[1:])
    plan2, missing2 = _plan_missing(entry, KINETICS, 64, 1)  # asked for another size: the recorded one is kept
    assert plan2.shard_size == 32 and missing2 == sorted(set(range(7500)) - set(done))
    with pytest.raises(ValueError, match="shard-07499.safetensors: unreadable feature shard"):
        entry.read_shard(7499)  # reading it is a clear error naming the file
    with pytest.raises(RuntimeError, match="plan for 240000 samples"):
        entry.plan(KINETICS + 1, 32)


def test_shards_read_back_memory_mapped_one_at_a_time(tmp_path):
    entry = FeatureStore(tmp_path).entry({"small": 1}).open()
    plan = entry.plan(10, 4)
    written = [_write(entry, plan, s, dim=5) for s in range(plan.n_shards)]
    streamed = [sh.features.clone() for sh in entry.iter_shards(plan.n_shards)]
    assert all(torch.equal(a, b) for a, b in zip(written, streamed))
    view = read_view(entry, plan.n_shards)
    assert torch.equal(torch.cat(view.features), torch.cat(written))
    assert view.sample.tolist() == list(range(10)) and entry.is_complete()
    view.features[0].mul_(0)  # a mapped block is copy-on-write: changing it never changes the shard on disk
    assert torch.equal(entry.read_shard(0).features, written[0])
    assert torch.equal(entry.read_shard(0, mmap=False).features, written[0])
