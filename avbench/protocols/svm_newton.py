"""The solver of :mod:`avbench.protocols.svm_torch`: liblinear's Newton method for the one-vs-rest squared-hinge
SVM, batched over all K classes at once; the row stream, the objective and the solve for one C.

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

from typing import Any, Iterator

import torch

from avbench.protocols.base import ClipFeatures

_ETA_ARMIJO = 0.01  # liblinear's sufficient-decrease constant
_MAX_LINESEARCH = 20  # liblinear's max_num_linesearch
_ALPHA_PCG = 0.01  # liblinear's preconditioner mix: M = (1 - a) I + a diag(H)


# ----------------------------------------------------------------------------------------------- data stream


class RowStream:
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


class SquaredHingeProblem:
    """The batched OvR squared-hinge problem on a subset of class columns.

    Parameter-space tensors (``w~``, gradients, CG vectors, ``[D + 1, k]``) are float64 whatever the data dtype:
    they are tiny next to the rows, and float32 CG recurrences on these ill-conditioned Hessians (eigenvalues
    from 1 to ~2C n ||mean x||^2) lose the Newton direction; only the GEMMs over the rows run in the data dtype.
    """

    def __init__(self, stream: RowStream, scale: float) -> None:
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


def _pcg(problem: SquaredHingeProblem, g: torch.Tensor, masks: list[torch.Tensor], C: float,
         precond: torch.Tensor | None, cgtol: torch.Tensor,
         max_cg: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, int]:
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


def newton_one_c(problem: SquaredHingeProblem, w: torch.Tensor, C: float, rel_eps: torch.Tensor,
                 g0_unit: torch.Tensor, max_iter: int, eps_cg: float, max_cg: int,
                 precondition: bool) -> dict[str, Any]:
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
