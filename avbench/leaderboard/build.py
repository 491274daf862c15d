"""``avbench leaderboard build``: records + published numbers -> README.md, leaderboard.csv, index.html, plots/.

Reads only JSON records, gzip JSON-lines sidecars, bundle manifests and YAML (never imports or runs a
submission's code, never unpickles). Output is deterministic for the same inputs (no dates; paths relative to
the results directory; SVG ids salted), so a rebuilt leaderboard diffs cleanly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from avbench.leaderboard.board import Board, build_board
from avbench.leaderboard.html import render_html
from avbench.leaderboard.plots import accuracy_svg, cost_svg, fusion_svg
from avbench.leaderboard.records import load_results
from avbench.leaderboard.reported import load_reported_file
from avbench.leaderboard.tables import PLOT_FILES, render_csv, render_markdown

__all__ = ["BuildResult", "build_leaderboard"]


@dataclass
class BuildResult:
    board: Board
    written: list[Path]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def build_leaderboard(results_dir: str | Path, reported_path: str | Path | None, out_dir: str | Path) -> BuildResult:
    """Verify every record under ``results_dir``, load ``reported_path`` (None: no published numbers) and write
    ``README.md``, ``leaderboard.csv``, ``index.html`` and ``plots/*.svg`` under ``out_dir``. A plot with
    nothing to draw is not written (and a stale one from an earlier build is removed)."""
    out = Path(out_dir)
    accepted, rejected = load_results(Path(results_dir))
    reported = load_reported_file(reported_path) if reported_path is not None else None
    board = build_board(accepted, rejected, reported)
    plots = {"accuracy": accuracy_svg(board), "fusion": fusion_svg(board), "cost": cost_svg(board)}
    written = []
    for name, svg in plots.items():
        target = out / PLOT_FILES[name]
        if svg:
            written.append(_write(target, svg))
        elif target.exists():
            target.unlink()
    written.append(_write(out / "README.md", render_markdown(board, plots)))
    written.append(_write(out / "leaderboard.csv", render_csv(board)))
    written.append(_write(out / "index.html", render_html(board, plots)))
    return BuildResult(board=board, written=written)
