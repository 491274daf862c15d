"""The speed ratios of benchmarks/gpu_check.py, each with both of its timings.

* :func:`svm_ratio`: ``benchmarks/svm_sweep.py`` on realistic features (``benchmarks/_svm/features.py``) at the
  ESC-50 shape (16 000 x 4 608, K = 50), sklearn (liblinear, one core, stopped between C values after a budget)
  against the torch backend on ``device``; the ratio is over the C values both ran (svm_sweep says how many).
* :func:`extraction_ratio`: ``benchmarks/extract_video.py``'s full pipeline (PyAV decode in workers, sampling,
  augmentation, forward, pooling, feature-store writes) against its forward pass alone on random uint8 clips
  already on the device, at 8 x ``size``² (target on a GPU: >= 0.9).
* :func:`esc50_protocol`: the shipped ``esc50`` card end to end (5 folds, the card's C sweep) on a synthetic
  ESC-50 of ``clips`` 5-s 44.1-kHz files rendered where the check runs; wall seconds against seconds of audio.
"""
from __future__ import annotations

import io
import math
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import torch


def svm_ratio(*, device: str, shape: str, scale: float, sklearn_budget: float, json_path: Path) -> dict[str, Any]:
    """torch / sklearn C sweep; returns both summed fit times, the ratio, the top-1 gap and how many C compared."""
    import svm_sweep

    backend = "torch-cuda" if device.startswith("cuda") else "torch-cpu"
    argv = ["--shape", shape, "--scale", str(scale), "--backends", f"sklearn,{backend}", "--no-stats",
            "--sklearn-budget", str(sklearn_budget), "--json", str(json_path)]
    buf = io.StringIO()
    with redirect_stdout(buf):  # svm_sweep's table goes into the JSON's log, not between the check's lines
        out = svm_sweep.main(argv)
    s = out["speedups"].get(backend)
    if s is None:
        raise RuntimeError(f"svm_sweep ran no {backend} beside sklearn (skipped: {out['skipped']})")
    return {"status": "ok", "command": "python benchmarks/svm_sweep.py " + " ".join(argv),
            "problem": out["problem"], "backend": backend, "ratio": s["torch_over_sklearn_speedup"],
            "sklearn_seconds": s["sklearn_seconds"], "torch_seconds": s["torch_seconds"],
            "costs_compared": s["costs_compared"], "sklearn_complete": s["sklearn_complete"],
            "top1_gap_points": s["top1_gap_points"], "target": 50.0 if backend == "torch-cuda" else 5.0,
            "log": buf.getvalue().splitlines()[-12:]}


def extraction_ratio(*, encoder: Any, device: str, dtype: str, size: int, videos: int, clips: int, batch: int,
                     workers: int, iters: int, work: Path) -> dict[str, Any]:
    """clips/s of the full pipeline (test view: uniform clips; train view: random clips + augmentation) over the
    forward pass alone, at 8 x ``size``²."""
    from extract_video import forward_only, pipeline, write_video

    from avbench.datasets.base import Sample

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    encoder = encoder.to(dev).eval()
    vids = work / "videos"
    vids.mkdir(parents=True, exist_ok=True)
    samples = [Sample(id=f"v{i:03d}", path=write_video(vids / f"v{i:03d}.avi", i), label=0, group="g")
               for i in range(videos)]
    fwd = forward_only(encoder, size, batch, iters, dev, dtype)
    views = {}
    for augment in (False, True):
        views["train" if augment else "test"] = pipeline(encoder, samples, size, clips, batch, workers, dev, dtype,
                                                         work / "cache", augment)
    ratio = min(views.values()) / fwd
    return {"status": "ok", "ratio": ratio, "target": 0.9, "forward_only_clips_per_s": fwd,
            "pipeline_clips_per_s": views, "clip": f"8x{size}^2", "dtype": dtype, "videos": videos,
            "clips_per_video": clips, "batch": batch, "workers": workers,
            "note": "ratio = the slower view's pipeline clips/s over forward-only clips/s"}


def esc50_protocol(*, encoder: Any, device: str, dtype: str, clips: int, workers: int, work: Path,
                   extra: dict[str, Any]) -> dict[str, Any]:
    """The ``esc50`` card end to end (cold feature cache) on ``clips`` synthetic 5-s recordings; returns the wall
    seconds, the seconds of audio, their ratio (x real time), the record's stage seconds and top-1."""
    from _e2e.fixtures import esc50_fixture

    from avbench.evaluation.options import RunOptions
    from avbench.evaluation.runner import run

    t0 = time.perf_counter()
    root, _ = esc50_fixture(work / "data", clips)
    render_s = time.perf_counter() - t0
    n = (clips // 50 if clips >= 50 else 1) * 50
    # the card's coverage gate wants all 2,000 official clips; a smaller set (the dry run) is gated at its share
    gate = {} if n >= 2000 else {"min_coverage": n / 2000}
    t0 = time.perf_counter()
    record, path = run(encoder, "esc50", data_root=root, overrides=extra or None,
                       options=RunOptions(device=device, dtype=dtype, cache_dir=work / "cache", **gate,
                                          out_dir=work / "out", num_workers=workers, log=lambda m: None,
                                          command="gpu_check esc50-protocol"))
    wall = time.perf_counter() - t0
    top1 = float(record.metrics["top1"].mean)
    if not math.isfinite(top1):
        raise ValueError(f"esc50 protocol: non-finite top-1 {top1}")
    audio_s = 5.0 * n
    return {"status": "ok", "clips": n, "render_seconds": round(render_s, 2), "wall_seconds": wall,
            "audio_seconds": audio_s, "ratio": audio_s / wall, "ratio_means": "seconds of audio per wall second",
            "top1": top1, "track": record.task.track, "record": str(path.relative_to(work)),
            "device": record.provenance.device}
