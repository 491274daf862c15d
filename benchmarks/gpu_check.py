"""A prepared device check (issue 21, item 8): every task family end to end on CUDA at reduced size, then the speed
ratios; one JSON. Sized for about 5 minutes on one H100 (an estimate: not yet run on a GPU).

1. **Families** (``benchmarks/_gpu/families.py``): esc50, dcase, ucf101-linear, ucf101-linear-32f,
   ucf101-retrieval, ucf101-knn, one ucf101-finetune epoch, ksounds-fusion, augvgg-ip through the Python API of
   ``avbench eval`` (``--quick`` overrides and ``--limit``, bf16 autocast, the width-64 CrissCross at random init)
   on fixtures in the official layouts written by avbench's own writers, and 50 steps of ``avbench pretrain
   crisscross`` on a small synthetic world. Each: status ok / error (one line), seconds, top-1 (retrieval:
   recall@1).
2. **Ratios** (``benchmarks/_gpu/ratios.py``), each with both timings: the SVM C sweep, torch on the device vs
   sklearn, on realistic features at the ESC-50 shape (target 50x on a GPU; sklearn is stopped between C values
   after ``--svm-sklearn-budget`` s and the ratio is over the C values both ran); the video extraction pipeline vs
   the forward pass alone at 8x224², width 64, bf16 (target >= 0.9); the shipped ESC-50 card end to end on a
   2,000-clip synthetic ESC-50 rendered on the device (seconds of audio per wall second).

Every value is checked finite before the JSON is written; a failing family or ratio is recorded with its error and
the rest still run; the exit code is 1 if anything failed. ``--dry-run`` runs the same code on the CPU at toy
sizes (a width-4 encoder, 32² crops, 2 clips; bf16 is requested as on the GPU, where avbench's autocast is a
no-op on the CPU) in a minute or two; CI runs it (tests/test_gpu_check.py)::

    python benchmarks/gpu_check.py --out gpu_check.json          # on the GPU machine (docs/performance.md)
    python benchmarks/gpu_check.py --dry-run --out dry.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _gpu, _e2e, _svm and the sibling scripts

from _gpu.families import FAMILIES, run_family  # noqa: E402
from _gpu import ratios  # noqa: E402

SCHEMA = "avbench-gpu-check/1"


def sizes(dry_run: bool) -> dict[str, Any]:
    """Every size the check uses: the GPU defaults, or the dry run's toy ones."""
    if dry_run:
        return {"device": "cpu", "dtype": "bfloat16", "limit": 2, "pretrain_steps": 10, "extra": {"video": {"size": 32, "resize": 40}},
                "svm": {"shape": "k10", "scale": 0.05, "sklearn_budget": 0.001},
                "extraction": {"size": 32, "videos": 2, "clips": 2, "batch": 4, "workers": 0, "iters": 1},
                "esc50": {"clips": 250, "workers": 0, "extra": {"train": {"clips": 2}, "test": {"clips": 2}}}}
    cpus = os.cpu_count() or 1
    return {"device": "cuda", "dtype": "bfloat16", "limit": 8, "pretrain_steps": 50, "extra": {},
            "svm": {"shape": "esc50", "scale": 1.0, "sklearn_budget": 20.0},
            "extraction": {"size": 224, "videos": 32, "clips": 10, "batch": 32, "workers": max(1, min(8, cpus - 2)),
                           "iters": 10},
            "esc50": {"clips": 2000, "workers": max(1, min(8, cpus - 2)), "extra": {}}}


def make_encoder(dry_run: bool) -> Any:
    """The width-64 CrissCross at random init; the dry run's width-4 one (same class, same code)."""
    from avbench.registry import build_encoder

    if dry_run:
        return build_encoder("crisscross", video_width=4, audio_width=4, video_depth=10, audio_depth=10,
                             min_size=32)
    return build_encoder("crisscross", init_seed=0)


def non_finite(obj: Any, path: str = "") -> list[str]:
    """Dotted paths of every NaN or infinity inside ``obj``."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in non_finite(v, f"{path}[{i}]")]
    return []


def _guard(name: str, fn: Callable[[], dict[str, Any]], log: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        row = fn()
    except Exception as exc:  # one failing ratio must not hide the others
        row = {"status": "error", "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:500]}
    row["seconds"] = round(time.perf_counter() - t0, 2)
    bad = non_finite(row)
    if bad:
        row = {"status": "error", "error": f"non-finite values at {bad}", "seconds": row["seconds"]}
    shown = f"ratio {row['ratio']:.3g}" if row.get("ratio") is not None else row.get("error", "")
    log(f"{name}: {row['status']} in {row['seconds']:.1f} s ({shown})")
    return row


def run_check(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Families, then ratios; returns the JSON document."""
    cfg = sizes(args.dry_run)
    log = lambda m: print(m, flush=True)  # noqa: E731
    device, dtype = cfg["device"], cfg["dtype"]
    t0 = time.perf_counter()
    families = {}
    for name in args.families:
        families[name] = run_family(name, data=work / "data", work=work / "runs", encoder=make_encoder(args.dry_run),
                                    device=device, dtype=dtype, limit=cfg["limit"], extra=cfg["extra"], log=log,
                                    pretrain_steps=cfg["pretrain_steps"])
        bad = non_finite(families[name])
        if bad:
            families[name] = {"status": "error", "error": f"non-finite values at {bad}",
                              "seconds": families[name]["seconds"]}
    out_ratios = {}
    if not args.no_ratios:
        s, e, c = cfg["svm"], cfg["extraction"], cfg["esc50"]
        out_ratios["svm_sweep"] = _guard("svm_sweep", lambda: ratios.svm_ratio(
            device=device, shape=s["shape"], scale=s["scale"], sklearn_budget=s["sklearn_budget"],
            json_path=work / "svm_sweep.json"), log)
        out_ratios["extraction"] = _guard("extraction", lambda: ratios.extraction_ratio(
            encoder=make_encoder(args.dry_run), device=device, dtype=dtype, work=work / "extraction", **e), log)
        out_ratios["esc50_protocol"] = _guard("esc50_protocol", lambda: ratios.esc50_protocol(
            encoder=make_encoder(args.dry_run), device=device, dtype=dtype, clips=c["clips"], workers=c["workers"],
            work=work / "esc50-protocol", extra=c["extra"]), log)
    rows = list(families.values()) + list(out_ratios.values())
    return {"schema": SCHEMA, "dry_run": args.dry_run, "ok": all(r["status"] == "ok" for r in rows),
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "python": platform.python_version(), "sizes": cfg,
            "total_seconds": round(time.perf_counter() - t0, 1), "families": families, "ratios": out_ratios}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the JSON (default gpu_check.json)")
    ap.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script end to end")
    ap.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--no-ratios", action="store_true", help="run the families only")
    ap.add_argument("--work", type=Path, default=None, help="fixtures, caches and records (default: a temp dir)")
    args = ap.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device; run with --dry-run to check the script on the CPU")
    threads = torch.get_num_threads()
    if args.dry_run:
        torch.set_num_threads(1)
    os.environ.setdefault("AVBENCH_CACHE", str((args.work or Path(tempfile.gettempdir())) / "avbench-gpu-check"))
    try:
        if args.work:
            doc = run_check(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
                doc = run_check(args, Path(tmp))
    finally:
        torch.set_num_threads(threads)  # the dry run uses one; a caller (the test) gets its own count back
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{'ok' if doc['ok'] else 'FAILED'}: {args.out} ({doc['total_seconds']:.0f} s)", flush=True)
    return doc


if __name__ == "__main__":
    raise SystemExit(0 if main()["ok"] else 1)
