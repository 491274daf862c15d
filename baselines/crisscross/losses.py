"""CrissCross pretraining objective (Sarkar & Etemad, AAAI 2023, Section 3.2, Eq. 1-5; supplementary Algorithm 1).

Pure torch, no I/O. Every embedding is ``[B, D]`` (batch, feature); every loss is a 0-d tensor.

Keys: ``p["v1"]`` is the predictor output ``h_v(f_v(v_1))`` and ``z["v1"]`` the encoder output ``f_v(v_1)`` of the
first visual view; likewise ``"v2"``, ``"a1"``, ``"a2"``. The stop-gradient ``S(.)`` is applied *inside*
:func:`simsiam_distance`, so callers pass ``z`` un-detached.

Pair terms (``TERMS``), each symmetrised as ``D(p_x, S(z_y))/2 + D(p_y, S(z_x))/2`` (:func:`pair_term`):

* intra-modal (Eq. 2): ``v1v2``, ``a1a2``;
* synchronous cross-modal (Eq. 3): ``v1a1``, ``v2a2``;
* asynchronous cross-modal (Eq. 4): ``v1a2``, ``a1v2``.

Eq. 2-4 are each ``(pair + pair)/2`` and Eq. 5 is their mean, so the full objective is the mean of the six pair
terms. :func:`crisscross_loss` divides by the number of *active* terms, which for all six terms is Eq. 5 exactly
and, for the ablations of Table 1, keeps the loss on the same scale (the released ``models/crisscross.py``
divides the sum of the active terms by ``num_loss``, 6 for the full model, which agrees).

Erratum (documented, not followed): the supplementary's Algorithm 1 writes ``L_intra`` without the outer ``/2``
that Eq. 2 has (its ``L_sync`` and ``L_async`` do have it), which would weight the intra-modal share twice.
We follow Eq. 2-5 (and the released code); :func:`crisscross_loss_algorithm1` reproduces the pseudocode literally
only so that a test can show the difference.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TERMS", "GROUPS", "simsiam_distance", "pair_term", "crisscross_loss", "crisscross_loss_equations",
           "crisscross_loss_algorithm1", "nt_xent", "cross_modal_info_nce", "crisscross_infonce_loss"]

#: The six symmetrised pair terms: intra (v1v2, a1a2), sync (v1a1, v2a2), async (v1a2, a1v2).
TERMS: tuple[str, ...] = ("v1v2", "a1a2", "v1a1", "v2a2", "v1a2", "a1v2")
#: Eq. 2 (intra), Eq. 3 (sync) and Eq. 4 (async) as groups of pair terms.
GROUPS: dict[str, tuple[str, str]] = {"intra": ("v1v2", "a1a2"), "sync": ("v1a1", "v2a2"), "async": ("v1a2", "a1v2")}
_VIEWS = ("v1", "v2", "a1", "a2")


def simsiam_distance(p: Tensor, z: Tensor) -> Tensor:
    """Eq. 1 averaged over the batch: ``D(p, S(z)) = -mean_b <p_b/||p_b||, z_b/||z_b||>``.

    ``p``, ``z``: ``[B, D]``. Returns a scalar in ``[-1, 1]`` (-1 when aligned). ``z`` is detached (the stop-gradient
    ``S``), so no gradient reaches it; ``p`` receives the gradient. Zero rows are handled by ``F.normalize``'s eps.
    """
    if p.dim() != 2 or p.shape != z.shape:
        raise ValueError(f"simsiam_distance: p and z must both be [B, D], got {tuple(p.shape)} and {tuple(z.shape)}")
    return -(F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)).sum(dim=1).mean()


def pair_term(p_x: Tensor, z_x: Tensor, p_y: Tensor, z_y: Tensor) -> Tensor:
    """Symmetrised SimSiam term of views x and y: ``D(p_x, S(z_y))/2 + D(p_y, S(z_x))/2``; all inputs ``[B, D]``."""
    return simsiam_distance(p_x, z_y) / 2 + simsiam_distance(p_y, z_x) / 2


def _check_terms(terms: Sequence[str]) -> tuple[str, ...]:
    if isinstance(terms, str):
        terms = (terms,)
    terms = tuple(terms)
    if not terms:
        raise ValueError(f"crisscross_loss: terms must be a non-empty subset of {TERMS}, got none")
    unknown = [t for t in terms if t not in TERMS]
    if unknown:
        raise ValueError(f"crisscross_loss: unknown term(s) {unknown}; known terms are {TERMS}")
    duplicates = sorted({t for t in terms if terms.count(t) > 1})
    if duplicates:
        raise ValueError(f"crisscross_loss: duplicate term(s) {duplicates} in {terms}")
    return terms


def crisscross_loss(p: Mapping[str, Tensor], z: Mapping[str, Tensor], terms: Sequence[str] = TERMS, *,
                    p_intra: Mapping[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """CrissCross objective: mean of the active pair terms (Eq. 5 when all six are active).

    ``p``, ``z``: mappings with keys among ``"v1", "v2", "a1", "a2"``, each ``[B, D]``; only the views named by
    ``terms`` must be present. ``terms``: a non-empty subset of :data:`TERMS` (ablations, Table 1).
    ``p_intra`` (NOT the paper; the ``intra_predictor`` option): predictions the intra-modal terms (v1v2, a1a2) use
    instead of ``p``, so each predictor serves only its own terms; None: ``p`` for every term (Eq. 2-5).

    Returns ``(loss, parts)`` where ``loss = sum_{t in terms} pair_t / len(terms)`` (a scalar with gradient) and
    ``parts`` maps each active term to its detached value. With all six terms this equals
    ``(L_intra + L_sync + L_async)/3`` of Eq. 5, each of Eq. 2-4 being ``(pair + pair)/2``.
    Raises ``ValueError`` naming unknown, duplicate or missing entries, or an empty ``terms``.
    """
    terms = _check_terms(terms)
    needed = sorted({t[:2] for t in terms} | {t[2:] for t in terms}, key=_VIEWS.index)
    intra_views = {v for t in terms if t[0] == t[2] for v in (t[:2], t[2:])} if p_intra is not None else set()
    missing = [k for k in needed if k not in z or k not in (p_intra if k in intra_views else p)]
    if missing:
        raise ValueError(f"crisscross_loss: terms {terms} need views {needed}; missing from p, p_intra or z: "
                         f"{missing}")
    parts: dict[str, Tensor] = {}
    total: Tensor | None = None
    for t in terms:
        x, y = t[:2], t[2:]
        pp = p_intra if p_intra is not None and x[0] == y[0] else p
        value = pair_term(pp[x], z[x], pp[y], z[y])
        parts[t] = value.detach()
        total = value if total is None else total + value
    assert total is not None
    return total / len(terms), parts


def nt_xent(z_x: Tensor, z_y: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent (Chen et al., ICML 2020, Eq. 1) of two ``[B, D]`` batches of paired embeddings: each of
    the 2B rows against the other 2B - 1 (cosine / ``temperature``), its partner the positive; a scalar, symmetric
    in x and y. Chance (every similarity equal): log(2B - 1). NOT CrissCross's Eq. 1: see
    :func:`crisscross_infonce_loss`."""
    z = F.normalize(torch.cat([z_x, z_y]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = len(z_x)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


def cross_modal_info_nce(z_x: Tensor, z_y: Tensor, temperature: float) -> Tensor:
    """The symmetric cross-modal InfoNCE of CLIP (Radford et al., ICML 2021) and of AVID's cross-modal
    discrimination (Morgado et al., CVPR 2021): each of the B rows of ``z_x`` against the B rows of ``z_y`` (cosine /
    ``temperature``), its partner the positive, and the same from ``z_y``'s side; the mean of the two. Unlike
    :func:`nt_xent` the negatives are the OTHER modality's only, so views of one modality that cluster (by identity)
    are not each other's negatives. Chance (every similarity equal): log B."""
    x, y = F.normalize(z_x, dim=1), F.normalize(z_y, dim=1)
    logits = x @ y.T / temperature
    target = torch.arange(len(x), device=x.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def crisscross_infonce_loss(z: Mapping[str, Tensor], terms: Sequence[str] = TERMS, *, temperature: float = 0.1,
                            negatives: str = "all") -> tuple[Tensor, dict[str, Tensor]]:
    """NOT the paper (``objective: infonce``): CrissCross's pair terms with :func:`nt_xent` on the projector outputs
    ``z`` (keys among v1, v2, a1, a2, each ``[B, D]``) in place of Eq. 1's stop-gradient distance (no predictor);
    the loss is the mean over the active ``terms`` as in :func:`crisscross_loss`. ``negatives="other"`` scores the
    cross-modal terms with :func:`cross_modal_info_nce` instead (the intra-modal terms keep the NT-Xent). Returns
    ``(loss, parts)``."""
    terms = _check_terms(terms)
    if negatives not in ("all", "other"):
        raise ValueError(f"crisscross_infonce_loss: negatives must be 'all' or 'other', got {negatives!r}")
    missing = sorted({v for t in terms for v in (t[:2], t[2:]) if v not in z}, key=_VIEWS.index)
    if missing:
        raise ValueError(f"crisscross_infonce_loss: terms {terms} need views missing from z: {missing}")
    parts = {t: (cross_modal_info_nce if negatives == "other" and t[0] != t[2] else nt_xent)(z[t[:2]], z[t[2:]],
                                                                                             temperature)
             for t in terms}
    total = torch.stack(list(parts.values())).mean()
    return total, {t: v.detach() for t, v in parts.items()}


def _d(p: Mapping[str, Tensor], z: Mapping[str, Tensor], x: str, y: str) -> Tensor:
    return simsiam_distance(p[x], z[y])


def crisscross_loss_equations(p: Mapping[str, Tensor], z: Mapping[str, Tensor]) -> Tensor:
    """Eq. 2-5 written out literally (reference for tests). ``p``, ``z``: all four views, ``[B, D]`` each."""
    l_intra = (_d(p, z, "v1", "v2") / 2 + _d(p, z, "v2", "v1") / 2
               + _d(p, z, "a1", "a2") / 2 + _d(p, z, "a2", "a1") / 2) / 2                      # Eq. 2
    l_sync = (_d(p, z, "v1", "a1") / 2 + _d(p, z, "a1", "v1") / 2
              + _d(p, z, "v2", "a2") / 2 + _d(p, z, "a2", "v2") / 2) / 2                       # Eq. 3
    l_async = (_d(p, z, "v1", "a2") / 2 + _d(p, z, "a2", "v1") / 2
               + _d(p, z, "v2", "a1") / 2 + _d(p, z, "a1", "v2") / 2) / 2                      # Eq. 4
    return (l_intra + l_sync + l_async) / 3                                                    # Eq. 5


def crisscross_loss_algorithm1(p: Mapping[str, Tensor], z: Mapping[str, Tensor]) -> Tensor:
    """Supplementary Algorithm 1 literally, *including its erratum*: ``L_intra`` lacks the outer ``/2`` of Eq. 2.

    Kept only so that a test can show it differs from Eq. 5 by exactly ``L_intra(Eq. 2) / 3``. Do not train with it.
    """
    l_intra = (_d(p, z, "v1", "v2") / 2 + _d(p, z, "v2", "v1") / 2
               + _d(p, z, "a1", "a2") / 2 + _d(p, z, "a2", "a1") / 2)                          # no outer /2
    l_sync = (_d(p, z, "v1", "a1") / 2 + _d(p, z, "a1", "v1") / 2
              + _d(p, z, "v2", "a2") / 2 + _d(p, z, "a2", "v2") / 2) / 2
    l_async = (_d(p, z, "v1", "a2") / 2 + _d(p, z, "a2", "v1") / 2
               + _d(p, z, "a1", "v2") / 2 + _d(p, z, "v2", "a1") / 2) / 2
    return (l_async + l_sync + l_intra) / 3

