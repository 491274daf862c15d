"""``avbench submit check DIR``: the encoder contract (:func:`avbench.validate.validate`) plus a canary evaluation.

The canary is a real, tiny ``avbench eval`` (:func:`avbench.evaluation.runner.run`) of the submission's encoder on fixture
data written by avbench's own writers in the official layouts, one per declared modality:

  audio  ``esc50`` card on a 3-class ESC-50 fixture (5 clips per class), fold 1 only, 2 training crops and 2 test
         windows per clip;
  video  ``ucf101-linear`` card on a 3-class UCF101 fixture (3 groups x 1 clip), split 1 only, 1 training and
         1 test clip per video, at the smallest crop the encoder takes (>= 64 px).

It passes when the run finishes and writes a record that parses as a :class:`~avbench.results.ResultRecord`,
whose sidecar exists with the recorded sha256, whose metrics are finite, and whose encoder name and weights hash
are the card's. Its numbers mean nothing (a few synthetic clips); it proves the submission runs end to end
through avbench's decoders, feature extraction, classifier and record writer before anyone spends real compute.

THIS RUNS THE SUBMITTER'S CODE. See docs/submitting.md ("Trust model") for how to isolate it.
"""
from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from avbench.validate.encoder import ValidationReport, validate
from avbench.submission.card import SubmissionCard, load_card
from avbench.submission.loader import load_submission

#: modality -> (task card, fixture data set) of the canary
CANARY_TASKS = {"audio": ("esc50", "esc50"), "video": ("ucf101-linear", "ucf101")}
CHECK_FILE = "check.json"


class CanaryResult(BaseModel):
    """One canary run: what ran, where its record is, what it found."""

    modality: str
    task: str
    ok: bool
    record: str | None = None
    metrics: dict[str, float] = {}
    layer_used: str | None = None
    layer_fallback: str | None = None
    wall_seconds: float = 0.0
    problems: list[str] = []


class CheckReport(BaseModel):
    """``submit check``'s verdict: the contract report and the canaries. ``ok`` when both pass."""

    submission: str
    name: str
    weights_sha256: str
    validation: ValidationReport
    canaries: list[CanaryResult] = []

    @property
    def ok(self) -> bool:
        return self.validation.ok and bool(self.canaries) and all(c.ok for c in self.canaries)

    def to_json(self) -> dict[str, Any]:
        return {"submission": self.submission, "name": self.name, "weights_sha256": self.weights_sha256,
                "ok": self.ok, "validation": self.validation.to_json(),
                "canaries": [c.model_dump(mode="json") for c in self.canaries]}


def _fixture(dataset: str, root: Path) -> Path:
    from avbench.synth.audio_fixtures import write_esc50
    from avbench.synth.video_fixtures import write_ucf101

    if dataset == "esc50":
        return write_esc50(root, n_classes=3, clips_per_class=5, seconds=2.5, seed=0)
    return write_ucf101(root, n_classes=3, groups=3, clips_per_group=1, seed=0)


def canary_overrides(modality: str, encoder: Any) -> dict[str, Any]:
    """The task-card overrides that make the canary tiny (see the module docstring)."""
    if modality == "audio":
        return {"splits": ["fold1"], "train": {"clips": 2}, "test": {"clips": 2}}
    spec = encoder.meta.video
    size = int(min(max(64, spec.min_size), spec.max_size))
    return {"splits": ["split1"], "video": {"size": size, "resize": int(round(size * 256 / 224))},
            "train": {"clips": 1}, "test": {"clips": 1}, "batch_size": 8}


