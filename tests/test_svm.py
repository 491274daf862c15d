"""The SVM protocol: the torch solver's objective against a converged liblinear reference, backend agreement,
streaming and warm starts, multi-clip averaging, paper/clean C selection, grouped-CV leakage, cuML absence."""
import sys

import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold
from sklearn.svm import LinearSVC

from avbench.metrics import sample_mean, topk_accuracy
from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm import run_svm, sample_scores
from avbench.protocols.svm_cuml import BackendUnavailable, fit_cuml_linear_svc
from avbench.protocols.svm_sklearn import fit_linear_svc
from avbench.protocols.svm_torch import LinearModel, decision_function, fit_squared_hinge_ovr, primal_objective


def clip_features(x: torch.Tensor, labels: torch.Tensor, clips: int, groups=None, n_blocks: int = 1) -> ClipFeatures:
    """Rows ``x [S * clips, D]`` ordered sample by sample; ``labels [S]``."""
    S = labels.numel()
    groups = groups if groups is not None else [f"g{i % 5}" for i in range(S)]
    return ClipFeatures(blocks=list(x.tensor_split(n_blocks)), sample_index=torch.arange(S).repeat_interleave(clips),
                        labels=labels, groups=list(groups), sample_ids=[f"s{i}" for i in range(S)])


def learnable(S: int, K: int, D: int, clips: int, seed: int, centers: torch.Tensor | None = None,
              n_blocks: int = 1, scale: float = 1.0) -> tuple[ClipFeatures, torch.Tensor]:
    """Non-negative features: class centre + per-sample offset + per-clip noise, clamped at 0 (post-ReLU-like)."""
    g = torch.Generator().manual_seed(seed)
    if centers is None:
        centers = torch.randn(K, D, generator=torch.Generator().manual_seed(1000 + K))
    labels = torch.arange(S) % K
    latent = 0.3 + 0.8 * centers[labels] + torch.randn(S, D, generator=g)
    x = (latent.repeat_interleave(clips, 0) + torch.randn(S * clips, D, generator=g)).clamp_min(0) * scale
    return clip_features(x, labels, clips, n_blocks=n_blocks), centers


# ------------------------------------------------------------------------------------ the objective itself


@pytest.fixture(scope="module")
def small_problem():
    feats, _ = learnable(S=60, K=4, D=12, clips=5, seed=0)
    return feats, feats.dense().double(), feats.row_labels


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_torch_reaches_the_converged_liblinear_objective(small_problem, C):
    feats, X, y = small_problem
    ref = LinearSVC(C=C, loss="squared_hinge", dual=False, tol=1e-12, max_iter=100_000).fit(X.numpy(), y.numpy())
    ref_model = LinearModel(weights=torch.from_numpy(ref.coef_.T.copy()), bias=torch.from_numpy(ref.intercept_), C=C)
    f_ref = primal_objective(ref_model, X, y, C)

    # The objectives are the same function: liblinear's converged solution is a stationary point of ours.
    w = torch.cat([ref_model.weights, ref_model.bias[None]]).requires_grad_(True)
    f = primal_objective(LinearModel(weights=w[:-1], bias=w[-1], C=C), X, y, C).sum()
    (grad,) = torch.autograd.grad(f, w)
    w0 = torch.zeros_like(w).requires_grad_(True)
    (grad0,) = torch.autograd.grad(primal_objective(LinearModel(weights=w0[:-1], bias=w0[-1], C=C), X, y, C).sum(), w0)
    assert float(grad.norm() / grad0.norm()) < 1e-6

    model = fit_squared_hinge_ovr(feats, [C], n_classes=4, dtype=torch.float64, tol=1e-10)[0]
    assert model.converged
    f_torch = primal_objective(model, X, y, C)
    assert torch.all((f_torch - f_ref).abs() / f_ref < 1e-5), (f_torch, f_ref)
    # and against scipy's L-BFGS-free check: no class objective is lower than the reference beyond rounding
    assert torch.all(f_torch >= f_ref * (1 - 1e-9))
    # the solver's own diagnostics report the same objective
    assert torch.allclose(torch.tensor(model.info["objective"], dtype=torch.float64), f_torch, rtol=1e-9)


