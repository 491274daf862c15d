"""How the Newton solver of :mod:`avbench.protocols.svm_newton` finds its direction ``s = -H_k^-1 g_k`` for each
class k, where ``H_k = I + 2C X~_I^T X~_I`` (``I``: the rows active for class k, ``y z < 1``).

Real encoder features make ``H_k`` very ill-conditioned: all values are non-negative with column means about two
standard deviations from zero, so the mean direction carries an eigenvalue near ``2C |I| ||mean||^2``, and the
centred spectrum falls fast after it. Plain CG then needs hundreds of steps per Newton step, and liblinear's
diagonal preconditioner does not help (the large eigenvalues do not lie along coordinates). Two remedies:

* :class:`Subspace` + :func:`subspace_preconditioner`, for CG (:func:`pcg`): the top ``r`` right singular
  directions ``V [D + 1, r]`` of the whole ``X~`` (shared by every class and every C of the path; a seeded
  randomised range finder, a few passes over the rows) and ``U = X~ V``. Per Newton iteration each class's exact
  projected Hessian ``V^T H_k V = I + 2C U^T M_k U`` (``[k, r, r]``) is factored, and
  ``M_k^-1 q = V (V^T H_k V)^-1 V^T q + (I - V V^T) q``: CG works exactly on the subspace and with the identity on
  the rest. Per CG step this adds ``O((D + 1) r k)`` to the ``O(n (D + 1) k)`` of the Hessian product.
* :func:`exact_steps`, for a class with few active rows (large C, where CG is slowest): the exact Newton direction
  by the Woodbury identity, ``H^-1 g = g - X~_I^T (I / 2C + X~_I X~_I^T)^-1 X~_I g``, one Cholesky factor of an
  ``|I| x |I|`` matrix. :func:`exact_is_cheaper` decides per class and Newton iteration from the flop counts.
"""
from __future__ import annotations

from typing import Callable

import torch

from avbench.protocols.svm_problem import SquaredHingeProblem

__all__ = ["Preconditioner", "pcg", "Subspace", "subspace_rank", "subspace_preconditioner", "exact_steps",
           "exact_is_cheaper"]

#: ``M^-1 q`` for the class columns ``idx`` of the current Newton iteration: ``(q [D + 1, m], idx [m]) -> [D + 1, m]``
Preconditioner = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: CG steps a class's exact step may cost (in flops of one CG step on its column) before CG is preferred
EXACT_BUDGET_CG_STEPS = 40


def pcg(problem: SquaredHingeProblem, g: torch.Tensor, masks: list[torch.Tensor], C: float,
        minv: Preconditioner | None, cgtol: torch.Tensor,
        max_cg: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, int]:
    """Preconditioned CG on ``H s = -g`` per column, stopped by liblinear's quadratic-model rule (column k stops
    when ``it (Q_it - Q_{it-1}) >= cgtol_k Q_it`` for the quadratic model ``Q``).

    g: ``[D + 1, k]`` gradients.  masks: ``[n_c, k]`` active rows per chunk.  minv: ``M^-1 q`` (None: plain CG).
    Returns the step ``s [D + 1, k]``, ``X~ s`` per chunk, CG steps per column ``[k]`` and batched CG steps.
    """
    k = g.shape[1]
    dev = g.device
    s = torch.zeros_like(g)
    r = -g
    zr = r if minv is None else minv(r, torch.arange(k, device=dev))
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
        z_c = r_c if minv is None else minv(r_c, cont)
        znew = (z_c * r_c).sum(0)
        beta = znew / ztr[cont]
        d[:, cont] = z_c + beta * d[:, cont]
        ztr[cont] = znew
    return s, xs, steps, batched


