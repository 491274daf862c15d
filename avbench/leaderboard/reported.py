"""Published numbers: ``leaderboards/reported.yaml`` loaded into one :class:`ReportedCell` per number.

The file (see its header) declares descriptive protocol ids under ``protocols:`` and groups of cells under
``groups:``, each group naming its ``source`` table and ``defaults`` shared by its cells. :func:`load_reported`
flattens the groups, validates every cell (unknown keys, unknown protocol or metric, a value outside 0-100 and
duplicate keys are errors naming the file, the group and the cell) and returns the cells in file order.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avbench.config import LEADERBOARD_YAML_BYTES, UntrustedYAMLError, load_yaml
from avbench.leaderboard.families import FAMILIES, family_of, task_dataset_kind
from avbench.taskcard import card_names

__all__ = ["ReportedCell", "ReportedProtocol", "Reported", "ReportedError", "load_reported", "load_reported_file",
           "default_reported_path"]

_FAMILY_IDS = tuple(f.id for f in FAMILIES)


class ReportedError(ValueError):
    """``reported.yaml`` is malformed; the message names the file and the cell."""


class ReportedCell(BaseModel):
    """One published number (percent).

    method / backbone / pretraining: as the quoting table writes them (names normalised across papers, e.g.
    ``Kinetics-400``); input: frames x resolution (``32x224``) or audio seconds (``5 s audio``); protocol: an
    avbench task-card id or a descriptive id declared in the file; selection: ``paper`` (as published);
    source: the quoting paper and table (``crisscross-paper Table 6``); metric: ``top1``, ``recall5``,
    ``top1@audio``...; notes: anything the table says beside the number.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    backbone: str
    pretraining: str
    input: str
    protocol: str
    selection: Literal["paper", "clean", "none"] = "paper"
    source: str
    metric: str
    value: float = Field(ge=-100.0, le=100.0)
    notes: str = ""

    @field_validator("method", "backbone", "pretraining", "input", "protocol", "source", "metric")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not str(v).strip():
            raise ValueError("must not be empty")
        return str(v).strip()

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies the number: everything but value and notes."""
        return (self.method, self.backbone, self.pretraining, self.input, self.protocol, self.selection,
                self.source, self.metric)


class ReportedProtocol(BaseModel):
    """A descriptive protocol id (no avbench card runs it): its family table, data set, kind and description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal[_FAMILY_IDS]  # type: ignore[valid-type]
    dataset: str
    kind: str
    description: str


@dataclass(frozen=True)
class Reported:
    """The whole file: cells in file order and the descriptive protocols."""

    cells: tuple[ReportedCell, ...]
    protocols: dict[str, ReportedProtocol]
    path: Path

    def family_of(self, protocol: str) -> str:
        return self.protocols[protocol].family if protocol in self.protocols else family_of(protocol)

    def dataset_kind(self, protocol: str) -> tuple[str, str]:
        if protocol in self.protocols:
            p = self.protocols[protocol]
            return p.dataset, p.kind
        return task_dataset_kind(protocol)

    def is_card(self, protocol: str) -> bool:
        return protocol not in self.protocols


def default_reported_path() -> Path:
    """``leaderboards/reported.yaml`` of the avbench checkout (it is not part of the installed package)."""
    return Path(__file__).resolve().parents[2] / "leaderboards" / "reported.yaml"


def _metric_ok(metric: str) -> bool:
    base, _, layer = metric.partition("@")
    known = base in ("fusion_gain",) or (base.startswith("top") and base[3:].isdigit()) or (
        base.startswith("recall") and base[6:].isdigit())
    return known and (not layer or layer.replace("+", "").replace("_", "").isalnum())


def load_reported_file(path: str | Path | None = None) -> Reported:
    """Parse and validate ``path`` (default :func:`default_reported_path`); see the module docstring."""
    path = Path(path) if path is not None else default_reported_path()
    if not path.is_file():
        raise ReportedError(f"{path}: no such file (the published numbers live in leaderboards/reported.yaml "
                            "of an avbench checkout; pass its path)")
    try:
        raw = load_yaml(path, max_bytes=LEADERBOARD_YAML_BYTES)
    except UntrustedYAMLError as exc:
        raise ReportedError(str(exc)) from exc
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise ReportedError(f"{path}: expected a mapping with 'version: 1', 'protocols' and 'groups'")
    unknown = sorted(set(raw) - {"version", "protocols", "groups"})
    if unknown:
        raise ReportedError(f"{path}: unknown top-level keys {unknown}")
    cards = set(card_names())
    protocols: dict[str, ReportedProtocol] = {}
    for pid, spec in (raw.get("protocols") or {}).items():
        if pid in cards:
            raise ReportedError(f"{path}: protocols.{pid}: is a task-card id; declare only descriptive ids")
        try:
            protocols[str(pid)] = ReportedProtocol.model_validate(spec)
        except ValidationError as exc:
            raise ReportedError(f"{path}: protocols.{pid}: {_errors(exc)}") from exc
    cells: list[ReportedCell] = []
    seen: dict[tuple[str, ...], str] = {}
    for gi, group in enumerate(raw.get("groups") or []):
        if not isinstance(group, dict) or set(group) - {"source", "defaults", "cells"} or "source" not in group:
            raise ReportedError(f"{path}: groups[{gi}]: expected keys source, defaults, cells")
        defaults = dict(group.get("defaults") or {})
        for ci, cell in enumerate(group.get("cells") or []):
            where = f"{path}: groups[{gi}] ({group['source']}) cells[{ci}]"
            if not isinstance(cell, dict):
                raise ReportedError(f"{where}: expected a mapping")
            merged: dict[str, Any] = {**defaults, **cell, "source": group["source"]}
            try:
                rc = ReportedCell.model_validate(merged)
            except ValidationError as exc:
                raise ReportedError(f"{where}: {_errors(exc)}") from exc
            if rc.protocol not in cards and rc.protocol not in protocols:
                raise ReportedError(f"{where}: protocol {rc.protocol!r} is neither a task card nor declared "
                                    "under protocols:")
            if not _metric_ok(rc.metric):
                raise ReportedError(f"{where}: unknown metric {rc.metric!r} (top<k>, recall<k>, fusion_gain, "
                                    "optionally @<layer or modality>)")
            if rc.key in seen:
                raise ReportedError(f"{where}: duplicates {seen[rc.key]}")
            seen[rc.key] = f"groups[{gi}] cells[{ci}]"
            cells.append(rc)
    return Reported(cells=tuple(cells), protocols=protocols, path=path)


def load_reported(path: str | Path | None = None) -> list[ReportedCell]:
    """Every published number in ``path`` (default ``leaderboards/reported.yaml``), in file order."""
    return list(load_reported_file(path).cells)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(cell)'}: {e['msg']}" for e in exc.errors())
