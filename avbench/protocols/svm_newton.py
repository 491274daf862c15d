"""The solver of :mod:`avbench.protocols.svm_torch`: liblinear's Newton method for the one-vs-rest squared-hinge
SVM, batched over all K classes at once; the solve for one C.

Method (liblinear >= 2.30 ``newton.cpp``, batched): Newton iterations whose direction comes from conjugate
gradients stopped by the relative-reduction rule on the quadratic model (eps_cg = 0.5), followed by an Armijo
backtracking line search (eta = 0.01, halving). The CG is preconditioned by a subspace of the data's top
singular directions, and a class with few active rows takes the exact Newton direction instead
(:mod:`avbench.protocols.svm_direction`); liblinear's own diagonal preconditioner does nothing for the
ill-conditioning of real features. The line search costs no extra pass over the data: the direction comes with
``X~ s``, so the squared-hinge loss along the step is evaluated from ``[n, K]`` tensors only. Stopping rule
(liblinear's): class k stops when ``||grad f_k(w)|| <= tol * max(min(pos_k, neg_k), 1) / n * ||grad f_k(0)||``.
Converged classes leave the batch, so later GEMMs are narrower. Warm starts along an ascending C path reuse the
previous solution; the stopping rule refers to the gradient at w = 0, so it does not depend on the starting point.
"""
from __future__ import annotations

from typing import Any

import torch

from avbench.protocols.svm_direction import Subspace, exact_is_cheaper, exact_steps, pcg, subspace_preconditioner
from avbench.protocols.svm_problem import RowStream, SquaredHingeProblem, loss_change
from avbench.runtime.progress import detail

__all__ = ["RowStream", "SquaredHingeProblem", "newton_one_c"]

_ETA_ARMIJO = 0.01  # liblinear's sufficient-decrease constant
_MAX_LINESEARCH = 20  # liblinear's max_num_linesearch


def _direction(problem: SquaredHingeProblem, g: torch.Tensor, masks: list[torch.Tensor], C: float,
               cgtol: torch.Tensor, max_cg: int, sub: Subspace | None, exact: bool
               ) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, int]]:
    """The Newton direction of every live column: exact where :func:`exact_is_cheaper` (and ``exact``), else
    preconditioned CG. Returns ``s [D + 1, k]``, ``X~ s`` per chunk and counts (CG steps, exact steps)."""
    k = g.shape[1]
    stream = problem.s
    use_exact = torch.zeros(k, dtype=torch.bool, device=g.device)
    if exact:
        active = sum(m.sum(0, dtype=torch.float64) for m in masks)
        use_exact = exact_is_cheaper(active, stream.n, stream.dim)
    e_idx, p_idx = use_exact.nonzero().squeeze(1), (~use_exact).nonzero().squeeze(1)
    counts = {"cg_steps": 0, "cg_batched_steps": 0, "exact_steps": int(e_idx.numel())}
    if e_idx.numel() == k:
        s, xs = exact_steps(problem, g, masks, C)
        return s, xs, counts
    if p_idx.numel() == k:
        minv = None if sub is None else subspace_preconditioner(sub, masks, C)
        s, xs, steps, batched = pcg(problem, g, masks, C, minv, cgtol, max_cg)
        counts.update(cg_steps=int(steps.sum()), cg_batched_steps=batched)
        return s, xs, counts
    s = torch.empty_like(g)
    xs = [torch.empty(m.shape, dtype=m.dtype, device=m.device) for m in masks]
    masks_p = [m[:, p_idx] for m in masks]
    minv = None if sub is None else subspace_preconditioner(sub, masks_p, C)
    s_p, xs_p, steps, batched = pcg(problem, g[:, p_idx], masks_p, C, minv, cgtol[p_idx], max_cg)
    s_e, xs_e = exact_steps(problem, g[:, e_idx], [m[:, e_idx] for m in masks], C)
    s[:, p_idx], s[:, e_idx] = s_p, s_e
    for out, a, b in zip(xs, xs_p, xs_e):
        out[:, p_idx], out[:, e_idx] = a, b
    counts.update(cg_steps=int(steps.sum()), cg_batched_steps=batched)
    return s, xs, counts


