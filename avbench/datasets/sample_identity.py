"""Sample identity: what a media file IS, by content, so that a cached feature is never served for other bytes.

A sample's identity is (path relative to the data root, size in bytes, sha256 of its first and last 64 KiB)
(:func:`edge_digest`; a file of at most 128 KiB is hashed whole). Two copies of a data set with the same names and
sizes but other audio or video differ in those blocks, so their manifests hash differently and they never share a
feature-cache entry; two byte-identical copies on two machines hash the same. ``mode="full"``
(``avbench eval --verify-data full``) hashes whole files as well, in parallel, for archival runs: the record then
carries the whole-file hash and the cache key includes it.

The local *memo* (``<cache>/identity/<root hash>.json``) maps an absolute path to (size, mtime, ctime, inode,
device) and the digests computed for it, so that an unchanged file is not read again. The memo only skips
re-hashing; none of those local facts enters a key (keys stay equal across machines and copies).

The same pass checks what each listed path is without opening anything that is not a regular file (a FIFO would
block a reader, ``/dev/zero`` never ends): such paths become skips with their kind named, and a symlink that leads
out of the data root is recorded per sample (or refused with ``follow_symlinks=False``).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["EDGE_BYTES", "IDENTITY_SCHEME", "FileFacts", "Identity", "IdentityMemo", "edge_digest", "full_digest",
           "file_problem", "identify_files"]

#: bytes hashed at each end of a file
EDGE_BYTES = 64 * 1024
#: names the identity scheme in every manifest hash (a change of scheme changes every key)
IDENTITY_SCHEME = "size+sha256(first,last 64KiB)-v1"
_CHUNK = 1 << 20


def file_problem(path: Path, st: os.stat_result | None = None) -> str | None:
    """Why ``path`` cannot be a media file, or None for a regular file. Never opens it: a FIFO, a directory or a
    device named like a media file is named as what it is (not "missing")."""
    try:
        st = st or os.stat(path)
    except FileNotFoundError:
        return "missing file (a broken symlink)" if os.path.islink(path) else "missing file"
    except OSError as exc:
        return f"cannot stat the file ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    via = f" (a symlink to {os.readlink(path)})" if os.path.islink(path) else ""
    return f"not a regular file: {kind}{via}; never opened"


def edge_digest(path: Path, size: int) -> str:
    """sha256 of ``size`` (8 bytes) + the first and last :data:`EDGE_BYTES` of ``path`` (the whole file when it is
    at most twice that)."""
    h = hashlib.sha256(size.to_bytes(8, "little"))
    with open(path, "rb") as f:
        if size <= 2 * EDGE_BYTES:
            h.update(f.read())
        else:
            h.update(f.read(EDGE_BYTES))
            f.seek(size - EDGE_BYTES)
            h.update(f.read(EDGE_BYTES))
    return h.hexdigest()


def full_digest(path: Path) -> str:
    """sha256 of the whole file (read in 1 MiB chunks; hashlib releases the GIL, so threads hash in parallel)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class FileFacts:
    """One listed file: ``problem`` (None for a usable regular file), its size and digests, and ``outside``: where
    it really lives when symlinks lead it out of the data root (None when it stays inside)."""

    problem: str | None
    size: int = -1
    edges: str | None = None
    full: str | None = None
    outside: str | None = None


