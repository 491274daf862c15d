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
import contextlib
import functools
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark scripts' helpers
from extract_video import full_decode_seconds, sync  # noqa: E402
from svm_sweep import run_backend  # noqa: E402

import avbench.features.audio as extract_audio  # noqa: E402
import avbench.features.video as extract_video  # noqa: E402
from avbench.config import resolve_cache_dir  # noqa: E402
from avbench.datasets import get_dataset  # noqa: E402
from avbench.encoder import Encoder  # noqa: E402
from avbench.features.extract import ExtractedView, View, extract_view  # noqa: E402
from avbench.media.video_decode import decode_clips  # noqa: E402
from avbench.features.pooling import resolve_layer  # noqa: E402
from avbench.protocols.svm import run_svm  # noqa: E402
from avbench.registry import build_encoder  # noqa: E402
from avbench.evaluation.runner import RunOptions, _clip_features, run  # noqa: E402
from avbench.features.store import FeatureStore  # noqa: E402
from avbench.synth.audio_fixtures import write_esc50  # noqa: E402
from avbench.synth.video_fixtures import write_ucf101  # noqa: E402
from avbench.taskcard import TaskCard, load_card  # noqa: E402

STAGES = ("decode", "augment", "frontend", "forward", "other", "svm")
#: the README demo's limit on 2 cores (seconds)
DEMO_LIMIT_S = 600.0


