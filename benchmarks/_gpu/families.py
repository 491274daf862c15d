"""Every task family end to end through the Python API of ``avbench eval`` (``avbench.evaluation.runner.run``), on
fixture data in the official layouts written by avbench's own writers, plus 50 steps of ``avbench pretrain``.

Each family runs with the ``--quick`` overrides (:func:`avbench.cli.eval._quick`: 3 training and 3 test clips,
112² crops) and ``--limit`` (at most ``limit`` samples per class per side), on ``device`` with ``dtype``. The dry
run passes a width-4 CrissCross and 32² crops on top (same code path, CPU-sized)."""
from __future__ import annotations

import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from avbench.synth.family_fixtures import small_dcase, small_kinetics_sounds, small_ucf101, small_vggsound_augvgg

#: the families the check runs, in order (issue 21, item 8)
FAMILIES = ("esc50", "dcase", "ucf101-linear", "ucf101-linear-32f", "ucf101-retrieval", "ucf101-knn",
            "ucf101-finetune", "ksounds-fusion", "augvgg-ip", "pretrain")


def _esc50(root: Path) -> Path:
    from avbench.synth.audio_fixtures import write_esc50

    return write_esc50(root / "esc50", n_classes=5, clips_per_class=10, seconds=2.0, seed=1, variety=False)


@dataclass
class Family:
    """One task card on one fixture: ``overrides`` go on top of ``--quick`` (a small card-valid change only
    where the fixture needs it); ``min_coverage`` for fixtures that leave rows out on purpose."""

    task: str
    fixture: Callable[[Path], Path]
    overrides: dict[str, Any] = field(default_factory=dict)
    min_coverage: float | None = None


_ONE_SPLIT = {"splits": ["split1"]}
CARDS: dict[str, Family] = {
    "esc50": Family("esc50", _esc50),
    "dcase": Family("dcase", small_dcase, {"classifier": {"epochs": 10}}),
    "ucf101-linear": Family("ucf101-linear", small_ucf101, _ONE_SPLIT),
    "ucf101-linear-32f": Family("ucf101-linear-32f", small_ucf101, _ONE_SPLIT),
    "ucf101-retrieval": Family("ucf101-retrieval", small_ucf101, {**_ONE_SPLIT, "classifier": {"ks": [1, 5]},
                                                          "metrics": ["recall1", "recall5"]}),
    "ucf101-knn": Family("ucf101-knn", small_ucf101, _ONE_SPLIT),
    "ucf101-finetune": Family("ucf101-finetune", small_ucf101, {**_ONE_SPLIT, "classifier": {
        "epochs": 1, "batch_size": 4, "milestones": [1]}}),
    "ksounds-fusion": Family("ksounds-fusion", small_kinetics_sounds, min_coverage=0.6),
    "augvgg-ip": Family("augvgg-ip", small_vggsound_augvgg, {"classifier": {"ks": [1, 5]},
                                                             "metrics": ["recall1", "recall5"]}),
}


_WRITTEN: dict[tuple[str, str], Path] = {}


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``b`` over ``a``, nested dicts merged (neither is changed)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _finite_metrics(record: Any) -> dict[str, float]:
    metrics = {name: float(m.mean) for name, m in record.metrics.items()}
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"non-finite metric(s) {bad} in the record")
    return metrics


def run_family(name: str, *, data: Path, work: Path, encoder: Any, device: str, dtype: str, limit: int,
               extra: dict[str, Any], log: Callable[[str], None], pretrain_steps: int = 50) -> dict[str, Any]:
    """One family end to end; returns ``{status, seconds, top1, metrics, ...}`` (``status`` "error" with the
    one-line reason and the traceback's last line on any failure: the check goes on with the next family)."""
    t0 = time.perf_counter()
    try:
        if name == "pretrain":
            row = run_pretrain(data=data, work=work, device=device, tiny=bool(extra), steps=pretrain_steps)
        else:
            row = _run_card(name, data=data, work=work, encoder=encoder, device=device, dtype=dtype, limit=limit,
                            extra=extra)
        row = {"status": "ok", **row}
    except Exception as exc:  # the check reports every family; one failure must not hide the others
        row = {"status": "error", "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
               "where": traceback.format_exc().strip().splitlines()[-3:]}
    row["seconds"] = round(time.perf_counter() - t0, 2)
    shown = (f"top1 {row['top1']:.1f}" if row.get("top1") is not None else
             f"loss {row['loss_first']:.3g} -> {row['loss_last']:.3g}" if "loss_last" in row else row.get("error", ""))
    log(f"{name}: {row['status']} in {row['seconds']:.1f} s ({shown})")
    return row


