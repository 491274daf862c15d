"""The feature store: pooled clip features in safetensors shards, keyed by everything that changes them.

Layout::

    <cache>/features/<key[:2]>/<key>/
        key.json                      the fields hashed into <key> (encoder fingerprint, dtype, view, ...)
        shard-00000.safetensors       features [n, D] float32, sample [n] int64, clip [n] int64,
        shard-00001.safetensors       metadata: sample ids, skipped samples with reasons, padded and damaged samples
        complete.json                 written once every shard exists

A shard covers a fixed, deterministic range of samples, so an interrupted run resumes by skipping the
shards that exist. Each shard is written to a temporary file and renamed (atomic on POSIX), so a kill
never leaves a half-written shard. In a multi-process run rank r computes and writes shards r, r+W, ...
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "avbench-features-1"


def key_of(fields: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``fields``."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class Shard:
    """One shard read back: features ``[n, D]`` float32, ``sample`` ``[n]`` (position in the view's sample list),
    ``clip`` ``[n]`` (clip index within its sample) and the shard's metadata."""

    features: torch.Tensor
    sample: torch.Tensor
    clip: torch.Tensor
    sample_ids: list[str]
    skipped: list[dict[str, str]]
    padded: list[str]
    damaged: list[dict[str, str]]


class StoreEntry:
    """The shards of one feature set (one key)."""

    def __init__(self, root: Path, key: str, fields: dict[str, Any]):
        self.key = key
        self.dir = root / key[:2] / key
        self.fields = fields

    def open(self) -> "StoreEntry":
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():
            _atomic_write_text(key_file, json.dumps(self.fields, indent=1, sort_keys=True, default=str))
        return self

    def shard_path(self, index: int) -> Path:
        return self.dir / f"shard-{index:05d}.safetensors"

    def has_shard(self, index: int) -> bool:
        return self.shard_path(index).exists()

    def write_shard(self, index: int, features: torch.Tensor, sample: torch.Tensor, clip: torch.Tensor, *,
                    sample_ids: list[str], skipped: list[dict[str, str]], padded: list[str],
                    damaged: list[dict[str, str]] | None = None) -> Path:
        """Atomically write shard ``index``. ``features`` ``[n, D]``; ``sample``/``clip`` ``[n]`` int64."""
        if features.dim() != 2 or features.shape[0] != sample.numel() or sample.numel() != clip.numel():
            raise ValueError(f"shard {index}: features {tuple(features.shape)}, sample {tuple(sample.shape)}, clip {tuple(clip.shape)} disagree")
        path = self.shard_path(index)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tensors = {"features": features.detach().to("cpu", torch.float32).contiguous(),
                   "sample": sample.to("cpu", torch.int64).contiguous(),
                   "clip": clip.to("cpu", torch.int64).contiguous()}
        meta = {"format": FORMAT, "sample_ids": json.dumps(sample_ids), "skipped": json.dumps(skipped),
                "padded": json.dumps(padded), "damaged": json.dumps(damaged or [])}
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def read_shard(self, index: int) -> Shard:
        path = self.shard_path(index)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: not an avbench feature shard (format {meta.get('format')!r})")
            return Shard(features=f.get_tensor("features"), sample=f.get_tensor("sample"), clip=f.get_tensor("clip"),
                         sample_ids=json.loads(meta["sample_ids"]), skipped=json.loads(meta["skipped"]),
                         padded=json.loads(meta["padded"]), damaged=json.loads(meta.get("damaged", "[]")))

    def mark_complete(self, summary: dict[str, Any]) -> None:
        _atomic_write_text(self.dir / "complete.json", json.dumps(summary, indent=1, sort_keys=True, default=str))

    def is_complete(self) -> bool:
        return (self.dir / "complete.json").exists()


class FeatureStore:
    """All feature sets under ``<cache_dir>/features``."""

    def __init__(self, cache_dir: Path):
        self.root = Path(cache_dir) / "features"

    def entry(self, fields: dict[str, Any]) -> StoreEntry:
        return StoreEntry(self.root, key_of(fields), fields)

    def entries(self) -> Iterator[dict[str, Any]]:
        """One summary dict per feature set on disk (key, size, shards, complete, what it holds)."""
        if not self.root.exists():
            return
        for key_file in sorted(self.root.glob("*/*/key.json")):
            d = key_file.parent
            try:
                fields = json.loads(key_file.read_text())
            except (OSError, json.JSONDecodeError):
                fields = {}
            shards = sorted(d.glob("shard-*.safetensors"))
            yield {"key": d.name, "path": str(d), "complete": (d / "complete.json").exists(), "shards": len(shards),
                   "bytes": sum(p.stat().st_size for p in d.iterdir() if p.is_file()),
                   "encoder": fields.get("encoder", {}).get("name"), "task": fields.get("task"),
                   "side": fields.get("view", {}).get("side"),
                   "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(key_file.stat().st_mtime))}

    def clear(self, key_prefix: str | None = None) -> int:
        """Remove feature sets whose key starts with ``key_prefix`` (all when None). Returns how many."""
        n = 0
        for info in list(self.entries()):
            if key_prefix is None or info["key"].startswith(key_prefix):
                shutil.rmtree(info["path"], ignore_errors=True)
                n += 1
        return n