def _line_search(problem: SquaredHingeProblem, cols: torch.Tensor, wc: torch.Tensor, g: torch.Tensor,
                 s: torch.Tensor, zs: list[torch.Tensor], xs: list[torch.Tensor], C: float) -> torch.Tensor:
    """Armijo backtracking on the exact objective along ``s``, per column, from ``[n, k]`` tensors only. Returns the
    step sizes ``t [k]`` (0 where no step of 20 halvings decreased the objective enough)."""
    ys = [problem.s.targets[c][:, cols] for c in range(len(zs))]
    gts = (g * s).sum(0, dtype=torch.float64)
    wts, sts = (wc * s).sum(0, dtype=torch.float64), (s * s).sum(0, dtype=torch.float64)
    t = torch.ones_like(gts)
    accepted = torch.zeros_like(gts, dtype=torch.bool)
    for _ls in range(_MAX_LINESEARCH):
        change = t * wts + 0.5 * t * t * sts + C * loss_change(zs, xs, ys, t)
        accepted = accepted | (change <= _ETA_ARMIJO * t * gts)
        if bool(accepted.all()):
            break
        t = torch.where(accepted, t, 0.5 * t)
    return torch.where(accepted, t, torch.zeros_like(t))


def newton_one_c(problem: SquaredHingeProblem, w: torch.Tensor, C: float, rel_eps: torch.Tensor,
                 g0_unit: torch.Tensor, max_iter: int, eps_cg: float, max_cg: int, sub: Subspace | None = None,
                 exact: bool = False) -> dict[str, Any]:
    """Solve all classes for one C in place on ``w [D + 1, K]`` (float64); returns per-class diagnostics.

    rel_eps ``[K]`` and g0_unit ``[K]`` (``||X~^T y_k||``) make liblinear's stopping threshold. sub: the CG
    preconditioner's subspace (None: plain CG). exact: allow exact steps for classes with few active rows."""
    K = w.shape[1]
    dev = w.device
    thresh = rel_eps * (2 * C) * g0_unit  # tol * max(min(pos,neg),1)/n * ||grad f_k(0)||
    iters = torch.zeros(K, dtype=torch.long, device=dev)
    converged = torch.zeros(K, dtype=torch.bool, device=dev)
    grad_ratio = torch.zeros(K, dtype=torch.float64, device=dev)
    objective = torch.zeros(K, dtype=torch.float64, device=dev)
    totals = {"cg_steps": 0, "cg_batched_steps": 0, "exact_steps": 0, "linesearch_failures": 0}
    cols = torch.arange(K, device=dev)
    show = detail()  # a progress bar's text: which Newton step of this C, how many classes still run
    for step in range(max_iter + 1):
        if show is not None and step % 10 == 0:
            show(f"C={C:g}, Newton step {step} (at most {max_iter}), {cols.numel()} of {K} classes running")
        wc = w[:, cols]
        f, g, zs, masks = problem.gradient(wc, cols, C)
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
            cols, wc, g = cols[keep], wc[:, keep], g[:, keep]
            zs = [z[:, keep] for z in zs]
            masks = [m[:, keep] for m in masks]
        # liblinear's forcing term: min(eps_cg, sqrt(||g||)), so CG tightens as the gradient vanishes
        cgtol = torch.clamp(g.norm(dim=0).sqrt(), max=eps_cg)
        s, xs, counts = _direction(problem, g, masks, C, cgtol, max_cg, sub, exact)
        for key, v in counts.items():
            totals[key] += v
        t = _line_search(problem, cols, wc, g, s, zs, xs, C)
        totals["linesearch_failures"] += int((t == 0).sum())
        w[:, cols] = wc + s * t
        iters[cols] += 1
        if not bool((t > 0).any()):  # no column can make progress (rounding floor): stop, not converged
            break
    return {"iterations_per_class": iters.cpu(), "converged_per_class": converged.cpu(),
            "grad_norm_ratio": grad_ratio.cpu(), "objective": objective.cpu(), **totals}