class IdentityMemo:
    """The local memo of digests (module docstring): ``{abs path: [size, mtime_ns, ctime_ns, ino, dev, edges, full]}``
    in one JSON file, written atomically. A memo that cannot be read is ignored; one that cannot be written is
    left as it was (the run goes on; it only costs re-hashing next time)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict) and loaded.get("scheme") == IDENTITY_SCHEME:
                    self.entries = loaded.get("files", {})
            except (OSError, ValueError):
                pass

    @staticmethod
    def for_root(cache_dir: Path | None, root: Path) -> "IdentityMemo":
        if cache_dir is None:
            return IdentityMemo(None)
        name = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:24]
        return IdentityMemo(Path(cache_dir) / "identity" / f"{name}.json")

    def lookup(self, key: str, st: os.stat_result) -> tuple[str | None, str | None]:
        e = self.entries.get(key)
        if e and e[:5] == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]:
            return e[5], e[6]
        return None, None

    def store(self, key: str, st: os.stat_result, edges: str, full: str | None) -> None:
        self.entries[key] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, edges, full]
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump({"scheme": IDENTITY_SCHEME, "files": self.entries}, f, separators=(",", ":"))
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # a read-only or full cache: the memo is only a speed-up


@dataclass
class Identity:
    """What :func:`identify_files` found: per file facts, and how the work went (files hashed, memo hits,
    seconds)."""

    facts: list[FileFacts]
    mode: str
    hashed: int = 0
    memo_hits: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _locate(path: str, real_root: str, parents: dict[str, str]) -> tuple[os.stat_result | None, str | None, str | None]:
    """(stat of the file ``path`` (a string: no Path parsing per file) or None, the problem or None, its real path
    when that is outside the root)."""
    try:
        lst = os.lstat(path)
    except OSError:
        return None, file_problem(Path(path)), None
    st = lst
    if stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(path)
        except OSError:
            return None, file_problem(Path(path)), None
    problem = file_problem(Path(path), st) if not stat.S_ISREG(st.st_mode) else None
    parent, name = os.path.split(path)
    if parent not in parents:
        parents[parent] = os.path.realpath(parent or ".")
    real = os.path.realpath(path) if stat.S_ISLNK(lst.st_mode) else os.path.join(parents[parent], name)
    return st, problem, (None if _inside(real, real_root) else real)


def identify_files(paths: Sequence[Path], root: Path, *, mode: str = "edges", memo: IdentityMemo | None = None,
                   workers: int | None = None) -> Identity:
    """Facts of every path (in order): kind, size, edge digest (and the whole-file digest with ``mode="full"``),
    whether symlinks lead it out of ``root``. Regular files are hashed in ``workers`` threads (default: the CPU
    count); the memo skips files whose size, mtime, ctime, inode and device are unchanged."""
    if mode not in ("edges", "full"):
        raise ValueError(f"identity mode {mode!r}: expected 'edges' or 'full'")
    t0 = time.perf_counter()
    memo = memo or IdentityMemo(None)
    real_root = os.path.realpath(root)
    parents: dict[str, str] = {}
    names = [os.fspath(p) for p in paths]
    located = [_locate(p, real_root, parents) for p in names]
    facts: list[FileFacts | None] = [None] * len(paths)
    todo: list[tuple[int, os.stat_result]] = []
    hits = 0
    for i, (st, problem, outside) in enumerate(located):
        if problem is not None or st is None:
            facts[i] = FileFacts(problem or "missing file", outside=outside)
            continue
        edges, full = memo.lookup(os.path.abspath(names[i]), st)
        if edges is not None and (mode == "edges" or full is not None):
            facts[i] = FileFacts(None, st.st_size, edges, full if mode == "full" else None, outside)
            hits += 1
        else:
            todo.append((i, st))

    def work(item: tuple[int, os.stat_result]) -> tuple[int, os.stat_result, str | None, str | None, str | None]:
        i, st = item
        try:
            edges = edge_digest(paths[i], st.st_size)
            return i, st, edges, full_digest(paths[i]) if mode == "full" else None, None
        except OSError as exc:
            return i, st, None, None, f"cannot read the file ({exc.strerror or exc})"

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
            for i, st, edges, full, error in pool.map(work, todo):
                if error is not None or edges is None:
                    facts[i] = FileFacts(error or "cannot read the file", outside=located[i][2])
                    continue
                memo.store(os.path.abspath(paths[i]), st, edges, full)
                facts[i] = FileFacts(None, st.st_size, edges, full, located[i][2])
    memo.save()
    return Identity([f for f in facts if f is not None], mode, hashed=len(todo), memo_hits=hits,
                    seconds=time.perf_counter() - t0)
