"""The feature store: pooled clip features in safetensors shards, keyed by everything that changes them.

Layout::

    <cache>/features/<key[:2]>/<key>/
        key.json                      the fields hashed into <key> (encoder fingerprint, dtype, view, ...)
        plan.json                     how the view's samples are cut into shards (samples, shard size)
        shard-00000.safetensors       features [n, D] float32, sample [n] int64, clip [n] int64,
        shard-00001.safetensors       metadata: sample ids, skipped samples with reasons, padded and damaged samples
        complete.json                 written once every shard exists

A shard covers a fixed, deterministic range of samples (``plan.json``), so an interrupted run resumes by
skipping the shards that exist; which shards are finished is decided from ONE directory listing, never by
reading a payload. A shard is finished exactly when ``shard-NNNNN.safetensors`` exists: it is written to a
temporary file (``.shard-NNNNN.safetensors.<pid>@<host>.tmp``), flushed to disk and renamed (atomic on POSIX),
so a kill never leaves a half-written shard under the final name. A later run removes the temporary files that
dead processes of this host left behind.

Shard names do not depend on the number of processes: in a multi-process run each rank computes and writes
its share of the missing shards, and a run killed with 8 processes resumes with 4, or with one. Shards are read
back memory-mapped (:meth:`StoreEntry.read_shard`), so a feature set larger than memory is paged in as a
classifier streams over it, not loaded at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from avbench.runtime import faults

FORMAT = "avbench-features-1"
PLAN_FORMAT = "avbench-shard-plan-1"
_SHARD = re.compile(r"^shard-(\d{5,})\.safetensors$")
_TMP = re.compile(r"^\.shard-\d{5,}\.safetensors\.(\d+)@(.+)\.tmp$")


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


@dataclass(frozen=True)
class ShardPlan:
    """How ``n_samples`` samples (positions ``0..n_samples-1`` of a view's ordered sample list) are cut into
    ``n_shards`` shards of ``shard_size`` consecutive samples (the last one shorter)."""

    n_samples: int
    shard_size: int

    @property
    def n_shards(self) -> int:
        return max(1, -(-self.n_samples // self.shard_size))

    def positions(self, shard: int) -> range:
        """Sample positions of ``shard``."""
        return range(shard * self.shard_size, min(self.n_samples, (shard + 1) * self.shard_size))

    def assign(self, missing: list[int], rank: int, world_size: int) -> list[int]:
        """This rank's share of the ``missing`` shards: every ``world_size``-th, starting at ``rank`` (shards are
        equal-sized, so the ranks get equal work whichever shards an earlier run finished)."""
        return sorted(missing)[rank::world_size]


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


def _mapped(path: Path, name: str) -> torch.Tensor | None:
    """Tensor ``name`` of the safetensors file ``path`` as a read-only-in-effect memory map (copy-on-write: the
    file never changes; pages are read when touched and dropped with the tensor), or None when the layout does not
    allow a zero-copy view (then the caller reads it normally)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            return None
        n = struct.unpack("<Q", head)[0]
        if n > size - 8:
            return None
        header = json.loads(f.read(n))
    info = header.get(name)
    if not info or info.get("dtype") != "F32":
        return None
    begin, end = (8 + n + int(o) for o in info["data_offsets"])
    shape = [int(s) for s in info["shape"]]
    if begin % 4 or end > size or end - begin != 4 * int(torch.Size(shape).numel()):
        return None
    if end == begin:
        return torch.zeros(shape, dtype=torch.float32)
    try:
        raw = torch.from_file(str(path), shared=False, size=size, dtype=torch.uint8)
    except (RuntimeError, OSError):  # e.g. the process's map count limit (vm.max_map_count) is reached
        return None
    return raw[begin:end].view(torch.float32).view(shape)


