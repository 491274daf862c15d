"""Media checksum manifests: are the media files of a copy the ones a maintainer holds?

A checksum manifest is a text file in ``sha256sum`` format, one media file per line, paths relative to the data
root (what ``cd ROOT && sha256sum audio/*.wav > esc50.sha256`` writes)::

    9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  audio/1-100032-A-0.wav

Blank lines and ``#`` comments are skipped; a ``*`` before the path (binary mode) is accepted. ``avbench data
verify --checksums FILE`` and ``avbench eval --checksums FILE`` hash every media file of the manifest
(:func:`check_media`): ``verified`` only when every one is listed with the same sha256. Maintainers who hold a data
set add its manifest under ``leaderboards/manifests/``; the leaderboard marks a record media-verified only when
the manifest it was checked against is one of those files.
"""
from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avbench.datasets.base import DatasetError, Manifest
from avbench.models.weights import sha256_file

__all__ = ["MediaCheck", "read_checksums", "check_media"]

_LINE = re.compile(r"^(?P<sha>[0-9a-fA-F]{64}) [ *](?P<path>.+)$")
#: at most this many mismatched / unlisted files are kept by name in a report
_KEEP = 50


def read_checksums(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of a checksum manifest; a malformed line raises DatasetError naming file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the checksum manifest ({exc})") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line.rstrip("\r"))
        if not m:
            raise DatasetError(f"{path}:{n}: expected '<64 hex sha256>  <path relative to the data root>'")
        rel = m.group("path").strip().replace("\\", "/").removeprefix("./")
        if rel in out and out[rel] != m.group("sha").lower():
            raise DatasetError(f"{path}:{n}: {rel!r} is listed twice with different sha256")
        out[rel] = m.group("sha").lower()
    if not out:
        raise DatasetError(f"{path}: no checksum lines")
    return out


@dataclass
class MediaCheck:
    """The media of a manifest against a checksum manifest: ``checked`` files (every sample found), ``matched``
    (listed with the same sha256), ``mismatched`` (listed with another sha256) and ``unlisted`` (not in the
    checksum manifest, or outside the data root), each ``{"id", "path"}`` (the first 50 kept)."""

    manifest: str
    manifest_sha256: str
    checked: int = 0
    matched: int = 0
    mismatched: list[dict[str, str]] = field(default_factory=list)
    unlisted: list[dict[str, str]] = field(default_factory=list)
    n_mismatched: int = 0
    n_unlisted: int = 0

    @property
    def verified(self) -> bool:
        return self.checked > 0 and self.matched == self.checked

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "manifest_sha256": self.manifest_sha256, "checked": self.checked,
                "matched": self.matched, "n_mismatched": self.n_mismatched, "n_unlisted": self.n_unlisted,
                "mismatched": self.mismatched, "unlisted": self.unlisted}


def check_media(manifest: Manifest, checksum_file: Path, *, workers: int | None = None) -> MediaCheck:
    """Hash every sample file of ``manifest`` (threads) and compare with ``checksum_file`` (module docstring)."""
    checksum_file = Path(checksum_file)
    listed = read_checksums(checksum_file)
    out = MediaCheck(manifest=checksum_file.name, manifest_sha256=sha256_file(checksum_file))
    root = Path(manifest.root).resolve()
    todo: list[tuple[str, str, Path]] = []
    for s in manifest.samples:
        p = Path(s.path)
        rel = os.path.relpath(p, root).replace(os.sep, "/") if p.is_relative_to(root) else None
        if rel is None or rel not in listed:
            out.n_unlisted += 1
            if len(out.unlisted) < _KEEP:
                out.unlisted.append({"id": s.id, "path": rel or str(p)})
            continue
        todo.append((s.id, rel, p))
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        digests = list(pool.map(lambda t: sha256_file(t[2]), todo))
    out.checked = len(manifest.samples)
    for (sid, rel, _), digest in zip(todo, digests):
        if digest == listed[rel]:
            out.matched += 1
        else:
            out.n_mismatched += 1
            if len(out.mismatched) < _KEEP:
                out.mismatched.append({"id": sid, "path": rel})
    return out
