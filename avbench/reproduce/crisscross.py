"""``avbench reproduce crisscross``: the released CrissCross backbones through the cards behind the paper's
Tables 4, 6, 7 and 8, measured against the reported numbers with stated tolerances.

    plan (rows below) ─┬─ released files in --weights-dir (vid_/aud_crisscross_<set>.pth.tar[.zip])
                       ├─ data sets under --data-root (esc50/, dcase/, ucf101/, hmdb51/, kinetics400/)
                       └─ reported values (avbench.leaderboard.reported)
        -> one runner.run per (pretraining set, card, card overrides) -> measured vs reported table + records

A row is one reported number: (table, pretraining set, data set, card, metric). Rows that share a card and a
pretraining set share one run (Table 8 repeats Table 4's sound numbers; Table 7's R@1/5/20 come from one run).
Checkpoints load strictly (:func:`avbench_baselines.crisscross.build`): a file whose key names or shapes differ
from the released R(2+1)D-18 / ResNet-18 layout (``tests/golden/crisscross_released_keys.json``) is refused,
naming the file and the missing / unexpected keys, before any card runs.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from avbench.reproduce.locate import (
    DATA_FOLDERS,
    PREFIX,
    count_samples,
    find_data,
    find_released,
    load_trunk,
    missing_data_reason,
    released_name,
)
from avbench.reproduce.plan import (
    PLAN,
    PRETRAININGS,
    TABLES,
    TOLERANCE,
    Row,
    build_plan,
    canon_pretraining,
    canon_table,
    card_input,
    check_plan,
    merged_overrides,
    norm_key,
    run_cost,
)
from avbench.reproduce.report import Report, RowResult, plan_tables, results_table, write_summary
from avbench.reproduce.reported import (
    METHOD,
    NOT_STATED,
    SOURCE_PAPER,
    attach_reported,
    input_aliases,
    load_cells,
)
from avbench.taskcard import load_card

__all__ = [
    "DATA_FOLDERS", "METHOD", "NOT_STATED", "PLAN", "PREFIX", "PRETRAININGS", "SOURCE_PAPER", "TABLES", "TOLERANCE",
    "Report", "Row", "RowResult", "attach_reported", "build_plan", "canon_pretraining", "canon_table", "card_input",
    "find_data", "find_released", "input_aliases", "load_cells", "load_trunk", "plan_tables", "released_name",
    "reproduce", "results_table",
]


@dataclass
class _Inputs:
    """What the plan needs and what was found. files: (pretraining, modality) -> released file or None;
    datasets: card data set -> (root or None, where it came from); encoders: the strictly loaded trunks by
    (pretraining, modality); checks: the strict-load line of each found file for the files table."""

    files: dict[tuple[str, str], Path | None]
    datasets: dict[str, tuple[Path | None, str]]
    encoders: dict[tuple[str, str], Any]
    checks: dict[tuple[str, str], str]


def reproduce(weights_dir: str | Path, data_root: str | Path | None = None, *, out_dir: str | Path = "avbench-results",
              tables: Iterable[str] | None = None, pretrainings: Iterable[str] | None = None,
              overrides: Sequence[str] = (), arch: dict[str, Any] | None = None, dry_run: bool = False,
              reported_path: str | Path | None = None, device: str | None = None,
              cache_dir: str | Path | None = None, workers: int = 0, batch_size: int | None = None,
              command: str | None = None, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
              progress: Callable[[str, int], Callable[[int], None]] | None = None) -> Report:
    """Run (or with ``dry_run`` only plan and check) the reproduction; returns the :class:`Report`.

    weights_dir: folder with the released ``vid_crisscross_<set>.pth.tar[.zip]`` / ``aud_...`` files.
    data_root: parent folder of the data sets under the names of :data:`DATA_FOLDERS` (None: environment/config).
    overrides: ``KEY=VALUE`` card overrides applied to every card (the records are then an ``override`` track).
    arch: architecture options for files in the released format saved from another trunk size (e.g.
      ``{"audio_width": 8}``); such a run is a smoke test of the harness, not a reproduction, and says so.
    Every found checkpoint the plan needs is loaded strictly first. Dry run: a refused file is reported in the
    files table and its rows are REFUSED; real run: it raises :class:`avbench.models.weights.WeightsError` before any
    card runs. Rows whose checkpoint or data set is missing are MISSING (dry run) / SKIPPED with the reason.
    """
    weights_dir, root = _checked_dirs(weights_dir, data_root)
    arch = dict(arch or {})
    plan = build_plan(tables, pretrainings)
    check_plan(plan)
    cells = attach_reported(plan, load_cells(reported_path))
    found = _locate_inputs(plan, weights_dir, root)
    _load_checkpoints(found, arch, dry_run, log)
    notes = _run_notes(arch, overrides)
    results = {r: _row_result(r, cells.get(r), found, notes, dry_run) for r in plan}
    file_rows = [{"pretraining": pt, "modality": m, "file": released_name(m, pt), "found": str(p) if p else None,
                  "check": found.checks.get((pt, m), "")} for (pt, m), p in sorted(found.files.items())]
    data_rows = [{"dataset": ds, "root": str(p) if p else None, "from": src if p else missing_data_reason(ds, root)}
                 for ds, (p, src) in sorted(found.datasets.items())]
    report = Report([results[r] for r in plan], file_rows, data_rows)
    if dry_run:
        _check_data(report)
        return report
    options = dict(device=device, cache_dir=cache_dir, out_dir=out_dir, batch_size=batch_size,
                   num_workers=workers, command=command, log=log, progress=progress)
    _run_cards(plan, results, found, overrides, options, log)
    report.summary = write_summary(report, Path(out_dir), weights_dir, root, arch, overrides, command)
    return report


def _checked_dirs(weights_dir: str | Path, data_root: str | Path | None) -> tuple[Path, Path | None]:
    """(--weights-dir, --data-root or None) as paths, refusing a multi-process launch and missing folders."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError("avbench reproduce runs in one process; for multi-GPU finetuning run the card with "
                         "`torchrun ... -m avbench.cli eval --task <card>` (docs/reproduce.md, section 6)")
    weights_dir = Path(weights_dir).expanduser()
    if not weights_dir.is_dir():
        raise FileNotFoundError(f"{weights_dir}: --weights-dir is not a directory")
    root = Path(data_root).expanduser() if data_root else None
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"{root}: --data-root is not a directory")
    return weights_dir, root