# ---- timers ------------------------------------------------------------------------------------------------------
class StageTimers:
    """Exclusive wall time per stage: a timed call nested in another is charged to its own stage only.

    ``device`` is synchronised at every region boundary, so asynchronous CUDA work lands in the stage that
    launched it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.media_seconds = 0.0
        self._stack: list[list[float]] = []  # [start, nested seconds]

    @contextlib.contextmanager
    def region(self, stage: str) -> Iterator[None]:
        sync(self.device)
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            sync(self.device)
            total = time.perf_counter() - frame[0]
            self._stack.pop()
            self.seconds[stage] += total - frame[1]
            self.calls[stage] += 1
            if self._stack:
                self._stack[-1][1] += total

    def wrap(self, fn: Callable, stage: str, media: bool = False) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.region(stage):
                out = fn(*args, **kwargs)
            if media:  # DecodedAudio / DecodedClips know their duration in seconds
                self.media_seconds += float(out.seconds)
            return out
        return timed


@contextlib.contextmanager
def instrumented(timers: StageTimers, encoder: Encoder) -> Iterator[None]:
    """Put ``timers`` around the functions the extraction pipeline calls, for the duration of the block."""
    patches: list[tuple[Any, str, str, bool]] = [  # (owner, attribute, stage, counts media seconds)
        (extract_audio, "load_audio", "decode", True),
        (extract_audio.AudioClipSource, "cut", "augment", False),
        (extract_audio, "augment_spectrogram", "augment", False),
        (extract_audio.AudioPath, "prepare", "augment", False),
        (extract_audio.AudioPath, "forward", "forward", False),
        (extract_video, "decode_clips", "decode", True),
        (extract_video.VideoPath, "prepare", "augment", False),
        (extract_video, "apply_cutout", "augment", False),
        (extract_video.VideoPath, "forward", "forward", False),
    ]
    if getattr(encoder, "frontend", None) is not None:
        patches.append((encoder, "audio_frontend", "frontend", False))
    saved = []
    for owner, name, stage, media in patches:
        if not hasattr(owner, name):
            raise RuntimeError(f"{getattr(owner, '__name__', owner)} has no {name!r}: the pipeline changed; update "
                               "benchmarks/e2e_speed.py:instrumented")
        had_own = name in vars(owner)
        saved.append((owner, name, vars(owner).get(name), had_own))
        setattr(owner, name, timers.wrap(getattr(owner, name), stage, media))
    try:
        yield
    finally:
        for owner, name, original, had_own in reversed(saved):
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


# ---- data --------------------------------------------------------------------------------------------------------
def _atomic_write(root: Path, writer: Callable[[Path], Any]) -> Path:
    if (root / "avbench_fixture.json").exists():
        return root
    tmp = root.with_name(f".{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer(tmp)
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
    return root


def esc50_fixture(data_dir: Path, clips: int) -> tuple[Path, float]:
    """``clips`` 5-s 44.1 kHz mono 16-bit ESC-50 files over the 50 classes (``clips // 50`` per class, at least
    1); returns (root, seconds spent writing, 0 when reused)."""
    per_class = max(1, clips // 50)
    t0 = time.perf_counter()
    root = _atomic_write(data_dir / f"esc50-{per_class}x50-5s-44k",
                         lambda out: write_esc50(out, n_classes=50, clips_per_class=per_class, seconds=5.0,
                                                 seed=0, variety=False))
    return root, time.perf_counter() - t0


def ucf101_shape(videos: int) -> tuple[int, int, int]:
    """(classes, groups, clips per group) giving about ``videos`` files: up to 10 classes, >= 3 groups."""
    n_classes = max(2, min(10, videos // 6))
    per_class = max(3, round(videos / n_classes))
    groups = max(3, min(25, per_class // 2))
    return n_classes, groups, max(1, round(per_class / groups))


def ucf101_fixture(data_dir: Path, videos: int) -> tuple[Path, float]:
    """About ``videos`` UCF101 files as the real set ships them: 320x240, 25 fps, 7 s, MPEG-4 Part 2 in AVI."""
    n_classes, groups, per_group = ucf101_shape(videos)
    t0 = time.perf_counter()
    root = _atomic_write(data_dir / f"ucf101-{n_classes}x{groups}x{per_group}-320x240-25fps-7s",
                         lambda out: write_ucf101(out, n_classes=n_classes, groups=groups, clips_per_group=per_group,
                                                  seed=0, frame_size=(320, 240), seconds=7.0, fps=25))
    return root, time.perf_counter() - t0


# ---- stages ------------------------------------------------------------------------------------------------------
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


def make_view(card: TaskCard, side: str, layer: str, seed: int = 0) -> View:
    """The view ``avbench.evaluation.runner.run`` builds for ``side`` (seeded only when it is random)."""
    modality = card.modality
    view = View(side=side, modality=modality, clip=card.audio if modality == "audio" else card.video,
                sampling=card.train if side == "train" else card.test, features=card.features, layer=layer,
                seed=None)
    return View(**{**view.__dict__, "seed": seed}) if view.random else view


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


def svm_comparison(stages: dict[str, Any]) -> dict[str, Any] | None:
    """sklearn vs torch on the C values sklearn ran (every split): seconds, ratio, top-1 differences (points)."""
    if not stages["svm_sklearn"]:
        return None
    t_sk = t_to = 0.0
    diffs, n_c = [], 0
    best_to, best_sk = [], []
    for tor, sk in zip(stages["svm_torch"], stages["svm_sklearn"]):
        common = [C for C in tor if C in sk]
        n_c += len(common)
        t_sk += sum(sk[C]["seconds"] for C in common)
        t_to += sum(tor[C]["seconds"] for C in common)
        diffs += [abs(tor[C]["top1"] - sk[C]["top1"]) for C in common]
        if common:
            best_to.append(max(tor[C]["top1"] for C in common))
            best_sk.append(max(sk[C]["top1"] for C in common))
    full = n_c == sum(len(t) for t in stages["svm_torch"])
    return {"sklearn_seconds": t_sk, "torch_seconds": t_to, "ratio": t_sk / t_to if t_to > 0 else float("inf"),
            "fits_compared": n_c, "complete": full, "max_abs_top1_diff": max(diffs) if diffs else None,
            "best_c_top1_diff": abs(float(np.mean(best_to)) - float(np.mean(best_sk))) if best_to else None}


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


# ---- report ------------------------------------------------------------------------------------------------------
def load_line() -> str:
    return "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def stage_table(name: str, st: dict[str, Any], e2e: list[dict[str, Any]]) -> str:
    total = sum(st["seconds"].values())
    clips = sum(st["clips"].values())
    rows = []
    for stage in STAGES:
        if stage not in st["seconds"]:
            continue
        s = st["seconds"][stage]
        rate = f"{st['media_seconds'] / s:.1f}x" if s > 0 and stage != "svm" else ""
        extra = f"{clips / s:.1f} clips/s" if stage == "forward" and s > 0 else ""
        rows.append([stage, f"{s:.2f}", f"{100 * s / total:.0f} %", rate, extra])
    rows.append(["sum of stages", f"{total:.2f}", "100 %", f"{st['media_seconds'] / total:.1f}x", ""])
    for e in e2e:
        rows.append([f"end to end, workers {e['workers']}", f"{e['wall']:.2f}", "",
                     f"{st['media_seconds'] / e['wall']:.1f}x",
                     f"overlap efficiency {total / e['wall']:.2f} (extraction {e['extract_seconds']:.1f} s, "
                     f"svm {e['svm_seconds']:.1f} s, top-1 {e['top1']:.1f} %)"])
    head = (f"{name}: {st['files']['train']} train / {st['files']['test']} test files, {clips} clips, "
            f"{st['media_seconds']:.0f} s of media decoded, {st['dim']}-D features, {st['n_classes']} classes, "
            f"{len(st['splits'])} splits")
    return head + "\n" + tabulate(rows, headers=["stage", "seconds", "share", "x real time", ""], tablefmt="github")


def main(argv: list[str] | None = None) -> dict[str, Any]:
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

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
               f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), "
               f"device {device}"
               + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "") + f", dtype {args.dtype}")
    print(f"machine: {machine}; {load_line()} at start")
    out: dict[str, Any] = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}, "width": width,
                           "tasks": {}, "limits": []}
    encoder = build_encoder("crisscross", init_seed=0, video_width=width, audio_width=width).to(device).eval()
    print(f"encoder: crisscross, random init, width {width}" + (" (papers: 64)" if width != 64 else ""))
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    video_paths: list[Path] = []
    for task in tasks:
        if task == "esc50":
            root, wrote = esc50_fixture(data_dir, args.clips)
        else:
            root, wrote = ucf101_fixture(data_dir, args.videos)
            video_paths = sorted((root / "UCF-101").rglob("*.avi"))
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
        out["tasks"][task] = {"root": str(root), "overrides": overrides, "batch": batch, "stages": st,
                              "end_to_end": runs, "svm_vs_sklearn": cmp, "load_before": load0,
                              "load_after": load_line()}
        if cmp is not None:
            target = 50.0 if device.type == "cuda" else 10.0
            acc_ok = cmp["best_c_top1_diff"] is not None and cmp["best_c_top1_diff"] <= 0.5
            out["limits"].append({
                "limit": f"{task}: torch SVM vs sklearn speed (>= {target:g}x on {device.type}), best-C top-1 "
                         f"within 0.5 points", "measured": cmp["ratio"], "target": target,
                "met": cmp["ratio"] >= target and acc_ok,
                "detail": f"sklearn {cmp['sklearn_seconds']:.2f} s vs torch {cmp['torch_seconds']:.2f} s on "
                          f"{cmp['fits_compared']} (split, C) fits{'' if cmp['complete'] else ' (sklearn budget hit)'}"
                          f"; best-C top-1 diff {cmp['best_c_top1_diff']:.2f}, max per-C diff "
                          f"{cmp['max_abs_top1_diff']:.2f} points"})
        if task == "ucf101-linear":
            fwd = sum(st["clips"].values()) / st["seconds"]["forward"]
            for e in runs:
                pipe = e["clips"] / e["extract_seconds"]
                out["limits"].append({
                    "limit": f"ucf101-linear: extraction throughput / forward-only (>= 0.9; a GPU target), "
                             f"workers {e['workers']}", "measured": pipe / fwd, "target": 0.9,
                    "met": pipe / fwd >= 0.9,
                    "detail": f"pipeline {pipe:.1f} clips/s, forward-only {fwd:.1f} clips/s"})
    if video_paths:
        n = min(args.decode_files, len(video_paths))
        dr = decode_ratio(video_paths[:: max(1, len(video_paths) // n)][:n])
        out["decode_ratio"] = dr
        out["limits"].append({"limit": "10 uniform clips from one decode / one plain full decode (<= 1.3)",
                              "measured": dr["ratio"], "target": 1.3, "met": dr["ratio"] <= 1.3,
                              "detail": f"{dr['clips10_ms']:.1f} ms vs {dr['full_ms']:.1f} ms, median over "
                                        f"{dr['files']} 320x240 7-s files of the best of 2"})
    if not args.no_demo:
        log(f"avbench demo ({load_line()})")
        load0 = load_line()
        dm = demo_seconds()
        out["demo"] = {**dm, "load_before": load0, "load_after": load_line()}
        out["limits"].append({"limit": "avbench demo wall (<= 600 s on 2 cores)", "measured": dm["wall"] / DEMO_LIMIT_S,
                              "target": 1.0, "met": dm["rc"] == 0 and dm["wall"] <= DEMO_LIMIT_S,
                              "detail": f"{dm['wall']:.0f} s, {os.cpu_count()} CPUs, {load0} before"
                                        + ("" if dm["rc"] == 0 else f"; FAILED rc={dm['rc']}: {dm['tail']}")})
    print("\nlimits (ratio = measured / its reference; see the target column)")
    print(tabulate([[lim["limit"], f"{lim['measured']:.2f}", f"{lim['target']:g}", "met" if lim["met"] else "NOT met",
                     lim["detail"]] for lim in out["limits"]],
                   headers=["limit", "ratio", "target", "", "detail"], tablefmt="github"))
    out["total_seconds"] = time.perf_counter() - t_start
    print(f"\ntotal {out['total_seconds']:.0f} s; {load_line()} at the end")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"saved {args.json}")
    return out


if __name__ == "__main__":
    main()