def test_intercept_is_penalised_with_intercept_scaling(small_problem):
    feats, X, y = small_problem
    C = 0.1
    for scale in (1.0, 10.0):
        ref = LinearSVC(C=C, dual=False, tol=1e-12, max_iter=100_000, intercept_scaling=scale).fit(X.numpy(), y.numpy())
        ref_model = LinearModel(weights=torch.from_numpy(ref.coef_.T.copy()), bias=torch.from_numpy(ref.intercept_),
                                C=C, intercept_scaling=scale)
        model = fit_squared_hinge_ovr(feats, [C], n_classes=4, dtype=torch.float64, tol=1e-10,
                                      intercept_scaling=scale)[0]
        f_ref, f_t = primal_objective(ref_model, X, y, C), primal_objective(model, X, y, C)
        assert torch.all((f_t - f_ref).abs() / f_ref < 1e-5)
        assert torch.allclose(model.bias, ref_model.bias, atol=1e-4 * float(ref_model.bias.abs().max()))


def test_float32_default_meets_liblinear_rule(small_problem):
    feats, X, y = small_problem
    C = 0.1
    m32 = fit_squared_hinge_ovr(feats, [C], n_classes=4)[0]
    m64 = fit_squared_hinge_ovr(feats, [C], n_classes=4, dtype=torch.float64, tol=1e-10)[0]
    assert m32.converged and m32.weights.dtype == torch.float32 and m32.backend == "torch-cpu-float32"
    f32, f64 = primal_objective(m32, X, y, C), primal_objective(m64, X, y, C)
    assert torch.all((f32 - f64) / f64 < 1e-3)


# ------------------------------------------------------------------------- streaming and warm starts


def test_streaming_blocks_give_the_one_block_solution():
    one, centers = learnable(S=80, K=5, D=16, clips=4, seed=1)
    many = ClipFeatures(blocks=list(one.dense().tensor_split(7)), sample_index=one.sample_index, labels=one.labels,
                        groups=one.groups, sample_ids=one.sample_ids)
    kw = dict(n_classes=5, dtype=torch.float64, tol=1e-9)
    a = fit_squared_hinge_ovr(one, [0.05], **kw)[0]
    b = fit_squared_hinge_ovr(many, [0.05], chunk_rows=13, **kw)[0]  # 7 blocks, cut further into 13-row chunks
    c = fit_squared_hinge_ovr(many, [0.05], resident=False, **kw)[0]  # re-converted every pass
    for m in (b, c):
        assert torch.allclose(m.weights, a.weights, rtol=1e-6, atol=1e-9)
        assert torch.allclose(m.bias, a.bias, rtol=1e-6, atol=1e-9)
    assert torch.allclose(decision_function(b, many), decision_function(a, one), atol=1e-7)


def test_warm_start_same_solution_fewer_iterations():
    feats, _ = learnable(S=120, K=5, D=24, clips=3, seed=2)
    costs = [1e-3, 1e-2, 1e-1, 1.0]
    kw = dict(n_classes=5, dtype=torch.float64, tol=1e-8)
    warm = fit_squared_hinge_ovr(feats, costs, warm_start=True, **kw)
    cold = fit_squared_hinge_ovr(feats, costs, warm_start=False, **kw)
    X, y = feats.dense(), feats.row_labels
    for w_, c_ in zip(warm, cold):
        fw, fc = primal_objective(w_, X, y, w_.C), primal_objective(c_, X, y, c_.C)
        assert torch.all((fw - fc).abs() / fc < 1e-7)
        assert torch.allclose(w_.weights, c_.weights, rtol=1e-4, atol=1e-6)
    it_warm = sum(sum(m.info["iterations_per_class"]) for m in warm[1:])
    it_cold = sum(sum(m.info["iterations_per_class"]) for m in cold[1:])
    assert it_warm < it_cold
    # models come back in the order of ``costs`` even when it is not ascending
    shuffled = fit_squared_hinge_ovr(feats, [1.0, 1e-3], **kw)
    assert [m.C for m in shuffled] == [1.0, 1e-3]


# ------------------------------------------------------------------------------------- backends agree


def test_sklearn_and_torch_backends_agree():
    K, D = 6, 32
    train, centers = learnable(S=120, K=K, D=D, clips=4, seed=3, scale=0.5)
    test, _ = learnable(S=60, K=K, D=D, clips=4, seed=4, centers=centers, scale=0.5)
    costs = [1e-3, 1e-2, 1e-1]
    res_t = run_svm(train, test, costs=costs, backend="torch", tol=1e-6)
    res_s = run_svm(train, test, costs=costs, backend="sklearn", tol=1e-6)
    assert res_t.backend == "torch-cpu-float32" and res_s.backend == "sklearn-liblinear"
    for et, es in zip(res_t.sweep, res_s.sweep):
        assert abs(et["test_top1"] - es["test_top1"]) <= 100 / 60 + 1e-9  # at most one sample differs
        assert 30 < et["test_top1"] < 100  # learnable, not trivial
    agree = (res_t.scores.argmax(1) == res_s.scores.argmax(1)).float().mean()
    assert agree >= 0.95
    assert torch.allclose(res_t.scores, res_s.scores.float(), atol=0.05)


