"""Predictive-contrastive loss with memory-bank neighbours (temporal-ssl-av paper, section "Model", Eq. 1-3).

Pure torch, no I/O. Features are ``[B, D]`` (batch rows), memory banks ``[Q, D]``; losses are 0-d tensors.

Pieces:

* :class:`FeatureQueue` - the FIFO memory banks ``Q_v`` / ``Q_a`` (the caller enqueues ``(nu + nu_hat)/2``, the mean of
  the two augmented views, as the paper says);
* :func:`similarity` - Eq. 2, ``d(x, y) = exp(cos(x, y) / lambda)`` with ``lambda = 0.2`` and no gradient through ``y``;
* :func:`queue_neighbours` - ``NN_{1:k}`` with the Eq. 3 weights ``W_{1:k}``, and ``NN_{q:q+m}`` for negatives;
* :func:`predictive_contrastive_loss` - Eq. 1 for every sample of the batch, averaged over the batch;
* :func:`order_label` and :data:`SPEEDS` - labels of the temporal pretext tasks (3-way order; 1x/2x/4x/8x speed).

How a caller instantiates Eq. 1 (``nu = psi_v(F_v(tau_r(v)))`` etc., all ``[B, D]``):

* ``l_vv``: ``pred = phi_v(nu^r)``, ``positive = nu_hat^s`` (other augmentation of the same video),
  ``negatives_batch = [nu^r]`` (the other samples' features of the same view r: the paper's ``{nu_j in B | j != i}``),
  ``anchor = nu_hat^s``, ``bank = Q_v``;
* ``l_va``: ``pred = phi_v(nu^r)``, ``positive = alpha^r`` (audio with the *identical* temporal augmentation),
  ``negatives_batch = [nu, alpha]``, ``anchor = alpha^r``, ``bank = Q_a``;
* ``l_av``: the same with the roles of video and audio swapped (``bank = Q_v``, anchor ``nu^r``).

``L_CRL`` (Eq. 4) is the sum of the three; the paper has no audio-audio term.

Paper ambiguities resolved here (also noted at the code they concern):

* "``q = n_a / 2``" in the paper is read as ``n_q / 2`` (half the memory-bank size; ``n_a`` is defined nowhere).
* Neighbour ranks are 0-based offsets into the neighbours sorted by descending cosine: ``q = 0`` is the nearest
  neighbour and the default ``q = Q // 2`` is the median neighbour. "The q-th to the (q+m)-th neighbour" is taken as
  ``m`` neighbours, sorted indices ``q .. q+m-1`` (the inclusive reading would give ``m + 1``), clipped to the bank.
* ``NN_{1:k}`` are the ``k`` nearest bank rows by cosine similarity to the anchor (equivalently by ``d``).
* Eq. 1 gives every positive its own denominator ``d(pred, p) + sum_n d(pred, n)``; the other positives are not
  negatives for it. The per-sample losses are averaged over the batch (the expectation of Eq. 4).
* Targets (positives, batch negatives, bank rows) are detached, following "we do not back-propagate through the
  second argument y in Eq. 2"; only ``pred`` gets a gradient. The weights of Eq. 3 and the neighbour search carry
  no gradient either.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TEMPERATURE", "SPEEDS", "FeatureQueue", "similarity", "queue_neighbours", "predictive_contrastive_loss",
           "order_label"]

#: ``lambda`` of Eq. 2 (the paper's value).
TEMPERATURE = 0.2
#: Playback-speed classes of the speed-classification pretext task (1x, 2x, 4x, 8x; label = index).
SPEEDS: tuple[int, ...] = (1, 2, 4, 8)


class FeatureQueue(nn.Module):
    """FIFO memory bank (``Q_v`` or ``Q_a``) of L2-normalised, detached feature rows.

    Buffers: ``bank`` ``[size, dim]`` (float32), ``ptr`` (long, next row to overwrite), ``filled`` (long, number of
    valid rows). Being buffers, they follow ``.to(device)`` and ``state_dict``.
    """

    bank: Tensor
    ptr: Tensor
    filled: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"FeatureQueue: size and dim must be >= 1, got size={size}, dim={dim}")
        self.size = int(size)
        self.dim = int(dim)
        self.register_buffer("bank", torch.zeros(self.size, self.dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, x: Tensor) -> None:
        """Store ``x`` ``[B, dim]`` (detached, L2-normalised), overwriting the oldest rows first.

        With ``B > size`` only the last ``size`` rows are kept (as if enqueued one by one).
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"FeatureQueue.enqueue: expected [B, {self.dim}], got {tuple(x.shape)}")
        b = x.shape[0]
        if b == 0:
            return
        x = F.normalize(x.detach().to(device=self.bank.device, dtype=self.bank.dtype), dim=1)
        ptr = int(self.ptr)
        skip = max(0, b - self.size)        # rows that would be overwritten within this same call
        rows = (ptr + skip + torch.arange(b - skip, device=self.bank.device)) % self.size
        self.bank[rows] = x[skip:]
        self.ptr.fill_((ptr + b) % self.size)
        self.filled.fill_(min(int(self.filled) + b, self.size))

    def contents(self) -> Tensor:
        """The valid rows, ``[filled, dim]`` (row order is storage order, not age order)."""
        # Until the bank is full, rows are written from 0 upwards, so the valid rows are a prefix.
        return self.bank[: int(self.filled)]

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"


