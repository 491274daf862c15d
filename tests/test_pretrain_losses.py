"""Pretraining losses of the reference baselines, against hand-computed values.

CrissCross (Eq. 1-5, Algorithm 1), AVCL (Eq. 5-11) and temporal-SSL (Eq. 1-3: memory bank, neighbours,
predictive-contrastive loss, order labels).
"""
from __future__ import annotations

import math

import pytest
import torch

from avbench_baselines.avcl.losses import (DEFAULT_TAU, avcl_contrastive_loss, avcl_total_loss, cocorrelation_loss,
                                           cross_correlation)
from avbench_baselines.crisscross.losses import (GROUPS, TERMS, crisscross_loss, crisscross_loss_algorithm1,
                                                 crisscross_loss_equations, pair_term, simsiam_distance)
from avbench_baselines.temporal_ssl.losses import (SPEEDS, FeatureQueue, order_label, predictive_contrastive_loss,
                                                   queue_neighbours, similarity)

T = torch.tensor
F64 = torch.float64


def _float(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _close(a, b, tol: float = 1e-6) -> None:
    assert _float(a) == pytest.approx(_float(b), abs=tol, rel=tol)


def _views(seed: int = 0, b: int = 5, d: int = 7) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    p = {k: torch.randn(b, d, generator=g, dtype=F64) for k in ("v1", "v2", "a1", "a2")}
    z = {k: torch.randn(b, d, generator=g, dtype=F64) for k in ("v1", "v2", "a1", "a2")}
    return p, z


# ----------------------------------------------------------------------------------------------------- CrissCross

def test_simsiam_distance_values():
    p = torch.randn(4, 6, dtype=F64)
    _close(simsiam_distance(p, p), -1.0)
    _close(simsiam_distance(T([[1.0, 0.0]]), T([[0.0, 2.0]])), 0.0)               # orthogonal
    _close(simsiam_distance(T([[1.0, 2.0]]), T([[-2.0, -4.0]])), 1.0)             # opposite
    # Batch mean: cos = 1 and cos = 0 -> -(1 + 0)/2.
    _close(simsiam_distance(T([[1.0, 0.0], [1.0, 0.0]]), T([[3.0, 0.0], [0.0, 1.0]])), -0.5)
    # 60 degrees: -cos(60) = -0.5
    _close(simsiam_distance(T([[1.0, 0.0]]), T([[0.5, math.sqrt(3) / 2]])), -0.5)


def test_simsiam_distance_scale_invariant():
    g = torch.Generator().manual_seed(1)
    p, z = torch.randn(3, 5, generator=g, dtype=F64), torch.randn(3, 5, generator=g, dtype=F64)
    _close(simsiam_distance(3.0 * p, 0.25 * z), simsiam_distance(p, z), 1e-12)


def test_simsiam_stop_gradient():
    g = torch.Generator().manual_seed(2)
    p = torch.randn(3, 4, generator=g, requires_grad=True)
    z = torch.randn(3, 4, generator=g, requires_grad=True)
    simsiam_distance(p, z).backward()
    assert z.grad is None
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_simsiam_shape_mismatch_raises():
    with pytest.raises(ValueError, match="\\[B, D\\]"):
        simsiam_distance(torch.zeros(2, 3), torch.zeros(2, 4))


def test_crisscross_all_terms_equals_equations():
    p, z = _views()
    loss, parts = crisscross_loss(p, z)
    _close(loss, crisscross_loss_equations(p, z), 1e-12)
    assert set(parts) == set(TERMS) and all(not v.requires_grad for v in parts.values())
    # The same as the mean of the three groups (Eq. 5 with Eq. 2-4 each the mean of two pair terms).
    groups = [crisscross_loss(p, z, GROUPS[g])[0] for g in ("intra", "sync", "async")]
    _close(loss, sum(groups) / 3, 1e-12)


def test_crisscross_async_pairs_match_eq4():
    p, z = _views(seed=3)
    d = simsiam_distance
    eq4 = (d(p["v1"], z["a2"]) / 2 + d(p["a2"], z["v1"]) / 2 + d(p["v2"], z["a1"]) / 2 + d(p["a1"], z["v2"]) / 2) / 2
    _close(crisscross_loss(p, z, GROUPS["async"])[0], eq4, 1e-12)


def test_crisscross_algorithm1_differs_by_intra_share():
    p, z = _views(seed=4)
    d = simsiam_distance
    intra_sum = d(p["v1"], z["v2"]) / 2 + d(p["v2"], z["v1"]) / 2 + d(p["a1"], z["a2"]) / 2 + d(p["a2"], z["a1"]) / 2
    # Algorithm 1 uses L_intra = intra_sum, Eq. 2 uses intra_sum / 2; both then divide by 3.
    expected_diff = intra_sum / 2 / 3
    diff = crisscross_loss_algorithm1(p, z) - crisscross_loss_equations(p, z)
    assert abs(float(expected_diff)) > 1e-3
    _close(diff, expected_diff, 1e-12)


def test_crisscross_hand_computed():
    # B=1: video views identical ([1, 0]), audio views identical ([0, 1]), p = z. Intra pairs give -1, every
    # cross-modal pair 0: Eq. 2 L_intra = (4 * (-1/2)) / 2 = -1, L_sync = L_async = 0, Eq. 5 = -1/3.
    v, a = T([[1.0, 0.0]]), T([[0.0, 1.0]])
    p = {"v1": v, "v2": v.clone(), "a1": a, "a2": a.clone()}
    z = {k: x.clone() for k, x in p.items()}
    _close(crisscross_loss(p, z)[0], -1 / 3)
    _close(crisscross_loss_equations(p, z), -1 / 3)
    _close(crisscross_loss_algorithm1(p, z), -2 / 3)     # the erratum doubles the intra share
    _close(crisscross_loss(p, z, ("v1v2",))[0], -1.0)
    _close(crisscross_loss(p, z, ("v1v2", "v1a1"))[0], -0.5)


def test_crisscross_ablation_normalisation():
    p, z = _views(seed=5)
    loss, parts = crisscross_loss(p, z, ("v1a1", "v2a2"))
    sync_1 = pair_term(p["v1"], z["v1"], p["a1"], z["a1"])
    sync_2 = pair_term(p["v2"], z["v2"], p["a2"], z["a2"])
    _close(loss, (sync_1 + sync_2) / 2, 1e-12)
    assert list(parts) == ["v1a1", "v2a2"]
    _close(parts["v1a1"], sync_1, 1e-12)


def test_crisscross_needs_only_used_views_and_stops_gradient():
    g = torch.Generator().manual_seed(6)
    p = {k: torch.randn(2, 3, generator=g, requires_grad=True) for k in ("v1", "v2")}
    z = {k: torch.randn(2, 3, generator=g, requires_grad=True) for k in ("v1", "v2")}
    loss, _ = crisscross_loss(p, z, ("v1v2",))
    loss.backward()
    assert all(t.grad is None for t in z.values())
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in p.values())
    with pytest.raises(ValueError, match="a1"):
        crisscross_loss(p, z, ("v1a1",))


