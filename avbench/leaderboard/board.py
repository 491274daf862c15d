"""The leaderboard as data: family tables of measured and reported rows, detail lines, paired comparisons.

* A measured row is one entry (bundle card name, else encoder name), weights, trust label, data kind, selection
  mode and track, in the table :mod:`avbench.leaderboard.placement` assigns: the family's main table (official
  data, exactly a shipped card: beside the papers' numbers) or a separate titled table (changed cards, custom,
  synthetic or unverified data). Its cells are recomputed metrics; several records of the same entry, task,
  card, data and test ids with DISJOINT seeds are pooled into one cell (runs and samples together); of records
  that cannot be pooled (overlapping seeds, another card or data) the newest is shown and the others are listed
  as superseded.
* A reported row is one (method, backbone, pretraining, selection, source) of ``reported.yaml``. Its cells sit
  in the family's main table only when their protocol id is a task card (the column's card); descriptive ids go
  to the family's "other protocols" table. Nothing is ever averaged across columns.
* Paired comparisons: in each column of each table, measured cells equal on selection, track, data kind and card
  hash are ordered by mean; each adjacent pair is compared on the test samples both scored
  (:func:`avbench.leaderboard.stats.paired_comparison`). Cells that differ on any of those are never paired.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from avbench.leaderboard.cost import cost_per_media_second
from avbench.leaderboard.families import FAMILIES, Column, columns_for, family_of
from avbench.leaderboard.placement import GROUPS, place
from avbench.leaderboard.recompute import MetricResult, merge
from avbench.leaderboard.records import Rejection, VerifiedRecord
from avbench.leaderboard.reported import Reported, ReportedCell
from avbench.leaderboard.stats import PairedComparison, paired_comparison

__all__ = ["MeasuredCell", "Row", "Table", "FamilyTable", "Pair", "Disagreement", "Board", "build_board"]


@dataclass
class MeasuredCell:
    """A recomputed metric of one entry on one protocol (records pooled over seeds)."""

    metric: MetricResult
    records: list[VerifiedRecord]
    cost: float | None  # wall seconds per media second

    @property
    def n_splits(self) -> int:
        return len(self.metric.per_split)

    @property
    def n_seeds(self) -> int:
        return len(self.metric.per_seed)


@dataclass
class Row:
    """kind: ``measured`` | ``reported``; trust: the trust label (measured) or the quoting source (reported);
    data: ``official, media verified`` / ``official, media not verified`` / ``custom`` / ``synthetic`` /
    ``unverified`` (measured) or ``paper``; group: the table (:data:`avbench.leaderboard.placement.GROUPS`)."""

    kind: str
    entry: str
    trust: str
    backbone: str
    pretraining: str
    data: str
    selection: str
    track: str
    inputs: str = ""
    cells: dict[Column, MeasuredCell | ReportedCell] = field(default_factory=dict)
    group: str = "main"

    @property
    def label(self) -> str:
        """The entry with every axis that is not the default (paper selection, standard card, official data)."""
        axes = [a for a, default in ((self.selection, ("paper", "none")), (self.track, ("standard",)),
                                     (self.data, ("official, media verified", "official, media not verified")))
                if a not in default]
        return f"{self.entry} ({', '.join(axes)})" if axes and self.kind == "measured" else self.entry


@dataclass
class Pair:
    """Two measured cells of one column, equal on ``within`` (selection, track, data kind, card hash)."""

    column: Column
    a: Row
    b: Row
    result: PairedComparison | None
    within: str = ""


@dataclass
class Table:
    """A separate table of measured rows (a :data:`~avbench.leaderboard.placement.GROUPS` entry other than main)."""

    group: str
    title: str
    columns: list[Column]
    rows: list[Row]
    pairs: list[Pair]


@dataclass
class FamilyTable:
    """columns / rows / pairs: the main table (official data on shipped cards beside the published numbers);
    other_columns / other_rows: published numbers of descriptive protocols; tables: the separate measured tables."""

    id: str
    title: str
    columns: list[Column]
    rows: list[Row]
    other_columns: list[Column]
    other_rows: list[Row]
    pairs: list[Pair]
    tables: list[Table] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rows and not self.other_rows and not self.tables

    @property
    def measured_tables(self) -> list[tuple[list[Column], list[Row]]]:
        """(columns, rows) of the main table and of every separate table, in order."""
        return [(self.columns, self.rows)] + [(t.columns, t.rows) for t in self.tables]


@dataclass(frozen=True)
class Disagreement:
    """The same method, pretraining set, data set, protocol kind and metric quoted with different values."""

    key: tuple[str, str, str, str, str]
    cells: tuple[ReportedCell, ...]


@dataclass
class Board:
    families: list[FamilyTable]
    accepted: list[VerifiedRecord]
    rejected: list[Rejection]
    superseded: list[Rejection]
    reported: Reported | None
    disagreements: list[Disagreement]


def _params(rec: VerifiedRecord) -> str:
    """Trunk parameters of the modalities the card evaluates (an audio card counts the audio trunk only)."""
    modality = str((rec.record.task.card or {}).get("modality", ""))
    mods = ("audio", "video") if modality == "audiovisual" else (modality,)
    counts = rec.record.encoder.meta.get("n_parameters") or {}
    n = sum(int(v) for m, v in counts.items() if m in mods) if modality else sum(int(v) for v in counts.values())
    if not n:
        return "not stated"
    return f"{n / 1e6:.1f}M params" if n >= 100_000 else f"{n / 1e3:.1f}k params"  # a tiny trunk is not "0.0M"


def _measured_key(rec: VerifiedRecord, maintained: frozenset[str]) -> tuple[str, ...]:
    r, p = rec.record, place(rec, maintained)
    return (p.group, f"{rec.entry} [{rec.weights_id}]", rec.trust, _params(rec), rec.pretraining, p.data,
            r.selection, p.track)


def _pool(records: list[VerifiedRecord]) -> tuple[list[VerifiedRecord], list[Rejection]]:
    """Records of one entry and task that can be pooled (newest first), and the superseded rest."""
    newest = sorted(records, key=lambda r: (r.record.provenance.created_utc, r.path), reverse=True)
    head = newest[0].record

    def same(r: VerifiedRecord) -> bool:
        d = r.record
        return (d.task.card_sha256, d.data.manifest_sha256, d.data.evaluated_test_ids_sha256) == (
            head.task.card_sha256, head.data.manifest_sha256, head.data.evaluated_test_ids_sha256)

    taken: list[VerifiedRecord] = []
    seeds: set[int] = set()
    dropped: list[Rejection] = []
    for r in newest:
        s = set(r.record.provenance.seeds)
        if same(r) and not (s & seeds):
            taken.append(r)
            seeds |= s
        else:
            why = "overlapping seeds" if same(r) else "another task card, data manifest or test set"
            dropped.append(Rejection(r.path, f"superseded by {newest[0].path} ({why}; the newest is shown)"))
    return sorted(taken, key=lambda r: min(r.record.provenance.seeds)), dropped


def _measured_rows(accepted: list[VerifiedRecord], maintained: frozenset[str]) -> tuple[
        dict[tuple[str, ...], Row], list[Rejection], dict[str, str], dict[str, list[str]]]:
    rows: dict[tuple[str, ...], Row] = {}
    groups: dict[tuple[tuple[str, ...], str], list[VerifiedRecord]] = {}
    for rec in accepted:
        groups.setdefault((_measured_key(rec, maintained), rec.record.task.name), []).append(rec)
    superseded: list[Rejection] = []
    fam_of: dict[str, str] = {}
    cols_of: dict[str, list[str]] = {}
    for (key, task), recs in sorted(groups.items()):
        taken, dropped = _pool(recs)
        superseded += dropped
        row = rows.setdefault(key, Row("measured", *key[1:], group=key[0]))
        card = taken[0].record.task.card
        fam_of[task] = family_of(task, card)
        metrics = [m for m in columns_for(task, card) if all(m in r.metrics for r in taken)]
        cols_of.setdefault(task, [])
        for m in metrics:
            if m not in cols_of[task]:
                cols_of[task].append(m)
            result = merge([r.metrics[m] for r in taken]) if len(taken) > 1 else taken[0].metrics[m]
            row.cells[Column(task, m, fam_of[task] == "fusion")] = MeasuredCell(
                result, taken, cost_per_media_second([r.record for r in taken]))
    return rows, superseded, fam_of, cols_of


def _reported_rows(reported: Reported) -> dict[tuple[str, ...], Row]:
    rows: dict[tuple[str, ...], Row] = {}
    for c in reported.cells:
        key = (c.method, c.source, c.backbone, c.pretraining, c.selection)
        row = rows.setdefault(key, Row("reported", c.method, c.source, c.backbone, c.pretraining, "paper",
                                       c.selection, "—"))
        fused = reported.family_of(c.protocol) == "fusion"
        col = Column(c.protocol, c.metric, fused)
        if col in row.cells:
            raise ValueError(f"{reported.path}: two cells of {c.method} ({c.source}, {c.pretraining}) for "
                             f"{c.protocol} {c.metric}")
        row.cells[col] = c
        if c.input not in row.inputs.split(" / "):
            row.inputs = f"{row.inputs} / {c.input}" if row.inputs else c.input
    return rows


def _value(cell: MeasuredCell | ReportedCell) -> float:
    return cell.metric.mean if isinstance(cell, MeasuredCell) else cell.value


def _within(row: Row, cell: MeasuredCell) -> tuple[str, ...]:
    """What two cells must share to be paired: selection, track, data kind (media aside) and the card hash."""
    return (row.selection, row.track, row.data.split(",")[0],
            ",".join(sorted({r.record.task.card_sha256 for r in cell.records})))


def _pairs(columns: list[Column], rows: list[Row]) -> list[Pair]:
    out: list[Pair] = []
    for col in columns:
        classes: dict[tuple[str, ...], list[Row]] = {}
        for r in rows:
            cell = r.cells.get(col)
            if r.kind == "measured" and isinstance(cell, MeasuredCell):
                classes.setdefault(_within(r, cell), []).append(r)
        for within, members in sorted(classes.items()):
            ranked = sorted(members, key=lambda r: (-_value(r.cells[col]), r.entry, r.trust, r.data))
            text = f"selection {within[0]}, {within[1]} card {within[3][:8]}, {within[2]} data"
            for a, b in zip(ranked, ranked[1:]):
                ca, cb = a.cells[col], b.cells[col]
                assert isinstance(ca, MeasuredCell) and isinstance(cb, MeasuredCell)
                out.append(Pair(col, a, b, paired_comparison(ca.metric.per_sample(), cb.metric.per_sample()), text))
    return out


def _disagreements(reported: Reported) -> list[Disagreement]:
    """Groups of (method, pretraining, data set, protocol kind, metric) that two papers quote differently:
    the same protocol id with another value, or a descriptive-protocol value that no other paper's cell of the
    group matches. Different task cards (8 vs 32 frames) legitimately differ and are not flagged on their own."""
    groups: dict[tuple[str, str, str, str, str], list[ReportedCell]] = {}
    for c in reported.cells:
        dataset, kind = reported.dataset_kind(c.protocol)
        groups.setdefault((c.method, c.pretraining, dataset, kind, c.metric), []).append(c)
    out = []
    for key, cells in groups.items():
        def flagged(c: ReportedCell) -> bool:
            others = [o for o in cells if o.source != c.source]
            if any(o.protocol == c.protocol and o.value != c.value for o in others):
                return True
            return bool(others) and not reported.is_card(c.protocol) and all(o.value != c.value for o in others)
        if any(flagged(c) for c in cells):
            out.append(Disagreement(key, tuple(cells)))
    return out


def _columns(fam_id: str, order: list[str], rows: list[Row], cols_of: dict[str, list[str]],
             shipped: dict[str, tuple[str, ...]]) -> list[Column]:
    """The columns of one table: its tasks in the family's order, each with its metrics, where some row has a cell."""
    present = {col for r in rows for col in r.cells}
    out = []
    for task in order:
        for m in shipped.get(task) or tuple(cols_of.get(task, ())):
            col = Column(task, m, fam_id == "fusion")
            if col in present:
                out.append(col)
    return out


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (r.entry, r.trust, r.selection, r.track, r.data))


