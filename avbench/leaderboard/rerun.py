"""``avbench leaderboard rerun BUNDLE --submission DIR``: the maintainers' step that earns "re-run by maintainers".

For every record of a verified bundle, the evaluation is executed again from the submission's card and weights
(the same task card, overrides and seeds as the record), and each metric of the new record is compared with the
bundled one. The entry appended to ``leaderboards/reruns.yaml`` (:mod:`avbench.leaderboard.reruns`) names the
bundle's ``bundle.json`` sha256, each bundled record's sha256, the re-run record's sha256, both values of every
metric and the tolerance; the leaderboard grants the label only to records whose metrics all agree.

This RUNS THE SUBMITTER'S CODE: do it in an isolated container or VM (docs/submitting.md, "Trust model").
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from avbench.evaluation.runner import RunOptions, run
from avbench.leaderboard.reruns import Rerun, RerunRecord, today
from avbench.results import ResultRecord
from avbench.submission.bundle import BUNDLE_FILE, read_record, verify_bundle
from avbench.submission.card import CARD_FILE, load_card as load_submission_card, sha256_file
from avbench.taskcard import TaskCardError, load_card

__all__ = ["RerunError", "RerunRow", "rerun_bundle"]


class RerunError(ValueError):
    """The bundle and the submission folder do not belong together, or a record cannot be re-run."""


@dataclass
class RerunRow:
    """One re-run record: the bundled and the re-run record's paths, its ledger line and any note."""

    bundled: str
    rerun: Path
    entry: RerunRecord
    notes: list[str]


def _task(record: ResultRecord, scratch: Path) -> tuple[str, dict[str, Any] | None]:
    """(task, overrides) that rebuild the record's card exactly: the shipped card with the recorded overrides, or
    the recorded card itself written to a file."""
    overrides = record.task.overrides or None
    try:
        if load_card(record.task.name, overrides).sha256() == record.task.card_sha256:
            return record.task.name, overrides
    except TaskCardError:
        pass
    path = scratch / f"{record.task.name.replace('/', '_')}.yaml"
    path.write_text(yaml.safe_dump(record.task.card, sort_keys=True))
    if load_card(str(path)).sha256() != record.task.card_sha256:
        raise RerunError(f"{record.task.name}: the recorded card cannot be rebuilt (its hash differs)")
    return str(path), None


def _compare(old: ResultRecord, new: ResultRecord, tolerance: float) -> tuple[dict[str, dict[str, float]], list[str]]:
    metrics = {m: {"bundle": old.metrics[m].mean, "rerun": new.metrics[m].mean if m in new.metrics else float("nan")}
               for m in old.metrics}
    notes = [f"{m}: {v['bundle']:.3f} bundled, {v['rerun']:.3f} re-run" for m, v in metrics.items()
             if not abs(v["bundle"] - v["rerun"]) <= tolerance]
    if new.data.evaluated_test_ids_sha256 != old.data.evaluated_test_ids_sha256:
        notes.append("the re-run evaluated other test samples than the bundled record")
    if new.data.kind != old.data.kind:
        notes.append(f"the re-run's data are {new.data.kind}, the bundled record's {old.data.kind}")
    return {m: {k: round(float(x), 6) for k, x in v.items()} for m, v in metrics.items()}, notes


def rerun_bundle(bundle: Path, submission: Path, *, out_dir: Path, data_roots: dict[str, str] | None = None,
                 tolerance: float = 0.5, by: str = "maintainers", device: str | None = None,
                 cache_dir: str | Path | None = None, log: Callable[[str], None] = print) -> tuple[Rerun, list[RerunRow]]:
    """Re-run every record of ``bundle`` with the submission folder ``submission`` (module docstring); records go
    under ``out_dir``; every feature shard is recomputed (cache ``refresh``). ``data_roots``: data set -> root
    (else the configured roots). Returns the ledger entry and the rows; raises :class:`RerunError` /
    :class:`~avbench.submission.bundle.BundleError`."""
    bundle, submission = Path(bundle), Path(submission)
    manifest = verify_bundle(bundle)
    card = load_submission_card(submission, check_weights=True)
    if (card.name, card.weights_sha256) != (manifest.name, manifest.weights.sha256):
        raise RerunError(f"{submission}: card {card.name!r} / weights {card.weights_sha256} is not the bundle's "
                         f"{manifest.name!r} / {manifest.weights.sha256}")
    if sha256_file(submission / CARD_FILE) != manifest.card.sha256:
        raise RerunError(f"{submission / CARD_FILE}: not the card the bundle was packed with")
    rows: list[RerunRow] = []
    device_text = ""
    with tempfile.TemporaryDirectory(prefix="avbench-rerun-") as scratch:
        for entry in manifest.records:
            old = read_record(bundle / entry.record.path)
            task, overrides = _task(old, Path(scratch))
            root = (data_roots or {}).get(old.data.dataset)
            log(f"re-running {entry.record.path}: {old.task.name} seeds {old.provenance.seeds}")
            new, path = run(str(submission), task, data_root=root, overrides=overrides, seeds=old.provenance.seeds,
                            options=RunOptions(device=device, cache_dir=cache_dir, out_dir=out_dir, log=log,
                                               cache="refresh"))
            metrics, notes = _compare(old, new, tolerance)
            line = RerunRecord(record=entry.record.path, record_sha256=entry.record.sha256,
                               rerun_record_sha256=sha256_file(path), metrics=metrics, within_tolerance=not notes)
            rows.append(RerunRow(entry.record.path, path, line, notes))
            device_text = new.provenance.device
    rerun = Rerun(bundle=bundle.name, bundle_sha256=sha256_file(bundle / BUNDLE_FILE), date=today(), by=by,
                  tolerance=tolerance, device=device_text, records=[r.entry for r in rows])
    return rerun, rows