def _locate_inputs(plan: Sequence[Row], weights_dir: Path, root: Path | None) -> _Inputs:
    """Which released files and data sets the plan needs, and which are there (nothing loaded yet)."""
    found = _Inputs({}, {}, {}, {})
    for r in plan:
        card = load_card(r.card)
        found.files.setdefault((r.pretraining, card.modality),
                               find_released(weights_dir, card.modality, r.pretraining))
        found.datasets.setdefault(card.dataset.name, find_data(card.dataset.name, root))
    return found


def _load_checkpoints(found: _Inputs, arch: dict[str, Any], dry_run: bool, log: Callable[[str], None]) -> None:
    """Strict loading of every found checkpoint, before any card runs, into ``found.encoders`` / ``found.checks``.
    A refused file raises :class:`avbench.models.weights.WeightsError`, or in a dry run is noted as REFUSED."""
    from avbench.models.weights import WeightsError

    for (pt, m), path in sorted(found.files.items()):
        if path is None:
            continue
        log(f"loading {path} into the {m} trunk (strict)")
        try:
            found.encoders[(pt, m)] = load_trunk(path, m, arch)
        except WeightsError as exc:
            if not dry_run:
                raise
            found.checks[(pt, m)] = "REFUSED: " + "; ".join(line.strip() for line in str(exc).splitlines())
            continue
        n_keys = len(found.encoders[(pt, m)].trunk(m).state_dict())
        found.checks[(pt, m)] = f"keys OK ({n_keys}), sha256 {found.encoders[(pt, m)].meta.weights_sha256[:12]}"


def _run_notes(arch: dict[str, Any], overrides: Sequence[str]) -> list[str]:
    """The notes every row carries: a non-released trunk size (--arch) and card overrides (--set)."""
    notes = [f"NOT the released trunk: --arch {','.join(f'{k}={v}' for k, v in sorted(arch.items()))}"] if arch else []
    if overrides:
        notes.append("--set " + " ".join(overrides) + " (override track)")
    return notes