@pytest.mark.parametrize("terms,match", [(("v1v2", "v3a1"), "v3a1"), (("v1a1", "v1a1"), "duplicate.*v1a1"),
                                         ((), "non-empty"), (("sync",), "sync")])
def test_crisscross_bad_terms_raise(terms, match):
    p, z = _views()
    with pytest.raises(ValueError, match=match):
        crisscross_loss(p, z, terms)


# ----------------------------------------------------------------------------------------------------------- AVCL

def test_cross_correlation_identical_inputs():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, generator=g, dtype=F64)
    c = cross_correlation(x, x)
    assert c.shape == (4, 4)
    assert torch.allclose(torch.diagonal(c), torch.ones(4, dtype=F64))
    assert torch.allclose(c, c.T)
    # Proportional columns are perfectly correlated: every entry is 1.
    col = torch.randn(6, 1, generator=g, dtype=F64)
    y = col * T([[1.0, 2.0, 0.5]], dtype=F64)
    assert torch.allclose(cross_correlation(y, y), torch.ones(3, 3, dtype=F64))


def test_cross_correlation_hand_2x2_and_cocorrelation():
    # fv columns (1,1), (0,1); fa columns (1,0), (1,1)  (batch along rows).
    fv = T([[1.0, 0.0], [1.0, 1.0]], dtype=F64)
    fa = T([[1.0, 1.0], [0.0, 1.0]], dtype=F64)
    r = 1 / math.sqrt(2)
    expected = T([[r, 1.0], [0.0, r]], dtype=F64)   # C00=1/(sqrt2*1), C01=2/(sqrt2*sqrt2), C10=0, C11=1/(1*sqrt2)
    assert torch.allclose(cross_correlation(fv, fa), expected)
    _close(cocorrelation_loss(fv, fa), 2 * (1 - r) ** 2 + 0.005 * (1.0 ** 2 + 0.0 ** 2), 1e-12)
    _close(cocorrelation_loss(fv, fa, lam=1.0), 2 * (1 - r) ** 2 + 1.0, 1e-12)


