"""Time the CrissCross ESC-50 C sweep with every available SVM backend on ESC-50-shaped synthetic features.

Default problem (one ESC-50 fold with 10 clips per recording): 1 600 train recordings x 10 clips = 16 000 rows,
400 test recordings x 10 clips, 4 608-D (conv5x max-pooled, 2-s clips), 50 classes, C in
{1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1}. Features are synthetic but learnable and non-negative like
post-ReLU max-pooled maps: relu(0.3 + a * class_centre + per-recording offset + per-clip noise) * 0.5, with
||x||^2 ~ 1 600 (CrissCross's per-triple L2 normalisation gives 1 536), so the sweep's C values mean what they
mean on real features; accuracy lands around 75-85 %.

Backends: sklearn (liblinear, one core), torch-cpu, torch-cuda (if CUDA is available), cuml (if importable).
sklearn can be slow (minutes per C): ``--sklearn-budget`` stops it after that many seconds (the C values are
run in a spread-out order so a partial run still covers the range) and the speed ratio is then computed on the
C values both ran; the output says so. Nothing is extrapolated.

    python benchmarks/svm_sweep.py                       # full size, all available backends
    python benchmarks/svm_sweep.py --n-train 4000 --dim 1024 --backends sklearn,torch-cpu
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from avbench.metrics import topk_accuracy
from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm import DEFAULT_COSTS, fit_backend, sample_scores
from avbench.protocols.svm_cuml import BackendUnavailable

SKLEARN_ORDER = (1e-4, 1e-2, 1.0, 1e-5, 1e-3, 5e-3, 5e-5, 5e-4)  # spread-out order for a budgeted sklearn run


def make_features(n_samples: int, clips: int, dim: int, n_classes: int, seed: int, centers: torch.Tensor,
                  signal: float = 0.11) -> ClipFeatures:
    """ESC-50-like clip features: ``[n_samples * clips, dim]`` float32, non-negative, samples in order."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_samples) % n_classes
    latent = 0.3 + signal * centers[labels] + torch.randn(n_samples, dim, generator=g)
    x = latent.repeat_interleave(clips, 0)
    x += torch.randn(x.shape, generator=g)
    x.clamp_(min=0).mul_(0.5)
    return ClipFeatures(blocks=[x], sample_index=torch.arange(n_samples).repeat_interleave(clips), labels=labels,
                        groups=[f"fold{i % 4}" for i in range(n_samples)],
                        sample_ids=[f"s{i}" for i in range(n_samples)])


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
    """Per C: fit seconds, test top-1, iterations, converged. torch backends fit the whole path in one call."""
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
            out[C] = _entry(model, test, device)
        return out
    models, _ = fit_backend(backend, train, costs, n_classes=n_classes, device=device)
    for m in models:
        out[m.C] = _entry(m, test, device)
    return out


def _entry(model, test: ClipFeatures, device: str) -> dict:
    scores = sample_scores(model, test, device)
    return {"seconds": model.info["seconds"], "top1": topk_accuracy(scores, test.labels, 1),
            "iterations": model.iterations, "converged": model.converged}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=16_000, help="train rows (clips)")
    p.add_argument("--n-test", type=int, default=4_000, help="test rows (clips)")
    p.add_argument("--clips", type=int, default=10, help="clips per sample")
    p.add_argument("--dim", type=int, default=4608)
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--costs", type=lambda s: [float(c) for c in s.split(",")], default=list(DEFAULT_COSTS))
    p.add_argument("--backends", default="sklearn,torch-cpu,torch-cuda,cuml")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (liblinear is single-threaded)")
    p.add_argument("--sklearn-budget", type=float, default=900.0,
                   help="stop the sklearn sweep after this many seconds (0 = no limit)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import sklearn

    K, D = args.classes, args.dim
    centers = torch.randn(K, D, generator=torch.Generator().manual_seed(1234 + args.seed))
    train = make_features(args.n_train // args.clips, args.clips, D, K, args.seed, centers)
    test = make_features(args.n_test // args.clips, args.clips, D, K, args.seed + 1, centers)
    print(f"problem: train {train.n_rows} rows ({train.n_samples} samples x {args.clips} clips), test {test.n_rows} "
          f"rows ({test.n_samples} samples), D={D}, K={K}, costs={args.costs}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load avg "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), scikit-learn {sklearn.__version__}")

    results: dict[str, dict[float, dict]] = {}
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        why = available(name)
        if why:
            print(f"skip {name}: {why}")
            continue
        t0 = time.perf_counter()
        try:
            results[name] = run_backend(name, train, test, args.costs, K,
                                        args.sklearn_budget or None if name == "sklearn" else None)
        except BackendUnavailable as exc:
            print(f"skip {name}: {exc}")
            continue
        print(f"ran {name}: {time.perf_counter() - t0:.1f} s wall (including test scoring)")

    names = list(results)
    head = f"{'C':>8} | " + " | ".join(f"{n:>26}" for n in names)
    print("\nper C: fit seconds / test top-1 % / iterations (* = not converged)")
    print(head)
    print("-" * len(head))
    for C in args.costs:
        cells = []
        for n in names:
            e = results[n].get(C)
            cells.append(f"{'not run':>26}" if e is None else
                         f"{e['seconds']:8.1f} s {e['top1']:6.2f} % {e['iterations']:4d}{'*' if not e['converged'] else ' '}")
        print(f"{C:>8g} | " + " | ".join(cells))
    print("-" * len(head))
    totals = {n: sum(e["seconds"] for e in results[n].values()) for n in names}
    print(f"{'total':>8} | " + " | ".join(f"{totals[n]:8.1f} s ({len(results[n])} C)".rjust(26) for n in names))

    if "sklearn" in results:
        common = [C for C in args.costs if C in results["sklearn"]]
        partial = len(common) < len(args.costs)
        sk_time = sum(results["sklearn"][C]["seconds"] for C in common)
        if partial:
            print(f"\nNOTE: sklearn stopped by --sklearn-budget={args.sklearn_budget:g} s after {len(common)} of "
                  f"{len(args.costs)} C values; ratios below use only C in {common} (torch times are its per-C "
                  f"times from the full warm-started path).")
        print(f"\nspeed-up vs sklearn on {len(common)} C values (sklearn {sk_time:.1f} s):")
        for n in names:
            if n == "sklearn":
                continue
            t = sum(results[n][C]["seconds"] for C in common)
            diff = max(abs(results[n][C]["top1"] - results["sklearn"][C]["top1"]) for C in common)
            best_n = max(results[n][C]["top1"] for C in args.costs)
            best_s = max(results["sklearn"][C]["top1"] for C in common)
            print(f"  {n}: {t:.1f} s -> {sk_time / t:.1f}x; max |top-1 diff| per C {diff:.2f} points; "
                  f"best-C top-1 {best_n:.2f} vs sklearn {best_s:.2f}")


if __name__ == "__main__":
    main()
