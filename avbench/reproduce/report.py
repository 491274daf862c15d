"""What a reproduction did: one :class:`RowResult` per plan row, the :class:`Report` around them, the
measured-vs-reported table (GitHub markdown) and the summary files ``<out>/crisscross/reproduce-<UTC>.json|.md``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tabulate import tabulate

from avbench.reproduce.plan import TOLERANCE, Row


@dataclass
class RowResult:
    """One row's outcome. Dry run: READY | MISSING | REFUSED; run: PASS | FAIL | SKIPPED | ERROR | NO-REFERENCE."""

    row: Row
    reported: float | None
    source: str
    status: str
    measured: float | None = None
    reason: str = ""
    record: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        return None if self.measured is None or self.reported is None else self.measured - self.reported

    def to_dict(self) -> dict[str, Any]:
        r = self.row
        return {"table": r.table, "pretraining": r.pretraining, "dataset": r.dataset, "card": r.card,
                "input": r.input, "metric": r.metric, "protocol": r.protocol, "overrides": list(r.overrides),
                "reported": self.reported, "source": self.source, "tolerance": r.tolerance,
                "measured": self.measured, "delta": self.delta, "status": self.status, "reason": self.reason,
                "record": self.record, "notes": self.notes}


@dataclass
class Report:
    """What :func:`avbench.reproduce.crisscross.reproduce` did: one :class:`RowResult` per plan row, the files it
    needed, the summary paths."""

    rows: list[RowResult]
    files: list[dict[str, Any]]
    data: list[dict[str, Any]]
    summary: Path | None = None

    @property
    def failed(self) -> bool:
        return any(r.status in ("FAIL", "ERROR", "REFUSED") for r in self.rows)


def _fmt(x: float | None, signed: bool = False) -> str:
    return "" if x is None else (f"{x:+.1f}" if signed else f"{x:.1f}")


def results_table(results: Sequence[RowResult]) -> str:
    """The measured-vs-reported table (GitHub markdown)."""
    rows = []
    for res in results:
        r = res.row
        rows.append([r.table, r.pretraining, r.dataset, r.card, r.input, r.metric, _fmt(res.reported),
                     _fmt(res.measured), _fmt(res.delta, signed=True), f"±{r.tolerance:.1f}", res.status,
                     "; ".join(filter(None, [res.reason, *res.notes]))])
    return tabulate(rows, headers=["table", "pretraining", "data set", "card", "input", "metric", "reported",
                                   "measured", "Δ", "tol.", "status", "notes"], tablefmt="github",
                    disable_numparse=True)


def write_summary(report: Report, out_dir: Path, weights_dir: Path, data_root: Path | None,
                   arch: dict[str, Any], overrides: Sequence[str], command: str | None) -> Path:
    """``<out>/crisscross/reproduce-<UTC time>.json`` (rows, files, data) and the table as ``.md`` beside it."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = out_dir / "crisscross"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reproduce-{stamp}.json"
    doc = {"command": command, "weights_dir": str(weights_dir), "data_root": str(data_root) if data_root else None,
           "arch": arch, "overrides": list(overrides), "tolerances": TOLERANCE,
           "rows": [r.to_dict() for r in report.rows], "files": report.files, "data": report.data}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
    path.with_suffix(".md").write_text(results_table(report.rows) + "\n")
    return path


def plan_tables(report: Report) -> str:
    """The dry-run text: the rows (card, input, reported, tolerance, READY/SKIPPED) and the files and data."""
    files = tabulate([[f["pretraining"], f["modality"], f["file"], f["found"] or "MISSING", f["check"]]
                      for f in report.files],
                     headers=["pretraining", "trunk", "released file", "found", "strict load"], tablefmt="github")
    data = tabulate([[d["dataset"], d["root"] or "MISSING", d["from"], d.get("samples", "")] for d in report.data],
                    headers=["data set", "root", "from / looked for", "annotations"], tablefmt="github")
    return "\n\n".join([results_table(report.rows), files, data])
