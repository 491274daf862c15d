"""The leaderboard's plots as SVG text (matplotlib, no pyplot state; deterministic bytes).

* per-task accuracy: one panel per main-table column; measured cells as bars with their 95 % interval, published
  numbers as grey bars;
* fusion gain: audio, video and a+v bars per entry of every fusion protocol, annotated with the gain
  (a+v minus the better modality);
* accuracy vs cost: each measured cell's first metric against its wall seconds per media second (log scale).

Each function returns None when the board has nothing to plot.
"""
from __future__ import annotations

import io
import math

import matplotlib
from matplotlib.figure import Figure

from avbench.leaderboard.board import Board, MeasuredCell, Row
from avbench.leaderboard.families import Column
from avbench.leaderboard.reported import ReportedCell

__all__ = ["accuracy_svg", "fusion_svg", "cost_svg"]

_MEASURED, _REPORTED = "#1f6fb4", "#a9a9a9"
_RC = {"svg.hashsalt": "avbench-leaderboard", "svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "avbench leaderboard"}, bbox_inches="tight")
    return buf.getvalue()


def _short(source: str) -> str:
    return source.replace("-paper Table ", " T").replace("-paper", "")


def _label(row: Row) -> str:
    if row.kind == "measured":
        return row.entry if row.track == "standard" else f"{row.entry} (override)"
    return f"{row.entry} · {row.pretraining} · {_short(row.trust)}"


def accuracy_svg(board: Board) -> str | None:
    panels: list[tuple[Column, list[tuple[str, float, tuple[float, float] | None, bool]]]] = []
    for fam in board.families:
        for col in fam.columns:
            if col.metric == "fusion_gain":
                continue
            bars = []
            for r in fam.rows:
                cell = r.cells.get(col)
                if isinstance(cell, MeasuredCell):
                    bars.append((_label(r), cell.metric.mean, cell.metric.ci95, True))
                elif isinstance(cell, ReportedCell):
                    bars.append((_label(r), cell.value, None, False))
            if bars:
                panels.append((col, sorted(bars, key=lambda b: b[1])))
    if not panels:
        return None
    with matplotlib.rc_context(_RC):
        ncol = min(3, len(panels))
        nrow = math.ceil(len(panels) / ncol)
        tallest = max(len(b) for _, b in panels)
        fig = Figure(figsize=(5.2 * ncol, nrow * (0.9 + 0.17 * tallest)))
        for i, (col, bars) in enumerate(panels):
            ax = fig.add_subplot(nrow, ncol, i + 1)
            y = list(range(len(bars)))
            ax.barh(y, [b[1] for b in bars], height=0.7, color=[_MEASURED if b[3] else _REPORTED for b in bars])
            ax.set_ylim(-0.6, tallest - 0.4)  # the same bar thickness in every panel
            for yi, b in zip(y, bars):
                if b[2] is not None and all(math.isfinite(v) for v in b[2]):
                    ax.plot([b[2][0], b[2][1]], [yi, yi], color="black", linewidth=1)
            ax.set_yticks(y, [b[0] for b in bars], fontsize=6)
            ax.set_xlim(0, 100)
            ax.set_title(col.label)
            ax.set_xlabel("percent (blue: measured with 95% CI, grey: published)")
        fig.tight_layout()
    return _svg(fig)


def fusion_svg(board: Board) -> str | None:
    groups: list[tuple[str, float, float, float]] = []
    for fam in board.families:
        if fam.id != "fusion":
            continue
        for columns, rows in ((fam.columns, fam.rows), (fam.other_columns, fam.other_rows)):
            for proto in dict.fromkeys(c.protocol for c in columns):
                cols = {c.metric: c for c in columns if c.protocol == proto}
                if not {"top1", "top1@audio", "top1@video"} <= set(cols):
                    continue
                for r in rows:
                    cells = [r.cells.get(cols[m]) for m in ("top1@audio", "top1@video", "top1")]
                    if all(c is not None for c in cells):
                        vals = [c.metric.mean if isinstance(c, MeasuredCell) else c.value for c in cells]  # type: ignore[union-attr]
                        groups.append((f"{_label(r)}\n{proto}", *vals))
    if not groups:
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(max(5.0, 1.6 * len(groups)), 4.2))
        ax = fig.add_subplot(1, 1, 1)
        for i, (label, a, v, av) in enumerate(groups):
            for dx, val, color, name in ((-0.27, a, "#e49b34", "audio"), (0.0, v, "#4a9a4a", "video"),
                                         (0.27, av, _MEASURED, "audio+video")):
                ax.bar([i + dx], [val], width=0.25, color=color, label=name if i == 0 else None)
            ax.annotate(f"gain {av - max(a, v):+.1f}", (i + 0.27, av), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(groups)), [g[0] for g in groups], fontsize=6, rotation=20, ha="right")
        ax.set_ylabel("top-1 (percent)")
        ax.set_ylim(0, 105)
        ax.set_title("Fusion gain: audio+video against the better single modality")
        ax.legend(loc="upper left", fontsize=7)
        fig.tight_layout()
    return _svg(fig)


def cost_svg(board: Board) -> str | None:
    points: list[tuple[str, str, float, float]] = []
    for fam in board.families:
        firsts = {}
        for col in fam.columns:
            firsts.setdefault(col.protocol, col)
        for col in firsts.values():
            for r in fam.rows:
                cell = r.cells.get(col)
                if isinstance(cell, MeasuredCell) and cell.cost:
                    points.append((col.label, _label(r), cell.cost, cell.metric.mean))
    if not points:
        return None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 4.5))
        ax = fig.add_subplot(1, 1, 1)
        tasks = list(dict.fromkeys(p[0] for p in points))
        cmap = matplotlib.colormaps["tab10"]
        for k, task in enumerate(tasks):
            pts = [p for p in points if p[0] == task]
            ax.scatter([p[2] for p in pts], [p[3] for p in pts], color=cmap(k % 10), label=task, s=24)
            for p in pts:
                ax.annotate(p[1], (p[2], p[3]), xytext=(3, 3), textcoords="offset points", fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel("wall-clock seconds per second of media (extraction + classifier, as recorded)")
        ax.set_ylabel("percent")
        ax.set_title("Accuracy vs cost per media-second (measured records; device in each record)")
        ax.legend(fontsize=7)
        fig.tight_layout()
    return _svg(fig)