class StoreEntry:
    """The shards of one feature set (one key)."""

    def __init__(self, root: Path, key: str, fields: dict[str, Any]):
        self.key = key
        self.dir = root / key[:2] / key
        self.fields = fields

    def open(self) -> "StoreEntry":
        """Create the entry's folder and ``key.json``; remove temporary shard files that dead processes of this
        host left behind (a kill during a commit)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():
            _atomic_write_text(key_file, json.dumps(self.fields, indent=1, sort_keys=True, default=str))
        self.remove_stale_temporaries()
        return self

    def remove_stale_temporaries(self) -> list[str]:
        """Delete ``.shard-*.tmp`` files written by processes of THIS host that no longer run; returns their names.
        (Another host's temporaries are left alone: its processes cannot be checked from here.)"""
        host, removed = socket.gethostname(), []
        with os.scandir(self.dir) as it:
            for e in it:
                m = _TMP.match(e.name)
                if m and m.group(2) == host and not _pid_alive(int(m.group(1))):
                    Path(e.path).unlink(missing_ok=True)
                    removed.append(e.name)
        return removed

    def plan(self, n_samples: int, shard_size: int) -> ShardPlan:
        """The entry's shard plan. The first run records ``(n_samples, shard_size)`` in ``plan.json``; a later run
        keeps the recorded shard size whatever it is asked for, so its shards line up with those on disk."""
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        path = self.dir / "plan.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("format") != PLAN_FORMAT or int(saved["n_samples"]) != n_samples:
                raise RuntimeError(f"{path}: plan for {saved.get('n_samples')} samples, this view has {n_samples}; "
                                   f"the cache entry is inconsistent (remove it with `avbench cache clear --key "
                                   f"{self.key[:12]}`)")
            return ShardPlan(n_samples, int(saved["shard_size"]))
        plan = ShardPlan(n_samples, shard_size)
        _atomic_write_text(path, json.dumps({"format": PLAN_FORMAT, "n_samples": n_samples, "shard_size": shard_size,
                                             "n_shards": plan.n_shards}, indent=1))
        return plan

    def shard_path(self, index: int) -> Path:
        return self.dir / f"shard-{index:05d}.safetensors"

    def has_shard(self, index: int) -> bool:
        return self.shard_path(index).exists()

    def finished_shards(self) -> set[int]:
        """Indices of the committed shards, from one directory listing (no shard is opened)."""
        if not self.dir.is_dir():
            return set()
        with os.scandir(self.dir) as it:
            return {int(m.group(1)) for e in it if (m := _SHARD.match(e.name))}

    def write_shard(self, index: int, features: torch.Tensor, sample: torch.Tensor, clip: torch.Tensor, *,
                    sample_ids: list[str], skipped: list[dict[str, str]], padded: list[str],
                    damaged: list[dict[str, str]] | None = None) -> Path:
        """Atomically write shard ``index``. ``features`` ``[n, D]``; ``sample``/``clip`` ``[n]`` int64."""
        if features.dim() != 2 or features.shape[0] != sample.numel() or sample.numel() != clip.numel():
            raise ValueError(f"shard {index}: features {tuple(features.shape)}, sample {tuple(sample.shape)}, clip {tuple(clip.shape)} disagree")
        path = self.shard_path(index)
        tmp = path.with_name(f".{path.name}.{os.getpid()}@{socket.gethostname()}.tmp")
        tensors = {"features": features.detach().to("cpu", torch.float32).contiguous(),
                   "sample": sample.to("cpu", torch.int64).contiguous(),
                   "clip": clip.to("cpu", torch.int64).contiguous()}
        meta = {"format": FORMAT, "sample_ids": json.dumps(sample_ids), "skipped": json.dumps(skipped),
                "padded": json.dumps(padded), "damaged": json.dumps(damaged or [])}
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        faults.point("extract-commit")
        os.replace(tmp, path)
        return path

    def read_shard(self, index: int, mmap: bool = True) -> Shard:
        """Shard ``index``; with ``mmap`` its features are a memory map of the file (see :func:`_mapped`)."""
        path = self.shard_path(index)
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("format") != FORMAT:
                    raise ValueError(f"not an avbench feature shard (format {meta.get('format')!r})")
                features = _mapped(path, "features") if mmap else None
                return Shard(features=features if features is not None else f.get_tensor("features"),
                             sample=f.get_tensor("sample"), clip=f.get_tensor("clip"),
                             sample_ids=json.loads(meta["sample_ids"]), skipped=json.loads(meta["skipped"]),
                             padded=json.loads(meta["padded"]), damaged=json.loads(meta.get("damaged", "[]")))
        except FileNotFoundError:
            raise
        except Exception as exc:  # a damaged file (disk error, foreign file): name it and say how to recover
            raise ValueError(f"{path}: unreadable feature shard ({type(exc).__name__}: {exc}); delete it and run "
                             "again to recompute it") from exc

    def iter_shards(self, n_shards: int, mmap: bool = True) -> Iterator[Shard]:
        """Shards ``0..n_shards-1`` one at a time (a consumer that drops each one holds one shard at a time)."""
        for i in range(n_shards):
            yield self.read_shard(i, mmap=mmap)

    def reset(self) -> int:
        """Remove every shard, the plan, the completion mark and the notes of this entry (``--refresh``), keeping
        ``key.json``; returns how many files were removed."""
        if not self.dir.is_dir():
            return 0
        n = 0
        for p in list(self.dir.iterdir()):
            if p.name != "key.json" and p.is_file():
                p.unlink(missing_ok=True)
                n += 1
        return n

    def write_note(self, name: str, value: dict[str, Any]) -> None:
        """Store a small JSON note ``<name>.json`` beside the shards (e.g. the determinism probe), atomically."""
        _atomic_write_text(self.dir / f"{name}.json", json.dumps(value, indent=1, sort_keys=True))

    def read_note(self, name: str) -> dict[str, Any] | None:
        """The note ``<name>.json``, or None when it is absent or unreadable."""
        try:
            return json.loads((self.dir / f"{name}.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None

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
