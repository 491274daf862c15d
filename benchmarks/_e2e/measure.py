"""What the benchmark measures: the stages of one extraction and of the SVM protocol, end-to-end runs of
``avbench.evaluation.runner.run``, 10 clips vs one full decode, and ``avbench demo``. Seconds are wall time."""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from extract_video import full_decode_seconds, sync
from svm_sweep import run_backend

from _e2e.timers import StageTimers, instrumented
from avbench.datasets import get_dataset
from avbench.encoder import Encoder
from avbench.evaluation.runner import RunOptions, _clip_features, run
from avbench.features.extract import ExtractedView, ExtractionSpec, extract_view
from avbench.features.pooling import resolve_layer
from avbench.features.store import FeatureStore
from avbench.media.video_decode import decode_clips
from avbench.protocols.svm import run_svm
from avbench.taskcard import TaskCard, load_card


def card_overrides(task: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The card departures this run makes (empty = the card as shipped)."""
    if task != "ucf101-linear":
        return {}
    card = load_card(task)
    size = args.video_size or (card.video.size if device.type == "cuda" else 112)
    train_clips = args.video_train_clips or (card.train.clips if device.type == "cuda" else 5)
    out: dict[str, Any] = {}
    if size != card.video.size:
        out["video"] = {"size": size, "resize": int(round(size / 0.875))}
    if train_clips != card.train.clips:
        out["train"] = {"clips": train_clips}
    return out


def make_view(card: TaskCard, side: str, layer: str, seed: int = 0) -> ExtractionSpec:
    """The view ``avbench.evaluation.runner.run`` builds for ``side`` (seeded only when it is random)."""
    modality = card.modality
    view = ExtractionSpec(side=side, modality=modality, clip=card.audio if modality == "audio" else card.video,
                sampling=card.train if side == "train" else card.test, features=card.features, layer=layer,
                seed=None)
    return ExtractionSpec(**{**view.__dict__, "seed": seed}) if view.random else view


def measure_stages(encoder: Encoder, card: TaskCard, root: Path, device: torch.device, dtype: str, batch: int,
                   sklearn_budget: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Per-stage seconds of one extraction (both views, workers 0) and of the SVM protocol, plus the sklearn run."""
    manifest = get_dataset(card.dataset.name).load(root, **card.dataset.options).restrict(list(card.splits))
    by_id = manifest.by_id()
    train_ids = {i for sp in manifest.splits.values() for i in sp["train"] if i in by_id}
    test_ids = {i for sp in manifest.splits.values() for i in sp["test"] if i in by_id}
    sides = {"train": [s for s in manifest.samples if s.id in train_ids],
             "test": [s for s in manifest.samples if s.id in test_ids]}
    layer, _ = resolve_layer(encoder.layers(card.modality), card.features.layer)
    timers = StageTimers(device)
    views: dict[str, ExtractedView] = {}
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="e2e-stages-") as tmp:  # the read-back features map these files
        with instrumented(timers, encoder):
            store = FeatureStore(Path(tmp))
            for side, samples in sides.items():
                entry = store.entry({"bench": "e2e-stages", "task": card.name, "side": side, "t": time.time_ns()})
                log(f"  stages: extracting {side} view ({len(samples)} files)")
                sync(device)
                t0 = time.perf_counter()
                views[side] = extract_view(encoder, samples, make_view(card, side, layer), entry, device=device,
                                           dtype=dtype, batch_size=batch, num_workers=0, shard_size=32)
                sync(device)
                walls[side] = time.perf_counter() - t0
        out = _svm_stage(card, manifest, sides, views, device, sklearn_budget, log)
    extract_wall = sum(walls.values())
    seconds = dict(timers.seconds)
    seconds["other"] = extract_wall - sum(seconds.values())
    seconds["svm"] = out.pop("seconds")
    return {"seconds": seconds, "calls": dict(timers.calls), "extract_wall": extract_wall,
            "media_seconds": timers.media_seconds, "clips": {side: int(v.sample.numel()) for side, v in views.items()},
            "files": {k: len(v) for k, v in sides.items()},
            "dim": int(views["train"].features[0].shape[1]) if views["train"].features else 0,
            "n_classes": len(manifest.classes), "splits": list(manifest.splits), **out}


