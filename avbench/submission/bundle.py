"""The results bundle: what a submission hands to the leaderboard (records, sidecars, card; hashes of all).

Layout written by :func:`pack_bundle`::

    <out>/
      bundle.json                      # the manifest below
      card.yaml                        # copy of the submission card
      records/<model>/<task>/<stem>.json                  # result records, as ``avbench eval`` wrote them
      records/<model>/<task>/<stem>.predictions.jsonl.gz  # their per-sample sidecars
      records/<model>/<task>/<stem>.ids.jsonl.gz

``<model>`` is the card's name and ``<task>`` the record's task card, both made path-safe. ``bundle.json``
(:class:`BundleManifest`): ``bundle_version`` 1, the entry ``name`` (the card's), ``status`` (always
``self-reported``: "re-run by maintainers" is granted only by the maintainers' ledger ``leaderboards/reruns.yaml``,
never by a bundle), ``card`` (path and sha256), ``submission`` (the card's fields), ``weights`` (file name, sha256
and size: the weights themselves are NOT copied), ``code`` (sha256 of each ``*.py`` of the submission folder,
build artefacts left out; never executed by the leaderboard) and ``records`` (each record's path, sha256 and
size, and the same for its two sidecars). Nothing in a bundle is ever unpickled: records and manifests are JSON,
sidecars gzip JSON lines, the card YAML (:func:`avbench.config.load_yaml`: safe, no aliases).

:func:`check_bundle` reports every problem (bundle-level, or per record); a bundle holding a symlink, or listing a
path that leaves it, is refused whole. :func:`verify_bundle` raises :class:`BundleError` naming the file and the
problem.
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

from avbench.results import ResultRecord, safe_name
from avbench.submission.machine_paths import strip_machine_paths
from avbench.submission.card import CARD_FILE, SubmissionCard, SubmissionError, load_card, sha256_file

__all__ = ["BUNDLE_FILE", "STATUS", "BundleError", "FileHash", "RecordEntry", "BundleManifest", "BundleCheck",
           "PackResult", "pack_bundle", "check_bundle", "verify_bundle", "read_record", "symlinks"]

BUNDLE_FILE = "bundle.json"
RECORDS_DIR = "records"
#: the only status a bundle carries (the maintainers' ledger grants "re-run by maintainers")
STATUS = "self-reported"
#: folders of a submission that hold build artefacts, not the submission's code (left out of ``code``)
_BUILD_DIRS = ("build", "dist", "__pycache__")


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
    status: Literal["self-reported"]
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


def _strip_machine_paths(text: str) -> str:
    """A record's JSON without this machine's paths (:func:`avbench.submission.machine_paths.strip_machine_paths`):
    the resolved absolute paths emptied, every other absolute path reduced to ``<local>/<its last part>``."""
    return json.dumps(strip_machine_paths(json.loads(text)), indent=1, allow_nan=False) + "\n"


@dataclass
class PackResult:
    """What :func:`pack_bundle` wrote: the bundle folder, the records it packed (paths under the results folder)
    and those it skipped, each ``(path, reason)``."""

    out_dir: Path
    packed: list[str]
    skipped: list[tuple[str, str]]


def _select(results_dir: Path, card: SubmissionCard) -> tuple[list[tuple[Path, ResultRecord, list[Path]]],
                                                               list[tuple[str, str]]]:
    """The records under ``results_dir`` that belong to ``card`` (its name and weights hash), with their two
    sidecars; every other ``*.json`` is skipped with the reason. A record of the card whose sidecar is missing or
    altered is an error (it belongs to the submission but cannot be packed)."""
    chosen, skipped = [], []
    for path in sorted(p for p in results_dir.rglob("*.json") if not p.name.startswith(".")):
        rel = path.relative_to(results_dir).as_posix()
        try:
            record = read_record(path)
        except ValueError as exc:
            skipped.append((rel, f"not a result record of this schema ({str(exc).split(': ', 1)[-1][:200]})"))
            continue
        if record.encoder.name != card.name:
            skipped.append((rel, f"another model's record (encoder {record.encoder.name!r})"))
            continue
        if record.encoder.weights_sha256 != card.weights_sha256:
            skipped.append((rel, f"made with other weights (sha256 {record.encoder.weights_sha256}, the card names "
                                 f"{card.weights_sha256})"))
            continue
        sides = []
        for info, what in ((record.sidecar, "predictions sidecar"), (record.data.ids_sidecar, "ids sidecar")):
            try:
                side = _sidecar_name(path, info.path, what)
            except ValueError as exc:
                raise BundleError(str(exc)) from exc
            if not side.is_file():
                raise BundleError(f"{side}: {what} named by {path} is missing")
            if sha256_file(side) != info.sha256:
                raise BundleError(f"{side}: sha256 does not match the one recorded in {path}")
            sides.append(side)
        chosen.append((path, record, sides))
    return chosen, skipped


def _code_files(submission_dir: Path) -> list[Path]:
    """The submission's ``*.py`` files, build artefacts (``build/``, ``dist/``, ``*.egg-info``, ``__pycache__``,
    hidden folders) left out."""
    def artefact(part: str) -> bool:
        return part in _BUILD_DIRS or part.endswith(".egg-info") or part.startswith(".")

    return [p for p in sorted(submission_dir.rglob("*.py"))
            if not any(artefact(part) for part in p.relative_to(submission_dir).parts[:-1])]


def pack_bundle(submission_dir: Path, results_dir: Path, out_dir: Path) -> PackResult:
    """Write the results bundle of ``submission_dir`` (card + weights) from the records under ``results_dir``.

    Only the records of this submission are packed: those whose encoder name is the card's ``name`` and whose
    ``encoder.weights_sha256`` is the card's ``weights_sha256`` (the card is checked with
    :func:`~avbench.submission.card.load_card`, weights hashed); every other ``*.json`` is skipped and listed with
    the reason. A packed record's two sidecars must sit beside it with the sha256 it names. Records go to
    ``records/<card name>/<task>/``. The status is always ``self-reported``. ``out_dir`` must be absent or empty.
    Raises :class:`BundleError` naming the file and the problem (also when no record belongs to the submission).
    """
    submission_dir, results_dir, out_dir = Path(submission_dir), Path(results_dir), Path(out_dir)
    try:
        card = load_card(submission_dir, check_weights=True)
    except SubmissionError as exc:
        raise BundleError(str(exc)) from exc
    if not results_dir.is_dir():
        raise BundleError(f"{results_dir}: no such results directory")
    chosen, skipped = _select(results_dir, card)
    if not chosen:
        why = "; ".join(f"{p}: {r}" for p, r in skipped[:5]) or "no *.json at all"
        raise BundleError(f"{results_dir}: no result record of {card.name!r} with weights sha256 "
                          f"{card.weights_sha256} to bundle ({why})")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BundleError(f"{out_dir}: output directory exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submission_dir / CARD_FILE, out_dir / CARD_FILE)
    entries: list[RecordEntry] = []
    for path, record, sides in chosen:
        folder = PurePosixPath(RECORDS_DIR, safe_name(card.name), safe_name(record.task.name))
        rels = []
        for src in (path, *sides):
            rel = str(folder / src.name)
            if (out_dir / rel).exists():
                raise BundleError(f"{path}: two records would be packed as {rel}")
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            if src == path:  # the record, without the machine's absolute paths (schema 1.2 *_resolved fields)
                (out_dir / rel).write_text(_strip_machine_paths(src.read_text()))
            else:
                shutil.copyfile(src, out_dir / rel)
            rels.append(_hash(out_dir, rel))
        entries.append(RecordEntry(record=rels[0], predictions=rels[1], ids=rels[2]))
    code = [FileHash(path=p.relative_to(submission_dir).as_posix(), sha256=sha256_file(p), bytes=p.stat().st_size)
            for p in _code_files(submission_dir)]
    weights = submission_dir / card.weights
    from avbench._version import __version__

    manifest = BundleManifest(name=card.name, status=STATUS,
                              created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              avbench_version=__version__, card=_hash(out_dir, CARD_FILE),
                              submission=card.model_dump(mode="json"),
                              weights=WeightsInfo(file=card.weights, sha256=card.weights_sha256, bytes=weights.stat().st_size),
                              code=code, records=entries)
    tmp = out_dir / f".{BUNDLE_FILE}.tmp"
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / BUNDLE_FILE)
    return PackResult(out_dir, [p.relative_to(results_dir).as_posix() for p, _, _ in chosen], skipped)


def _safe_rel(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in rel and bool(p.parts)


def check_bundle(root: Path) -> BundleCheck:
    """Check the manifest, the card and every listed file of the bundle at ``root`` (see :class:`BundleCheck`).

    Bundle-level problems: a symlink anywhere in the bundle; no or malformed ``bundle.json``, or one claiming a
    status other than ``self-reported``; ``card.yaml`` missing, altered or invalid, or a pickled file in the
    bundle; the card's weights hash differing from the manifest's. Per record: a listed
    file missing, outside the bundle, or with another sha256 or size, or sidecars not beside their record.
    (Whether a record's content agrees with its sidecars is :mod:`avbench.leaderboard.records`' job.)
    """
    root = Path(root)
    check = BundleCheck(root=root)
    mpath = root / BUNDLE_FILE
    links = symlinks(root)
    if links or root.is_symlink():
        names = [p.relative_to(root).as_posix() for p in links[:5]] or [str(root)]
        check.problem = f"{root}: holds symlink(s) {names}: bundles with symlinks are refused (never followed)"
        return check
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and raw.get("status", STATUS) != STATUS:
            check.problem = (f"{mpath}: claims status {raw.get('status')!r}; a bundle is always {STATUS!r} "
                             "('re-run by maintainers' is granted only by the maintainers' leaderboards/reruns.yaml)")
            return check
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


def symlinks(root: Path) -> list[Path]:
    """Every symlink under ``root`` (files and folders, found without following any), sorted."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(folder) / name
            if p.is_symlink():
                found.append(p)
    return sorted(found)


def _file_problem(root: Path, fh: FileHash) -> str | None:
    if not _safe_rel(fh.path):
        return f"{root / BUNDLE_FILE}: listed path {fh.path!r} is not inside the bundle"
    p = root / fh.path
    if not p.resolve().is_relative_to(root.resolve()):
        return f"{root / BUNDLE_FILE}: listed path {fh.path!r} leads out of the bundle (to {p.resolve()})"
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