def _family(fam, measured: dict[tuple[str, ...], Row], rep_rows: dict[tuple[str, ...], Row],
            reported: Reported | None, fam_of: dict[str, str], cols_of: dict[str, list[str]]) -> FamilyTable:
    shipped = dict(fam.tasks)
    order = [t for t, _ in fam.tasks] + sorted(t for t, f in fam_of.items() if f == fam.id and t not in shipped)
    mine = [r for r in measured.values() if any(fam_of.get(c.protocol) == fam.id for c in r.cells)]
    in_fam = [r for r in rep_rows.values() if any(reported is not None and reported.is_card(c.protocol)
                                                   and reported.family_of(c.protocol) == fam.id for c in r.cells)]
    main_measured = _sorted([r for r in mine if r.group == "main"])
    main = _columns(fam.id, order, main_measured + in_fam, cols_of, shipped)
    other: list[Column] = []
    for r in rep_rows.values():
        for col in r.cells:
            if reported is not None and not reported.is_card(col.protocol) \
                    and reported.family_of(col.protocol) == fam.id and col not in other:
                other.append(col)
    mset, oset = set(main), set(other)
    m_rows = [r for r in main_measured if any(c in mset for c in r.cells)]
    r_rows = [r for r in rep_rows.values() if any(c in mset for c in r.cells)]
    o_rows = [r for r in rep_rows.values() if any(c in oset for c in r.cells)]
    tables = []
    for group, title in GROUPS.items():
        rows = _sorted([r for r in mine if r.group == group]) if group != "main" else []
        if rows:
            cols = _columns(fam.id, order, rows, cols_of, shipped)
            tables.append(Table(group, title, cols, rows, _pairs(cols, rows)))
    return FamilyTable(fam.id, fam.title, main, m_rows + r_rows, other, o_rows, _pairs(main, m_rows), tables)


def build_board(accepted: list[VerifiedRecord], rejected: list[Rejection], reported: Reported | None,
                maintained: frozenset[str] = frozenset()) -> Board:
    """Assemble every family table (see the module docstring). ``maintained``: sha256 of the maintainers'
    media checksum manifests (a record is shown media-verified only against one of them)."""
    measured, superseded, fam_of, cols_of = _measured_rows(accepted, maintained)
    rep_rows = _reported_rows(reported) if reported is not None else {}
    families = [_family(fam, measured, rep_rows, reported, fam_of, cols_of) for fam in FAMILIES]
    return Board(families=families, accepted=accepted, rejected=rejected,
                 superseded=sorted(superseded, key=lambda r: r.path), reported=reported,
                 disagreements=_disagreements(reported) if reported is not None else [])