def test_sklearn_backend_binary_and_absent_class():
    feats, _ = learnable(S=40, K=2, D=8, clips=2, seed=5)
    m = fit_linear_svc(feats, [0.1], n_classes=3, tol=1e-8)[0]
    assert m.weights.shape == (8, 3)
    assert torch.equal(m.weights[:, 0], -m.weights[:, 1]) and m.info["absent_classes"] == [2]
    t = fit_squared_hinge_ovr(feats, [0.1], n_classes=2, dtype=torch.float64, tol=1e-10)[0]
    assert torch.allclose(t.weights, m.weights[:, :2], atol=1e-5)  # OvR pair == liblinear's [-f, f]
    with pytest.raises(ValueError, match="CPU"):
        run_svm(feats, feats, costs=[0.1], backend="sklearn", device="cuda")


# ---------------------------------------------------------------------------------- multi-clip scores


def test_clip_scores_are_averaged_per_sample():
    # Decision values equal the features (identity weights): sample 0 has clips voting 0, 0, 1, but the mean
    # score favours class 1; sample 1 has a single clip.
    x = torch.tensor([[1.0, 0.9], [1.0, 0.9], [-5.0, 5.0], [0.0, 2.0]])
    feats = ClipFeatures(blocks=[x[:2], x[2:]], sample_index=torch.tensor([0, 0, 0, 1]), labels=torch.tensor([1, 1]),
                         groups=["a", "b"], sample_ids=["s0", "s1"])
    model = LinearModel(weights=torch.eye(2), bias=torch.zeros(2), C=1.0, backend="torch-cpu-float32")
    clip_votes = decision_function(model, feats).argmax(1)
    assert clip_votes[:3].tolist() == [0, 0, 1]  # majority vote would say class 0
    scores = sample_scores(model, feats)
    assert torch.allclose(scores[0], torch.tensor([-1.0, 2.2667]), atol=1e-4)
    assert scores.argmax(1).tolist() == [1, 1]
    assert topk_accuracy(scores, feats.labels, 1) == 100.0


def test_run_svm_scores_are_clip_means_of_the_selected_model():
    train, centers = learnable(S=40, K=4, D=10, clips=3, seed=6)
    test, _ = learnable(S=20, K=4, D=10, clips=3, seed=7, centers=centers)
    res = run_svm(train, test, costs=[1e-2, 1e-1])
    models = fit_squared_hinge_ovr(train, [1e-2, 1e-1], n_classes=4)  # the same warm-started path
    model = models[[1e-2, 1e-1].index(res.selected["C"])]
    expect = sample_mean(decision_function(model, test).double(), test.sample_index, test.n_samples).float()
    assert res.scores.shape == (20, 4)
    assert torch.allclose(res.scores, expect, atol=1e-5)


# ------------------------------------------------------------------------------------------- C selection


def _shifted_split(seed: int = 0):
    """Train: feature B (small scale) separates the classes perfectly, feature A (large scale) only partly.
    Test: B carries no signal. Tiny C (w ~ X^T y) leans on A; large C (max margin) on B. So CV inside train
    prefers a large C and the test split prefers a small one."""
    g = torch.Generator().manual_seed(seed)

    def make(S, b_signal):
        y = torch.arange(S) % 2
        s = 2.0 * y - 1
        a = 10 * (0.8 * s + torch.randn(S, generator=g))
        b = 0.1 * s * b_signal + 0.03 * torch.randn(S, generator=g)
        return ClipFeatures(blocks=[torch.stack([a, b], 1)], sample_index=torch.arange(S), labels=y,
                            groups=[f"g{i % 10}" for i in range(S)], sample_ids=[f"s{i}" for i in range(S)])

    return make(200, 1.0), make(200, 0.0)


COSTS_SHIFT = [1e-4, 1e-3, 1e-2, 1.0, 100.0]


