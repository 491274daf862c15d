"""A batched one-vs-rest squared-hinge linear SVM in torch: liblinear's primal problem, all classes at once.

Objective (exactly sklearn ``LinearSVC(penalty="l2", loss="squared_hinge", multi_class="ovr",
fit_intercept=True, intercept_scaling=s)``, i.e. liblinear solver type ``L2R_L2LOSS_SVC``): for each class k,
with ``y_ik = +1`` if row i has label k else ``-1`` and ``x~_i = [x_i, s]``,

    f_k(w~) = 1/2 ||w~||^2 + C sum_i max(0, 1 - y_ik w~^T x~_i)^2

so the intercept ``b_k = s * w~_k[D]`` is penalised, as liblinear does.

Why an own solver and not a library: liblinear (sklearn) solves one class at a time, single-threaded, with
matrix-vector products; on an ESC-50 fold (16 000 x 4 608, 50 classes) one C takes about 80 s here (2-core EPYC,
measured). The same Newton method written with GEMMs over all K classes at once does the work of K
matrix-vector products in one matrix-matrix product at ~100 GFLOP/s on the same 2 cores, and runs unchanged on
CUDA. ``benchmarks/svm_sweep.py`` measures the full C sweep against sklearn.

The solver (liblinear >= 2.30 ``newton.cpp``, batched over the classes; rows streamed in chunks) is in
:mod:`avbench.protocols.svm_newton`; this module holds the fitted model, the C path and the evaluation.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_newton import RowStream, SquaredHingeProblem, newton_one_c

__all__ = ["LinearModel", "fit_squared_hinge_ovr", "primal_objective", "decision_function", "device_label",
           "single_thread_if_small"]


@dataclass
class LinearModel:
    """A fitted one-vs-rest linear classifier; decision values are ``x @ weights + bias``.

    weights: ``[D, K]`` (CPU).  bias: ``[K]`` (CPU); ``bias = intercept_scaling * w~[D]``.
    C: the cost it was fitted with.  intercept_scaling: the constant feature ``s`` appended to every row.
    iterations: outer (Newton) iterations, the most any class needed.  converged: every class met the
    stopping rule.  info: further diagnostics (per-class iterations, CG steps, data passes, seconds, ...).
    """

    weights: torch.Tensor
    bias: torch.Tensor
    C: float
    intercept_scaling: float = 1.0
    iterations: int = 0
    converged: bool = True
    backend: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def device_label(device: str | torch.device, dtype: torch.dtype) -> str:
    """E.g. ``"torch-cpu-float32"``."""
    return f"torch-{torch.device(device).type}-{str(dtype).removeprefix('torch.')}"


@contextlib.contextmanager
def single_thread_if_small(flops_per_step: float, device: torch.device, limit: float = 5e7) -> Iterator[None]:
    """Run on one CPU thread when each step is small: on a busy 2-core machine OpenMP/MKL hand-offs for tiny GEMMs
    cost more than the work (measured: a 360 x 24 x 5 C sweep took 5.4 s on 2 threads, 0.17 s on 1)."""
    if device.type != "cpu" or flops_per_step >= limit or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)



def fit_squared_hinge_ovr(features: ClipFeatures, costs: Sequence[float], *, n_classes: int,
                          device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                          tol: float = 1e-4, max_iter: int = 1000, intercept_scaling: float = 1.0,
                          warm_start: bool = True, precondition: bool = False, eps_cg: float = 0.5,
                          max_cg: int = 500, chunk_rows: int | None = None, resident: bool | None = None
                          ) -> list[LinearModel]:
    """Fit liblinear's OvR L2-regularised squared-hinge SVM for every C in ``costs`` (solved in ascending order,
    each warm-started from the previous solution; returned in the order given).

    features: the training rows (every clip row is one training example with its sample's label).
    n_classes: K; labels must lie in ``0..K-1`` (a class with no rows still gets a fitted all-negative column).
    tol: liblinear's ``eps`` (sklearn's ``tol``). max_iter: Newton iterations per C (sklearn's ``max_iter``).
    chunk_rows: rows per GEMM chunk (default 2048 on CPU, 65536 on CUDA).
    resident: keep the converted rows on the device (default: when they fit, see ``svm_newton._fits``).
    Returns one ``LinearModel`` per C (weights ``[D, K]``, bias ``[K]``, on CPU, in ``dtype``).
    """
    if n_classes < 2:
        raise ValueError("fit_squared_hinge_ovr needs at least 2 classes")
    if not costs or any(c <= 0 for c in costs):
        raise ValueError("costs must be a non-empty list of positive numbers")
    dev = torch.device(device)
    labels = features.row_labels
    if labels.numel() == 0:
        raise ValueError("no training rows")
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    chunk = chunk_rows or (65536 if dev.type == "cuda" else 2048)
    stream = RowStream(features, n_classes, dev, dtype, chunk, resident)
    problem = SquaredHingeProblem(stream, float(intercept_scaling))
    n = stream.n
    pos = torch.bincount(labels, minlength=n_classes).to(torch.float64)
    rel_eps = (tol * torch.clamp(torch.minimum(pos, n - pos), min=1.0) / n).to(dev)
    threads = _PathThreads(dev, 4.0 * stream.n * (stream.dim + 1) * n_classes, len(costs))
    before = torch.get_num_threads()
    try:
        threads.apply(0)
        # ||grad f_k(0)|| = 2C ||X~^T y_k||: all rows are active at w = 0 and z - y = -y.
        xty = torch.zeros(stream.dim + 1, n_classes, dtype=torch.float64, device=dev)
        for c, x in stream.chunks():
            problem.xtr_add(xty, x, stream.targets[c])
        g0_unit = xty.norm(dim=0)
        out = _fit_path(problem, stream, costs, n_classes, dev, dtype, rel_eps, g0_unit, tol, max_iter,
                        intercept_scaling, warm_start, eps_cg, max_cg, precondition, threads)
    finally:
        torch.set_num_threads(before)
    return [out[i] for i in range(len(costs))]


class _PathThreads:
    """The CPU thread count of one C path, measured on the path itself rather than guessed.

    Every small parameter-space operation of the solver ends at an OpenMP barrier, and when the cores are shared a
    barrier waits for a descheduled thread while libgomp's default spin-wait burns the waiting thread's slice. A
    GEMM-only probe does not show it (it picked 2 threads; the sweep then ran 4-10x slower than on 1), so the
    first C of the path runs on one thread and the second on all of them, and the rest of the path takes the
    count with fewer seconds per data pass (all threads must win by 10 %: one thread also spares the neighbours).
    Measured on the shared 2-core EPYC with two busy processes beside it, the 8-C ESC-50 sweep on one fold of
    real extracted features (1 640 x 1 153 rows, 50 classes) took 190-230 s on 2 threads and 9-17 s on 1; on the
    same machine without them both took 3.4-3.6 s and the trial keeps 2 threads. Problems below ``limit`` flops
    per step run on one thread (:func:`single_thread_if_small`); paths of fewer than 3 C values are not tried.
    """

    def __init__(self, device: torch.device, flops_per_step: float, n_costs: int, limit: float = 5e7) -> None:
        self.all = torch.get_num_threads()
        cpu = device.type == "cpu" and self.all > 1
        self.trial = [1, self.all] if cpu and flops_per_step >= limit and n_costs >= 3 else []
        self.fixed = 1 if cpu and flops_per_step < limit else self.all
        self.seconds_per_pass: dict[int, float] = {}

    def count(self, step: int) -> int:
        """Threads for the ``step``-th C of the path (0-based, ascending C)."""
        if step < len(self.trial):
            return self.trial[step]
        if self.seconds_per_pass:
            return self.all if self.seconds_per_pass[self.all] < 0.9 * self.seconds_per_pass[1] else 1
        return self.fixed

    def apply(self, step: int) -> int:
        n = self.count(step)
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n

    def record(self, step: int, seconds: float, passes: int) -> None:
        if step < len(self.trial):
            self.seconds_per_pass[self.trial[step]] = seconds / max(1, passes)


def _fit_path(problem: SquaredHingeProblem, stream: RowStream, costs: Sequence[float], n_classes: int,
              dev: torch.device, dtype: torch.dtype, rel_eps: torch.Tensor, g0_unit: torch.Tensor, tol: float,
              max_iter: int, intercept_scaling: float, warm_start: bool, eps_cg: float, max_cg: int,
              precondition: bool, threads: _PathThreads) -> dict[int, LinearModel]:
    """Solve the C path in ascending order (warm-started unless told otherwise); models keyed by position in costs."""
    label = device_label(dev, dtype)
    order = sorted(range(len(costs)), key=lambda i: costs[i])
    w = torch.zeros(stream.dim + 1, n_classes, dtype=torch.float64, device=dev)  # parameters kept in float64
    out: dict[int, LinearModel] = {}
    for step, i in enumerate(order):
        C = float(costs[i])
        if not warm_start:
            w.zero_()
        n_threads = threads.apply(step)
        passes0 = problem.passes
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        diag = newton_one_c(problem, w, C, rel_eps, g0_unit, max_iter, eps_cg, max_cg, precondition)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
        iters = diag["iterations_per_class"]
        conv = diag["converged_per_class"]
        info = {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in diag.items()}
        info.update(seconds=seconds, data_passes=problem.passes - passes0, tol=tol, warm_start=warm_start,
                    cpu_threads=n_threads if dev.type == "cpu" else None)
        threads.record(step, seconds, problem.passes - passes0)
        out[i] = LinearModel(weights=w[:-1].to(dtype).cpu().clone(), bias=(w[-1] * intercept_scaling).to(dtype).cpu(),
                             C=C, intercept_scaling=float(intercept_scaling), iterations=int(iters.max()),
                             converged=bool(conv.all()), backend=label, info=info)
    return out


# ------------------------------------------------------------------------------------------- evaluation


def decision_function(model: LinearModel, features: ClipFeatures | torch.Tensor, *,
                      device: str | torch.device = "cpu", chunk_rows: int = 8192) -> torch.Tensor:
    """Decision values ``[n, K]`` (CPU, the model's dtype) for every row, streaming the feature blocks."""
    dev = torch.device(device)
    w = model.weights.to(dev)
    b = model.bias.to(dev)
    blocks = [features] if isinstance(features, torch.Tensor) else features.blocks
    outs = []
    for block in blocks:
        for off in range(0, int(block.shape[0]), chunk_rows):
            x = block[off:off + chunk_rows].to(device=dev, dtype=w.dtype)
            outs.append(torch.addmm(b, x, w).cpu())
    return torch.cat(outs) if outs else torch.empty(0, w.shape[1], dtype=w.dtype)


def primal_objective(model: LinearModel, X: torch.Tensor | ClipFeatures, y: torch.Tensor, C: float) -> torch.Tensor:
    """The per-class primal objective ``f_k [K]`` (float64) of ``model`` on rows ``X [n, D]`` with labels ``y [n]``:
    ``1/2 (||w_k||^2 + (b_k / s)^2) + C sum_i max(0, 1 - y_ik (x_i w_k + b_k))^2``, ``s = intercept_scaling``."""
    if isinstance(X, ClipFeatures):
        X = X.dense()
    w = model.weights.double()
    b = model.bias.double()
    z = X.double() @ w + b
    K = w.shape[1]
    yk = torch.full((X.shape[0], K), -1.0, dtype=torch.float64)
    yk.scatter_(1, y.long()[:, None], 1.0)
    hinge = torch.clamp_min(1 - yk * z, 0).square().sum(0)
    return 0.5 * ((w * w).sum(0) + (b / model.intercept_scaling) ** 2) + C * hinge