def _svm_stage(card: TaskCard, manifest: Any, sides: dict[str, list], views: dict[str, ExtractedView],
               device: torch.device, sklearn_budget: float, log: Callable[[str], None]) -> dict[str, Any]:
    """The card's SVM protocol on every split (torch backend), then liblinear on the same features."""
    by_id = manifest.by_id()
    clf = card.classifier
    K = len(manifest.classes)
    torch_runs, sk_runs = [], []
    svm_seconds = 0.0
    per_split_budget = sklearn_budget / max(1, len(manifest.splits))
    for name, split in manifest.splits.items():
        tr = _clip_features(views["train"], sides["train"], [i for i in split["train"] if i in by_id])
        te = _clip_features(views["test"], sides["test"], [i for i in split["test"] if i in by_id])
        sync(device)
        t0 = time.perf_counter()
        res = run_svm(tr, te, costs=list(clf.costs), backend="torch", selection=clf.selection,
                      cv_folds=clf.cv_folds, device=str(device), max_iter=clf.max_iter, tol=clf.tol, seed=0,
                      n_classes=K)
        sync(device)
        svm_seconds += time.perf_counter() - t0
        torch_runs.append({e["C"]: {"seconds": float(e["fit_seconds"] or 0.0), "top1": float(e["test_top1"])}
                           for e in res.sweep})
        if sklearn_budget > 0:
            log(f"  svm: sklearn on {name} ({tr.n_rows} x {tr.dim} rows, budget {per_split_budget:.0f} s)")
            sk = run_backend("sklearn", tr, te, list(clf.costs), K, per_split_budget)
            sk_runs.append({C: {"seconds": e["seconds"], "top1": e["top1"]} for C, e in sk.items()})
    return {"seconds": svm_seconds, "svm_torch": torch_runs, "svm_sklearn": sk_runs}


def end_to_end(encoder: Encoder, task: str, root: Path, overrides: dict[str, Any], device: torch.device, dtype: str,
               batch: int, workers: int) -> dict[str, Any]:
    """``avbench.evaluation.runner.run`` with a cold feature cache: wall seconds and the record's own timings."""
    with tempfile.TemporaryDirectory(prefix="e2e-run-") as tmp:
        messages: list[str] = []
        sync(device)
        t0 = time.perf_counter()
        record, _ = run(encoder, task, data_root=root, overrides=overrides or None,
                        options=RunOptions(device=str(device), dtype=dtype, cache_dir=Path(tmp) / "cache",
                                           out_dir=Path(tmp) / "out", batch_size=batch, num_workers=workers,
                                           log=messages.append, command="benchmarks/e2e_speed.py"))
        sync(device)
        wall = time.perf_counter() - t0
    feats = record.features["seed0"]
    return {"workers": workers, "wall": wall,
            "extract_seconds": float(feats["train"]["seconds"]) + float(feats["test"]["seconds"]),
            "clips": int(feats["train"]["rows"]) + int(feats["test"]["rows"]),
            "svm_seconds": sum(float(r.info.get("classifier_seconds", 0.0)) for r in record.runs),
            "top1": float(record.metrics["top1"].mean), "skipped": len(record.data.skipped)}


def decode_ratio(paths: list[Path], repeats: int = 2) -> dict[str, float]:
    """Per file, the best of ``repeats`` alternating runs of ``decode_clips`` (10 uniform 8-frame clips at 16 fps)
    and of one plain full decode to RGB (``extract_video.full_decode_seconds``); medians over the files."""
    ten, one = [], []
    for p in paths:
        best_ten = best_one = math.inf
        for _ in range(repeats):
            best_one = min(best_one, full_decode_seconds(p))
            t0 = time.perf_counter()
            decode_clips(p, fps=16, frames=8, clips=10)
            best_ten = min(best_ten, time.perf_counter() - t0)
        ten.append(best_ten)
        one.append(best_one)
    return {"files": len(paths), "clips10_ms": 1000 * float(np.median(ten)), "full_ms": 1000 * float(np.median(one)),
            "ratio": float(np.median(ten) / np.median(one))}


def demo_seconds() -> dict[str, Any]:
    """Wall seconds of ``avbench demo`` in a subprocess with a fresh cache and output folder."""
    with tempfile.TemporaryDirectory(prefix="e2e-demo-") as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "avbench", "demo", "--cache-dir", str(Path(tmp) / "cache"),
                               "--out", str(Path(tmp) / "out")], capture_output=True, text=True)
        wall = time.perf_counter() - t0
    return {"wall": wall, "rc": proc.returncode, "tail": (proc.stdout + proc.stderr)[-600:] if proc.returncode else ""}
