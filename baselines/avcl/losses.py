"""AVCL pretraining losses (Audio-Visual Contrastive Learning, avcl-paper Section 2.3-2.4, Eq. 5-11).

Pure torch, no I/O. ``fv`` and ``fa`` are the visual and audio features of the same ``B`` clips, ``[B, D]`` each,
row ``b`` of both coming from the same video. Every loss is a 0-d tensor; gradients flow into both inputs.

* :func:`cross_correlation` - Eq. 6, the ``[D, D]`` cross-correlation along the batch;
* :func:`cocorrelation_loss` - Eq. 5 (CGRA), Barlow-Twins-style ``(1 - C_ii)^2`` plus ``lam * C_ij^2`` off-diagonal;
* :func:`avcl_contrastive_loss` - Eq. 7-10 (SelfCL), cross-modal positives with cross- and intra-modal negatives;
* :func:`avcl_total_loss` - Eq. 11, ``lambda_cor * Loss_cor + lambda_self * Loss_self``.

Paper ambiguities resolved here:

* Eq. 6 does **not** subtract the batch mean (Barlow Twins standardises each feature along the batch first). We
  follow the equation as written: ``C`` is the cosine between *columns* of ``fv`` and ``fa``, un-centred.
* The temperature ``tau`` of Eq. 8 is never given a value in the paper (only "tau in R+"). ``DEFAULT_TAU = 0.1`` is
  our choice, an open value to tune, not the paper's.
* Eq. 7 and 9 sum over the batch, so ``Loss_self`` grows with ``B``; ``reduction="mean"`` (default) divides by ``B``
  so that the value and its balance against ``Loss_cor`` (whose size depends on ``D``, not ``B``) do not move with
  the batch size; ``reduction="sum"`` is the paper's literal sum over ``i``. The paper trains with batch size 16.
* The positive ``h(v_i, a_i)`` is part of its own denominator (``j in I`` includes ``i``), exactly as Eq. 7 writes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_TAU", "cross_correlation", "cocorrelation_loss", "avcl_contrastive_loss", "avcl_total_loss"]

#: Temperature of Eq. 8. OPEN VALUE: the AVCL paper gives none; 0.1 is our choice (a common contrastive default).
DEFAULT_TAU = 0.1
_EPS = 1e-12


def _check_pair(fv: Tensor, fa: Tensor, name: str) -> None:
    if fv.dim() != 2 or fv.shape != fa.shape:
        raise ValueError(f"{name}: fv and fa must both be [B, D] with the same shape, got "
                         f"{tuple(fv.shape)} and {tuple(fa.shape)}")


def cross_correlation(fv: Tensor, fa: Tensor, eps: float = _EPS, center: bool = False) -> Tensor:
    """Eq. 6: ``C_ij = sum_b fv[b,i] fa[b,j] / (sqrt(sum_b fv[b,i]^2) * sqrt(sum_b fa[b,j]^2))``.

    ``fv``, ``fa``: ``[B, D]`` -> ``C``: ``[D, D]`` with entries in ``[-1, 1]``.
    Unlike Barlow Twins, Eq. 6 does not mean-centre the features along the batch, and neither do we: ``C_ij`` is
    the cosine between column ``i`` of ``fv`` and column ``j`` of ``fa``. A zero column (norm below ``eps``) gives
    a zero row/column of ``C`` instead of NaN.

    ``center=True`` (NOT the paper: an avbench option) subtracts each column's batch mean first, as Barlow Twins
    does, so ``C`` is the Pearson correlation. Un-centred, non-negative features (ReLU + average pool, as AVCL's
    trunks give) that all point the same way score ``C_ii = 1``: a collapsed batch meets the diagonal target.
    """
    _check_pair(fv, fa, "cross_correlation")
    if center:
        fv, fa = fv - fv.mean(0, keepdim=True), fa - fa.mean(0, keepdim=True)
    fv_n = fv / fv.norm(dim=0, keepdim=True).clamp_min(eps)
    fa_n = fa / fa.norm(dim=0, keepdim=True).clamp_min(eps)
    return fv_n.transpose(0, 1) @ fa_n


def cocorrelation_loss(fv: Tensor, fa: Tensor, lam: float = 0.005, center: bool = False) -> Tensor:
    """Eq. 5 (CGRA): ``sum_i (1 - C_ii)^2 + lam * sum_i sum_{j != i} C_ij^2`` with ``C`` of Eq. 6.

    ``fv``, ``fa``: ``[B, D]``. ``lam = 0.005`` as in the paper's parameter section; ``center`` as in
    :func:`cross_correlation`. Returns a scalar.
    """
    c = cross_correlation(fv, fa, center=center)
    diag = torch.diagonal(c)
    off = c.pow(2).masked_fill(torch.eye(c.shape[0], dtype=torch.bool, device=c.device), 0.0)
    return (1 - diag).pow(2).sum() + lam * off.sum()


def avcl_contrastive_loss(fv: Tensor, fa: Tensor, tau: float = DEFAULT_TAU, reduction: str = "mean") -> Tensor:
    """Eq. 7-10 (SelfCL): ``Loss_self = Loss_v + Loss_a``.

    ``Loss_v = -sum_i log( h(v_i,a_i) / (sum_{j in I} h(v_i,a_j) + sum_{j != i} h(v_i,v_j)) )`` with
    ``h(x, y) = exp(cos(x, y) / tau)`` (Eq. 8); ``Loss_a`` (Eq. 9) swaps the roles of ``fv`` and ``fa``.
    ``fv``, ``fa``: ``[B, D]``, row ``i`` of both from the same clip. Computed in log space (``logsumexp``), so no
    ``exp`` overflows for small ``tau``.

    ``reduction``: ``"sum"`` is the paper's sum over ``i``; ``"mean"`` (default) divides it by ``B`` so the value does
    not scale with the batch size (``"sum" == B * "mean"``). Returns a scalar.
    """
    _check_pair(fv, fa, "avcl_contrastive_loss")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"avcl_contrastive_loss: reduction must be 'mean' or 'sum', got {reduction!r}")
    if tau <= 0:
        raise ValueError(f"avcl_contrastive_loss: tau must be > 0, got {tau}")
    b = fv.shape[0]
    v = F.normalize(fv, dim=1)
    a = F.normalize(fa, dim=1)
    self_mask = torch.eye(b, dtype=torch.bool, device=fv.device)
    s_va = v @ a.transpose(0, 1) / tau                                   # log h(v_i, a_j), [B, B]
    s_vv = (v @ v.transpose(0, 1) / tau).masked_fill(self_mask, float("-inf"))   # j in A(i) = I \ {i}
    s_aa = (a @ a.transpose(0, 1) / tau).masked_fill(self_mask, float("-inf"))
    s_av = s_va.transpose(0, 1)                                          # log h(a_i, v_j)
    loss_v = torch.logsumexp(torch.cat([s_va, s_vv], dim=1), dim=1) - torch.diagonal(s_va)   # Eq. 7, per i
    loss_a = torch.logsumexp(torch.cat([s_av, s_aa], dim=1), dim=1) - torch.diagonal(s_av)   # Eq. 9, per i
    total = loss_v.sum() + loss_a.sum()                                  # Eq. 10
    return total / b if reduction == "mean" else total


def avcl_total_loss(fv: Tensor, fa: Tensor, *, lam: float = 0.005, tau: float = DEFAULT_TAU,
                    lambda_cor: float = 0.9, lambda_self: float = 0.1,
                    reduction: str = "mean", center: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. 11: ``Loss = lambda_cor * Loss_cor + lambda_self * Loss_self`` (paper: 0.9 and 0.1, ``lam = 0.005``).

    ``fv``, ``fa``: ``[B, D]``. ``tau`` is an open value (see :data:`DEFAULT_TAU`); ``reduction`` applies to
    ``Loss_self`` only (see :func:`avcl_contrastive_loss`), ``center`` to ``Loss_cor`` only. Returns
    ``(loss, {"cor": ..., "self": ...})``, the parts detached and unweighted.
    """
    cor = cocorrelation_loss(fv, fa, lam=lam, center=center)
    self_ = avcl_contrastive_loss(fv, fa, tau=tau, reduction=reduction)
    return lambda_cor * cor + lambda_self * self_, {"cor": cor.detach(), "self": self_.detach()}
