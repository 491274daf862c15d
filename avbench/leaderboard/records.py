"""Find, verify and recompute the result records under ``leaderboards/results/``.

Two kinds of entries are read (JSON and gzip JSON lines only; nothing is imported, run or unpickled):

* bundles: a directory holding ``bundle.json`` (written by ``avbench submit pack``, see
  :mod:`avbench.submission.bundle`): its manifest, card and every listed file must verify; its records carry
  the bundle's trust label (``self-reported`` or ``re-run by maintainers``), its card's name and pretraining data;
* loose records: any other ``*.json`` under the results directory, verified the same way record by record and
  labelled ``unbundled`` (no card or weights hash vouches for them).

A record is accepted only when it matches the result schema, its two sidecars exist beside it with the sha256
and row counts it names, the test ids of its predictions hash to ``data.evaluated_test_ids_sha256``, and every
metric recomputes from the predictions (:mod:`avbench.leaderboard.recompute`). Anything else is a
:class:`Rejection` with the reason; nothing is dropped silently.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avbench.results import ResultRecord
from avbench.submission.bundle import BUNDLE_FILE, BundleManifest, RecordEntry, check_bundle, read_record
from avbench.submission.card import sha256_file
from avbench.leaderboard.recompute import MetricResult, RecomputeError, recompute

__all__ = ["UNBUNDLED", "VerifiedRecord", "Rejection", "load_results", "verify_record", "read_rows"]

UNBUNDLED = "unbundled"


@dataclass
class VerifiedRecord:
    """An accepted record. path: POSIX path relative to the results directory; entry: the row name (the
    bundle's card name, else the encoder's name); weights_id: short weights sha256 or ``random init (seed N)``."""

    path: str
    record: ResultRecord
    sha256: str
    trust: str
    bundle: str | None
    entry: str
    pretraining: str
    weights_id: str
    metrics: dict[str, MetricResult]


@dataclass(frozen=True)
class Rejection:
    """A record (or bundle file) that is not on the board, and why."""

    path: str
    reason: str


class _Rejected(Exception):
    pass


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a gzip JSON-lines sidecar; raises ValueError naming the file on a damaged one."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable gzip JSON-lines sidecar: {exc}") from exc


def _weights_id(record: ResultRecord) -> str:
    enc = record.encoder
    if enc.weights_sha256:
        return enc.weights_sha256[:12]
    if enc.init_seed is not None:
        return f"random init (seed {enc.init_seed})"
    return f"state {enc.state_sha256[:12]}"


def verify_record(path: Path, rel: str, *, trust: str = UNBUNDLED, manifest: BundleManifest | None = None,
                  entry: RecordEntry | None = None, bundle: str | None = None) -> VerifiedRecord:
    """Verify one record file (see the module docstring); raises ``_Rejected`` with the reason. A bundled
    record comes with its bundle's ``manifest`` and its ``entry`` there."""
    try:
        record = read_record(path)
    except ValueError as exc:
        raise _Rejected(str(exc)) from exc
    rows: list[dict[str, Any]] = []
    for info, what in ((record.sidecar, "predictions sidecar"), (record.data.ids_sidecar, "ids sidecar")):
        name = info.path
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise _Rejected(f"{path}: {what} path {name!r} must be a file name beside the record")
        side = path.parent / name
        if not side.is_file():
            raise _Rejected(f"{side}: {what} named by the record is missing")
        if sha256_file(side) != info.sha256:
            raise _Rejected(f"{side}: sha256 does not match the record's {what} hash")
        try:
            got = read_rows(side)
        except ValueError as exc:
            raise _Rejected(str(exc)) from exc
        if len(got) != info.rows:
            raise _Rejected(f"{side}: {len(got)} rows, the record says {info.rows}")
        if what == "predictions sidecar":
            rows = got
    test_ids = sorted({str(r.get("id")) for r in rows if isinstance(r, dict)})
    if hashlib.sha256("\n".join(test_ids).encode()).hexdigest() != record.data.evaluated_test_ids_sha256:
        raise _Rejected(f"{path}: the test ids of its predictions do not hash to data.evaluated_test_ids_sha256")
    if manifest is not None and entry is not None:
        if record.encoder.weights_sha256 != manifest.weights.sha256:
            raise _Rejected(f"{path}: produced with weights sha256 {record.encoder.weights_sha256}, the bundle's "
                            f"card names {manifest.weights.sha256}")
        if (Path(entry.predictions.path).name, Path(entry.ids.path).name) != (record.sidecar.path, record.data.ids_sidecar.path):
            raise _Rejected(f"{path}: its sidecars are not the files {BUNDLE_FILE} lists for it")
    try:
        metrics = recompute(record, rows)
    except RecomputeError as exc:
        raise _Rejected(f"{path}: metrics do not recompute from the predictions sidecar: {exc}") from exc
    pretraining = (manifest.submission.get("pretraining_data") if manifest is not None
                   else record.encoder.meta.get("pretraining_data")) or "not stated"
    return VerifiedRecord(path=rel, record=record, sha256=sha256_file(path), trust=trust, bundle=bundle,
                          entry=manifest.name if manifest is not None else record.encoder.name,
                          pretraining=str(pretraining), weights_id=_weights_id(record), metrics=metrics)


def _rel(text: str, root: Path) -> str:
    """``text`` with the results directory's absolute prefix removed (stable output across machines)."""
    return text.replace(str(root.resolve()) + "/", "").replace(str(root) + "/", "")


def load_results(results_dir: Path) -> tuple[list[VerifiedRecord], list[Rejection]]:
    """Every accepted record under ``results_dir`` and every rejection, both sorted by path."""
    root = Path(results_dir)
    if not root.is_dir():
        return [], []
    accepted: list[VerifiedRecord] = []
    rejected: list[Rejection] = []
    bundles = sorted({p.parent for p in root.rglob(BUNDLE_FILE)})
    bundles = [b for b in bundles if not any(o != b and o in b.parents for o in bundles)]  # outermost only

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    for b in bundles:
        check = check_bundle(b)
        if check.problem or check.manifest is None:
            files = sorted(p for p in (b / "records").rglob("*.json")) if (b / "records").is_dir() else []
            for p in files or [b / BUNDLE_FILE]:
                rejected.append(Rejection(rel(p), _rel(f"bundle rejected: {check.problem}", root)))
            continue
        m = check.manifest
        for entry in m.records:
            p = b / entry.record.path
            if entry.record.path in check.record_problems:
                rejected.append(Rejection(rel(b) + "/" + entry.record.path, _rel(check.record_problems[entry.record.path], root)))
                continue
            try:
                accepted.append(verify_record(p, rel(p), trust=m.status, manifest=m, entry=entry, bundle=rel(b)))
            except _Rejected as exc:
                rejected.append(Rejection(rel(p), _rel(str(exc), root)))
        for extra in check.unlisted:
            rejected.append(Rejection(rel(b) + "/" + extra, f"not listed in {BUNDLE_FILE} (added after packing?); ignored"))
    for p in sorted(root.rglob("*.json")):
        if p.name.startswith(".") or any(b == p.parent or b in p.parents for b in bundles):
            continue
        try:
            accepted.append(verify_record(p, rel(p)))
        except _Rejected as exc:
            rejected.append(Rejection(rel(p), _rel(str(exc), root)))
    accepted.sort(key=lambda r: r.path)
    rejected.sort(key=lambda r: r.path)
    return accepted, rejected
