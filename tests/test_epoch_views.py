"""Fresh training views per epoch for the linear head (issue 19, item 2): the released DCASE code and AVID's Kinetics
probe draw new random clips and augmentation every epoch. The evaluation core extracts one seeded view per epoch
through the feature store (each under its own key: an interrupted run resumes); ``train_views: cached`` keeps one
view for all epochs. Also the rest of the released linear recipes: the last partial batch dropped, nn.Linear's own
init (AVID), the last epoch reported (AVID)."""
from __future__ import annotations

import shutil

import pytest
import torch

from avbench.evaluation.runner import RunOptions, run
from avbench.protocols.base import ClipFeatures
from avbench.protocols.linear import LinearHead, train_linear_head

FEW = {"train": {"clips": 2}, "test": {"clips": 2}, "classifier": {"epochs": 3}}


def _feats(n_samples: int, clips: int, seed: int, dim: int = 6) -> ClipFeatures:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_samples) % 3
    x = torch.randn(n_samples * clips, dim, generator=g) + labels.repeat_interleave(clips)[:, None].float()
    return ClipFeatures([x], torch.arange(n_samples).repeat_interleave(clips), labels,
                        [f"g{i}" for i in range(n_samples)], [f"s{i}" for i in range(n_samples)])


def test_each_epoch_trains_on_its_own_view():
    views = [_feats(9, clips, seed=10 + clips) for clips in (1, 2, 3)]  # epoch e: e clips per sample
    test = _feats(6, 2, seed=0)
    res = train_linear_head(views[0], test, epochs=3, lr=0.1, weight_decay=0.0, batch_size=4, epoch_train=views,
                            n_classes=3, selection="last")
    assert [e["train_rows"] for e in res.sweep] == [9, 18, 27] and res.info["n_train_views"] == 3
    cached = train_linear_head(views[0], test, epochs=3, lr=0.1, weight_decay=0.0, batch_size=4, n_classes=3,
                               selection="last")
    assert "train_rows" not in cached.sweep[0] and cached.scores.shape == res.scores.shape
    assert not torch.equal(cached.scores, res.scores)
    with pytest.raises(ValueError, match="3 views of the same samples"):
        train_linear_head(views[0], test, epochs=3, lr=0.1, weight_decay=0.0, batch_size=4, epoch_train=views[:2])


def test_drop_last_skips_the_partial_batch_unless_it_is_the_only_one():
    train, test = _feats(10, 3, seed=1), _feats(6, 2, seed=2)  # 30 rows
    dropped = train_linear_head(train, test, epochs=2, lr=0.1, weight_decay=0.0, batch_size=8, drop_last=True)
    assert [(e["steps"], e["train_rows"]) for e in dropped.sweep] == [(3, 24), (3, 24)]
    whole = train_linear_head(train, test, epochs=1, lr=0.1, weight_decay=0.0, batch_size=64, drop_last=True)
    assert whole.sweep[0]["train_rows"] == 30  # one partial batch only: kept (fixture-sized sets)


def test_avid_head_init_and_last_epoch():
    """nn.Linear(8192, 400)'s own init, as AVID's head (measured there: weight std 0.0064, |w| <= 0.011 = 1/sqrt(8192)), drawn from
    the seeded generator; selection "last" reports the last epoch."""
    head = LinearHead(8192, 400, dropout=0.0, l2_normalize=False, batchnorm=True, generator=torch.Generator().manual_seed(0),
                      orthogonal_init=False)
    w = head.fc.weight.detach()
    bound = 1 / 8192 ** 0.5  # kaiming-uniform(a=sqrt 5): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert float(w.std()) == pytest.approx(bound / 3 ** 0.5, rel=0.01) and float(w.abs().max()) <= bound
    again = LinearHead(8192, 400, dropout=0.0, l2_normalize=False, batchnorm=True,
                       generator=torch.Generator().manual_seed(0), orthogonal_init=False)
    assert torch.equal(w, again.fc.weight.detach())
    res = train_linear_head(_feats(9, 2, 3), _feats(6, 2, 4), epochs=4, lr=0.1, weight_decay=0.0, batch_size=4,
                            selection="last")
    assert res.selected == {"epoch": 4}


def _opts(tmp_path, **kw):
    return RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None, num_workers=0, **kw)


def _train_views(record):
    seed0 = record.features["seed0"]
    return {k: v for k, v in seed0.items() if isinstance(v, dict) and k.startswith("train")}


@pytest.mark.slow
def test_dcase_draws_fresh_crops_every_epoch_through_the_store(dcase_root, tmp_path):
    first, _ = run("crisscross", "dcase", data_root=dcase_root, overrides=FEW, options=_opts(tmp_path))
    views = _train_views(first)
    assert sorted(views) == ["train", "train_epoch2", "train_epoch3"]
    assert len({v["key"] for v in views.values()}) == 3  # one store entry per epoch
    assert first.runs[0].info["n_train_views"] == 3
    assert all(e["train_rows"] == 12 * 2 for e in first.runs[0].sweep)
    # resumable per epoch: drop one epoch's entry, run again: only that epoch is extracted again
    key = views["train_epoch2"]["key"]
    shutil.rmtree(tmp_path / "cache" / "features" / key[:2] / key)
    again, _ = run("crisscross", "dcase", data_root=dcase_root, overrides=FEW, options=_opts(tmp_path))
    work = {k: (v["shards_reused"], v["shards_computed"]) for k, v in _train_views(again).items()}
    assert work["train_epoch2"][1] > 0 and work["train"][1] == 0 and work["train_epoch3"][1] == 0
    assert again.metrics["top1"].mean == first.metrics["top1"].mean  # the same views, the same result
    # the epochs' crops differ: the same sample's features in two epochs' entries
    from avbench.features.store import FeatureStore  # noqa: F401  (entries are read through the record's keys)
    from safetensors.torch import load_file

    rows = [load_file(str(next((tmp_path / "cache" / "features" / v["key"][:2] / v["key"]).glob("shard-*.safetensors"))))
            for v in views.values()]
    feats = [next(t for name, t in r.items() if t.dim() == 2) for r in rows]
    assert not torch.allclose(feats[0], feats[1])
    cached, _ = run("crisscross", "dcase", data_root=dcase_root,
                    overrides={**FEW, "classifier": {"epochs": 3, "train_views": "cached"}}, options=_opts(tmp_path))
    assert sorted(_train_views(cached)) == ["train"] and cached.task.track == "override"
