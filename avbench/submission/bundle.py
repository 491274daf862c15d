"""The results bundle: what a submission hands to the leaderboard (records, sidecars, card; hashes of all).

Layout written by :func:`pack_bundle`::

    <out>/
      bundle.json                      # the manifest below
      card.yaml                        # copy of the submission card
      records/<model>/<task>/<stem>.json                  # result records, as ``avbench eval`` wrote them
      records/<model>/<task>/<stem>.predictions.jsonl.gz  # their per-sample sidecars
      records/<model>/<task>/<stem>.ids.jsonl.gz

``bundle.json`` (:class:`BundleManifest`): ``bundle_version`` 1, the entry ``name`` (the card's), the trust
``status`` (``self-reported`` or ``re-run by maintainers``), ``card`` (path and sha256), ``submission`` (the
card's fields), ``weights`` (file name, sha256 and size: the weights themselves are NOT copied), ``code``
(sha256 of each ``*.py`` of the submission folder, never executed by the leaderboard) and ``records`` (each
record's path, sha256 and size, and the same for its two sidecars). Nothing in a bundle is ever unpickled:
records and manifests are JSON, sidecars gzip JSON lines, the card YAML (``safe_load``).

:func:`check_bundle` reports every problem (bundle-level, or per record); :func:`verify_bundle` raises
:class:`BundleError` naming the file and the problem.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avbench.results import ResultRecord
from avbench.submission.card import CARD_FILE, SubmissionError, load_card, sha256_file

__all__ = ["BUNDLE_FILE", "STATUSES", "BundleError", "FileHash", "RecordEntry", "BundleManifest", "BundleCheck",
           "pack_bundle", "check_bundle", "verify_bundle", "read_record"]

BUNDLE_FILE = "bundle.json"
RECORDS_DIR = "records"
STATUSES = ("self-reported", "re-run by maintainers")


class BundleError(ValueError):
    """A bundle (or the input to :func:`pack_bundle`) does not verify; the message names the file and the problem."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileHash(_M):
    path: str  # POSIX path relative to the bundle root
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class RecordEntry(_M):
    record: FileHash
    predictions: FileHash
    ids: FileHash


class WeightsInfo(_M):
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class BundleManifest(_M):
    bundle_version: Literal[1] = 1
    name: str
    status: Literal["self-reported", "re-run by maintainers"]
    created_utc: str
    avbench_version: str
    card: FileHash
    submission: dict
    weights: WeightsInfo
    code: list[FileHash]
    records: list[RecordEntry] = Field(min_length=1)


@dataclass
class BundleCheck:
    """What :func:`check_bundle` found. ``problem``: the whole bundle is unusable (no trustworthy manifest or
    card); ``record_problems``: record path (relative to the bundle) -> reason; ``unlisted``: files under
    ``records/`` that ``bundle.json`` does not list."""

    root: Path
    manifest: BundleManifest | None = None
    problem: str | None = None
    record_problems: dict[str, str] = field(default_factory=dict)
    unlisted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.record_problems and not self.unlisted


def _hash(root: Path, rel: str) -> FileHash:
    p = root / rel
    return FileHash(path=rel, sha256=sha256_file(p), bytes=p.stat().st_size)


