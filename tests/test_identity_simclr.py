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
