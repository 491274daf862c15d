"""Metrics: top-k on hand-computed scores, tie handling, clip averaging, bootstrap intervals, mean/std."""
import math

import pytest
import torch

from avbench.metrics import bootstrap_ci, mean_std, sample_mean, topk_accuracy

SCORES = torch.tensor([[0.1, 0.5, 0.4],   # label 1: rank 1
                       [0.3, 0.2, 0.5],   # label 0: rank 2
                       [0.9, 0.05, 0.05],  # label 0: rank 1
                       [0.2, 0.3, 0.5]])  # label 0: rank 3
LABELS = torch.tensor([1, 0, 0, 0])


def test_topk_hand_computed():
    assert topk_accuracy(SCORES, LABELS, 1) == pytest.approx(50.0)
    assert topk_accuracy(SCORES, LABELS, 2) == pytest.approx(75.0)
    assert topk_accuracy(SCORES, LABELS, 3) == pytest.approx(100.0)
    assert topk_accuracy(SCORES, LABELS, 5) == pytest.approx(100.0)  # k > K: everything counts


def test_ties_count_against_the_prediction():
    flat = torch.zeros(4, 3)
    assert topk_accuracy(flat, LABELS, 1) == 0.0  # a constant scorer is not 100 % correct
    tie = torch.tensor([[1.0, 1.0, 0.0]])
    assert topk_accuracy(tie, torch.tensor([0]), 1) == 0.0
    assert topk_accuracy(tie, torch.tensor([0]), 2) == 100.0


def test_sample_mean_averages_clip_rows():
    clips = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0]])
    out = sample_mean(clips, torch.tensor([0, 0, 1]), 2)
    assert torch.equal(out, torch.tensor([[2.0, 1.0], [0.0, 5.0]]))
    with pytest.raises(ValueError):
        sample_mean(clips, torch.tensor([0, 0, 0]), 2)  # sample 1 has no clip


def _fold(n: int, acc: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples, 4 classes, exactly round(acc * n) of them correct."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    pred = labels.clone()
    wrong = torch.randperm(n, generator=g)[: n - round(acc * n)]
    pred[wrong] = (labels[wrong] + 1) % 4
    return torch.nn.functional.one_hot(pred, 4).float(), labels


def test_bootstrap_contains_estimate_and_narrows():
    small = [_fold(50, 0.7, 0), _fold(50, 0.8, 1)]
    large = [_fold(2000, 0.7, 2), _fold(2000, 0.8, 3)]
    for folds in (small, large):
        point = sum(topk_accuracy(s, y, 1) for s, y in folds) / len(folds)
        lo, hi = bootstrap_ci(folds, n_boot=500, seed=0)
        assert lo <= point <= hi
        assert point == pytest.approx(75.0)
    w_small = bootstrap_ci(small, n_boot=500)[1] - bootstrap_ci(small, n_boot=500)[0]
    lo, hi = bootstrap_ci(large, n_boot=500)
    assert hi - lo < w_small / 3  # ~sqrt(40) narrower
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)  # deterministic for a seed


def test_mean_std_is_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_std([4.0]) == (4.0, 0.0)
    m, s = mean_std([70.0, 72.0])
    assert m == 71.0 and s == pytest.approx(math.sqrt(2.0))
