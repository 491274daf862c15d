"""The result of :func:`avbench.validate.validate`: one :class:`Check` per rule, one :class:`Measurement` per
modality, gathered in a :class:`ValidationReport` (JSON via :meth:`ValidationReport.to_json`, tables via
:meth:`ValidationReport.tables`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class Check(BaseModel):
    """One rule's verdict. ``modality`` is None for encoder-wide rules."""

    name: str
    modality: str | None = None
    status: Literal["pass", "fail", "skip"]
    detail: str

    @property
    def line(self) -> str:
        return f"{self.modality + ': ' if self.modality else ''}{self.name}: {self.detail}"


class Measurement(BaseModel):
    """Speed and memory of one modality's timed forward (``batch`` clips of ``clip_seconds`` each)."""

    modality: str
    device: str
    geometry: str
    batch: int
    clip_seconds: float
    media_seconds: float  # batch x clip_seconds
    wall_seconds: float
    throughput: float  # media-seconds per wall-second
    peak_bytes: int | None
    peak_bytes_per_media_second: float | None
    memory_method: str


class ValidationReport(BaseModel):
    """Everything :func:`validate` found; ``ok`` is True when no check failed."""

    encoder: str
    version: str | None = None
    modalities: list[str] = []
    source: str
    device: str
    batch: int
    tolerances: dict[str, Any]
    checks: list[Check] = []
    measurements: list[Measurement] = []

    @property
    def ok(self) -> bool:
        return not self.failed()

    def failed(self) -> list[str]:
        """Names of the failed checks (with ``modality:`` prefixes), in report order."""
        return [f"{c.modality}:{c.name}" if c.modality else c.name for c in self.checks if c.status == "fail"]

    def failed_names(self) -> set[str]:
        """The set of failed check names, modality dropped."""
        return {c.name for c in self.checks if c.status == "fail"}

    def to_json(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "ok": self.ok}

    def tables(self) -> str:
        """The checks and the measurements as two GitHub-style tables."""
        from tabulate import tabulate

        mark = {"pass": "ok", "fail": "FAIL", "skip": "skip"}
        rows = [[mark[c.status], c.name, c.modality or "", c.detail] for c in self.checks]
        out = [tabulate(rows, headers=["", "check", "modality", "detail"], tablefmt="github")]
        if self.measurements:
            mrows = [[m.modality, m.geometry, f"{m.throughput:,.1f}", f"{m.wall_seconds * 1000:.1f} ms",
                      "n/a" if m.peak_bytes is None else f"{m.peak_bytes / 2**20:,.1f} MiB",
                      "n/a" if m.peak_bytes_per_media_second is None else f"{m.peak_bytes_per_media_second / 2**20:,.2f} MiB",
                      m.memory_method] for m in self.measurements]
            out.append(tabulate(mrows, headers=["modality", f"timed run ({self.device})", "media-s / s", "wall",
                                                "peak memory", "per media-s", "memory measured by"],
                                tablefmt="github"))
        return "\n\n".join(out)