def read_record(path: Path) -> ResultRecord:
    """Parse a result record (JSON only) and validate it against the schema; raises ValueError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON result record: {exc}") from exc
    try:
        return ResultRecord.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in exc.errors()[:5])
        more = f" (+{len(exc.errors()) - 5} more)" if len(exc.errors()) > 5 else ""
        raise ValueError(f"{path}: does not match the result schema {ResultRecord.model_fields['schema_version'].default}: "
                         f"{problems}{more}") from exc


def _sidecar_name(record_path: Path, name: str, what: str) -> Path:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"{record_path}: {what} path {name!r} must be a file name beside the record")
    return record_path.parent / name


def pack_bundle(submission_dir: Path, results_dir: Path, out_dir: Path, *, status: str = "self-reported") -> Path:
    """Write the results bundle of ``submission_dir`` (card + weights) and the records under ``results_dir``.

    Every ``*.json`` under ``results_dir`` must be a valid result record whose two sidecars sit beside it with
    the sha256 the record names, and whose ``encoder.weights_sha256`` is the card's ``weights_sha256``;
    the card is checked with :func:`~avbench.submission.card.load_card` (weights hashed). ``out_dir`` must be
    absent or empty. Returns ``out_dir``. Raises :class:`BundleError` naming the file and the problem.
    """
    submission_dir, results_dir, out_dir = Path(submission_dir), Path(results_dir), Path(out_dir)
    if status not in STATUSES:
        raise BundleError(f"status {status!r} must be one of {', '.join(STATUSES)}")
    try:
        card = load_card(submission_dir, check_weights=True)
    except SubmissionError as exc:
        raise BundleError(str(exc)) from exc
    if not results_dir.is_dir():
        raise BundleError(f"{results_dir}: no such results directory")
    record_paths = sorted(p for p in results_dir.rglob("*.json") if not p.name.startswith("."))
    if not record_paths:
        raise BundleError(f"{results_dir}: no result records (*.json) to bundle")
    plan: list[tuple[Path, Path, Path, str]] = []
    for path in record_paths:
        try:
            record = read_record(path)
            sides = [(_sidecar_name(path, info.path, what), info.sha256, what)
                     for info, what in ((record.sidecar, "predictions sidecar"), (record.data.ids_sidecar, "ids sidecar"))]
        except ValueError as exc:
            raise BundleError(str(exc)) from exc
        for side, sha, what in sides:
            if not side.is_file():
                raise BundleError(f"{side}: {what} named by {path} is missing")
            if sha256_file(side) != sha:
                raise BundleError(f"{side}: sha256 does not match the one recorded in {path}")
        if record.encoder.weights_sha256 != card.weights_sha256:
            raise BundleError(f"{path}: produced with weights sha256 {record.encoder.weights_sha256} but "
                              f"{submission_dir / CARD_FILE} names {card.weights_sha256} ({card.weights})")
        plan.append((path, sides[0][0], sides[1][0], path.relative_to(results_dir).parent.as_posix()))
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BundleError(f"{out_dir}: output directory exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submission_dir / CARD_FILE, out_dir / CARD_FILE)
    entries: list[RecordEntry] = []
    for path, pred, ids, rel_dir in plan:
        rels = []
        for src in (path, pred, ids):
            rel = str(PurePosixPath(RECORDS_DIR, rel_dir, src.name)) if rel_dir != "." else f"{RECORDS_DIR}/{src.name}"
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out_dir / rel)
            rels.append(_hash(out_dir, rel))
        entries.append(RecordEntry(record=rels[0], predictions=rels[1], ids=rels[2]))
    code = [FileHash(path=p.relative_to(submission_dir).as_posix(), sha256=sha256_file(p), bytes=p.stat().st_size)
            for p in sorted(submission_dir.rglob("*.py")) if "__pycache__" not in p.parts]
    weights = submission_dir / card.weights
    from avbench._version import __version__

    manifest = BundleManifest(name=card.name, status=status,  # type: ignore[arg-type]
                              created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              avbench_version=__version__, card=_hash(out_dir, CARD_FILE),
                              submission=card.model_dump(mode="json"),
                              weights=WeightsInfo(file=card.weights, sha256=card.weights_sha256, bytes=weights.stat().st_size),
                              code=code, records=entries)
    tmp = out_dir / f".{BUNDLE_FILE}.tmp"
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / BUNDLE_FILE)
    return out_dir


def _safe_rel(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in rel and bool(p.parts)


def check_bundle(root: Path) -> BundleCheck:
    """Check the manifest, the card and every listed file of the bundle at ``root`` (see :class:`BundleCheck`).

    Bundle-level problems: no or malformed ``bundle.json``; ``card.yaml`` missing, altered or invalid, or a
    pickled file in the bundle; the card's weights hash differing from the manifest's. Per record: a listed
    file missing, outside the bundle, or with another sha256 or size, or sidecars not beside their record.
    (Whether a record's content agrees with its sidecars is :mod:`avbench.leaderboard.records`' job.)
    """
    root = Path(root)
    check = BundleCheck(root=root)
    mpath = root / BUNDLE_FILE
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
        check.manifest = BundleManifest.model_validate(raw)
    except FileNotFoundError:
        check.problem = f"{mpath}: missing"
        return check
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        check.problem = f"{mpath}: not readable JSON: {exc}"
        return check
    except ValidationError as exc:
        check.problem = f"{mpath}: not a valid bundle manifest: " + "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(manifest)'}: {e['msg']}" for e in exc.errors()[:5])
        return check
    m = check.manifest
    problem = _file_problem(root, m.card)
    if problem is None:
        try:
            card = load_card(root, check_weights=False)
        except SubmissionError as exc:
            problem = str(exc)
        else:
            if card.weights_sha256 != m.weights.sha256 or card.name != m.name:
                problem = f"{root / CARD_FILE}: name/weights_sha256 differ from {mpath}"
    if problem is not None:
        check.problem = problem
        return check
    listed: set[str] = {m.card.path, BUNDLE_FILE}
    for entry in m.records:
        rec = entry.record.path
        listed.update((entry.record.path, entry.predictions.path, entry.ids.path))
        for fh in (entry.record, entry.predictions, entry.ids):
            problem = _file_problem(root, fh)
            if problem:
                check.record_problems[rec] = problem
                break
        else:
            parents = {PurePosixPath(fh.path).parent for fh in (entry.record, entry.predictions, entry.ids)}
            if len(parents) != 1:
                check.record_problems[rec] = f"{root / rec}: its sidecars must sit beside it"
    for p in sorted((root / RECORDS_DIR).rglob("*")) if (root / RECORDS_DIR).is_dir() else []:
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel not in listed:
            check.unlisted.append(rel)
    return check


def _file_problem(root: Path, fh: FileHash) -> str | None:
    if not _safe_rel(fh.path):
        return f"{root / BUNDLE_FILE}: listed path {fh.path!r} is not inside the bundle"
    p = root / fh.path
    if p.is_symlink() or not p.is_file():
        return f"{p}: listed in {BUNDLE_FILE} but missing (or not a regular file)"
    if p.stat().st_size != fh.bytes or sha256_file(p) != fh.sha256:
        return f"{p}: sha256 does not match {BUNDLE_FILE} (file altered after packing)"
    return None


def verify_bundle(root: Path) -> BundleManifest:
    """The manifest of the bundle at ``root`` when everything in it verifies; else :class:`BundleError` naming
    each file and problem (see :func:`check_bundle`)."""
    check = check_bundle(Path(root))
    if check.problem:
        raise BundleError(check.problem)
    problems = list(check.record_problems.values()) + [
        f"{Path(root) / rel}: not listed in {BUNDLE_FILE}" for rel in check.unlisted]
    if problems:
        raise BundleError("; ".join(problems))
    assert check.manifest is not None
    return check.manifest
