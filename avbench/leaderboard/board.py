"""The leaderboard as data: family tables of measured and reported rows, detail lines, paired comparisons.

* A measured row is one entry (bundle card name, else encoder name), weights, trust label, selection mode,
  track and data kind (real / synthetic). Its cells are recomputed metrics; several records of the same entry,
  task, card, data and test ids with DISJOINT seeds are pooled into one cell (runs and samples together); of
  records that cannot be pooled (overlapping seeds, another card or data) the newest is shown and the others
  are listed as superseded.
* A reported row is one (method, backbone, pretraining, selection, source) of ``reported.yaml``. Its cells sit
  in the family's main table only when their protocol id is a task card; descriptive ids go to the family's
  "other protocols" table. Nothing is ever averaged across columns.
* Paired comparisons: in each column, measured cells ordered by mean; each adjacent pair is compared on the
  test samples both scored (:func:`avbench.leaderboard.stats.paired_comparison`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from avbench.leaderboard.cost import cost_per_media_second
from avbench.leaderboard.families import FAMILIES, Column, columns_for, family_of
from avbench.leaderboard.recompute import MetricResult, merge
from avbench.leaderboard.records import Rejection, VerifiedRecord
from avbench.leaderboard.reported import Reported, ReportedCell
from avbench.leaderboard.stats import PairedComparison, paired_comparison

__all__ = ["MeasuredCell", "Row", "FamilyTable", "Pair", "Disagreement", "Board", "build_board"]


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
    kind: str  # "measured" | "reported"
    entry: str
    trust: str  # trust label (measured) or quoting source (reported)
    backbone: str
    pretraining: str
    data: str
    selection: str
    track: str
    inputs: str = ""
    cells: dict[Column, MeasuredCell | ReportedCell] = field(default_factory=dict)


@dataclass
class Pair:
    column: Column
    a: Row
    b: Row
    result: PairedComparison | None


@dataclass
class FamilyTable:
    id: str
    title: str
    columns: list[Column]
    rows: list[Row]
    other_columns: list[Column]  # descriptive (non-card) protocols of this family
    other_rows: list[Row]
    pairs: list[Pair]

    @property
    def empty(self) -> bool:
        return not self.rows and not self.other_rows


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
    n = sum(int(v) for v in (rec.record.encoder.meta.get("n_parameters") or {}).values())
    return f"{n / 1e6:.1f}M params" if n else "not stated"


def _measured_key(rec: VerifiedRecord) -> tuple[str, ...]:
    r = rec.record
    return (f"{rec.entry} [{rec.weights_id}]", rec.trust, _params(rec), rec.pretraining,
            "synthetic" if r.data.synthetic else "real", r.selection, r.task.track)


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


def _measured_rows(accepted: list[VerifiedRecord]) -> tuple[dict[tuple[str, ...], Row], list[Rejection],
                                                           dict[str, str], dict[str, list[str]]]:
    rows: dict[tuple[str, ...], Row] = {}
    groups: dict[tuple[tuple[str, ...], str], list[VerifiedRecord]] = {}
    for rec in accepted:
        groups.setdefault((_measured_key(rec), rec.record.task.name), []).append(rec)
    superseded: list[Rejection] = []
    fam_of: dict[str, str] = {}
    cols_of: dict[str, list[str]] = {}
    for (key, task), recs in sorted(groups.items()):
        taken, dropped = _pool(recs)
        superseded += dropped
        row = rows.setdefault(key, Row("measured", key[0], key[1], key[2], key[3], key[4], key[5], key[6]))
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


def _pairs(columns: list[Column], rows: list[Row]) -> list[Pair]:
    out: list[Pair] = []
    for col in columns:
        ranked = sorted((r for r in rows if r.kind == "measured" and col in r.cells),
                        key=lambda r: (-_value(r.cells[col]), r.entry, r.trust, r.selection, r.track, r.data))
        for a, b in zip(ranked, ranked[1:]):
            ca, cb = a.cells[col], b.cells[col]
            assert isinstance(ca, MeasuredCell) and isinstance(cb, MeasuredCell)
            out.append(Pair(col, a, b, paired_comparison(ca.metric.per_sample(), cb.metric.per_sample())))
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


def build_board(accepted: list[VerifiedRecord], rejected: list[Rejection], reported: Reported | None) -> Board:
    """Assemble every family table (see the module docstring)."""
    measured, superseded, fam_of, cols_of = _measured_rows(accepted)
    rep_rows = _reported_rows(reported) if reported is not None else {}
    families: list[FamilyTable] = []
    for fam in FAMILIES:
        # columns: the family's shipped protocols in order, then measured user cards, then descriptive protocols
        main: list[Column] = []
        order = [t for t, _ in fam.tasks] + sorted(t for t, f in fam_of.items() if f == fam.id and t not in dict(fam.tasks))
        present = {col for r in list(measured.values()) + list(rep_rows.values()) for col in r.cells}
        for task in order:
            metrics = dict(fam.tasks).get(task) or tuple(cols_of.get(task, ()))
            for m in metrics:
                col = Column(task, m, fam.id == "fusion")
                if col in present:
                    main.append(col)
        other: list[Column] = []
        for r in rep_rows.values():
            for col in r.cells:
                if reported is not None and not reported.is_card(col.protocol) \
                        and reported.family_of(col.protocol) == fam.id and col not in other:
                    other.append(col)
        mset, oset = set(main), set(other)
        m_rows = sorted((r for r in measured.values() if any(c in mset for c in r.cells)),
                        key=lambda r: (r.entry, r.trust, r.selection, r.track, r.data))
        r_rows = [r for r in rep_rows.values() if any(c in mset for c in r.cells)]
        o_rows = [r for r in rep_rows.values() if any(c in oset for c in r.cells)]
        families.append(FamilyTable(fam.id, fam.title, main, m_rows + r_rows, other, o_rows, _pairs(main, m_rows)))
    return Board(families=families, accepted=accepted, rejected=rejected,
                 superseded=sorted(superseded, key=lambda r: r.path), reported=reported,
                 disagreements=_disagreements(reported) if reported is not None else [])
