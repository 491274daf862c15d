"""The maintainers' re-run ledger, ``leaderboards/reruns.yaml``: the ONLY source of the "re-run by maintainers" label.

A bundle cannot label itself (``submit pack`` always writes ``self-reported``, and a bundle claiming anything else
is refused). ``avbench leaderboard rerun BUNDLE --submission DIR`` (:mod:`avbench.leaderboard.rerun`) re-executes
the bundle's evaluations from its card and weights, compares every metric, and appends an entry here::

    version: 1
    reruns:
      - bundle: alpha                      # the bundle's folder name when it was re-run (informational)
        bundle_sha256: 3f2a...             # sha256 of its bundle.json (which hashes every file of the bundle)
        date: "2026-01-31"
        by: maintainer name
        tolerance: 0.5                     # percentage points, per metric
        device: cpu (x86_64, 16 threads)
        records:
          - record: records/alpha/esc50/svm-paper-....json
            record_sha256: 9c1b...         # the bundled record file
            rerun_record_sha256: 77d0...   # the maintainers' record of the re-run
            metrics: {top1: {bundle: 75.0, rerun: 75.0}}
            within_tolerance: true

A bundled record is labelled "re-run by maintainers" only when an entry names its bundle's ``bundle.json`` sha256
and the record's sha256, and every listed metric of it lies within the tolerance (re-checked here, not taken from
``within_tolerance``). The file is read with :func:`avbench.config.load_yaml` (``1e-3`` is a number, aliases are
refused); a malformed one is an error naming the entry.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avbench.config import LEADERBOARD_YAML_BYTES, UntrustedYAMLError, load_yaml

__all__ = ["RERUN_LABEL", "SELF_REPORTED", "RerunsError", "RerunRecord", "Rerun", "Reruns", "load_reruns",
           "append_rerun", "default_reruns_path"]

RERUN_LABEL = "re-run by maintainers"
SELF_REPORTED = "self-reported"


class RerunsError(ValueError):
    """``reruns.yaml`` is malformed; the message names the file and the entry."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerunRecord(_M):
    record: str
    record_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rerun_record_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    metrics: dict[str, dict[str, float]]
    within_tolerance: bool

    def agrees(self, tolerance: float) -> bool:
        """Every metric present on both sides, within ``tolerance`` points (the stored flag is not trusted)."""
        return self.within_tolerance and bool(self.metrics) and all(
            {"bundle", "rerun"} <= set(v) and abs(v["bundle"] - v["rerun"]) <= tolerance + 1e-9
            for v in self.metrics.values())


class Rerun(_M):
    bundle: str
    bundle_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    date: str
    by: str
    tolerance: float = Field(ge=0.0)
    device: str = ""
    records: list[RerunRecord]


@dataclass
class Reruns:
    """The ledger: entries in file order; :meth:`granted` says whether a bundled record earned the label."""

    entries: list[Rerun] = field(default_factory=list)
    path: Path | None = None

    def granted(self, bundle_sha256: str, record_sha256: str) -> bool:
        return any(e.bundle_sha256 == bundle_sha256 and any(r.record_sha256 == record_sha256 and r.agrees(e.tolerance)
                                                            for r in e.records) for e in self.entries)


def default_reruns_path() -> Path:
    """``leaderboards/reruns.yaml`` of the avbench checkout."""
    return Path(__file__).resolve().parents[2] / "leaderboards" / "reruns.yaml"


def _raw(path: Path) -> list[Any]:
    try:
        raw = load_yaml(path, max_bytes=LEADERBOARD_YAML_BYTES)
    except UntrustedYAMLError as exc:
        raise RerunsError(str(exc)) from exc
    if raw is None:
        return []
    if not isinstance(raw, dict) or raw.get("version") != 1 or set(raw) - {"version", "reruns"}:
        raise RerunsError(f"{path}: expected a mapping with 'version: 1' and 'reruns'")
    entries = raw.get("reruns") or []
    if not isinstance(entries, list):
        raise RerunsError(f"{path}: 'reruns' must be a list")
    return entries


def load_reruns(path: str | Path | None) -> Reruns:
    """The ledger at ``path`` (None or a missing file: no re-runs)."""
    if path is None or not Path(path).is_file():
        return Reruns(path=Path(path) if path is not None else None)
    path = Path(path)
    out = Reruns(path=path)
    for i, entry in enumerate(_raw(path)):
        try:
            out.entries.append(Rerun.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise RerunsError(f"{path}: reruns[{i}]: {problems}") from exc
    return out


def append_rerun(path: str | Path, entry: Rerun) -> Path:
    """Append ``entry`` to the ledger at ``path`` (created if absent), atomically."""
    path = Path(path)
    entries = _raw(path) if path.is_file() else []
    entries.append(entry.model_dump(mode="json"))
    text = ("# Maintainers' re-runs of submitted bundles: written by `avbench leaderboard rerun`, the only source\n"
            "# of the 're-run by maintainers' label (docs/leaderboard.md). Do not edit by hand.\n"
            + yaml.safe_dump({"version": 1, "reruns": entries}, sort_keys=False, allow_unicode=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def today() -> str:
    return _dt.date.today().isoformat()