def subspace_rank(n: int, dim: int) -> int:
    """The subspace size ``r``: at most 64, ``(D + 1) / 8`` and ``n``, so that forming the projected Hessians
    (``n r^2 k`` flops per Newton iteration) costs at most about one pass over the rows (``2 n (D + 1) k``)."""
    return int(max(1, min(64, (dim + 1) // 8, int((2 * (dim + 1)) ** 0.5), n)))


class Subspace:
    """Top-``rank`` right singular directions of ``X~`` by a seeded randomised range finder with ``power`` power
    iterations (``2 power + 4`` passes over the rows; parameters in float64).

    ``basis``: ``V [D + 1, r]`` float64 with orthonormal columns, largest singular value first.
    ``rows``: ``U = X~ V`` per row chunk, ``[n_c, r]`` in the data dtype.
    """

    def __init__(self, problem: SquaredHingeProblem, rank: int, *, power: int = 2, oversample: int = 8,
                 seed: int = 0) -> None:
        stream = problem.s
        dev = stream.device
        d1 = stream.dim + 1
        width = min(d1, rank + oversample)
        g = torch.Generator().manual_seed(seed)
        q = torch.linalg.qr(torch.randn(d1, width, generator=g, dtype=torch.float64).to(dev)).Q
        for _ in range(power + 1):
            y = torch.zeros(d1, width, dtype=torch.float64, device=dev)
            for _c, x in stream.chunks():
                problem.xtr_add(y, x, problem.xw(x, q))
            problem.passes += 2
            q = torch.linalg.qr(y).Q
        small = torch.zeros(width, width, dtype=torch.float64, device=dev)  # Rayleigh-Ritz on span(q)
        for _c, x in stream.chunks():
            xq = problem.xw(x, q).double()
            small += xq.T @ xq
        evals, evecs = torch.linalg.eigh(small)
        order = torch.argsort(evals, descending=True)[:rank]
        self.basis = q @ evecs[:, order]
        self.rows = [problem.xw(x, self.basis) for _c, x in stream.chunks()]
        problem.passes += 2


def subspace_preconditioner(sub: Subspace, masks: list[torch.Tensor], C: float) -> Preconditioner:
    """The two-level preconditioner of the module docstring for the class columns of ``masks`` (``[n_c, k]``
    active-row indicators per chunk, in the order of the current Newton iteration's columns)."""
    V = sub.basis
    r, k = V.shape[1], masks[0].shape[1]
    proj = torch.zeros(k, r, r, dtype=torch.float64, device=V.device)
    for u, m in zip(sub.rows, masks):  # U^T M_k U for every class at once
        um = m.T.unsqueeze(2) * u.unsqueeze(0)  # [k, n_c, r]
        proj += torch.bmm(um.transpose(1, 2), u.expand(k, -1, -1)).double()
    proj.mul_(2 * C).diagonal(dim1=1, dim2=2).add_(1.0)
    chol = torch.linalg.cholesky(proj)

    def apply(q: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        t = V.T @ q  # [r, m]
        sol = torch.cholesky_solve(t.T.unsqueeze(2), chol[idx]).squeeze(2).T
        return q + V @ (sol - t)

    return apply


def exact_is_cheaper(active: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """``[k]`` bool: the exact step (``2 a^2 (D + 1) + a^3 / 3`` flops for ``a`` active rows) costs less than
    :data:`EXACT_BUDGET_CG_STEPS` CG steps on one column (``4 n (D + 1)`` flops each)."""
    a = active.double()
    return 2 * a * a * (dim + 1) + a ** 3 / 3 <= EXACT_BUDGET_CG_STEPS * 4.0 * n * (dim + 1)


def exact_steps(problem: SquaredHingeProblem, g: torch.Tensor, masks: list[torch.Tensor], C: float
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Exact Newton directions ``s = -H_k^-1 g_k`` for every column of ``g [D + 1, m]`` (``masks``: ``[n_c, m]``),
    by the Woodbury identity of the module docstring; the ``|I| x |I|`` Gram matrix is formed in the data dtype
    and factored in float64 (an error there only makes the direction inexact; the gradient decides convergence).
    Returns ``s [D + 1, m]`` float64 and ``X~ s`` per chunk."""
    s2 = problem.scale ** 2
    steps = torch.empty_like(g)
    chunks = list(problem.s.chunks())
    for j in range(g.shape[1]):
        rows = torch.cat([x[m[:, j] > 0] for (_c, x), m in zip(chunks, masks)])
        gj = g[:, j]
        if rows.shape[0] == 0:
            steps[:, j] = -gj
            continue
        gram = (rows @ rows.T).double() + s2
        gram.diagonal().add_(1.0 / (2 * C))
        xg = (rows @ gj[:-1].to(rows.dtype)).double() + problem.scale * gj[-1]
        b = torch.cholesky_solve(xg[:, None], torch.linalg.cholesky(gram))[:, 0]
        hinv_g = gj.clone()
        hinv_g[:-1] -= rows.T.double() @ b
        hinv_g[-1] -= problem.scale * b.sum()
        steps[:, j] = -hinv_g
    xs = [problem.xw(x, steps) for _c, x in chunks]
    problem.passes += 1
    return steps, xs