def _run_card(name: str, *, data: Path, work: Path, encoder: Any, device: str, dtype: str, limit: int,
              extra: dict[str, Any]) -> dict[str, Any]:
    from avbench.cli.eval import _quick
    from avbench.evaluation.options import RunOptions
    from avbench.evaluation.runner import run

    fam = CARDS[name]
    t0 = time.perf_counter()
    key = (fam.fixture.__name__, str(data))  # one fixture per writer: the five UCF101 cards share theirs
    if key not in _WRITTEN:
        _WRITTEN[key] = fam.fixture(data / fam.fixture.__name__.strip("_"))
    root = _WRITTEN[key]
    fixture_s = time.perf_counter() - t0
    over = deep_merge(deep_merge(deep_merge(_quick(fam.task), {"limit": limit}), fam.overrides),
                      extra if "video" in _quick(fam.task) else {k: v for k, v in extra.items() if k != "video"})
    gate = {} if fam.min_coverage is None else {"min_coverage": fam.min_coverage}
    record, path = run(encoder, fam.task, data_root=root, overrides=over,
                       options=RunOptions(device=device, dtype=dtype, cache_dir=work / "cache" / name,
                                          out_dir=work / "out" / name, num_workers=0, log=lambda m: None,
                                          command=f"gpu_check {name}", **gate))
    metrics = _finite_metrics(record)
    top1 = metrics.get("top1", next(iter(metrics.values())))
    return {"task": fam.task, "top1": top1, "metrics": metrics, "fixture_seconds": round(fixture_s, 2),
            "record": str(path.relative_to(work)), "device": record.provenance.device}


def run_pretrain(*, data: Path, work: Path, device: str, tiny: bool, steps: int = 50) -> dict[str, Any]:
    """``avbench pretrain crisscross`` on a small synthetic world for ``steps`` steps (bf16 autocast on CUDA:
    ``train.amp=auto``); the loss of every step must be finite."""
    from avbench.cli.app import main
    from avbench.synth.world import WorldConfig, write_world

    t0 = time.perf_counter()
    world = write_world(data / "world", n_per_class=4, seed=3,
                        cfg=WorldConfig(n_classes=4, seconds=2.0, width=32 if tiny else 64,
                                        height=32 if tiny else 64))
    fixture_s = time.perf_counter() - t0
    out = work / "pretrain"
    sets = {"train.batch_size": 4, "train.epochs": 100, "train.max_steps": steps, "train.warmup_epochs": 0.5,
            "crop": 32 if tiny else 64, "frames": 4 if tiny else 8}
    if tiny:
        sets.update({"arch.video_width": 4, "arch.audio_width": 4, "audio_seconds": 0.5,
                     "projector": [32, 32, 32], "predictor_hidden": 8})
    argv = ["pretrain", "crisscross", "--data", str(world), "--out", str(out), "--preset", "small", "--workers", "0",
            "--no-progress", "--device", device, "--cache-dir", str(work / "pretrain-cache")]
    for k, v in sets.items():
        argv += ["--set", f"{k}={json.dumps(v)}"]
    rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"avbench pretrain exited with {rc}")
    card = json.loads((out / "card.json").read_text())
    losses = [json.loads(x)["loss"] for x in (out / "history.jsonl").read_text().splitlines()]
    if len(losses) != steps or not all(math.isfinite(v) for v in losses):
        raise ValueError(f"pretrain: {len(losses)} steps (expected {steps}), finite: "
                         f"{all(math.isfinite(v) for v in losses)}")
    return {"task": "pretrain crisscross", "top1": None, "steps": len(losses), "loss_first": losses[0],
            "loss_last": losses[-1], "amp": card.get("amp", card.get("config", {}).get("train", {}).get("amp")),
            "fixture_seconds": round(fixture_s, 2)}