def _row_result(r: Row, cell: Any, found: _Inputs, notes: list[str], dry_run: bool) -> RowResult:
    """A row before any card runs: its reported value and notes; READY / PLANNED, or MISSING / SKIPPED (no file
    or no data) or REFUSED (the file failed the strict load)."""
    card = load_card(r.card)
    res = RowResult(r, None if cell is None else float(cell.value), "" if cell is None else str(cell.source),
                    "READY" if dry_run else "PLANNED", notes=list(notes))
    if r.overrides:
        res.notes.append("released AS recipe: " + " ".join(o.removeprefix("classifier.") for o in r.overrides))
    if cell is not None and norm_key(cell.input) not in input_aliases(r.card, r.overrides):
        res.notes.append(f"reported input {cell.input!r} differs")
    if cell is not None and cell.pretraining == NOT_STATED:
        res.notes.append(f"pretraining not stated in Table {r.table}: {r.pretraining} weights used")
    key = (r.pretraining, card.modality)
    missing = ([f"no {released_name(card.modality, r.pretraining, zipped=False)}[.zip]"]
               if found.files[key] is None else [])
    if found.datasets[card.dataset.name][0] is None:
        missing.append(f"no {card.dataset.name} data")
    if missing:
        res.status, res.reason = ("MISSING" if dry_run else "SKIPPED"), "; ".join(missing)
    elif key not in found.encoders:
        res.status, res.reason = "REFUSED", f"{found.files[key].name}: keys differ from the released layout"
    return res


def _check_data(report: Report) -> None:
    """Dry run: read each found data set's annotations (the layout is checked, nothing decoded); READY rows of a
    data set that is unusable become MISSING."""
    for d in report.data:
        if d["root"] is not None:
            d["samples"] = count_samples(d["dataset"], Path(d["root"]))
    bad = {d["dataset"] for d in report.data if str(d.get("samples", "")).startswith("unusable")}
    for res in report.rows:
        ds = load_card(res.row.card).dataset.name
        if ds in bad and res.status == "READY":
            res.status, res.reason = "MISSING", f"{ds} data unusable (see the data table)"


def _run_cards(plan: Sequence[Row], results: dict[Row, RowResult], found: _Inputs, overrides: Sequence[str],
               options: dict[str, Any], log: Callable[[str], None]) -> None:
    """One ``runner.run`` per (pretraining, card, overrides) of the PLANNED rows, cheap cards first so problems
    surface early; ``options`` are the :class:`~avbench.evaluation.runner.RunOptions` fields. A failing card
    marks its rows ERROR and the others go on."""
    from avbench.evaluation.runner import RunOptions, run

    runs: dict[tuple[str, str, tuple[str, ...]], list[Row]] = {}
    for r in plan:
        if results[r].status == "PLANNED":
            runs.setdefault(r.run_key, []).append(r)
    for (pt, card_name, row_overrides), rows in sorted(runs.items(), key=lambda kv: run_cost(kv[1][0])):
        card = load_card(card_name)
        log(f"== {card_name} with the {pt} {card.modality} trunk "
            f"({', '.join('Table ' + t for t in sorted({x.table for x in rows}))})")
        try:
            opts = RunOptions(**options)
            record, path = run(found.encoders[(pt, card.modality)], card_name,
                               data_root=found.datasets[card.dataset.name][0],
                               overrides=merged_overrides([*row_overrides, *overrides]) or None,
                               weights=f"{card.modality}={found.files[(pt, card.modality)]}", options=opts)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one failing card must not lose the other cards' hours; exit status 1
            for r in rows:
                results[r].status, results[r].reason = "ERROR", f"{type(exc).__name__}: {exc}"
            log(f"error in {card_name} ({pt}): {type(exc).__name__}: {exc}")
            continue
        for r in rows:
            _measured(results[r], record, path)


def _measured(res: RowResult, record: Any, path: Path) -> None:
    """Fill a row from its card's record: measured value, data notes, PASS / FAIL against the tolerance."""
    r = res.row
    res.record = str(path)
    res.measured = float(record.metrics[r.metric].mean)
    if record.data.synthetic:
        res.notes.append("SYNTHETIC data")
    if record.data.found < record.data.expected:
        res.notes.append(f"coverage {record.data.found}/{record.data.expected}")
    if res.reported is None:
        res.status, res.reason = "NO-REFERENCE", "no reported value found for this row"
    else:
        res.status = "PASS" if abs(res.measured - res.reported) <= r.tolerance + 1e-9 else "FAIL"