def test_cross_correlation_is_not_mean_centred_and_zero_column_safe():
    # Constant columns: a Barlow-Twins (centred) C would be undefined; Eq. 6 gives the plain cosine, 1.
    fv = T([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    fa = T([[2.0, 1.0], [2.0, 2.0]], dtype=F64)
    c = cross_correlation(fv, fa)
    assert torch.isfinite(c).all()
    _close(c[0, 0], 1.0)
    _close(c[0, 1], 3 / (math.sqrt(2) * math.sqrt(5)))
    assert float(c[1].abs().sum()) == 0.0      # zero column of fv -> zero row, no NaN


def test_cocorrelation_zero_for_orthogonal_columns():
    fv = T([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], dtype=F64)
    _close(cocorrelation_loss(fv, fv.clone()), 0.0, 1e-12)
    # Any orthonormal basis, rotated: columns still orthogonal.
    q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=F64, generator=torch.Generator().manual_seed(8)))
    _close(cocorrelation_loss(q, q), 0.0, 1e-10)


def _nce(pos: float, denominators: list[float], tau: float) -> float:
    return -math.log(math.exp(pos / tau) / sum(math.exp(c / tau) for c in denominators))


def test_avcl_contrastive_hand_b2():
    fv = T([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    fa = T([[2.0, 0.0], [1.0, 1.0]], dtype=F64)
    tau = 0.5
    c = 1 / math.sqrt(2)
    # cos: (v0,a0)=1, (v0,a1)=c, (v1,a0)=0, (v1,a1)=c, (v0,v1)=0, (a0,a1)=c.
    loss_v = _nce(1.0, [1.0, c, 0.0], tau) + _nce(c, [0.0, c, 0.0], tau)
    loss_a = _nce(1.0, [1.0, 0.0, c], tau) + _nce(c, [c, c, c], tau)
    _close(_nce(c, [c, c, c], tau), math.log(3), 1e-12)
    expected_sum = loss_v + loss_a
    _close(avcl_contrastive_loss(fv, fa, tau, reduction="sum"), expected_sum, 1e-10)
    _close(avcl_contrastive_loss(fv, fa, tau), expected_sum / 2, 1e-10)
    _close(avcl_contrastive_loss(fv, fa, tau, "sum"), 2 * avcl_contrastive_loss(fv, fa, tau, "mean"), 1e-12)


def test_avcl_contrastive_stable_and_edge_cases():
    g = torch.Generator().manual_seed(9)
    fv, fa = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    assert torch.isfinite(avcl_contrastive_loss(fv, fa, tau=1e-3))
    _close(avcl_contrastive_loss(fv[:1], fa[:1], tau=0.1), 0.0)     # B=1: the positive is its own denominator
    with pytest.raises(ValueError, match="reduction"):
        avcl_contrastive_loss(fv, fa, 0.1, reduction="none")


def test_avcl_total_loss_eq11():
    g = torch.Generator().manual_seed(10)
    fv = torch.randn(6, 5, generator=g, dtype=F64, requires_grad=True)
    fa = torch.randn(6, 5, generator=g, dtype=F64, requires_grad=True)
    loss, parts = avcl_total_loss(fv, fa)
    _close(parts["cor"], cocorrelation_loss(fv, fa, 0.005), 1e-12)
    _close(parts["self"], avcl_contrastive_loss(fv, fa, DEFAULT_TAU), 1e-12)
    _close(loss, 0.9 * parts["cor"] + 0.1 * parts["self"], 1e-12)
    loss.backward()
    assert fv.grad.abs().sum() > 0 and fa.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------- Temporal SSL

def test_feature_queue_fifo_overwrite_and_normalisation():
    q = FeatureQueue(size=4, dim=2)
    assert q.contents().shape == (0, 2)
    q.enqueue(T([[3.0, 4.0]]))
    assert torch.allclose(q.contents(), T([[0.6, 0.8]]))
    assert int(q.ptr) == 1 and int(q.filled) == 1
    q.enqueue(T([[0.0, 2.0], [-5.0, 0.0], [1.0, 1.0]]))
    r = 1 / math.sqrt(2)
    assert int(q.ptr) == 0 and int(q.filled) == 4
    assert torch.allclose(q.contents(), T([[0.6, 0.8], [0.0, 1.0], [-1.0, 0.0], [r, r]]))
    q.enqueue(T([[0.0, -7.0], [10.0, 0.0]]))        # overwrites the two oldest rows
    assert torch.allclose(q.contents(), T([[0.0, -1.0], [1.0, 0.0], [-1.0, 0.0], [r, r]]))
    assert int(q.ptr) == 2 and int(q.filled) == 4
    assert set(dict(q.named_buffers())) == {"bank", "ptr", "filled"}
    assert q.ptr.dtype == torch.long and q.filled.dtype == torch.long and q.bank.dtype == torch.float32


def test_feature_queue_detaches():
    q = FeatureQueue(size=3, dim=2)
    x = torch.randn(2, 2, requires_grad=True)
    q.enqueue(x * 2)
    assert not q.bank.requires_grad and q.bank.grad_fn is None


@pytest.mark.parametrize("start", [0, 2])
def test_feature_queue_batch_larger_than_size(start):
    size = 3
    one_by_one, batched = FeatureQueue(size, 2), FeatureQueue(size, 2)
    pre = torch.randn(start, 2) if start else torch.zeros(0, 2)
    for row in pre:
        one_by_one.enqueue(row[None])
    batched.enqueue(pre)
    x = torch.stack([T([math.cos(t), math.sin(t)]) for t in (0.1, 0.7, 1.3, 2.0, 2.9)])   # already unit length
    for row in x:
        one_by_one.enqueue(row[None])
    batched.enqueue(x)
    assert torch.equal(batched.bank, one_by_one.bank)
    assert int(batched.ptr) == (start + 5) % size and int(batched.filled) == size
    # Only the last `size` rows remain.
    kept = {tuple(round(v, 5) for v in r.tolist()) for r in batched.contents()}
    assert kept == {tuple(round(v, 5) for v in r.tolist()) for r in x[-size:]}


def _ring(n: int = 8) -> torch.Tensor:
    ang = [2 * math.pi * j / n for j in range(n)]
    return T([[math.cos(a), math.sin(a)] for a in ang], dtype=F64)


def _at(deg: float, scale: float = 1.0) -> list[float]:
    return [scale * math.cos(math.radians(deg)), scale * math.sin(math.radians(deg))]


def test_similarity_eq2():
    x = T([_at(0), _at(90, 3.0)], dtype=F64, requires_grad=True)
    y = T([_at(0, 2.0), _at(60)], dtype=F64, requires_grad=True)
    s = similarity(x, y)
    expected = T([[math.exp(1 / 0.2), math.exp(0.5 / 0.2)], [math.exp(0.0), math.exp(math.sqrt(3) / 2 / 0.2)]],
                 dtype=F64)
    assert torch.allclose(s, expected)
    s.sum().backward()
    assert y.grad is None and x.grad is not None


def test_queue_neighbours_ring():
    bank = _ring(8) * 3.0                             # bank row j at 45*j degrees, not unit length
    anchor = T([_at(10), _at(200, 0.5)], dtype=F64)
    pos_idx, pos_w, neg_idx = queue_neighbours(anchor, bank, k=3, m=10)
    # Angular distances from 10 deg: j0 10, j1 35, j7 55, j2 80, j6 100, j3 125, j5 145, j4 170.
    # From 200 deg: j4 20, j5 25, j3 65, j6 70, j2 110, j7 115, j1 155, j0 160.
    assert pos_idx.tolist() == [[0, 1, 7], [4, 5, 3]]
    # Negatives start at the median neighbour: 0-based rank Q//2 = 4; m' = min(10, 8 - 4) = 4.
    assert neg_idx.tolist() == [[6, 3, 5, 4], [2, 7, 1, 0]]
    assert torch.allclose(pos_w.sum(dim=1), torch.ones(2, dtype=F64))
    e = [math.exp(math.cos(math.radians(a)) / 0.2) for a in (10, 35, 55)]
    assert torch.allclose(pos_w[0], T([v / sum(e) for v in e], dtype=F64))
    e = [math.exp(math.cos(math.radians(a)) / 0.2) for a in (20, 25, 65)]
    assert torch.allclose(pos_w[1], T([v / sum(e) for v in e], dtype=F64))


def test_queue_neighbours_clipping_and_q():
    bank, anchor = _ring(8), T([_at(10)], dtype=F64)
    _, _, neg = queue_neighbours(anchor, bank, k=1, m=2)
    assert neg.tolist() == [[6, 3]]
    _, _, neg = queue_neighbours(anchor, bank, k=1, m=5, q=7)
    assert neg.tolist() == [[4]]
    _, _, neg = queue_neighbours(anchor, bank, k=1, m=5, q=0)
    assert neg.tolist() == [[0, 1, 7, 2, 6]]
    pos, w, neg = queue_neighbours(anchor, bank, k=20, m=3, q=20)
    assert pos.shape == (1, 8) and w.shape == (1, 8) and neg.shape == (1, 0)
    assert pos.tolist() == [[0, 1, 7, 2, 6, 3, 5, 4]]
    # Odd bank size: median rank 5 // 2 = 2.
    bank5, a0 = _ring(5), T([_at(1)], dtype=F64)    # rows at 0, 72, 144, 216, 288 deg
    assert queue_neighbours(a0, bank5, k=1, m=1)[2].tolist() == [[4]]   # ranks: 0, 1, 4, 2, 3 -> rank 2 is row 4


def test_predictive_contrastive_no_bank_is_infonce():
    pred = T([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    positive = T([[1.0, 1.0], [0.0, 2.0]], dtype=F64)
    negatives = T([[1.0, 0.0], [-1.0, 0.0]], dtype=F64)
    lam = 0.2
    c = 1 / math.sqrt(2)
    # i=0: positive cos c, negative n[1] cos -1; i=1: positive cos 1, negative n[0] cos 0.
    l0 = -math.log(math.exp(c / lam) / (math.exp(c / lam) + math.exp(-1 / lam)))
    l1 = -math.log(math.exp(1 / lam) / (math.exp(1 / lam) + math.exp(0.0)))
    got = predictive_contrastive_loss(pred, positive, [negatives], bank=None, anchor=positive)
    _close(got, (l0 + l1) / 2, 1e-10)
    empty = torch.zeros(0, 2, dtype=F64)
    _close(predictive_contrastive_loss(pred, positive, [negatives], bank=empty, anchor=positive), got, 1e-12)
    # No negatives at all: -log(d/d) = 0.
    _close(predictive_contrastive_loss(pred, positive, [], bank=None, anchor=positive), 0.0, 1e-12)


def _cos(x: list[float], y: list[float]) -> float:
    return sum(a * b for a, b in zip(x, y)) / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(b * b for b in y)))


def _reference(pred, positive, negatives_batch, bank, anchor, k, m, q, lam) -> float:
    """Slow Eq. 1-3 loop over plain python lists."""
    pred, positive, anchor, bank = pred.tolist(), positive.tolist(), anchor.tolist(), bank.tolist()
    negs = [n.tolist() for n in negatives_batch]
    total = 0.0
    for i in range(len(pred)):
        ranked = sorted(range(len(bank)), key=lambda j: -_cos(anchor[i], bank[j]))
        nn = ranked[:k]
        dsum = sum(math.exp(_cos(anchor[i], bank[j]) / lam) for j in nn)
        positives = [(positive[i], 1.0)] + [(bank[j], math.exp(_cos(anchor[i], bank[j]) / lam) / dsum) for j in nn]
        negatives = [n[j] for n in negs for j in range(len(pred)) if j != i] + [bank[j] for j in ranked[q:q + m]]
        neg_sum = sum(math.exp(_cos(pred[i], n) / lam) for n in negatives)
        for p, w in positives:
            d = math.exp(_cos(pred[i], p) / lam)
            total += -w * math.log(d / (d + neg_sum))
    return total / len(pred)


@pytest.mark.parametrize("k,m,q", [(5, 2048, None), (3, 4, None), (2, 5, 3), (1, 100, 0)])
def test_predictive_contrastive_matches_reference_loop(k, m, q):
    g = torch.Generator().manual_seed(11)
    b, d, n_bank = 4, 6, 16
    pred, positive = torch.randn(b, d, generator=g, dtype=F64), torch.randn(b, d, generator=g, dtype=F64)
    nu, alpha = torch.randn(b, d, generator=g, dtype=F64), torch.randn(b, d, generator=g, dtype=F64)
    bank = torch.randn(n_bank, d, generator=g, dtype=F64)
    got = predictive_contrastive_loss(pred, positive, [nu, alpha], bank=bank, anchor=positive, k=k, m=m, q=q)
    q_ref = n_bank // 2 if q is None else q
    _close(got, _reference(pred, positive, [nu, alpha], bank, positive, k, m, q_ref, 0.2), 1e-9)


def test_predictive_contrastive_gradient_only_through_pred():
    g = torch.Generator().manual_seed(12)
    b, d = 3, 5
    pred = torch.randn(b, d, generator=g, requires_grad=True)
    positive, nu, anchor, bank = (torch.randn(n, d, generator=g, requires_grad=True) for n in (b, b, b, 10))
    loss = predictive_contrastive_loss(pred, positive, [nu], bank=bank, anchor=anchor, k=2, m=3)
    loss.backward()
    assert positive.grad is None and nu.grad is None and anchor.grad is None and bank.grad is None
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_predictive_contrastive_shape_check():
    with pytest.raises(ValueError, match="negatives_batch\\[0\\]"):
        predictive_contrastive_loss(torch.zeros(2, 3), torch.zeros(2, 3), [torch.zeros(3, 3)], bank=None,
                                    anchor=torch.zeros(2, 3))


@pytest.mark.parametrize("a,b,label", [
    ((0.0, 1.0), (2.0, 1.0), 0),      # a well before b
    ((0.0, 2.0), (2.0, 1.0), 0),      # touching: still ordered
    ((0.0, 3.0), (2.0, 2.0), 1),      # overlap
    ((0.0, 4.0), (1.0, 1.0), 1),      # b inside a
    ((1.0, 1.0), (1.0, 1.0), 1),      # identical
    ((5.0, 1.0), (0.0, 2.0), 2),      # b before a
    ((2.0, 1.0), (0.0, 2.0), 2),      # b ends exactly when a starts
    ((1.5, 1.0), (0.0, 2.0), 1),
])
def test_order_label(a, b, label):
    assert order_label(a[0], a[1], b[0], b[1]) == label


def test_order_label_negative_length_and_speeds():
    with pytest.raises(ValueError):
        order_label(0.0, -1.0, 2.0, 1.0)
    assert SPEEDS == (1, 2, 4, 8)
