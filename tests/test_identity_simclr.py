"""``benchmarks/identity_diagnostics.py simclr``: SimCLR's NT-Xent across scenes on one modality (issue 20)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from tests._bench import load_benchmark

diag = load_benchmark("identity_diagnostics")


def test_nt_xent_is_log_2b_minus_1_when_every_similarity_is_equal() -> None:
    z = torch.ones(8, 16)
    assert diag.nt_xent(z, z.clone(), 0.1).item() == pytest.approx(math.log(15), rel=1e-6)


def test_nt_xent_rewards_the_partner_and_only_the_partner() -> None:
    eye = torch.eye(8, 16)
    matched = diag.nt_xent(eye, eye.clone(), 0.1).item()
    swapped = diag.nt_xent(eye, eye.roll(1, dims=0), 0.1).item()  # each row's positive is another clip
    assert matched < 1e-3 < math.log(15) < swapped


@pytest.mark.parametrize("modality", ["video", "audio"])
def test_simclr_trains_the_one_trunk_and_writes_a_finite_row(tmp_path, modality: str) -> None:
    out = tmp_path / "rows.jsonl"
    returned, trained, start = diag.simclr(modality, steps=2, seed=0, temperature=0.1, out=out, n_per_class=8,
                                           calibration_clips=4)
    row = json.loads(out.read_text())
    assert row == returned
    other = "audio" if modality == "video" else "video"
    for m, should_change in ((modality, True), (other, False)):
        a, b = dict(trained.trunk(m).named_parameters()), dict(start.trunk(m).named_parameters())
        changed = any(not torch.equal(a[k], b[k]) for k in a)
        assert changed == should_change, f"{m} trunk changed: {changed}"
    assert row["modality"] == modality and row["steps"] == 2 and row["batch_size"] == 32
    assert len(row["loss_per_epoch"]) == 1 and math.isfinite(row["loss_per_epoch"][0])
    assert all(math.isfinite(row[k]) for k in ("loss_first64", "loss_last64", "trained", "random_cal"))
    assert 0.0 <= row["trained"] <= 100.0 and 0.0 <= row["random_cal"] <= 100.0


def test_world_variant_renders_larger_objects_inside_the_block_and_restores_the_world_after() -> None:
    from avbench.synth import identity_world as world

    def drawn_areas() -> list[float]:
        rng = world.identity_rng("pretrain", 0, 0, 0)
        return [world.draw_scene(rng)["area"] for _ in range(50)]

    before = drawn_areas()
    with diag.world_variant((0.15, 0.25)) as in_force:
        assert in_force == {"object_area": [0.15, 0.25]}
        inside = drawn_areas()
    assert world.AREA_RANGE == (0.08, 0.18) and drawn_areas() == before
    assert all(0.08 <= a <= 0.18 for a in before) and all(0.15 <= a <= 0.25 for a in inside)
    with pytest.raises(ValueError, match="--area 0.2 0.4"):
        with diag.world_variant((0.2, 0.4)):
            pass


def test_view_pairs_defaults_per_modality_and_rejects_unknown_views() -> None:
    assert diag.view_pairs("av", None) == [("a1", "a2"), ("v1", "a2"), ("v2", "a1")]
    assert diag.view_pairs("video", ["v1a1", "v1v2"]) == [("v1", "a1"), ("v1", "v2")]
    with pytest.raises(ValueError, match="v1x2"):
        diag.view_pairs("av", ["v1x2"])
    with pytest.raises(ValueError, match="a1a1"):
        diag.view_pairs("av", ["a1a1"])


def test_simclr_av_trains_both_trunks_and_probes_both(tmp_path) -> None:
    row, trained, start = diag.simclr("av", steps=2, seed=0, temperature=0.1, out=None, n_per_class=8,
                                      calibration_clips=4)
    for m in ("video", "audio"):
        a, b = dict(trained.trunk(m).named_parameters()), dict(start.trunk(m).named_parameters())
        assert any(not torch.equal(a[k], b[k]) for k in a), f"{m} trunk unchanged"
        assert set(row["probe"][m]) == {"random_cal", "trained"}
        assert all(math.isfinite(v) for v in row["probe"][m].values())
    assert row["pairs"] == ["a1a2", "v1a2", "v2a1"] and "trained" not in row


def test_embed_views_one_pass_matches_separate_calls_in_eval_mode_and_shares_batch_statistics_in_train(
        tmp_path) -> None:
    from avbench.pretrain.data import collate
    from avbench.pretrain.heads import mlp
    from avbench.pretrain.trainer import PretrainOptions, setup_run

    opts = PretrainOptions(out=tmp_path, data="identity-world", seed=0, init_seed=0, log=lambda _m: None,
                           progress=False)
    run = setup_run("crisscross", "world", {"train": {"epochs": 1}}, opts)
    batch = collate([run.dataset[i] for i in range(4)])
    enc = run.model.encoder
    heads = {m: mlp([enc.meta.embedding_dims[m], 16, 8], bn_last=False) for m in ("video", "audio")}
    keys = ["a1", "a2", "v1", "v2"]
    for module in (enc, *heads.values()):
        module.eval()
    with torch.no_grad():
        sep, joint = (diag.embed_views(enc, heads, batch, keys, one) for one in (False, True))
    for k in keys:
        assert joint[k].shape == (4, 8)
        torch.testing.assert_close(joint[k], sep[k], rtol=1e-4, atol=1e-5)
    for module in (enc, *heads.values()):
        module.train()
    with torch.no_grad():
        sep, joint = (diag.embed_views(enc, heads, batch, keys, one) for one in (False, True))
    assert not torch.allclose(joint["v1"], sep["v1"], atol=1e-4)
