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

Method (liblinear >= 2.30 ``newton.cpp``, batched): Newton iterations with a diagonally preconditioned conjugate
gradient inner solver stopped by the relative-reduction rule on the quadratic model (eps_cg = 0.5), followed by
an Armijo backtracking line search (eta = 0.01, halving). The line search costs no extra pass over the data:
the CG keeps ``X~ s`` as a by-product (``X~ s = sum_j alpha_j X~ d_j``), so the squared-hinge loss along the step
is evaluated from ``[n, K]`` tensors only. Stopping rule (liblinear's): class k stops when
``||grad f_k(w)|| <= tol * max(min(pos_k, neg_k), 1) / n * ||grad f_k(0)||``. Converged classes leave the
batch, so later GEMMs are narrower. Warm starts along an ascending C path reuse the previous solution; the
stopping rule refers to the gradient at w = 0, so it does not depend on the starting point.

Rows stream from ``ClipFeatures.blocks``: each block is cut into row chunks that are moved to the solver
device and dtype in turn (or kept there when they fit, see ``resident``), so large problems need not fit on the
device at once.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from avbench.protocols.base import ClipFeatures

__all__ = ["LinearModel", "fit_squared_hinge_ovr", "primal_objective", "decision_function", "device_label",
           "single_thread_if_small"]

_ETA_ARMIJO = 0.01  # liblinear's sufficient-decrease constant
_MAX_LINESEARCH = 20  # liblinear's max_num_linesearch
_ALPHA_PCG = 0.01  # liblinear's preconditioner mix: M = (1 - a) I + a diag(H)


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


# ----------------------------------------------------------------------------------------------- data stream


class _RowStream:
    """Row chunks of a ClipFeatures on the solver device and dtype, plus the ``[n, K]`` +-1 targets per chunk.

    Chunks are views of the blocks (``chunk_rows`` rows each, cache-friendly on CPU). When ``resident`` the
    converted chunks are kept (copied once); otherwise each pass converts/moves them again.
    """

    def __init__(self, features: ClipFeatures, n_classes: int, device: torch.device, dtype: torch.dtype,
                 chunk_rows: int, resident: bool | None) -> None:
        self.device, self.dtype = device, dtype
        self.dim = features.dim
        self.n = features.n_rows
        nbytes = self.n * self.dim * torch.finfo(dtype).bits // 8
        if resident is None:
            resident = _fits(nbytes, device)
        self.resident = resident
        row_labels = features.row_labels
        self._chunks: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []  # [n_c, K] +-1 per chunk, always on device
        for start, block in features.iter_blocks():
            for off in range(0, int(block.shape[0]), chunk_rows):
                x = block[off:off + chunk_rows]
                if x.shape[0] == 0:
                    continue
                if resident:
                    x = x.to(device=device, dtype=dtype).contiguous()
                self._chunks.append(x)
                lab = row_labels[start + off:start + off + x.shape[0]].to(device)
                y = torch.full((x.shape[0], n_classes), -1.0, dtype=dtype, device=device)
                y.scatter_(1, lab[:, None], 1.0)
                self.targets.append(y)

    def __len__(self) -> int:
        return len(self._chunks)

    def chunks(self) -> Iterator[tuple[int, torch.Tensor]]:
        for c, x in enumerate(self._chunks):
            if not self.resident:
                x = x.to(device=self.device, dtype=self.dtype, non_blocking=True)
            yield c, x


def _fits(nbytes: int, device: torch.device) -> bool:
    """Keep converted chunks when they take under half the free device memory (CPU: under 8 GiB)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= free // 2
    return nbytes <= 8 << 30


# ------------------------------------------------------------------------------------------- the objective


class _Problem:
    """The batched OvR squared-hinge problem on a subset of class columns.

    Parameter-space tensors (``w~``, gradients, CG vectors, ``[D + 1, k]``) are float64 whatever the data dtype:
    they are tiny next to the rows, and float32 CG recurrences on these ill-conditioned Hessians (eigenvalues
    from 1 to ~2C n ||mean x||^2) lose the Newton direction; only the GEMMs over the rows run in the data dtype.
    """

    def __init__(self, stream: _RowStream, scale: float) -> None:
        self.s = stream
        self.scale = scale  # intercept_scaling
        self.passes = 0  # GEMMs over the whole data set, for diagnostics

    def xw(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``X~ w`` for one chunk: ``[n_c, k]`` in the data dtype (``w`` is cast to it)."""
        w = w.to(x.dtype)
        return torch.addmm(w[-1:].mul(self.scale), x, w[:-1])

    def xtr_add(self, out: torch.Tensor, x: torch.Tensor, r: torch.Tensor) -> None:
        """``out += X~^T r`` for one chunk (``out`` float64, the GEMM in the data dtype)."""
        out[:-1] += (x.T @ r).to(out.dtype)
        out[-1] += r.sum(0, dtype=out.dtype) * self.scale

    def gradient(self, w: torch.Tensor, cols: torch.Tensor, C: float, want_diag: bool
                 ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
        """Fresh ``z = X~ w`` per chunk, the objective ``f [k]``, the gradient ``[D + 1, k]``, the active masks and
        (optionally) ``diag(H) [D + 1, k]``. ``cols`` selects the class columns of the targets."""
        g = torch.zeros_like(w)
        diag = torch.zeros_like(w) if want_diag else None
        loss = torch.zeros(w.shape[1], dtype=w.dtype, device=w.device)
        zs, masks = [], []
        for c, x in self.s.chunks():
            y = self.s.targets[c][:, cols]
            z = self.xw(x, w)
            m = (y * z < 1).to(x.dtype)
            r = (z - y) * m  # d/dz of the squared hinge is 2 (z - y) on the active set
            loss += (r * r).sum(0, dtype=loss.dtype)
            self.xtr_add(g, x, r)
            if diag is not None:
                self.xtr_add(diag, x.square(), m)
                diag[-1] += m.sum(0, dtype=diag.dtype) * (self.scale ** 2 - self.scale)
            zs.append(z)
            masks.append(m)
        self.passes += 2 + int(want_diag)
        g.mul_(2 * C).add_(w)
        f = 0.5 * (w * w).sum(0) + C * loss
        if diag is not None:
            diag.mul_(2 * C).add_(1.0)
        return f, g, zs, masks, diag

    def hess_vec(self, d: torch.Tensor, masks: list[torch.Tensor], C: float
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``H d = d + 2C X~_I^T (X~_I d)`` for every column at once (two GEMMs per chunk), and ``X~ d`` per chunk."""
        out = torch.zeros_like(d)
        xds = []
        for c, x in self.s.chunks():
            xd = self.xw(x, d)
            xds.append(xd)
            self.xtr_add(out, x, xd * masks[c])
        self.passes += 2
        return out.mul_(2 * C).add_(d), xds


def _loss_change(zs: list[torch.Tensor], us: list[torch.Tensor], ys: list[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
    """``sum_i [max(0, 1 - y (z + t u))^2 - max(0, 1 - y z)^2]`` per column ``[k]`` (float64), for per-column step
    sizes ``t [k]``. Differences are formed per element before summing, so a decrease far below the objective's
    float32 resolution is still seen (a float32 ``f(t) - f(0)`` stalls around a relative 1e-5 gradient norm)."""
    total = torch.zeros(t.shape[0], dtype=torch.float64, device=t.device)
    for z, u, y in zip(zs, us, ys):
        h0 = torch.clamp_min(1 - y * z, 0)
        h1 = torch.clamp_min(1 - y * (z + t * u), 0)
        total += ((h1 - h0) * (h1 + h0)).sum(0, dtype=torch.float64)
    return total


# ----------------------------------------------------------------------------------------------- the solver


def _pcg(problem: _Problem, g: torch.Tensor, masks: list[torch.Tensor], C: float, precond: torch.Tensor | None,
         cgtol: torch.Tensor, max_cg: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, int]:
    """Preconditioned CG on ``H s = -g`` per column, stopped by liblinear's quadratic-model rule.

    Returns the step ``s [D + 1, k]``, ``X~ s`` per chunk, CG steps per column ``[k]`` and batched CG steps.
    """
    k = g.shape[1]
    dev = g.device
    s = torch.zeros_like(g)
    r = -g
    minv = None if precond is None else precond.reciprocal()
    zr = r if minv is None else r * minv
    d = zr.clone()
    ztr = (zr * r).sum(0)
    q = torch.zeros(k, dtype=g.dtype, device=dev)
    xs = [torch.zeros(z.shape[0], k, dtype=z.dtype, device=dev) for z in masks]
    running = torch.ones(k, dtype=torch.bool, device=dev)
    steps = torch.zeros(k, dtype=torch.long, device=dev)
    batched = 0
    for it in range(1, max_cg + 1):
        idx = running.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        full = idx.numel() == k
        d_i = d if full else d[:, idx]
        hd, xd = problem.hess_vec(d_i, masks if full else [m[:, idx] for m in masks], C)
        batched += 1
        steps[idx] += 1
        dhd = (d_i * hd).sum(0)
        ok = dhd > 0  # H >= I, so only d = 0 gives 0 (liblinear's absolute 1e-16 stalls tiny gradients)
        alpha = torch.where(ok, ztr[idx] / torch.where(ok, dhd, 1.0), 0.0)
        if full:
            s.add_(d * alpha)
            r.sub_(hd * alpha)
            a_x = alpha.to(xd[0].dtype)
            for xs_c, xd_c in zip(xs, xd):
                xs_c.add_(xd_c * a_x)
        else:
            s[:, idx] += d_i * alpha
            r[:, idx] -= hd * alpha
            a_x = alpha.to(xd[0].dtype)
            for xs_c, xd_c in zip(xs, xd):
                xs_c[:, idx] += xd_c * a_x
        s_i, r_i = s[:, idx], r[:, idx]
        new_q = -0.5 * ((s_i * r_i).sum(0) - (s_i * g[:, idx]).sum(0))
        q_diff = new_q - q[idx]
        decreasing = (new_q <= 0) & (q_diff <= 0)
        stop = ~ok | ~decreasing | (it * q_diff >= cgtol[idx] * new_q)
        q[idx] = new_q
        running[idx[stop]] = False
        cont = idx[~stop]
        if cont.numel() == 0:
            break
        r_c = r[:, cont]
        z_c = r_c if minv is None else r_c * minv[:, cont]
        znew = (z_c * r_c).sum(0)
        beta = znew / ztr[cont]
        d[:, cont] = z_c + beta * d[:, cont]
        ztr[cont] = znew
    return s, xs, steps, batched


def _newton_one_c(problem: _Problem, w: torch.Tensor, C: float, rel_eps: torch.Tensor, g0_unit: torch.Tensor,
                  max_iter: int, eps_cg: float, max_cg: int, precondition: bool) -> dict[str, Any]:
    """Solve all classes for one C in place on ``w [D + 1, K]``; returns per-class diagnostics."""
    K = w.shape[1]
    dev = w.device
    thresh = rel_eps * (2 * C) * g0_unit  # tol * max(min(pos,neg),1)/n * ||grad f_k(0)||
    iters = torch.zeros(K, dtype=torch.long, device=dev)
    converged = torch.zeros(K, dtype=torch.bool, device=dev)
    grad_ratio = torch.zeros(K, dtype=torch.float64, device=dev)
    objective = torch.zeros(K, dtype=torch.float64, device=dev)
    cg_total, cg_batched, ls_fail = 0, 0, 0
    cols = torch.arange(K, device=dev)
    for _ in range(max_iter + 1):
        wc = w[:, cols]
        f, g, zs, masks, diag = problem.gradient(wc, cols, C, want_diag=precondition)
        gnorm = g.norm(dim=0)
        objective[cols] = f.double()
        grad_ratio[cols] = (gnorm / (2 * C * g0_unit[cols])).double()
        done = gnorm <= thresh[cols]
        converged[cols[done]] = True
        live = ~done & (iters[cols] < max_iter)
        if not bool(live.any()):
            break
        if not bool(live.all()):
            keep = live.nonzero().squeeze(1)
            cols, wc, f, g = cols[keep], wc[:, keep], f[keep], g[:, keep]
            zs = [z[:, keep] for z in zs]
            masks = [m[:, keep] for m in masks]
            diag = None if diag is None else diag[:, keep]
        precond = None if diag is None else (1 - _ALPHA_PCG) + _ALPHA_PCG * diag
        # liblinear's forcing term: min(eps_cg, sqrt(||g||_{M^-1})), so CG tightens as the gradient vanishes
        gm = (g * g if precond is None else g * g / precond).sum(0).sqrt()
        s, xs, steps, batched = _pcg(problem, g, masks, C, precond, torch.clamp(gm.sqrt(), max=eps_cg), max_cg)
        cg_total += int(steps.sum())
        cg_batched += batched
        # Armijo backtracking on the exact objective along s, evaluated from [n, k] tensors only.
        ys = [problem.s.targets[c][:, cols] for c in range(len(zs))]
        gts = (g * s).sum(0, dtype=torch.float64)
        wts, sts = (wc * s).sum(0, dtype=torch.float64), (s * s).sum(0, dtype=torch.float64)
        t = torch.ones_like(gts)
        accepted = torch.zeros_like(gts, dtype=torch.bool)
        for _ls in range(_MAX_LINESEARCH):
            change = t * wts + 0.5 * t * t * sts + C * _loss_change(zs, xs, ys, t.to(zs[0].dtype))
            accepted = accepted | (change <= _ETA_ARMIJO * t * gts)
            if bool(accepted.all()):
                break
            t = torch.where(accepted, t, 0.5 * t)
        t = torch.where(accepted, t, torch.zeros_like(t))
        ls_fail += int((~accepted).sum())
        w[:, cols] = wc + s * t
        iters[cols] += 1
        if not bool(accepted.any()):  # no column can make progress (rounding floor): stop, not converged
            break
    return {"iterations_per_class": iters.cpu(), "converged_per_class": converged.cpu(),
            "grad_norm_ratio": grad_ratio.cpu(), "objective": objective.cpu(), "cg_steps": cg_total,
            "cg_batched_steps": cg_batched, "linesearch_failures": ls_fail}


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
    resident: keep the converted rows on the device (default: when they fit, see ``_fits``).
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
    stream = _RowStream(features, n_classes, dev, dtype, chunk, resident)
    problem = _Problem(stream, float(intercept_scaling))
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


def _fit_path(problem: _Problem, stream: _RowStream, costs: Sequence[float], n_classes: int, dev: torch.device,
              dtype: torch.dtype, rel_eps: torch.Tensor, g0_unit: torch.Tensor, tol: float, max_iter: int,
              intercept_scaling: float, warm_start: bool, eps_cg: float, max_cg: int, precondition: bool,
              threads: _PathThreads) -> dict[int, LinearModel]:
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
        diag = _newton_one_c(problem, w, C, rel_eps, g0_unit, max_iter, eps_cg, max_cg, precondition)
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

