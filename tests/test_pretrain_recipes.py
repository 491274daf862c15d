"""The pretraining recipes against the papers' tables (issue 19, items 4 and 8): CrissCross's Kinetics-Sound epoch
size (supplementary Table S10), temporal-SSL's epochs (Table 4) and its visual-visual batch negatives (the paper's
``N^vv = {nu_j in B | j != i}``)."""
from __future__ import annotations

import pytest
import torch

from avbench.pretrain.method import resolve_config
from avbench_baselines.crisscross.pretrain import CrissCrossPretrainer
from avbench_baselines.temporal_ssl.pretrain import TemporalSSLPretrainer

#: Kinetics-Sound training videos in the class list avbench ships (pritamqu/XKD cache, train.txt)
KS_VIDEOS = 22_713


def test_crisscross_paper_preset_matches_table_s10_epoch_size():
    """Table S10, KS row: es = 220K samples per epoch. 5 clips per video (the released K400 config) gave 113K."""
    cfg = resolve_config(CrissCrossPretrainer, "paper", None)
    assert abs(cfg.train.clips_per_video * KS_VIDEOS - 220_000) / 220_000 < 0.05
    k400 = resolve_config(CrissCrossPretrainer, "kinetics400", None)
    assert k400.train.clips_per_video * 200_000 == 1_000_000  # Table S10, K400 row: es 1M


def test_temporal_ssl_epochs_follow_table_4():
    assert resolve_config(TemporalSSLPretrainer, "paper", None).train.epochs == 240
    assert resolve_config(TemporalSSLPretrainer, "kinetics600", None).train.epochs == 150


def _spied_temporal_ssl(over: dict, monkeypatch) -> tuple[list, dict[str, torch.Tensor]]:
    """Run temporal-SSL (``small`` preset with ``over``, no temporal tasks, a tiny bank) on one random batch with
    ``_contrastive`` replaced by a spy: (the (positive, negatives, anchor) of each call, in call order; the
    projector embeddings ``{v_r, v_s, a_r, a_s}`` ``[3, D]``)."""
    cfg = resolve_config(TemporalSSLPretrainer, "small", {"temporal_tasks": [], "queue_size": 8, "m": 4, "k": 1,
                                                          **over})
    model = TemporalSSLPretrainer(cfg, init_seed=0).eval()
    seen: list[tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]] = []

    def spy(pred, positive, negatives, anchor, bank):
        seen.append((positive, negatives, anchor))
        return pred.sum() * 0

    monkeypatch.setattr(model, "_contrastive", spy)
    g = torch.Generator().manual_seed(0)
    batch = {"v_r": torch.randn(3, 3, 8, 64, 64, generator=g), "v_s": torch.randn(3, 3, 8, 64, 64, generator=g),
             "a_r": torch.randn(3, 1, 80, 51, generator=g), "a_s": torch.randn(3, 1, 80, 51, generator=g)}
    with torch.no_grad():
        model(batch)
        emb = {f"{c}_{v}": model.projector[m](model.encoder.trunk(m)(batch[f"{c}_{v}"], ["pool"])["pool"]).float()
               for c, m in (("v", "video"), ("a", "audio")) for v in ("r", "s")}
    return seen, emb


@pytest.mark.parametrize("term", ["vv", "aa"])
def test_temporal_ssl_intra_modal_negatives_are_the_anchor_views_batch(term, monkeypatch):
    """l_vv of view r: prediction phi(nu^r), positive nu_hat^s, batch negatives {nu_j^r}: the other samples of the
    SAME view as the prediction (not of the positive's view)."""
    seen, emb = _spied_temporal_ssl({"contrastive_terms": [term]}, monkeypatch)
    c = term[0]
    assert len(seen) == 2  # r -> s, then s -> r
    for (positive, negatives, _), (own, other) in zip(seen, (("r", "s"), ("s", "r"))):
        assert torch.allclose(positive, emb[f"{c}_{other}"]) and torch.allclose(negatives[0], emb[f"{c}_{own}"])
        assert not torch.allclose(negatives[0], emb[f"{c}_{other}"])


@pytest.mark.parametrize("view", ["same", "other"])
def test_temporal_ssl_cross_modal_view_picks_the_positive_s_view(view, monkeypatch):
    """l_va of view r: prediction phi_v(nu^r), positive alpha^r (the paper) or, with ``cross_modal_view: other``,
    alpha^s (view s, another scene); the batch negatives are nu^r and the positive's own view's audio."""
    seen, emb = _spied_temporal_ssl({"contrastive_terms": ["va", "av"], "cross_modal_view": view}, monkeypatch)
    assert len(seen) == 4  # (va, av) for r -> s, then for s -> r
    for i, (own, other) in enumerate((("r", "s"), ("s", "r"))):
        x = other if view == "other" else own
        (pos_va, neg_va, anchor_va), (pos_av, neg_av, _) = seen[2 * i], seen[2 * i + 1]
        assert anchor_va is pos_va
        assert torch.allclose(pos_va, emb[f"a_{x}"]) and torch.allclose(pos_av, emb[f"v_{x}"])
        assert torch.allclose(neg_va[0], emb[f"v_{own}"]) and torch.allclose(neg_va[1], emb[f"a_{x}"])
        assert torch.allclose(neg_av[0], emb[f"a_{own}"]) and torch.allclose(neg_av[1], emb[f"v_{x}"])
        assert not torch.allclose(pos_va, emb[f"a_{own if view == 'other' else other}"])
