"""Time the CrissCross C sweep with every available SVM backend, on realistic, Gaussian or your own features.

Problems (``--problem``):

* ``realistic`` (default): features with the properties of real encoder features (non-negative, 6-22 % exact
  zeros, column scales over three decades with constant columns, column means ~2.2 standard deviations from
  zero, fast spectral decay, rank-deficient Gram; ``benchmarks/_svm/features.py``) at a named ``--shape``:
  ``esc50`` (16 000 x 4 608, K = 50), ``ucf101`` (10 100 x 8 192, K = 101), ``k10`` (3 200 x 4 608, K = 10; the
  issue's CrissCross case), ``k10-1024`` (3 200 x 1 024, K = 10; the issue's random-projection case);
  ``--scale`` multiplies the sample counts.
* ``gaussian``: the earlier ``relu(0.3 + 0.11 centre + noise) * 0.5`` features (``--n-train`` etc.): flat
  spectrum, equal column scales, much easier than real ones.
* ``--features FILE.npz`` (arrays ``X_train``, ``y_train``, ``X_test``, ``y_test``; optional ``sample_train``,
  ``sample_test``; ``benchmarks/svm_features.py`` writes them from a real pipeline): your own features.

Backends: sklearn (liblinear, one core), torch-cpu, torch-cuda (if CUDA is available), cuml (if importable).
``--sklearn-budget`` stops sklearn after that many seconds (C values in a spread-out order); the ratio is then
computed on the C values both ran and the output and JSON say so. Nothing is extrapolated. ``--reference``
also solves every C with sklearn at ``tol=1e-6`` (a duality-gap-tight reference) and reports each backend's
relative objective gap to it.

    python benchmarks/svm_sweep.py --shape esc50 --json esc50.json
    python benchmarks/svm_sweep.py --shape k10-1024 --reference --json k10.json
    python benchmarks/svm_sweep.py --features feats.npz --json mine.json

The JSON holds ``torch_over_sklearn_speedup`` (sklearn's summed fit seconds over torch's, the whole sweep of
one run, same C values) and ``top1_gap_points`` (best-C test top-1, torch minus sklearn), per torch backend.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _svm.features import SHAPES, feature_stats, gaussian, load_npz, realistic  # noqa: E402
from _svm.reference import objective, reference_objectives, relative_gaps  # noqa: E402
from _svm.report import machine, print_table, summary, write_json  # noqa: E402

from avbench.metrics import topk_accuracy  # noqa: E402
from avbench.protocols.base import ClipFeatures  # noqa: E402
from avbench.protocols.svm import DEFAULT_COSTS, fit_backend, sample_scores  # noqa: E402
from avbench.protocols.svm_cuml import BackendUnavailable  # noqa: E402

SKLEARN_ORDER = (1e-4, 1e-2, 1.0, 1e-5, 1e-3, 5e-3, 5e-5, 5e-4)  # spread-out order for a budgeted sklearn run


def available(name: str) -> str | None:
    """None if the backend can run here, else why not."""
    if name == "torch-cuda" and not torch.cuda.is_available():
        return "CUDA not available"
    if name == "cuml":
        if not torch.cuda.is_available():
            return "CUDA not available"
        try:
            import cuml  # noqa: F401
        except ImportError as exc:
            return f"cuml not importable ({exc.__class__.__name__})"
    return None


def run_backend(name: str, train: ClipFeatures, test: ClipFeatures, costs: list[float], n_classes: int,
                budget: float | None) -> dict[float, dict]:
    """Per C: fit seconds, test top-1, iterations, converged, summed objective. torch fits the path in one call."""
    backend, device = {"sklearn": ("sklearn", "cpu"), "torch-cpu": ("torch", "cpu"),
                       "torch-cuda": ("torch", "cuda"), "cuml": ("cuml", "cuda")}[name]
    out: dict[float, dict] = {}
    if backend == "sklearn":  # one C at a time so a budget can stop it between fits
        spent = 0.0
        for C in sorted(costs, key=lambda c: SKLEARN_ORDER.index(c) if c in SKLEARN_ORDER else len(SKLEARN_ORDER)):
            if budget is not None and spent > budget:
                break
            t0 = time.perf_counter()
            (model,), _ = fit_backend(backend, train, [C], n_classes=n_classes, device=device)
            spent += time.perf_counter() - t0
            out[C] = _entry(model, train, test, device)
        return out
    models, _ = fit_backend(backend, train, costs, n_classes=n_classes, device=device)
    for m in models:
        out[m.C] = _entry(m, train, test, device)
    return out


def _entry(model, train: ClipFeatures, test: ClipFeatures, device: str) -> dict:
    scores = sample_scores(model, test, device)
    top1 = topk_accuracy(scores, test.labels, 1)
    extra = {k: model.info[k] for k in ("solver", "cpu_threads", "subspace_rank", "setup_seconds") if k in model.info}
    return {"seconds": float(model.info["seconds"]), "top1": float(top1), "iterations": int(model.iterations),
            "converged": bool(model.converged), "objective": objective(model, train), **extra}


def load_problem(args: argparse.Namespace):
    if args.features:
        return load_npz(args.features)
    if args.problem == "gaussian":
        return gaussian(args.n_train // args.clips, args.n_test // args.clips, args.clips, args.dim, args.classes,
                        args.seed)
    return realistic(args.shape, seed=args.seed, scale=args.scale)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problem", choices=("realistic", "gaussian"), default="realistic")
    p.add_argument("--shape", choices=sorted(SHAPES), default="esc50", help="realistic problem shape")
    p.add_argument("--scale", type=float, default=1.0, help="realistic: multiply the sample counts")
    p.add_argument("--features", type=Path, help="an .npz of X_train, y_train, X_test, y_test (overrides --problem)")
    p.add_argument("--n-train", type=int, default=16_000, help="gaussian: train rows (clips)")
    p.add_argument("--n-test", type=int, default=4_000, help="gaussian: test rows (clips)")
    p.add_argument("--clips", type=int, default=10, help="gaussian: clips per sample")
    p.add_argument("--dim", type=int, default=4608, help="gaussian: feature dimension")
    p.add_argument("--classes", type=int, default=50, help="gaussian: classes")
    p.add_argument("--costs", type=lambda s: [float(c) for c in s.split(",")], default=list(DEFAULT_COSTS))
    p.add_argument("--backends", default="sklearn,torch-cpu,torch-cuda,cuml")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (liblinear is single-threaded)")
    p.add_argument("--sklearn-budget", type=float, default=900.0,
                   help="stop the sklearn sweep after this many seconds (0 = no limit)")
    p.add_argument("--reference", action="store_true", help="also solve every C with sklearn at tol=1e-6")
    p.add_argument("--no-stats", action="store_true", help="skip the feature statistics (an SVD of the rows)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    prob = load_problem(args)
    train, test, K = prob.train, prob.test, prob.n_classes
    print(f"problem {prob.name}: train {train.n_rows} rows ({train.n_samples} samples), test {test.n_rows} rows "
          f"({test.n_samples} samples), D={train.dim}, K={K}, costs={args.costs}")
    stats = None if args.no_stats else feature_stats(train)
    if stats:
        print("features: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items()))
    where = machine()
    print(f"machine: {where['cpu']}, {where['cpus']} CPUs, load avg {where['load_before']}; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    results: dict[str, dict[float, dict]] = {}
    skipped: dict[str, str] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        why = available(name)
        if why:
            skipped[name] = why
            print(f"skip {name}: {why}")
            continue
        t0 = time.perf_counter()
        try:
            results[name] = run_backend(name, train, test, args.costs, K,
                                        args.sklearn_budget or None if name == "sklearn" else None)
        except BackendUnavailable as exc:
            skipped[name] = str(exc)
            print(f"skip {name}: {exc}")
            continue
        print(f"ran {name}: {time.perf_counter() - t0:.1f} s wall (including test scoring and objectives)")
    reference = reference_objectives(train, args.costs, K) if args.reference else None
    gaps = {n: relative_gaps({C: e["objective"] for C, e in r.items()}, reference) for n, r in results.items()} \
        if reference else None
    print_table(results, args.costs, gaps)
    where["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out = summary(prob.name, stats, where, args, results, skipped, reference, gaps)
    for n, s in out["speedups"].items():
        print(f"{n}: torch_over_sklearn_speedup {s['torch_over_sklearn_speedup']:.2f}x on {s['costs_compared']} C "
              f"(sklearn {s['sklearn_seconds']:.1f} s, torch {s['torch_seconds']:.1f} s); top1_gap_points "
              f"{s['top1_gap_points']:+.2f}" + ("" if s["sklearn_complete"] else " (sklearn stopped by its budget)"))
    if args.json:
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
