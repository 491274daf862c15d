"""Render a :class:`~avbench.leaderboard.board.Board` as the leaderboard's Markdown README and CSV.

Cell text: a measured cell is ``mean ± std [lo, hi]`` (percent; std over splits with seeds averaged first, only
when there are several splits; ``[lo, hi]`` the bootstrap 95 % interval over test samples); a reported cell is
the published number; ``—`` is a missing cell (not measured, not reported), never imputed or averaged.
"""
from __future__ import annotations

import csv
import io
import math
from typing import Mapping

from tabulate import tabulate

from avbench.leaderboard.board import Board, FamilyTable, MeasuredCell, Row
from avbench.leaderboard.families import Column, metric_label
from avbench.leaderboard.reported import ReportedCell

__all__ = ["MISSING", "LEGEND", "cell_text", "blocks", "render_markdown", "render_csv", "PLOT_FILES"]

MISSING = "—"
PLOT_FILES = {"accuracy": "plots/accuracy.svg", "fusion": "plots/fusion_gain.svg", "cost": "plots/cost.svg"}

LEGEND: list[tuple[str, str]] = [
    ("kind", "`measured` cells are recomputed from the per-sample predictions of a verified result record "
             "(`results/`); `reported` cells are numbers published in a paper, keyed by the table that quotes "
             "them (quoted baselines differ between papers). A reported cell sits in a column only when its "
             "protocol id is that avbench task card; other published protocols are listed separately under each "
             "family."),
    ("trust", "for measured rows `re-run by maintainers` or `self-reported` (the label of the results bundle "
              "holding the record) or `unbundled` (a record placed directly in `results/`: verified, but no card "
              "or weights hash vouches for it); for reported rows the quoting paper and table."),
    ("selection", "`paper` = SVM cost or finetune epoch chosen on the TEST split, as the papers did (not a clean "
                  "estimate); `clean` = chosen inside the training data; `none` = nothing to choose."),
    ("track", "`standard` = the task card exactly as shipped; `override` = a card changed with `--set` (e.g. "
              "fewer clips): not comparable with standard cells."),
    ("data", "`real`, or `synthetic` (avbench's built-in stand-in set: says nothing about the real benchmark)."),
    ("cells", "measured: `mean ± std [lo, hi]` in percent: mean over splits (folds) with seeds averaged first, "
              "sample std over splits (shown with several splits), bootstrap 95 % interval over test samples; "
              "`gain` = a+v minus the better single modality, in points. `—` = missing (not measured, not "
              "reported). Nothing is ever averaged across columns."),
]

Block = tuple  # ("h1"|"h2"|"h3"|"p", text) | ("legend", items) | ("table", headers, rows) | ("plots",) | ("md", text)


