"""Helpers shared by tests/test_resume.py and tests/test_distributed_extract.py: a tiny real encoder on disk,
record and shard comparison, one-thread runs."""
from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open

#: what may differ between an interrupted-and-resumed (or multi-process) run and an uninterrupted one-process run
VOLATILE = {"peak_rss_bytes", "created_utc", "command", "checkpoint", "device", "shards_computed", "shards_reused",
            "rows_computed", "processes", "shards_by_rank", "resumed_from_epoch", "epochs_this_process",
            "steps_this_process"}


def write_tiny_weights(path: Path) -> Path:
    """CrissCross at width 4 (both trunks, seeded random init) saved as an avbench .safetensors file."""
    from avbench.registry import build_encoder
    from avbench_baselines.crisscross.encoder import save_safetensors

    return save_safetensors(build_encoder("crisscross", video_width=4, audio_width=4, init_seed=0), path)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run with one intra-op thread (children get ``OMP_NUM_THREADS=1``): the same reduction order in every process
    (what bitwise equality needs) and no OpenMP spin-waiting on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without timings, work counts, this run's cache paths, device line and command."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in VOLATILE and not k.endswith("seconds")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(copy.deepcopy(record))


def same_shard(a: Path, b: Path) -> bool:
    """Two shard files hold bitwise-equal tensors and equal metadata (the safetensors header orders its metadata
    keys arbitrarily, so the files' bytes may differ)."""
    with safe_open(str(a), framework="pt") as fa, safe_open(str(b), framework="pt") as fb:
        return (fa.metadata() == fb.metadata() and set(fa.keys()) == set(fb.keys())
                and all(torch.equal(fa.get_tensor(k), fb.get_tensor(k)) for k in fa.keys()))


def only_record(out: Path) -> dict[str, Any]:
    (path,) = list(out.rglob("*.json"))
    return json.loads(path.read_text())
