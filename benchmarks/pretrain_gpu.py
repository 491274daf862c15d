"""The identity-world evidence on one GPU in about 5 minutes (issue 20, item 5). Prepared; see docs/evidence/.

1. Render a pool of identity-world clips (4 scenes of 1 s, ``--size``² frames at 16 fps, 16-kHz audio) on all CPU
   cores (``--clips``; class ``i % 6``; the ``pretrain`` seed stream, so never a probe clip) and move it to the GPU
   (frames uint8, audio float16: about 2.5 GB for 8,192 clips at 48²).
2. For each method (``--methods``: crisscross, avcl, temporal-ssl and the supervised ceiling, or any run name of
   ``RUNS`` of ``benchmarks/_identity/runs.py``, e.g. ``crisscross-infonce-head-wd6-async``: the method with that
   run's overrides, recorded in each row), the ``world`` preset at ``--width`` (default 32: 4x the CPU runs'
   width) and batch ``--batch``: views drawn on the GPU
   (:mod:`avbench.pretrain.gpu_views`, a fresh random crop / flip / jitter / time mask per sample), bf16 autocast,
   the preset's optimiser, warm-up + cosine over ``--steps`` steps (default: 1 M clip samples / batch) or over as
   many as ``--minutes-per-method`` of wall time allows (timed on the first 20 steps), whichever is fewer.
3. The fixed probe (:mod:`avbench.pretrain.probe`, 100 + 100 clips per class, 4 scenes averaged, logistic regression;
   clips rendered on the CPU cores) at two checkpoints (half-way and the end), per modality, against the same trunks
   at their random init, raw and with BatchNorm calibrated on 500 clips.

One JSON row per method and checkpoint goes to ``--out`` and the table to stdout. ``--dry-run`` runs the whole
script on the CPU at toy sizes (width 4, 24 clips, 2 steps, 4 + 4 probe clips per class) and writes nothing
unless ``--out`` is given; CI runs it (tests/test_identity_gpu_script.py)::

    python benchmarks/pretrain_gpu.py --out docs/evidence/identity_gpu_h100.jsonl    # on the GPU machine
    python benchmarks/pretrain_gpu.py --dry-run
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.pretrain.gpu_views import ClipPool, GpuViews
from avbench.pretrain.method import get_method, resolve_config
from avbench.pretrain.optim import build_optimizer, lr_factor, set_lr
from avbench.pretrain.probe import calibrate_batchnorm, calibration_windows, make_probe_data, probe_encoder
from avbench.results import NonFiniteValueError, first_non_finite
from avbench.synth.identity_world import IdentityWorldConfig, identity_rng, render_identity_clip

METHODS = ("crisscross", "avcl", "temporal-ssl", "supervised")


def evidence_runs() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """``RUNS`` of ``benchmarks/_identity/runs.py`` (run -> method, encoder, dotted overrides)."""
    here = str(Path(__file__).resolve().parent)  # holds _identity
    if here not in sys.path:
        sys.path.insert(0, here)
    from _identity.runs import RUNS

    return RUNS


def run_overrides(name: str) -> tuple[str, dict[str, Any]]:
    """(method, nested overrides on its ``world`` preset) for a method name or an evidence run name."""
    if name in METHODS:
        return name, {}
    runs = evidence_runs()
    if name not in runs:
        raise SystemExit(f"--methods: {name!r} is neither a method ({', '.join(METHODS)}) nor a run of "
                         f"benchmarks/_identity/runs.py")
    method, _, dotted = runs[name]
    over: dict[str, Any] = {}
    for key, value in dotted.items():  # the values exactly as RUNS types them (no YAML round trip)
        *parents, leaf = key.split(".")
        node = over
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return method, over


def _render(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    i, seed, size, classes = args
    cfg = IdentityWorldConfig(n_classes=classes, n_segments=4, size=size)
    clip = render_identity_clip(i % classes, cfg, identity_rng("pretrain", seed, 1000, i))
    return clip.frames, clip.audio.astype(np.float16)


def render_pool(n: int, size: int, device: torch.device, *, seed: int = 0, workers: int | None = None) -> ClipPool:
    """``n`` clips rendered on ``workers`` processes (default: every core) and moved to ``device``."""
    jobs = [(i, seed, size, 6) for i in range(n)]
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            out = list(ex.map(_render, jobs, chunksize=64))
    else:
        out = [_render(j) for j in jobs]
    frames = torch.from_numpy(np.stack([f for f, _ in out])).to(device)
    audio = torch.from_numpy(np.stack([a for _, a in out])).to(device)
    return ClipPool(frames, audio, torch.arange(n, device=device) % 6, 16.0, 16000, 4)


def build_model(name: str, width: int, batch: int, steps: int) -> torch.nn.Module:
    """The ``world`` preset of method or evidence run ``name`` at trunk ``width`` and ``batch``."""
    return build_resolved(*run_overrides(name), width, batch)


def build_resolved(method: str, run_over: dict[str, Any], width: int, batch: int) -> torch.nn.Module:
    """The ``world`` preset of ``method`` with a run's nested overrides, at trunk ``width`` and ``batch``."""
    from avbench.taskcard import deep_merge

    cls = get_method(method)
    over: dict[str, Any] = deep_merge(run_over, {"arch": {"video_width": width, "audio_width": width},
                                                 "train": {"batch_size": batch}})
    if method == "supervised":
        over["n_classes"] = 6
    cfg = resolve_config(cls, "world", over)
    return cls(cfg, init_seed=0)


def probe_row(enc: torch.nn.Module, probes: dict, device: torch.device) -> dict[str, float]:
    data = probes[(enc.arch.fps, enc.arch.logmel().sample_rate)]
    return {m: probe_encoder(enc, data, m, device=device).top1 for m in ("video", "audio")}