def test_paper_picks_test_best_and_clean_picks_cv_best():
    train, test = _shifted_split()
    paper = run_svm(train, test, costs=COSTS_SHIFT, selection="paper")
    clean = run_svm(train, test, costs=COSTS_SHIFT, selection="clean", cv_folds=5)
    tops = [e["test_top1"] for e in paper.sweep]
    assert paper.selected["C"] == COSTS_SHIFT[tops.index(max(tops))] and paper.selection == "paper"
    cvs = [e["cv_top1"] for e in clean.sweep]
    assert clean.selected["C"] == COSTS_SHIFT[cvs.index(max(cvs))] and clean.selection == "clean"
    assert paper.selected["C"] != clean.selected["C"]  # the construction makes them differ
    assert paper.selected["C"] <= 1e-2 and clean.selected["C"] >= 1.0
    # both modes report test top-1/top-5 for every C; the sweeps' test numbers are the same fits
    assert [e["test_top1"] for e in clean.sweep] == tops
    assert all("test_top5" in e for e in paper.sweep + clean.sweep)
    # reported scores are those of the selected C
    i = COSTS_SHIFT.index(clean.selected["C"])
    assert topk_accuracy(clean.scores, test.labels, 1) == clean.sweep[i]["test_top1"]


def test_clean_selection_never_sees_test_labels():
    train, test = _shifted_split()
    perm = ClipFeatures(blocks=test.blocks, sample_index=test.sample_index,
                        labels=test.labels[torch.randperm(test.n_samples, generator=torch.Generator().manual_seed(1))],
                        groups=test.groups, sample_ids=test.sample_ids)
    a = run_svm(train, test, costs=COSTS_SHIFT, selection="clean")
    b = run_svm(train, perm, costs=COSTS_SHIFT, selection="clean")
    assert a.selected == b.selected
    assert [e["cv_top1"] for e in a.sweep] == [e["cv_top1"] for e in b.sweep]
    assert torch.equal(a.scores, b.scores)


def test_grouped_cv_does_not_leak_group_fingerprints():
    # Each group has a unique fingerprint and one random label shared by all its samples: only a split that puts
    # a group's samples on both sides can learn anything.
    G, per_group, K, D = 40, 4, 4, 64
    g = torch.Generator().manual_seed(0)
    fingerprints = 3 * torch.randn(G, D, generator=g)
    group_label = torch.randint(0, K, (G,), generator=g)
    gid = torch.arange(G).repeat_interleave(per_group)
    S = G * per_group
    x = (fingerprints[gid].repeat_interleave(2, 0) + 0.3 * torch.randn(S * 2, D, generator=g))
    feats = clip_features(x, group_label[gid], clips=2, groups=[f"grp{i}" for i in gid.tolist()])
    res = run_svm(feats, feats, costs=[1e-2, 1.0], selection="clean", cv_folds=5)
    for fold in res.info["cv"]:
        assert not set(fold["train_groups"]) & set(fold["val_groups"])
    grouped = max(e["cv_top1"] for e in res.sweep)
    assert grouped < 45.0  # chance is 25 %

    # the same solver on a sample-level (non-grouped) split finds the fingerprints
    accs = []
    for fit_pos, val_pos in KFold(5, shuffle=True, random_state=0).split(np.arange(S)):
        part, held = feats.subset(fit_pos.tolist()), feats.subset(val_pos.tolist())
        m = fit_squared_hinge_ovr(part, [1.0], n_classes=K)[0]
        accs.append(topk_accuracy(sample_scores(m, held), held.labels, 1))
    assert sum(accs) / len(accs) > 85.0


def test_clean_needs_two_groups_and_validates_arguments():
    feats, _ = learnable(S=20, K=2, D=4, clips=1, seed=8)
    one_group = ClipFeatures(blocks=feats.blocks, sample_index=feats.sample_index, labels=feats.labels,
                             groups=["only"] * 20, sample_ids=feats.sample_ids)
    with pytest.raises(ValueError, match="2 groups"):
        run_svm(one_group, feats, costs=[0.1], selection="clean")
    with pytest.raises(ValueError, match="backend"):
        run_svm(feats, feats, costs=[0.1], backend="liblinear")
    with pytest.raises(ValueError, match="selection"):
        run_svm(feats, feats, costs=[0.1], selection="best")


# ------------------------------------------------------------------------------------------------ cuML


def test_cuml_backend_without_cuml_raises_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cuml", None)  # import cuml -> ImportError, whether or not it is installed
    monkeypatch.setitem(sys.modules, "cuml.svm", None)
    feats, _ = learnable(S=20, K=2, D=4, clips=1, seed=9)
    with pytest.raises(BackendUnavailable, match=r"pip install 'avbench\[gpu\]'.*cuml-cu13"):
        fit_cuml_linear_svc(feats, [0.1], n_classes=2, device="cuda")
    with pytest.raises(BackendUnavailable, match="cuml-cu13"):
        run_svm(feats, feats, costs=[0.1], backend="cuml", device="cuda")