def _f(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def cell_text(cell: MeasuredCell | ReportedCell | None) -> str:
    """The table text of one cell (see the module docstring)."""
    if cell is None:
        return MISSING
    if isinstance(cell, ReportedCell):
        return f"{cell.value:.1f}"
    m = cell.metric
    text = _f(m.mean) + (f" ± {_f(m.std)}" if cell.n_splits > 1 else "")
    return f"{text} [{_f(m.ci95[0])}, {_f(m.ci95[1])}]"


def _table(columns: list[Column], rows: list[Row], *, inputs: bool = False) -> Block:
    head = ["entry", "kind", "trust / source", "backbone", "pretraining", "data", "selection", "track"]
    if inputs:
        head.append("input")
    body = []
    for r in rows:
        line = [r.entry, r.kind, r.trust, r.backbone, r.pretraining, r.data, r.selection, r.track]
        if inputs:
            line.append(r.inputs or MISSING)
        body.append(line + [cell_text(r.cells.get(c)) for c in columns])
    return ("table", head + [c.label for c in columns], body)


def _details(fam: FamilyTable) -> Block | None:
    body = []
    for r in fam.rows:
        for col in fam.columns:
            cell = r.cells.get(col)
            if not isinstance(cell, MeasuredCell):
                continue
            m = cell.metric
            seeds = ", ".join(f"{k}: {_f(v)}" for k, v in m.per_seed.items())
            recs = cell.records
            cover = sorted({f"{x.record.data.found}/{x.record.data.expected}" for x in recs})
            skipped = sum(len(x.record.data.skipped) for x in recs)
            ci = f"[{_f(m.ci95[0])}, {_f(m.ci95[1])}]" + ("" if m.ci_source == "recomputed"
                                                          else f" (from the record; {m.n_tied} tied samples)")
            body.append([r.entry, col.protocol, metric_label(col.metric, fused=col.fused),
                         f"{_f(m.mean)} ± {_f(m.std)}", ci, f"{cell.n_splits} x {cell.n_seeds}", seeds,
                         ", ".join(cover), str(skipped), MISSING if cell.cost is None else f"{cell.cost:.3g}",
                         ", ".join(f"`{x.path}`" for x in recs)])
    if not body:
        return None
    head = ["entry", "protocol", "metric", "mean ± std", "95% CI", "splits x seeds", "per seed", "found/expected",
            "skipped", "wall s per media s", "records"]
    return ("table", head, body)


def _pairs(fam: FamilyTable) -> Block | None:
    body = []
    for p in fam.pairs:
        label = f"{p.column.protocol} {metric_label(p.column.metric, fused=p.column.fused)}"
        if p.result is None:
            body.append([label, p.a.entry, p.b.entry, MISSING, MISSING, MISSING, "0 (no common test samples)"])
            continue
        res = p.result
        body.append([label, p.a.entry, p.b.entry, f"{res.diff:+.1f}", f"[{res.ci95[0]:+.1f}, {res.ci95[1]:+.1f}]",
                     f"{res.p_value:.3g}", str(res.n_common)])
    if not body:
        return None
    return ("table", ["column", "A", "B", "A − B", "95% CI", "p (sign-flip)", "common samples"], body)


PLOT_TITLES = {"accuracy": "per-task accuracy", "fusion": "fusion gain", "cost": "accuracy vs cost per media-second"}
PLOT_MISSING = {"accuracy": "no cells", "fusion": "no fusion entry with audio, video and a+v cells",
                "cost": "no measured record with a comparable wall time"}


def blocks(board: Board, plots: Mapping[str, str | None] | None = None) -> list[Block]:
    """The content of the leaderboard, in order, for both the README and the HTML page. ``plots``: plot name
    (``accuracy``, ``fusion``, ``cost``) -> SVG text, or None where there was nothing to draw."""
    n_rep = len(board.reported.cells) if board.reported else 0
    out: list[Block] = [
        ("h1", "avbench leaderboard"),
        ("p", "Generated by `avbench leaderboard build` from the result records under `results/` and the published "
              "numbers in `reported.yaml`; do not edit by hand. "
              f"{len(board.accepted)} records verified, {len(board.rejected)} rejected, {len(board.superseded)} "
              f"superseded; {n_rep} published numbers. Also written: `leaderboard.csv` (one line per cell) and "
              "`index.html` (tables and plots)."),
        ("legend", LEGEND),
        ("plots", dict(plots or {})),
    ]
    empty = [f.title for f in board.families if f.empty and f.id != "other"]
    for fam in board.families:
        if fam.empty:
            continue
        out.append(("h2", fam.title))
        if fam.rows:
            out.append(_table(fam.columns, fam.rows))
        details = _details(fam)
        if details:
            out += [("h3", "Measured cells"), details]
        pairs = _pairs(fam)
        if pairs:
            out += [("h3", "Paired comparisons of adjacent measured entries"),
                    ("p", "Entries of a column ordered by mean; each compared with the next on the test samples both "
                          "scored (seeds averaged per sample): difference in points, paired bootstrap 95 % interval, "
                          "two-sided sign-flip permutation p-value."), pairs]
        if fam.other_rows:
            title = ("Published numbers" if not fam.rows
                     else "Published under other protocols (not comparable with the columns above)")
            out += [("h3", title), _table(fam.other_columns, fam.other_rows, inputs=True)]
    if empty:
        out += [("h2", "No entries yet"), ("p", ", ".join(empty) + ".")]
    if board.disagreements:
        body = [[d.key[0], d.key[1], f"{d.key[2]} {d.key[3]}", metric_label(d.key[4]),
                 "; ".join(f"{c.value:.1f} ({c.source}, {c.protocol}, {c.input})" for c in d.cells)]
                for d in board.disagreements]
        out += [("h2", "Where the papers disagree"),
                ("p", "The same method, pretraining set, data set and kind of protocol, quoted with different numbers "
                      "(other inputs, other versions of a paper, or transcription differences between papers):"),
                ("table", ["method", "pretraining", "task", "metric", "values (source, protocol, input)"], body)]
    out.append(("h2", "Rejected records"))
    if board.rejected:
        out.append(("table", ["file", "reason"], [[f"`{r.path}`", r.reason] for r in board.rejected]))
    else:
        out.append(("p", "None."))
    if board.superseded:
        out += [("h2", "Superseded records"),
                ("table", ["file", "reason"], [[f"`{r.path}`", r.reason] for r in board.superseded])]
    if board.reported and board.reported.protocols:
        out += [("h2", "Descriptive protocol ids"),
                ("table", ["protocol", "what the paper did"],
                 [[f"`{k}`", v.description] for k, v in board.reported.protocols.items()])]
    return out


def render_markdown(board: Board, plots: Mapping[str, str | None] | None = None) -> str:
    """The README of the leaderboard directory (deterministic: no dates; paths relative to it)."""
    lines: list[str] = []
    for b in blocks(board, plots):
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + b[1], ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "legend":
            lines += [f"- **{term}**: {text}" for term, text in b[1]] + [""]
        elif kind == "plots":
            parts = [f"[{PLOT_TITLES[k]}]({PLOT_FILES[k]})" if b[1].get(k) else f"{PLOT_TITLES[k]}: not drawn "
                     f"({PLOT_MISSING[k]})" for k in PLOT_FILES if k in b[1]]
            if parts:
                lines += ["Plots: " + "; ".join(parts) + ".", ""]
        elif kind == "table":
            lines += [tabulate(b[2], headers=b[1], tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines).rstrip() + "\n"


CSV_FIELDS = ["family", "protocol", "metric", "kind", "entry", "trust_or_source", "backbone", "pretraining", "input",
              "data", "selection", "track", "value", "std", "ci95_low", "ci95_high", "ci_source", "n_splits",
              "n_seeds", "wall_s_per_media_s", "records", "record_sha256", "notes"]


def render_csv(board: Board) -> str:
    """One line per cell of every family table (main and other protocols)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for fam in board.families:
        for columns, rows in ((fam.columns, fam.rows), (fam.other_columns, fam.other_rows)):
            for r in rows:
                for col in columns:
                    cell = r.cells.get(col)
                    if cell is None:
                        continue
                    base = [fam.id, col.protocol, col.metric, r.kind, r.entry, r.trust, r.backbone, r.pretraining]
                    if isinstance(cell, ReportedCell):
                        w.writerow(base + [cell.input, r.data, r.selection, r.track, f"{cell.value:g}", "", "", "",
                                           "", "", "", "", "", "", cell.notes])
                    else:
                        m = cell.metric
                        w.writerow(base + ["task card", r.data, r.selection, r.track, repr(m.mean), repr(m.std),
                                           repr(m.ci95[0]), repr(m.ci95[1]), m.ci_source, cell.n_splits, cell.n_seeds,
                                           "" if cell.cost is None else repr(cell.cost),
                                           ";".join(x.path for x in cell.records),
                                           ";".join(x.sha256 for x in cell.records), ""])
    return buf.getvalue()
