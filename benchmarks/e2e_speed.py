"""End-to-end speed: ESC-50 and UCF101 at realistic media sizes, wall time per stage, and the speed limits.

For each task (``esc50`` on 5-s 44.1 kHz mono wav, ``ucf101-linear`` on 320x240 25-fps 7-s MPEG-4/AVI files,
both written by the project's fixture writers and kept under ``--data-dir`` for re-runs) it prints:

1. **Stages, each timed in isolation.** One feature extraction of both views (train, test) runs through the real
   pipeline (``avbench.features.extract.extract_view`` with ``num_workers=0``: nothing overlaps) with timers around the real
   functions it calls; each timer counts its own time only (nested timers are subtracted):

   * ``decode``: ``load_audio`` (PyAV + resampling to 16 kHz) / ``decode_clips`` (demux once, decode, RGB of the
     frames the clips use);
   * ``augment``: audio window cutting + volume jitter (``AudioClipSource.cut`` minus its decode) and the
     spectrogram augmentations; video per-clip resize/crop/flip/jitter (``VideoPath.prepare`` =
     ``transform_clips``, host-to-device copy included) and cutout;
   * ``frontend`` (audio only): the encoder's log-mel front end;
   * ``forward``: what is left of ``AudioPath.forward`` / ``VideoPath.forward``: (video: uint8 -> float
     normalisation,) trunk, pooling, copy of the features to the CPU;
   * ``other``: the rest of ``extract_view`` (loader, batching, feature-store writes and read-back);
   * ``svm``: the card's protocol (``avbench.protocols.svm.run_svm``, torch backend, the card's C sweep and
     selection) on every split of the extracted features. The same sweep then runs with liblinear for the
     speed limit, stopped after ``--sklearn-budget`` seconds per task (only the (split, C) fits it ran count).

   Rates: ``x real time`` = seconds of media decoded (both views) / stage seconds; clips/s for the forward pass.
2. **End to end**: ``avbench.evaluation.runner.run`` on the same card, data and encoder with a cold feature cache, for each
   ``--workers`` value; overlap efficiency = (sum of the isolated stages) / (end-to-end wall): above 1 means
   the DataLoader workers hide work behind the forward pass.
3. **Limits** (the targets named in the project's issues), each with its measured ratio and met / not met:
   torch SVM >= 10x faster than sklearn on CPU (50x on a GPU) with best-C top-1 within 0.5 points;
   video extraction >= 0.9x the forward-only throughput (a GPU target: never data-bound);
   10 uniform clips cut from one file <= 1.3x one plain full decode (``extract_video.full_decode_seconds``);
   ``avbench demo`` <= 10 minutes (run in a subprocess with a fresh cache; ``--no-demo`` skips it).

Defaults keep the whole run within minutes on a 2-core CPU (measured 248 s quiet, 361 s at load ~2.5; see
docs/performance.md): on CPU the encoder at width 16 and the video card at the demo's geometry (112^2, resize
128, 5 training clips per video); on CUDA the card's own geometry (224^2, 25 clips) at full width (64). Every
departure from the card is printed and saved. The load average is printed with every table: on shared cores it
moves the figures by up to 10x.

    python benchmarks/e2e_speed.py                                   # CPU, small defaults (4-6 min on 2 cores)
    python benchmarks/e2e_speed.py --device cuda --dtype bfloat16 --clips 2000 --videos 400
    python benchmarks/e2e_speed.py --tasks ucf101-linear --no-demo --json e2e.json
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _e2e and the sibling benchmark scripts' helpers
from _e2e.fixtures import esc50_fixture, ucf101_fixture, ucf101_shape  # noqa: E402
from _e2e.measure import (  # noqa: E402
    card_overrides,
    decode_ratio,
    demo_seconds,
    end_to_end,
    make_view,
    measure_stages,
)
from _e2e.report import (  # noqa: E402
    DEMO_LIMIT_S,
    STAGES,
    decode_limit,
    demo_limit,
    limits_table,
    load_line,
    stage_table,
    svm_comparison,
    svm_limit,
    throughput_limits,
)
from _e2e.timers import StageTimers, instrumented  # noqa: E402

from avbench.config import resolve_cache_dir  # noqa: E402
from avbench.encoder import Encoder  # noqa: E402
from avbench.registry import build_encoder  # noqa: E402
from avbench.taskcard import load_card  # noqa: E402

__all__ = ["DEMO_LIMIT_S", "STAGES", "StageTimers", "card_overrides", "decode_ratio", "demo_seconds", "end_to_end",
           "esc50_fixture", "instrumented", "load_line", "main", "make_view", "measure_stages", "stage_table",
           "svm_comparison", "ucf101_fixture", "ucf101_shape"]


def build_parser() -> argparse.ArgumentParser:
    """The command line (every flag with its default; see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="esc50,ucf101-linear", help="comma-separated: esc50, ucf101-linear")
    ap.add_argument("--clips", type=int, default=200,
                    help="ESC-50 files (50 classes x clips//50; the real set has 2000; default 200)")
    ap.add_argument("--videos", type=int, default=24, help="about this many UCF101 files (real: 13 320; default 24)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="compute dtype (bf16: CUDA)")
    ap.add_argument("--width", type=int, default=None,
                    help="CrissCross stem width for both trunks (papers: 64; default 64 on CUDA, 16 on CPU)")
    ap.add_argument("--video-size", type=int, default=None,
                    help="video crop side (card: 224; default 224 on CUDA, 112 on CPU as the demo)")
    ap.add_argument("--video-train-clips", type=int, default=None,
                    help="training clips per video (card: 25; default 25 on CUDA, 5 on CPU as the demo)")
    ap.add_argument("--batch", type=int, default=None, help="clips per forward batch (default: the card's)")
    ap.add_argument("--workers", default="0,1", help="end-to-end runs, one per DataLoader worker count")
    ap.add_argument("--sklearn-budget", type=float, default=60.0,
                    help="seconds of liblinear per task before stopping (0 = skip sklearn)")
    ap.add_argument("--decode-files", type=int, default=12, help="files for the 10-clips-vs-full-decode ratio")
    ap.add_argument("--no-demo", action="store_true", help="skip timing `avbench demo`")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="where the fixtures are written and reused (default: <avbench cache>/benchmarks/e2e)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads of this process (default: torch's)")
    ap.add_argument("--json", type=Path, default=None, help="save every figure as JSON here")
    return ap


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = build_parser()
    args = ap.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - {"esc50", "ucf101-linear"})
    if unknown:
        ap.error(f"unknown task(s) {unknown}; this benchmark knows esc50 and ucf101-linear")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    width = args.width or (64 if device.type == "cuda" else 16)
    data_dir = args.data_dir or resolve_cache_dir(None) / "benchmarks" / "e2e"
    logging.getLogger("avbench.media").setLevel(logging.ERROR)
    log = functools.partial(print, file=sys.stderr, flush=True)
    t_start = time.perf_counter()

    machine = machine_line(device, args.dtype)
    print(f"machine: {machine}; {load_line()} at start")
    out: dict[str, Any] = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}, "width": width,
                           "tasks": {}, "limits": []}
    encoder = build_encoder("crisscross", init_seed=0, video_width=width, audio_width=width).to(device).eval()
    print(f"encoder: crisscross, random init, width {width}" + (" (papers: 64)" if width != 64 else ""))
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    video_paths: list[Path] = []
    for task in tasks:
        out["tasks"][task], limits, paths = run_task(task, args, device, encoder, data_dir, workers, log)
        out["limits"] += limits
        if paths is not None:
            video_paths = paths
    if video_paths:
        n = min(args.decode_files, len(video_paths))
        dr = decode_ratio(video_paths[:: max(1, len(video_paths) // n)][:n])
        out["decode_ratio"] = dr
        out["limits"].append(decode_limit(dr))
    if not args.no_demo:
        log(f"avbench demo ({load_line()})")
        load0 = load_line()
        dm = demo_seconds()
        out["demo"] = {**dm, "load_before": load0, "load_after": load_line()}
        out["limits"].append(demo_limit(dm, load0))
    print("\nlimits (ratio = measured / its reference; see the target column)")
    print(limits_table(out["limits"]))
    out["total_seconds"] = time.perf_counter() - t_start
    print(f"\ntotal {out['total_seconds']:.0f} s; {load_line()} at the end")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"saved {args.json}")
    return out


def machine_line(device: torch.device, dtype: str) -> str:
    """Processor, CPUs, torch version and threads, OMP wait policy, device (and GPU name), compute dtype."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), "
            f"device {device}"
            + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "") + f", dtype {dtype}")


def run_task(task: str, args: argparse.Namespace, device: torch.device, encoder: Encoder, data_dir: Path,
             workers: list[int], log: Callable[[str], None]) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                      list[Path] | None]:
    """One task: its fixture, the isolated stages, one end-to-end run per worker count, the stage table printed.
    Returns (the task's figures, its limit rows, the UCF101 video files or None for ESC-50)."""
    if task == "esc50":
        root, wrote = esc50_fixture(data_dir, args.clips)
        paths = None
    else:
        root, wrote = ucf101_fixture(data_dir, args.videos)
        paths = sorted((root / "UCF-101").rglob("*.avi"))
    overrides = card_overrides(task, args, device)
    card = load_card(task, overrides or None)
    batch = args.batch or card.batch_size
    print(f"\n== {task} ({root}; fixture {'written in ' + f'{wrote:.0f} s' if wrote > 1 else 'reused'}); "
          f"card overrides: {json.dumps(overrides) if overrides else 'none'}; batch {batch}")
    log(f"{task}: stages ({load_line()})")
    load0 = load_line()
    st = measure_stages(encoder, card, root, device, args.dtype, batch, args.sklearn_budget, log)
    runs = []
    for w in workers:
        log(f"{task}: end to end, workers {w} ({load_line()})")
        runs.append(end_to_end(encoder, task, root, overrides, device, args.dtype, batch, w))
    print(stage_table(task, st, runs))
    print(f"({load0} before the stages, {load_line()} after the end-to-end runs)")
    cmp = svm_comparison(st)
    result = {"root": str(root), "overrides": overrides, "batch": batch, "stages": st, "end_to_end": runs,
              "svm_vs_sklearn": cmp, "load_before": load0, "load_after": load_line()}
    limits = [] if cmp is None else [svm_limit(task, cmp, device)]
    if task == "ucf101-linear":
        limits += throughput_limits(st, runs)
    return result, limits, paths


if __name__ == "__main__":
    main()