def _cosine(x: Tensor, y: Tensor) -> Tensor:
    """All-pairs cosine ``[B, D] x [M, D] -> [B, M]``; gradient through ``x`` only."""
    return F.normalize(x, dim=1) @ F.normalize(y.detach(), dim=1).transpose(0, 1)


def similarity(x: Tensor, y: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """Eq. 2 for all pairs: ``d(x_b, y_m) = exp(cos(x_b, y_m) / lambda)``; ``[B, D], [M, D] -> [B, M]``.

    No gradient flows through ``y`` (it is detached), as the paper states for the second argument.
    """
    return torch.exp(_cosine(x, y) / temperature)


@torch.no_grad()
def queue_neighbours(anchor: Tensor, bank: Tensor, k: int, m: int, q: int | None = None,
                     temperature: float = TEMPERATURE) -> tuple[Tensor, Tensor, Tensor]:
    """Memory-bank neighbours of each anchor: positives ``NN_{1:k}`` with Eq. 3 weights, negatives ``NN_{q:q+m}``.

    ``anchor``: ``[B, D]``; ``bank``: ``[Q, D]``. Bank rows are ranked by descending cosine similarity to the anchor
    (stable sort: ties keep bank order). Ranks are **0-based**: rank 0 is the nearest neighbour.

    Returns

    * ``pos_idx`` ``[B, k']``, ``k' = min(k, Q)``: bank indices of ranks ``0 .. k'-1`` (nearest first);
    * ``pos_w`` ``[B, k']``: Eq. 3, ``omega_j = d(anchor, eta_j) / sum_l d(anchor, eta_l)`` over those ``k'``
      (each row sums to 1);
    * ``neg_idx`` ``[B, m']``: bank indices of ranks ``q .. q+m'-1`` with ``q`` clipped to ``[0, Q]`` and
      ``m' = min(m, Q - q)``. ``q`` defaults to ``Q // 2``, the median neighbour (the paper's "q = n_q/2"; its
      "q-th to (q+m)-th neighbour" is read as ``m`` neighbours starting at 0-based rank ``q``).

    No gradients (computed under ``no_grad``).
    """
    if anchor.dim() != 2 or bank.dim() != 2 or anchor.shape[1] != bank.shape[1]:
        raise ValueError(f"queue_neighbours: anchor [B, D] and bank [Q, D] expected, got {tuple(anchor.shape)} and "
                         f"{tuple(bank.shape)}")
    if k < 0 or m < 0:
        raise ValueError(f"queue_neighbours: k and m must be >= 0, got k={k}, m={m}")
    n_bank = bank.shape[0]
    q = n_bank // 2 if q is None else min(max(int(q), 0), n_bank)
    cos = _cosine(anchor, bank)                                       # [B, Q]
    order = torch.sort(cos, dim=1, descending=True, stable=True).indices
    k_eff = min(k, n_bank)
    m_eff = min(m, n_bank - q)
    pos_idx = order[:, :k_eff]
    # Eq. 3: softmax of cos / lambda over the k neighbours == d(nu, eta_j) / sum_l d(nu, eta_l).
    pos_w = torch.softmax(torch.gather(cos, 1, pos_idx) / temperature, dim=1)
    neg_idx = order[:, q:q + m_eff]
    return pos_idx, pos_w, neg_idx


def predictive_contrastive_loss(pred: Tensor, positive: Tensor, negatives_batch: Sequence[Tensor], *,
                                bank: Tensor | None, anchor: Tensor, k: int = 5, m: int = 2048,
                                q: int | None = None, temperature: float = TEMPERATURE) -> Tensor:
    """Eq. 1, averaged over the batch.

    For each ``i`` (``pred``, ``positive``, ``anchor`` and every tensor of ``negatives_batch`` are ``[B, D]``;
    ``bank`` is ``[Q, D]`` or ``None``):

    * ``P_i = {(positive[i], 1)} U {(bank[pos_idx[i, j]], pos_w[i, j])}`` - the ``k`` neighbours of ``anchor[i]`` in the
      bank with the Eq. 3 weights (none if ``bank`` is ``None`` or empty);
    * ``N_i = {n[j] : n in negatives_batch, j != i} U {bank[neg_idx[i]]}`` (``m`` bank rows from the median neighbour);
    * ``l_i = sum_{(p, w) in P_i} -w log( d(pred_i, p) / (d(pred_i, p) + sum_{n in N_i} d(pred_i, n)) )``.

    ``d`` is Eq. 2. Positives, negatives and the bank are detached: only ``pred`` receives a gradient. Computed in
    log space (``log d = cos / lambda``, ``logsumexp``). Returns ``mean_i l_i`` (a scalar).
    """
    if pred.dim() != 2:
        raise ValueError(f"predictive_contrastive_loss: pred must be [B, D], got {tuple(pred.shape)}")
    b, dim = pred.shape
    for name, t in [("positive", positive), ("anchor", anchor)] + [(f"negatives_batch[{n}]", t)
                                                                   for n, t in enumerate(negatives_batch)]:
        if tuple(t.shape) != (b, dim):
            raise ValueError(f"predictive_contrastive_loss: {name} must be [{b}, {dim}] like pred, "
                             f"got {tuple(t.shape)}")
    if bank is not None and (bank.dim() != 2 or bank.shape[1] != dim):
        raise ValueError(f"predictive_contrastive_loss: bank must be [Q, {dim}], got {tuple(bank.shape)}")

    pred_n = F.normalize(pred, dim=1)
    # log d(pred_i, positive_i), weight 1.
    pos_logits = [(pred_n * F.normalize(positive.detach(), dim=1)).sum(dim=1, keepdim=True) / temperature]
    pos_weights = [pred.new_ones(b, 1)]
    # Batch negatives: all-pairs logits with the diagonal (j == i) removed.
    neg_logits = []
    not_self = ~torch.eye(b, dtype=torch.bool, device=pred.device)
    for n in negatives_batch:
        logits = _cosine(pred, n) / temperature                         # [B, B]
        neg_logits.append(logits[not_self].view(b, b - 1))
    if bank is not None and bank.shape[0] > 0:
        bank = bank.detach()
        pos_idx, pos_w, neg_idx = queue_neighbours(anchor, bank, k, m, q, temperature)
        bank_n = F.normalize(bank, dim=1)
        # Gathered neighbour rows: [B, k', D] and [B, m', D]; logits = <pred_i, row> / lambda.
        pos_logits.append(torch.einsum("bd,bkd->bk", pred_n, bank_n[pos_idx]) / temperature)
        pos_weights.append(pos_w.to(pred.dtype))
        neg_logits.append(torch.einsum("bd,bmd->bm", pred_n, bank_n[neg_idx]) / temperature)
    s_pos = torch.cat(pos_logits, dim=1)                                 # [B, P]
    w_pos = torch.cat(pos_weights, dim=1)                                # [B, P]
    s_neg = torch.cat(neg_logits, dim=1) if neg_logits else pred.new_zeros(b, 0)   # [B, N]
    # -log( d_p / (d_p + sum_n d_n) ) = logsumexp([s_p, s_neg]) - s_p, for every positive p separately.
    if s_neg.shape[1]:
        neg_lse = torch.logsumexp(s_neg, dim=1, keepdim=True)              # log sum_n d(pred_i, n), [B, 1]
    else:                                                                 # no negatives at all: l_i = 0
        neg_lse = torch.full_like(s_pos[:, :1], float("-inf"))
    per_pos = torch.logaddexp(s_pos, neg_lse) - s_pos                     # [B, P]
    return (w_pos * per_pos).sum(dim=1).mean()


def order_label(start_a: float, len_a: float, start_b: float, len_b: float) -> int:
    """3-way temporal order of intervals ``a = [start_a, start_a + len_a]`` and ``b`` (seconds).

    0 = correctly ordered (``a`` ends before or exactly when ``b`` starts), 1 = overlapping, 2 = wrongly ordered
    (``b`` ends before or exactly when ``a`` starts). Intervals that merely touch count as ordered. Lengths must be
    ``>= 0``.
    """
    if len_a < 0 or len_b < 0:
        raise ValueError(f"order_label: interval lengths must be >= 0, got {len_a} and {len_b}")
    if start_a + len_a <= start_b:
        return 0
    if start_b + len_b <= start_a:
        return 2
    return 1
