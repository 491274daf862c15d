"""The SVM sweep's output: the machine line, the per-C table, the summary with the speed-up and top-1 gap, and
the JSON file (every number checked finite before it is written)."""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import torch


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU name, CPU count, torch threads, the load average before the run (1, 5, 15 min) and the OpenMP
    environment (``OMP_WAIT_POLICY=PASSIVE`` changes torch's CPU times on shared cores by up to 40x)."""
    return {"cpu": _cpu_name(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}}


def print_table(results: dict[str, dict[float, dict]], costs: list[float],
                gaps: dict[str, dict[float, float]] | None) -> None:
    """Per C and backend: fit seconds / test top-1 % / iterations (``*``: not converged) [/ objective gap]."""
    names = list(results)
    width = 38 if gaps else 26
    head = f"{'C':>8} | " + " | ".join(f"{n:>{width}}" for n in names)
    print("\nper C: fit seconds / test top-1 % / iterations (* = not converged)"
          + (" / objective gap to the tol=1e-6 reference" if gaps else ""))
    print(head)
    print("-" * len(head))
    for C in costs:
        cells = []
        for n in names:
            e = results[n].get(C)
            if e is None:
                cells.append(f"{'not run':>{width}}")
                continue
            cell = f"{e['seconds']:8.1f} s {e['top1']:6.2f} % {e['iterations']:4d}{'*' if not e['converged'] else ' '}"
            if gaps:
                cell += f" {gaps[n].get(C, float('nan')):+.1e}"
            cells.append(cell.rjust(width))
        print(f"{C:>8g} | " + " | ".join(cells))
    print("-" * len(head))
    totals = {n: sum(e["seconds"] for e in results[n].values()) for n in names}
    print(f"{'total':>8} | " + " | ".join(f"{totals[n]:8.1f} s ({len(results[n])} C)".rjust(width) for n in names))


def _speedup(torch_res: dict[float, dict], sk: dict[float, dict], costs: list[float]) -> dict[str, Any]:
    common = [C for C in costs if C in sk and C in torch_res]
    sk_s = sum(sk[C]["seconds"] for C in common)
    t_s = sum(torch_res[C]["seconds"] for C in common)
    best_t = max(torch_res[C]["top1"] for C in common)
    best_s = max(sk[C]["top1"] for C in common)
    return {"torch_over_sklearn_speedup": sk_s / t_s, "top1_gap_points": best_t - best_s,
            "sklearn_seconds": sk_s, "torch_seconds": t_s, "costs_compared": len(common),
            "sklearn_complete": len(common) == len(costs), "best_top1_torch": best_t, "best_top1_sklearn": best_s}


def summary(name: str, stats: dict | None, where: dict, args: argparse.Namespace,
            results: dict[str, dict[float, dict]], skipped: dict[str, str], reference: dict | None,
            gaps: dict | None) -> dict[str, Any]:
    """Everything the JSON holds; ``speedups[backend]`` for each torch backend run beside sklearn."""
    speedups = {}
    if "sklearn" in results:
        for n in results:
            if n.startswith("torch"):
                speedups[n] = _speedup(results[n], results["sklearn"], args.costs)
    out = {"problem": name, "features": str(args.features) if args.features else None, "feature_stats": stats,
           "machine": where, "costs": args.costs, "sklearn_budget_s": args.sklearn_budget,
           "results": {n: {repr(C): e for C, e in r.items()} for n, r in results.items()}, "skipped": skipped,
           "speedups": speedups,
           "reference": None if reference is None else {repr(C): e for C, e in reference.items()},
           "objective_gap": None if gaps is None else {n: {repr(C): g for C, g in gg.items()} for n, gg in gaps.items()}}
    first = speedups.get("torch-cuda") or speedups.get("torch-cpu")
    out["torch_over_sklearn_speedup"] = None if first is None else first["torch_over_sklearn_speedup"]
    out["top1_gap_points"] = None if first is None else first["top1_gap_points"]
    return out


def _check_finite(obj: Any, path: str = "") -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"svm_sweep: non-finite value at {path or 'top level'}; not written")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "feature_stats":  # a spectrum ratio may be inf on tiny problems; it is a description
                _check_finite(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_finite(v, f"{path}[{i}]")


def write_json(path: Path, out: dict[str, Any]) -> None:
    """Check every number finite (feature statistics aside), then write ``path`` (indent 1)."""
    _check_finite(out)
    Path(path).write_text(json.dumps(out, indent=1, default=str) + "\n")
