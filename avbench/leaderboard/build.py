"""``avbench leaderboard build``: records + published numbers -> README.md, leaderboard.csv, index.html, plots/.

Reads only JSON records, gzip JSON-lines sidecars, bundle manifests and YAML (never imports or runs a
submission's code, never unpickles). Output is deterministic for the same inputs (no dates; paths relative to
the results directory; SVG ids salted), so a rebuilt leaderboard diffs cleanly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from avbench.leaderboard.board import Board, build_board
from avbench.leaderboard.html import render_html
from avbench.leaderboard.plots import accuracy_svg, cost_svg, fusion_svg
from avbench.leaderboard.records import load_results
from avbench.leaderboard.reported import load_reported_file
from avbench.leaderboard.reruns import load_reruns
from avbench.submission.card import sha256_file
from avbench.leaderboard.tables import PLOT_FILES, render_csv, render_markdown

__all__ = ["BuildResult", "build_leaderboard"]


@dataclass
class BuildResult:
    """The board, the files written and the plots that failed to draw (name -> error; their tables stand)."""

    board: Board
    written: list[Path]
    plot_errors: dict[str, str] = field(default_factory=dict)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def maintained_manifests(folder: str | Path | None) -> frozenset[str]:
    """sha256 of every media checksum manifest the maintainers hold (files directly in ``folder``)."""
    if folder is None or not Path(folder).is_dir():
        return frozenset()
    return frozenset(sha256_file(p) for p in sorted(Path(folder).iterdir())
                     if p.is_file() and not p.is_symlink() and not p.name.startswith(".") and p.name != "README.md")


def _plots(board: Board) -> tuple[dict[str, str | None], dict[str, str]]:
    """(every plot's SVG, or None where there is nothing to draw; the plots that failed, name -> error). A plot
    that fails is left out and said so; the tables are written regardless."""
    plots: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, draw in (("accuracy", accuracy_svg), ("fusion", fusion_svg), ("cost", cost_svg)):
        try:
            plots[name] = draw(board)
        except Exception as exc:  # noqa: BLE001  (a plot is decoration: the tables must still be written)
            plots[name], errors[name] = None, f"{type(exc).__name__}: {exc}"
    return plots, errors


def build_leaderboard(results_dir: str | Path, reported_path: str | Path | None, out_dir: str | Path, *,
                      reruns_path: str | Path | None = None, manifests_dir: str | Path | None = None) -> BuildResult:
    """Verify every record under ``results_dir``, load ``reported_path`` (None: no published numbers) and write
    ``README.md``, ``leaderboard.csv``, ``index.html`` and ``plots/*.svg`` under ``out_dir``. A plot with
    nothing to draw is not written (and a stale one from an earlier build is removed). ``reruns_path``: the
    maintainers' re-run ledger (the only source of "re-run by maintainers"); ``manifests_dir``: the maintainers'
    media checksum manifests (media count as verified only against one of them)."""
    out = Path(out_dir)
    accepted, rejected = load_results(Path(results_dir), load_reruns(reruns_path))
    reported = load_reported_file(reported_path) if reported_path is not None else None
    board = build_board(accepted, rejected, reported, maintained_manifests(manifests_dir))
    plots, errors = _plots(board)
    written = []
    for name, svg in plots.items():
        target = out / PLOT_FILES[name]
        if svg:
            written.append(_write(target, svg))
        elif target.exists():
            target.unlink()
    written.append(_write(out / "README.md", render_markdown(board, plots, errors)))
    written.append(_write(out / "leaderboard.csv", render_csv(board)))
    written.append(_write(out / "index.html", render_html(board, plots, errors)))
    return BuildResult(board=board, written=written, plot_errors=errors)