def _inspect_record(path: Path, card: SubmissionCard, result: CanaryResult) -> None:
    from avbench.results import ResultRecord

    try:
        record = ResultRecord.model_validate_json(path.read_text())
    except Exception as exc:  # a malformed record is a finding
        result.problems.append(f"{path}: does not parse as a result record: {exc}")
        return
    result.metrics = {k: round(v.mean, 4) for k, v in record.metrics.items()}
    result.layer_used, result.layer_fallback = record.task.layer_used, record.task.layer_fallback
    bad = [k for k, v in record.metrics.items() if not math.isfinite(v.mean)]
    if bad:
        result.problems.append(f"non-finite metric(s) {bad}")
    if not record.metrics:
        result.problems.append("the record holds no metrics")
    sidecar = path.parent / record.sidecar.path
    if not sidecar.is_file():
        result.problems.append(f"{sidecar}: the per-sample sidecar the record names is missing")
    elif hashlib.sha256(sidecar.read_bytes()).hexdigest() != record.sidecar.sha256:
        result.problems.append(f"{sidecar}: sha256 differs from the record's")
    if record.encoder.name != card.name:
        result.problems.append(f"record encoder name {record.encoder.name!r} is not the card's {card.name!r}")
    if record.encoder.weights_sha256 != card.weights_sha256:
        result.problems.append(f"record weights_sha256 {record.encoder.weights_sha256} is not the card's "
                               f"{card.weights_sha256}")


def run_canary(folder: Path, modality: str, out_dir: Path, work_dir: Path, *, device: str | None = None,
               num_workers: int = 0, log: Callable[[str], None] = print) -> CanaryResult:
    """One canary: fixture data for ``modality``, a fresh encoder from ``folder``, :func:`avbench.evaluation.runner.run`."""
    from avbench.evaluation.runner import RunOptions, run

    task, dataset = CANARY_TASKS[modality]
    result = CanaryResult(modality=modality, task=task, ok=False)
    t0 = time.perf_counter()
    try:
        sub = load_submission(folder)
        root = _fixture(dataset, work_dir / dataset)
        opts = RunOptions(device=device, cache_dir=work_dir / "cache", out_dir=out_dir, num_workers=num_workers,
                          log=log, command=f"avbench submit check {folder} (canary {task})")
        _, path = run(sub.encoder, task, data_root=root, overrides=canary_overrides(modality, sub.encoder),
                      seeds=1, options=opts)
        result.record = str(path)
        _inspect_record(Path(path), sub.card, result)
    except Exception as exc:  # the submission's code failing inside avbench is the finding
        result.problems.append(f"{task} canary failed: {type(exc).__name__}: {exc}")
    result.wall_seconds = round(time.perf_counter() - t0, 3)
    result.ok = not result.problems
    return result


def check_submission(folder: str | Path, *, out_dir: str | Path, device: str | None = None, num_workers: int = 0,
                     log: Callable[[str], None] = print) -> CheckReport:
    """Validate the submission in ``folder``, then (only if that passed) run a canary per declared modality.

    Records go to ``out_dir/canary/``; the report to ``out_dir/check.json``. Raises
    :class:`~avbench.submission.card.SubmissionError` for an unusable folder (card, pickles, weights, factory).
    """
    folder, out = Path(folder), Path(out_dir)
    card = load_card(folder, check_weights=True)
    log(f"{card.name}: validating the encoder contract")
    report = CheckReport(submission=str(folder), name=card.name, weights_sha256=card.weights_sha256,
                         validation=validate(folder, device=device, log=log))
    if report.validation.ok:
        with tempfile.TemporaryDirectory(prefix="avbench-canary-") as tmp:
            for modality in ("audio", "video"):
                if modality in card.modalities:
                    log(f"{card.name}: canary {CANARY_TASKS[modality][0]} on fixture data")
                    report.canaries.append(run_canary(folder, modality, out / "canary", Path(tmp), device=device,
                                                      num_workers=num_workers, log=log))
    else:
        log(f"{card.name}: contract checks failed ({', '.join(report.validation.failed())}); canary not run")
    out.mkdir(parents=True, exist_ok=True)
    (out / CHECK_FILE).write_text(json.dumps(report.to_json(), indent=1) + "\n")
    return report
