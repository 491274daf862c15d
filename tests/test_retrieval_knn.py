"""Retrieval (Recall@k) and k-NN protocols and video-level features: hand-made cases with known answers, the
"any of k" rule, cosine vs Euclidean, per-clip L2 vs raw averaging, agreement with scikit-learn's
NearestNeighbors / KNeighborsClassifier, train-only standardisation, deterministic ties, blocking, validation."""
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from avbench.metrics import topk_accuracy
from avbench.protocols.base import ClipFeatures
from avbench.protocols.knn import run_knn
from avbench.protocols.retrieval import run_retrieval, search
from avbench.protocols.aggregate import apply_standardizer, fit_standardizer, to_video_level, video_features


def feats(x, labels, clips: int = 1, n_blocks: int = 1) -> ClipFeatures:
    """Rows ``x [S * clips, D]`` ordered sample by sample; ``labels [S]``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    labels = torch.as_tensor(labels, dtype=torch.long)
    S = labels.numel()
    return ClipFeatures(blocks=list(x.tensor_split(n_blocks)), sample_index=torch.arange(S).repeat_interleave(clips),
                        labels=labels, groups=[f"g{i}" for i in range(S)], sample_ids=[f"s{i}" for i in range(S)])


def polar(deg, r=1.0):
    return [r * math.cos(math.radians(deg)), r * math.sin(math.radians(deg))]


def random_split(seed: int, S_train=60, S_test=25, D=8, K=5, clips=3, n_blocks=4):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(K, D, generator=g)
    y_tr, y_te = torch.arange(S_train) % K, torch.randint(0, K, (S_test,), generator=g)
    x_tr = (centers[y_tr] + torch.randn(S_train, D, generator=g)).repeat_interleave(clips, 0)
    x_te = (centers[y_te] + torch.randn(S_test, D, generator=g)).repeat_interleave(clips, 0)
    x_tr = x_tr + 0.7 * torch.randn(x_tr.shape, generator=g) + 0.5
    x_te = x_te + 0.7 * torch.randn(x_te.shape, generator=g) + 0.5
    return feats(x_tr, y_tr, clips, n_blocks), feats(x_te, y_te, clips, n_blocks)


def neighbour_positions(result) -> np.ndarray:
    return np.array([[int(s[1:]) for s in info["neighbours"]] for info in result.sample_info])


# ------------------------------------------------------------------------------------ hand-made answers

# gallery on the unit circle: angle -> class
GALLERY = [(5, 1), (10, 0), (20, 2), (30, 2), (40, 1), (90, 0)]


def toy_gallery() -> ClipFeatures:
    return feats([polar(a) for a, _ in GALLERY], [c for _, c in GALLERY])


def test_recall_at_k_on_a_known_toy():
    # q0 (class 0, 0 deg): neighbours 5(c1) 10(c0) ... -> wrong at 1, right at 2.
    # q1 (class 2, 180 deg): neighbours 90(c0) 40(c1) 30(c2) ... -> right only from k = 3.
    test = feats([polar(0), polar(180)], [0, 2])
    r = run_retrieval(toy_gallery(), test, ks=(1, 2, 3, 5))
    assert r.hits["recall1"].tolist() == [0.0, 0.0]
    assert r.hits["recall2"].tolist() == [1.0, 0.0]
    assert r.hits["recall3"].tolist() == [1.0, 1.0]
    assert r.hits["recall5"].tolist() == [1.0, 1.0]
    assert r.sample_info[0]["neighbours"] == ["s0", "s1", "s2", "s3", "s4"]
    assert r.sample_info[0]["neighbour_labels"] == [1, 0, 2, 2, 1]
    assert r.sample_info[1]["neighbours"][:3] == ["s5", "s4", "s3"]
    assert r.selected == {} and r.selection == "none" and r.sweep == [] and r.backend == "torch-cpu"
    assert r.info["gallery_size"] == 6 and r.info["metric"] == "cosine"
    # class scores: best cosine per class; top-1 over them is the 1-NN class
    assert r.scores.shape == (2, 3)
    assert torch.allclose(r.scores[0], torch.tensor([math.cos(math.radians(10)), math.cos(math.radians(5)),
                                                     math.cos(math.radians(20))]), atol=1e-6)
    assert r.scores.argmax(1).tolist() == [1, 0]
    assert topk_accuracy(r.scores, torch.tensor([0, 2]), 1) == 0.0


def test_any_of_k_rule_is_not_a_majority_vote():
    # q (class 0, 7 deg): neighbours 5(c1) 10(c0) 20(c2) 30(c2) 40(c1): one right item among 5 -> a hit at 5.
    test = feats([polar(7)], [0])
    r = run_retrieval(toy_gallery(), test, ks=(1, 5))
    assert r.hits["recall5"].tolist() == [1.0]
    # the 5-NN classifier votes c1 and c2 twice, c0 once: it predicts c1 (nearest of the tied), so it is wrong
    knn = run_knn(toy_gallery(), test, k=5, standardize=False)
    assert knn.scores.argmax(1).tolist() == [1]


def test_cosine_and_euclidean_disagree_on_a_constructed_example():
    train = feats([[10.0, 0.0], [1.0, 1.0]], [0, 1])
    test = feats([[1.0, 0.1]], [0])
    cos = run_retrieval(train, test, ks=(1,), metric="cosine")
    euc = run_retrieval(train, test, ks=(1,), metric="euclidean")
    assert cos.sample_info[0]["neighbours"] == ["s0"] and cos.hits["recall1"].tolist() == [1.0]
    assert euc.sample_info[0]["neighbours"] == ["s1"] and euc.hits["recall1"].tolist() == [0.0]
    # euclidean class scores are negative distances
    assert euc.scores[0, 1].item() == pytest.approx(-math.hypot(0.0, 0.9), abs=1e-6)


def test_clip_averaging_l2_versus_raw():
    # one sample, clips (10, 0), (0, 1), (0, 1)
    x = feats([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [0], clips=3, n_blocks=2)
    assert torch.allclose(video_features(x), torch.tensor([[10 / 3, 2 / 3]], dtype=torch.float64))
    assert torch.allclose(video_features(x, clip_norm="l2"), torch.tensor([[1 / 3, 2 / 3]], dtype=torch.float64))
    # the average is not re-normalised (SeLaVi), and it changes the retrieved neighbour
    train = feats([[1.0, 0.0], [0.0, 1.0]], [0, 1])
    query = feats([[10.0, 0.0], [0.0, 1.0], [0.0, 1.0]], [1], clips=3)
    assert run_retrieval(train, query, ks=(1,), clip_norm="none").sample_info[0]["neighbours"] == ["s0"]
    assert run_retrieval(train, query, ks=(1,), clip_norm="l2").sample_info[0]["neighbours"] == ["s1"]
    with pytest.raises(ValueError, match="clip_norm"):
        video_features(x, clip_norm="l1")


def test_video_features_streams_blocks_and_matches_dense_mean():
    train, _ = random_split(0, n_blocks=7)
    one_block = feats(train.dense(), train.labels, clips=3)
    dense = train.dense().double().reshape(train.n_samples, 3, -1).mean(1)
    assert torch.allclose(video_features(train), dense, atol=1e-12)
    assert torch.equal(video_features(train), video_features(one_block))
    assert video_features(train, dtype=torch.float32).dtype == torch.float32


# ------------------------------------------------------------------------------------ scikit-learn agreement


@pytest.mark.parametrize("metric,clip_norm", [("cosine", "none"), ("euclidean", "none"), ("euclidean", "l2"),
                                              ("cosine", "l2")])
def test_retrieval_matches_sklearn_nearest_neighbors(metric, clip_norm):
    train, test = random_split(1)
    g = video_features(train, clip_norm=clip_norm).numpy()
    q = video_features(test, clip_norm=clip_norm).numpy()
    nn = NearestNeighbors(n_neighbors=20, metric=metric, algorithm="brute").fit(g)
    dist, idx = nn.kneighbors(q)
    r = run_retrieval(train, test, ks=(1, 5, 20), metric=metric, clip_norm=clip_norm)
    np.testing.assert_array_equal(neighbour_positions(r), idx)
    sim = np.array([info["neighbour_similarity"] for info in r.sample_info])
    np.testing.assert_allclose(sim, 1.0 - dist if metric == "cosine" else -dist, atol=2e-6)
    y_tr, y_te = train.labels.numpy(), test.labels.numpy()
    for k in (1, 5, 20):
        expected = (y_tr[idx[:, :k]] == y_te[:, None]).any(1).astype(np.float32)
        np.testing.assert_array_equal(r.hits[f"recall{k}"].numpy(), expected)
    # top-1 over the class scores is exactly the 1-NN class
    assert topk_accuracy(r.scores, test.labels, 1) == pytest.approx(100.0 * float(r.hits["recall1"].mean()))
    assert r.scores.argmax(1).tolist() == y_tr[idx[:, 0]].tolist()


def test_retrieval_default_tree_algorithm_agrees_too():
    # sklearn's default algorithm for Euclidean is a tree; the neighbours are the same exact ones
    train, test = random_split(2, D=4)
    g, q = video_features(train).numpy(), video_features(test).numpy()
    _, idx = NearestNeighbors(n_neighbors=5).fit(g).kneighbors(q)
    r = run_retrieval(train, test, ks=(5,), metric="euclidean")
    np.testing.assert_array_equal(neighbour_positions(r), idx)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_matches_sklearn_1nn_on_standardised_features(metric):
    train, test = random_split(3, S_test=40)
    mean, std = fit_standardizer(video_features(train))
    g = apply_standardizer(video_features(train), (mean, std)).numpy()
    q = apply_standardizer(video_features(test), (mean, std)).numpy()
    clf = KNeighborsClassifier(n_neighbors=1, metric=metric, algorithm="brute").fit(g, train.labels.numpy())
    r = run_knn(train, test, k=1, metric=metric)
    pred = r.scores.argmax(1).numpy()
    np.testing.assert_array_equal(pred, clf.predict(q))
    assert r.selected == {"k": 1} and r.hits is None
    assert topk_accuracy(r.scores, test.labels, 1) == pytest.approx(100.0 * float((pred == test.labels.numpy()).mean()))
    # without standardisation the answer is sklearn's on the raw averages (and differs from the standardised one
    # on this data, so the flag does something)
    raw = run_knn(train, test, k=1, metric=metric, standardize=False).scores.argmax(1).numpy()
    clf_raw = KNeighborsClassifier(n_neighbors=1, metric=metric, algorithm="brute")
    np.testing.assert_array_equal(raw, clf_raw.fit(video_features(train).numpy(), train.labels.numpy())
                                  .predict(video_features(test).numpy()))


def test_knn_majority_vote_with_nearest_tie_break():
    train, test = random_split(4, S_test=40)
    g = video_features(train).numpy()
    q = video_features(test).numpy()
    _, idx = NearestNeighbors(n_neighbors=4, metric="cosine", algorithm="brute").fit(g).kneighbors(q)
    y = train.labels.numpy()
    expected = []
    for row in idx:
        labs = y[row].tolist()
        counts = {c: labs.count(c) for c in labs}
        top = max(counts.values())
        expected.append(next(c for c in labs if counts[c] == top))  # first (nearest) class with the top count
    r = run_knn(train, test, k=4, standardize=False, metric="cosine")
    assert r.scores.argmax(1).tolist() == expected
    # the vote part of the score is the vote count
    assert torch.equal(r.scores.floor(), torch.tensor([[list(y[row]).count(c) for c in range(5)] for row in idx],
                                                      dtype=torch.float32))


def test_knn_tie_between_classes_goes_to_the_nearest():
    train = toy_gallery()
    q = feats([polar(7)], [0])  # neighbours 5(c1) 10(c0) 20(c2)
    assert run_knn(train, q, k=2, standardize=False).scores.argmax(1).tolist() == [1]  # 1:1 -> nearest (c1)
    assert run_knn(train, q, k=1, standardize=False).scores.argmax(1).tolist() == [1]
    r3 = run_knn(train, q, k=3, standardize=False)  # 1:1:1 -> c1; the remaining order is c0, c2
    assert r3.scores[0].argsort(descending=True).tolist() == [1, 0, 2]


# ------------------------------------------------------------------------------------ standardisation


def test_standardiser_uses_train_statistics_only():
    train, test = random_split(5)
    shifted = feats(test.dense() + 100.0, test.labels, clips=3)
    tr_a, te_a = to_video_level(train, test, standardize=True)
    tr_b, te_b = to_video_level(train, shifted, standardize=True)
    assert torch.equal(tr_a.blocks[0], tr_b.blocks[0])  # a test-only shift does not move the standardiser
    mean, std = fit_standardizer(video_features(train))
    assert torch.allclose(te_b.blocks[0].double(), (video_features(test) + 100.0 - mean) / std,
                          rtol=1e-5, atol=1e-5)
    assert not torch.allclose(te_b.blocks[0].double().mean(0), torch.zeros(train.dim, dtype=torch.float64), atol=1.0)
    x = tr_a.blocks[0].double()
    assert torch.allclose(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1], dtype=torch.float64), atol=1e-5)
    # the video-level sets are one row per sample, with the metadata carried over
    assert tr_a.n_rows == train.n_samples and torch.equal(tr_a.sample_index, torch.arange(train.n_samples))
    assert tr_a.sample_ids == train.sample_ids and torch.equal(te_a.labels, test.labels)
    assert tr_a.blocks[0].dtype == torch.float32
    raw, _ = to_video_level(train, test, standardize=False)
    assert torch.allclose(raw.blocks[0].double(), video_features(train), atol=1e-6)


def test_standardiser_constant_dimension_gets_unit_std():
    x = torch.tensor([[1.0, 5.0, 0.0], [3.0, 5.0, 1e-12], [5.0, 5.0, 0.0]], dtype=torch.float64)
    mean, std = fit_standardizer(x)
    assert torch.allclose(mean, torch.tensor([3.0, 5.0, 1e-12 / 3], dtype=torch.float64))
    assert std[0].item() == pytest.approx(math.sqrt(8 / 3)) and std[1].item() == 1.0 and std[2].item() == 1.0
    y = apply_standardizer(x, (mean, std))
    assert torch.isfinite(y).all() and torch.equal(y[:, 1], torch.zeros(3, dtype=torch.float64))


def test_retrieval_standardize_equals_sklearn_on_train_standardised_features():
    train, test = random_split(6)
    stats = fit_standardizer(video_features(train))
    g, q = apply_standardizer(video_features(train), stats), apply_standardizer(video_features(test), stats)
    _, idx = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(g.numpy()).kneighbors(q.numpy())
    r = run_retrieval(train, test, ks=(5,), standardize=True)
    np.testing.assert_array_equal(neighbour_positions(r), idx)
    assert not np.array_equal(neighbour_positions(run_retrieval(train, test, ks=(5,))), idx)


# ------------------------------------------------------------------------------------ ties, blocks, validation


def test_ties_break_towards_the_lower_gallery_position():
    # integer features with many exact ties; the expected order is a stable sort of -similarity
    g = torch.Generator().manual_seed(7)
    gallery = torch.randint(0, 3, (40, 3), generator=g).double()
    queries = torch.randint(0, 3, (15, 3), generator=g).double()
    labels = torch.arange(40) % 4
    for metric in ("euclidean", "cosine"):
        nb = search(queries, gallery, labels, k=10, metric=metric, n_classes=4, block_size=4)
        if metric == "euclidean":
            sim = -torch.cdist(queries, gallery)
        else:
            qn, gn = torch.nn.functional.normalize(queries, dim=1), torch.nn.functional.normalize(gallery, dim=1)
            sim = qn @ gn.T
        expected = np.lexsort((np.arange(40)[None, :].repeat(15, 0), -sim.numpy().round(12)), axis=1)[:, :10]
        np.testing.assert_array_equal(nb.index.numpy(), expected)
    # identical gallery videos of two classes: the first one is the neighbour, and the class scores agree
    train = feats([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [2, 0, 1])
    r = run_retrieval(train, feats([[1.0, 0.1]], [0]), ks=(1, 2))
    assert r.sample_info[0]["neighbours"] == ["s0", "s1"]
    assert r.hits["recall1"].tolist() == [0.0] and r.hits["recall2"].tolist() == [1.0]
    assert r.scores.argmax(1).tolist() == [2] and topk_accuracy(r.scores, torch.tensor([0]), 1) == 0.0
    assert r.scores[0, 2] > r.scores[0, 0]  # the exact tie is broken towards the 1-NN's class


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_block_size_does_not_change_the_result(metric):
    train, test = random_split(8, S_test=31)
    a = run_retrieval(train, test, metric=metric, block_size=3)
    b = run_retrieval(train, test, metric=metric, block_size=4096)
    np.testing.assert_array_equal(neighbour_positions(a), neighbour_positions(b))
    for k in (1, 5, 20):
        assert torch.equal(a.hits[f"recall{k}"], b.hits[f"recall{k}"])
    assert torch.allclose(a.scores, b.scores, atol=1e-6)
    ka, kb = run_knn(train, test, k=3, metric=metric, block_size=3), run_knn(train, test, k=3, metric=metric)
    assert torch.equal(ka.scores, kb.scores)


def test_validation_errors():
    train = toy_gallery()
    test = feats([polar(0)], [0])
    with pytest.raises(ValueError, match=r"k=20.*\(6 training videos\)"):
        run_retrieval(train, test, ks=(1, 5, 20))
    with pytest.raises(ValueError, match=r"k=7.*6"):
        run_knn(train, test, k=7)
    empty = ClipFeatures(blocks=[], sample_index=torch.zeros(0, dtype=torch.long),
                         labels=torch.zeros(0, dtype=torch.long), groups=[], sample_ids=[])
    with pytest.raises(ValueError, match="gallery"):
        run_retrieval(empty, test, ks=(1,))
    with pytest.raises(ValueError, match="query"):
        run_retrieval(train, empty, ks=(1,))
    with pytest.raises(ValueError, match="metric"):
        run_retrieval(train, test, ks=(1,), metric="manhattan")
    with pytest.raises(ValueError, match="ks"):
        run_retrieval(train, test, ks=())
    with pytest.raises(ValueError, match="dimension"):
        run_retrieval(train, feats([[1.0, 2.0, 3.0]], [0]), ks=(1,))
    with pytest.raises(ValueError, match="labels"):
        run_retrieval(train, test, ks=(1,), n_classes=2)
    with pytest.raises(ValueError, match="NaN"):
        run_retrieval(train, feats([[float("nan"), 0.0]], [0]), ks=(1,))


def test_absent_class_scores_are_finite_and_lowest():
    r = run_retrieval(toy_gallery(), feats([polar(0)], [0]), ks=(1,), n_classes=5)
    assert r.scores.shape == (1, 5) and torch.isfinite(r.scores).all()
    assert r.scores[0, 3] == r.scores[0, 4] < r.scores[0, :3].min()
    k = run_knn(toy_gallery(), feats([polar(0)], [0]), k=1, standardize=False, n_classes=5)
    assert k.scores[0, 3] == k.scores[0, 4] == 0.0 and (k.scores[0, :3] > 0).all()