_FLOORS: dict[str, dict[str, float]] = {}


def random_floor(model: torch.nn.Module, probes: dict, n_cal: int, device: torch.device,
                 workers: int = 1) -> dict[str, float]:
    """Raw and calibrated random-init probe of a copy of ``model``'s encoder (before any step); computed once per
    architecture (CrissCross, temporal-SSL and the supervised ceiling share their trunks at one init seed)."""
    import copy

    key = json.dumps(model.encoder.arch.to_dict(), sort_keys=True)
    if key in _FLOORS:
        return dict(_FLOORS[key])
    enc = copy.deepcopy(model.encoder)
    row = {f"{m}_random": v for m, v in probe_row(enc, probes, device).items()}
    a = enc.arch
    for m in ("video", "audio"):
        windows = calibration_windows(a.fps, a.logmel().sample_rate, n_cal, m, workers=workers)
        calibrate_batchnorm(enc, windows, m, device=device)
    row.update({f"{m}_random_cal": v for m, v in probe_row(enc, probes, device).items()})
    _FLOORS[key] = row
    return dict(row)


def train_method(method: str, pool: ClipPool, args: argparse.Namespace, probes: dict,
                 device: torch.device) -> list[dict[str, Any]]:
    """Train one method for ``args.steps`` steps or ``args.minutes_per_method`` minutes: after 20 timed steps the
    schedule is fitted to the steps that the remaining time allows, so warm-up and cosine always complete. The
    probe runs at half the fitted steps and at the end."""
    base, run_over = run_overrides(method)
    model = build_resolved(base, run_over, args.width, args.batch).to(device)
    floor = random_floor(model, probes, args.calibration_clips, device, args.workers)
    tc = model.cfg.train
    opt = build_optimizer(model.param_groups(), name=tc.optimizer, weight_decay=tc.weight_decay, betas=tc.betas,
                          momentum=tc.momentum)
    views = GpuViews(base, model, device)
    gen = torch.Generator(device=device).manual_seed(0)
    amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        device_type="cpu", enabled=False)
    total = args.steps
    rows, losses, step = [], [], 0
    t0 = time.perf_counter()
    budget = 60 * args.minutes_per_method
    model.train()
    while step < total:
        clip = torch.randint(pool.frames.shape[0], (args.batch,), generator=gen, device=device)
        batch = views(pool, clip, gen)
        set_lr(opt, lr_factor(step, total_steps=total, warmup_steps=max(1, total // 20),
                              final_ratio=tc.final_lr / tc.lr))
        with amp:
            loss, _ = model(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step(batch)
        step += 1
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"{method}: loss {losses[-1]} at step {step} (width {args.width}, batch "
                                     f"{args.batch}); no row is written for a diverged run")
        if step == 20 and total > 40:  # fit the schedule to the time left (probes take about a tenth)
            rate = step / (time.perf_counter() - t0)
            total = max(40, min(total, int(rate * budget * 0.85)))
        if step in (total // 2, total):
            model.eval()
            trained = probe_row(model.encoder, probes, device)
            model.train()
            rows.append({"run": method, "method": base, "overrides": run_over, "width": args.width,
                         "batch": args.batch, "size": args.size, "step": step, "steps": total,
                         "clip_samples": step * args.batch, "planned_steps": args.steps,
                         "wall_seconds": round(time.perf_counter() - t0, 1), **floor,
                         **{f"{m}_trained": v for m, v in trained.items()},
                         "loss_first": losses[0], "loss_last10": float(np.mean(losses[-10:])),
                         "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"})
            bad = first_non_finite(rows[-1])
            if bad:
                raise NonFiniteValueError(f"{method}, step {step}: {bad} is not finite; no row written")
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="*", default=list(METHODS), metavar="NAME",
                    help=f"methods ({', '.join(METHODS)}) or run names of benchmarks/identity_evidence.py "
                         "(default: the four methods)")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--clips", type=int, default=8192, help="clips in the GPU pool")
    ap.add_argument("--steps", type=int, default=None, help="default: 1 M clip samples / batch")
    ap.add_argument("--minutes-per-method", type=float, default=0.75,
                    help="training time per method (4 methods, rendering and probes: about 5 minutes in all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPU processes rendering clips")
    ap.add_argument("--n-per-class", type=int, default=100)
    ap.add_argument("--calibration-clips", type=int, default=500)
    ap.add_argument("--out", default=None, help="append the rows here (JSON lines)")
    ap.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script end to end")
    args = ap.parse_args(argv)
    for name in args.methods:
        run_overrides(name)  # an unknown name stops here, before any rendering
    if args.dry_run:
        args.width, args.batch, args.clips, args.steps = 4, 8, 24, 2
        args.n_per_class, args.calibration_clips, args.minutes_per_method, args.workers = 4, 6, 1.0, 1
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --dry-run to check the script on the CPU")
        device = torch.device("cuda")
    args.steps = args.steps or math.ceil(1_000_000 / args.batch)
    threads = torch.get_num_threads()
    if args.dry_run:
        torch.set_num_threads(1)
    try:
        return _run(args, device)
    finally:
        torch.set_num_threads(threads)  # the dry run uses one; a caller (the test) gets its own count back


def _run(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    pool = render_pool(args.clips, args.size, device, workers=args.workers)
    print(f"pool: {args.clips} clips rendered and moved in {time.perf_counter() - t0:.1f} s", flush=True)
    probes = {}
    for fps, sr in {(16.0, 16000), (16.0, 24000)}:
        probes[(fps, sr)] = make_probe_data(fps, sr, args.n_per_class, workers=args.workers)
    rows = []
    for method in args.methods:
        rows += train_method(method, pool, args, probes, device)
    if args.out:
        with Path(args.out).open("a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()
