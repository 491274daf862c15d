"""CrissCross's ``objective: infonce`` (NOT the paper; issue 20, eighth stop): every active pair term is SimCLR's
NT-Xent on the projector outputs, with no predictor. Checked on the ``world`` preset's real model (width 8) with
views of the shapes CrissCrossViews draws, and by a 20-step pretraining run on the identity world."""
from __future__ import annotations

import json
import math

import pytest
import torch

from avbench.pretrain.method import get_method, resolve_config
from avbench.pretrain.trainer import PretrainOptions, pretrain
from avbench_baselines.crisscross.losses import crisscross_infonce_loss, nt_xent


def _crisscross(**overrides):
    cls = get_method("crisscross")
    return cls(resolve_config(cls, "world", overrides), init_seed=0)


def _views(b: int = 4) -> dict[str, torch.Tensor]:
    """Video [B, 3, 8, 48, 48] and 1-s log-mel [B, 1, 80, 101], as the world preset's sampler draws them."""
    gen = torch.Generator().manual_seed(0)
    out = {f"v{k}": torch.randn(b, 3, 8, 48, 48, generator=gen) for k in (1, 2)}
    return out | {f"a{k}": torch.randn(b, 1, 80, 101, generator=gen) for k in (1, 2)}


def test_infonce_is_the_mean_nt_xent_of_the_terms_on_z_and_trains_no_predictor() -> None:
    paper, model = _crisscross(), _crisscross(objective="infonce")
    sp, sm = paper.state_dict(), model.state_dict()
    assert sp.keys() == sm.keys() and all(torch.equal(sp[k], sm[k]) for k in sp)  # the same init either way
    views = _views()
    loss, logs = model(views)
    with torch.no_grad():
        z = {k: model.projector["video" if k[0] == "v" else "audio"](
            model.encoder.trunk("video" if k[0] == "v" else "audio")(x, ["pool"])["pool"]) for k, x in views.items()}
    by_hand = [nt_xent(z[t[:2]], z[t[2:]], 0.1).item() for t in model.cfg.terms]
    assert [logs[t] for t in model.cfg.terms] == pytest.approx(by_hand, rel=1e-4)
    assert loss.item() == pytest.approx(sum(by_hand) / 6, rel=1e-4)
    loss.backward()
    assert all(p.grad is None for p in model.predictor.parameters())
    for m in ("video", "audio"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.trunk(m).parameters())
    assert [g["name"] for g in model.param_groups()] == ["backbones+projectors"]
    assert len(paper.param_groups()) == 2 and abs(paper(views)[0].item()) <= 1.0  # the paper's form: cosines


def test_infonce_loss_names_missing_views_and_unknown_terms() -> None:
    z = {k: torch.randn(4, 8) for k in ("v1", "a2")}
    assert crisscross_infonce_loss(z, ["v1a2"])[0].item() == pytest.approx(nt_xent(z["v1"], z["a2"], 0.1).item())
    with pytest.raises(ValueError, match=r"missing from z: \['v2', 'a1'\]"):
        crisscross_infonce_loss(z, ["v1v2", "a1a2"])
    with pytest.raises(ValueError, match="unknown term"):
        crisscross_infonce_loss(z, ["v1x2"])


def test_world_preset_with_infonce_pretrains_20_steps_on_the_identity_world(tmp_path) -> None:
    out = tmp_path / "run"
    pretrain("crisscross", preset="world",
             overrides={"objective": "infonce", "train": {"batch_size": 8, "max_steps": 20}},
             options=PretrainOptions(out=out, data="identity-world", progress=False, log=lambda m: None))
    card = json.loads((out / "card.json").read_text())
    assert card["steps"] == 20 and card["config"]["objective"] == "infonce"
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 20 and all(math.isfinite(r["loss"]) for r in history)
    chance = math.log(2 * 8 - 1)
    assert all(0.0 < r["v1a2"] < 3 * chance for r in history)  # an NT-Xent, not a cosine in [-1, 1]


def test_projector_bn_last_false_drops_only_the_output_batchnorm() -> None:
    paper, head = _crisscross(), _crisscross(projector_bn_last=False)
    for m in ("video", "audio"):
        assert isinstance(paper.projector[m][-1], torch.nn.BatchNorm1d)
        assert isinstance(head.projector[m][-1], torch.nn.Linear)
        lin_p = [x for x in paper.projector[m] if isinstance(x, torch.nn.Linear)]
        lin_h = [x for x in head.projector[m] if isinstance(x, torch.nn.Linear)]
        assert len(lin_p) == len(lin_h) == 3 and all(torch.equal(a.weight, b.weight) for a, b in zip(lin_p, lin_h))


@pytest.mark.parametrize("option", ["intra_predictor", "shared_predictor"])
def test_infonce_refuses_predictor_options_it_would_ignore(option: str) -> None:
    with pytest.raises(ValueError, match="objective infonce uses no predictor"):
        _crisscross(objective="infonce", **{option: True})
    assert getattr(_crisscross(**{option: True}).cfg, option)  # the paper's objective takes them


def test_other_modality_negatives_score_cross_modal_terms_clip_style_and_keep_nt_xent_within_a_modality() -> None:
    """``infonce_negatives: other``: a cross-modal term is CLIP's symmetric InfoNCE (B candidates, the other
    modality's), an intra-modal term still NT-Xent; views of one modality that coincide are no penalty there."""
    import torch.nn.functional as F

    from avbench_baselines.crisscross.losses import cross_modal_info_nce

    gen = torch.Generator().manual_seed(1)
    z = {k: torch.randn(6, 8, generator=gen) for k in ("v1", "v2", "a1", "a2")}
    loss, parts = crisscross_infonce_loss(z, ["a1a2", "v1a2"], negatives="other")
    x, y = F.normalize(z["v1"], dim=1), F.normalize(z["a2"], dim=1)
    logits = x @ y.T / 0.1
    by_hand = sum(-torch.log_softmax(m, 1).diagonal().mean() for m in (logits, logits.T)) / 2
    assert parts["v1a2"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert parts["a1a2"].item() == pytest.approx(nt_xent(z["a1"], z["a2"], 0.1).item(), rel=1e-5)
    assert loss.item() == pytest.approx((parts["v1a2"] + parts["a1a2"]).item() / 2, rel=1e-5)
    # the candidates: with every view equal, NT-Xent reads log(2B - 1) (both modalities), the cross form log B
    same = torch.ones(6, 8)
    assert nt_xent(same, same, 0.1).item() == pytest.approx(math.log(11), rel=1e-5)
    assert cross_modal_info_nce(same, same, 0.1).item() == pytest.approx(math.log(6), rel=1e-5)
    with pytest.raises(ValueError, match="negatives"):
        crisscross_infonce_loss(z, ["v1a2"], negatives="mine")
    with pytest.raises(ValueError, match="objective infonce only"):
        _crisscross(infonce_negatives="other")
    assert _crisscross(objective="infonce", infonce_negatives="other")(_views())[0].isfinite()
