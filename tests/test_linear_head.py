"""The frozen-feature linear head: it learns, repeats exactly for a seed, and selects epochs as specified."""
import torch

from avbench.metrics import topk_accuracy
from avbench.protocols.base import ClipFeatures
from avbench.protocols.linear import train_linear_head


def make(S: int, K: int, D: int, clips: int, seed: int, sep: float, n_blocks: int = 1,
         centers: torch.Tensor | None = None) -> tuple[ClipFeatures, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if centers is None:
        centers = torch.randn(K, D, generator=torch.Generator().manual_seed(99))
    labels = torch.arange(S) % K
    x = sep * centers[labels].repeat_interleave(clips, 0) + torch.randn(S * clips, D, generator=g)
    feats = ClipFeatures(blocks=list(x.tensor_split(n_blocks)), sample_index=torch.arange(S).repeat_interleave(clips),
                         labels=labels, groups=[f"g{i % 6}" for i in range(S)], sample_ids=[f"s{i}" for i in range(S)])
    return feats, centers


KW = dict(epochs=8, lr=1e-2, weight_decay=1e-5, batch_size=32)


def test_learns_a_separable_problem():
    train, c = make(S=60, K=3, D=16, clips=3, seed=0, sep=3.0, n_blocks=3)
    test, _ = make(S=30, K=3, D=16, clips=3, seed=1, sep=3.0, centers=c)
    res = train_linear_head(train, test, **KW)
    assert res.scores.shape == (30, 3)
    assert torch.allclose(res.scores.sum(1), torch.ones(30), atol=1e-5)  # averaged softmax probabilities
    assert topk_accuracy(res.scores, test.labels, 1) == 100.0
    assert res.sweep[-1]["train_loss"] < res.sweep[0]["train_loss"]


def test_deterministic_for_a_seed_with_dropout_bn_l2():
    train, c = make(S=40, K=4, D=12, clips=2, seed=2, sep=0.7)
    test, _ = make(S=20, K=4, D=12, clips=2, seed=3, sep=0.7, centers=c)
    kw = dict(KW, dropout=0.1, l2_normalize=True, batchnorm=True, milestones=(4,), gamma=0.1)
    a = train_linear_head(train, test, seed=5, **kw)
    b = train_linear_head(train, test, seed=5, **kw)
    other = train_linear_head(train, test, seed=6, **kw)
    assert torch.equal(a.scores, b.scores) and a.sweep == b.sweep and a.selected == b.selected
    assert not torch.equal(a.scores, other.scores)


def test_paper_picks_best_test_epoch():
    train, c = make(S=48, K=4, D=24, clips=2, seed=4, sep=0.45)
    test, _ = make(S=40, K=4, D=24, clips=2, seed=5, sep=0.45, centers=c)
    res = train_linear_head(train, test, selection="paper", **dict(KW, epochs=12, lr=5e-2))
    tops = [e["test_top1"] for e in res.sweep]
    assert res.selection == "paper" and [e["epoch"] for e in res.sweep] == list(range(1, 13))
    assert res.selected["epoch"] == tops.index(max(tops)) + 1  # first best epoch
    assert topk_accuracy(res.scores, test.labels, 1) == max(tops)
    assert "val_top1" not in res.sweep[0]


def test_clean_picks_on_held_out_groups_only():
    train, c = make(S=48, K=4, D=24, clips=2, seed=4, sep=0.45)
    test, _ = make(S=40, K=4, D=24, clips=2, seed=5, sep=0.45, centers=c)
    kw = dict(KW, epochs=12, lr=5e-2)
    res = train_linear_head(train, test, selection="clean", holdout_fraction=0.34, **kw)
    vals = [e["val_top1"] for e in res.sweep]
    best = vals.index(max(vals)) + 1
    assert res.selection == "clean" and res.selected["epoch"] == best
    assert topk_accuracy(res.scores, test.labels, 1) == res.sweep[best - 1]["test_top1"]
    held = set(res.info["holdout_groups"])
    assert held and held < set(train.groups)
    assert res.info["n_train_rows"] == sum(2 for g in train.groups if g not in held)  # trained on the rest only
    # test labels never influence the choice
    perm = ClipFeatures(blocks=test.blocks, sample_index=test.sample_index, labels=test.labels.flip(0),
                        groups=test.groups, sample_ids=test.sample_ids)
    res_perm = train_linear_head(train, perm, selection="clean", holdout_fraction=0.34, **kw)
    assert res_perm.selected == res.selected and torch.equal(res_perm.scores, res.scores)
