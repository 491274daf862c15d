"""Which predictor serves which loss term (issue 20, fifth stop).

temporal-SSL's and CrissCross's papers have one predictor per modality for the intra- and the cross-modal terms; on
the identity world temporal-SSL's one phi_v maps video into the audio embeddings' subspace and l_vv sits at chance
(benchmarks/identity_evidence.py, ``temporal-ssl-intra-aa``). ``intra_predictor`` (not the papers, off by default)
gives the intra-modal terms their own predictor. These tests check the routing on each ``world`` preset's real
model (width 8), with random views of the shapes the view samplers draw.
"""
from __future__ import annotations

import pytest
import torch

from avbench.pretrain.method import get_method, resolve_config


def _temporal_ssl(**overrides):
    cls = get_method("temporal-ssl")
    return cls(resolve_config(cls, "world", overrides), init_seed=0)


def _crisscross(**overrides):
    cls = get_method("crisscross")
    return cls(resolve_config(cls, "world", overrides), init_seed=0)


def _views(b: int = 4) -> dict[str, torch.Tensor]:
    """Views as TemporalViews draws them at the world preset: video [B, 3, 8, 48, 48], log-mel [B, 1, 80, 51]."""
    gen = torch.Generator().manual_seed(0)
    out = {f"v_{k}": torch.randn(b, 3, 8, 48, 48, generator=gen) for k in ("r", "s")}
    out |= {f"a_{k}": torch.randn(b, 1, 80, 51, generator=gen) for k in ("r", "s")}
    return out


def test_intra_predictor_is_off_by_default_and_leaves_the_paper_heads_initial_weights() -> None:
    paper, extra = _temporal_ssl(), _temporal_ssl(intra_predictor=True)
    assert not hasattr(paper, "intra_predictor")
    sp, se = paper.state_dict(), extra.state_dict()
    added = set(se) - set(sp)
    assert added and all(k.startswith("intra_predictor.") for k in added)
    assert set(sp) <= set(se)
    assert all(torch.equal(sp[k], se[k]) for k in sp), "the extra predictor changed the paper heads' init"


@pytest.mark.parametrize("term, used, unused", [("vv", "intra_predictor", "predictor"),
                                                ("aa", "intra_predictor", "predictor"),
                                                ("va", "predictor", "intra_predictor"),
                                                ("av", "predictor", "intra_predictor")])
def test_each_term_trains_its_own_predictor(term: str, used: str, unused: str) -> None:
    model = _temporal_ssl(intra_predictor=True, contrastive_terms=[term], temporal_tasks=[])
    loss, logs = model(_views())
    assert torch.isfinite(loss) and f"crl_{term}" in logs
    loss.backward()
    modality = "video" if term[0] == "v" else "audio"
    grads = [p.grad for p in getattr(model, used)[modality].parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads), f"{term} did not reach {used}.{modality}"
    assert all(p.grad is None for p in getattr(model, unused).parameters()), f"{term} reached {unused}"


def _crisscross_views(b: int = 4) -> dict[str, torch.Tensor]:
    """Views as CrissCrossViews draws them at the world preset: video [B, 3, 8, 48, 48], 1-s log-mel [B, 1, 80, 101]."""
    gen = torch.Generator().manual_seed(0)
    out = {f"v{k}": torch.randn(b, 3, 8, 48, 48, generator=gen) for k in (1, 2)}
    return out | {f"a{k}": torch.randn(b, 1, 80, 101, generator=gen) for k in (1, 2)}


def test_crisscross_intra_predictor_keeps_the_paper_init_and_the_mean_over_terms() -> None:
    paper, extra = _crisscross(), _crisscross(intra_predictor=True)
    sp, se = paper.state_dict(), extra.state_dict()
    assert all(torch.equal(sp[k], se[k]) for k in sp)
    assert {k.split(".")[0] for k in set(se) - set(sp)} == {"intra_predictor"}
    loss, logs = extra(_crisscross_views())
    terms = [logs[t] for t in extra.cfg.terms]
    assert len(terms) == 6 and abs(float(loss.detach()) - sum(terms) / 6) < 1e-5  # Eq. 5: the mean of the six pair terms


@pytest.mark.parametrize("term, used, unused", [("v1v2", "intra_predictor", "predictor"),
                                                ("a1a2", "intra_predictor", "predictor"),
                                                ("v1a1", "predictor", "intra_predictor"),
                                                ("v1a2", "predictor", "intra_predictor")])
def test_crisscross_each_term_trains_its_own_predictor(term: str, used: str, unused: str) -> None:
    model = _crisscross(intra_predictor=True, terms=[term])
    views = {k: v for k, v in _crisscross_views().items() if k[0] in term}  # the sampler draws only these
    loss, _ = model(views)
    loss.backward()
    trained = [m for m in getattr(model, used).values() if any(p.grad is not None for p in m.parameters())]
    assert trained, f"{term} reached no {used}"
    assert all(p.grad is None for p in getattr(model, unused).parameters()), f"{term} reached {unused}"


def test_crisscross_loss_reads_p_intra_for_the_intra_terms_only() -> None:
    """crisscross_loss(p_intra=...): v1v2 / a1a2 use p_intra, the cross-modal terms p; a missing intra view is named."""
    from avbench_baselines.crisscross.losses import crisscross_loss, pair_term

    gen = torch.Generator().manual_seed(0)
    p, q, z = ({k: torch.randn(4, 16, generator=gen) for k in ("v1", "v2", "a1", "a2")} for _ in range(3))
    loss, parts = crisscross_loss(p, z, ["v1v2", "v1a1"], p_intra=q)
    assert torch.allclose(parts["v1v2"], pair_term(q["v1"], z["v1"], q["v2"], z["v2"]))
    assert torch.allclose(parts["v1a1"], pair_term(p["v1"], z["v1"], p["a1"], z["a1"]))
    assert torch.allclose(loss, (parts["v1v2"] + parts["v1a1"]) / 2)
    assert not torch.allclose(parts["v1v2"], crisscross_loss(p, z, ["v1v2"])[0])
    with pytest.raises(ValueError, match=r"missing from p, p_intra or z: \['v2'\]"):
        crisscross_loss(p, z, ["v1v2"], p_intra={"v1": q["v1"]})
