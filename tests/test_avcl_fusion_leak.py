"""AVCL's fusion gate can solve both of its losses on pairs that share nothing (issue 20's AVCL diagnosis).

The attention fusion module (avcl-paper Eq. 1-4) computes one gate ``sigma(E)`` from ``[v, a]`` and multiplies BOTH
features of a pair by it; Eq. 11 is computed on those products. Here the "trunk features" are independent uniform
noise, drawn fresh at every step, so the audio of a pair carries nothing about its video. Trained alone, at the
identity-world preset's SGD rate, the fusion module still drives Loss_cor from 15.4 to about 2.4 and Loss_self from
8.3 (chance at batch 32) to about 0.6 in 600 steps (3 seeds), while the same noise without the module stays at
chance. The world run (`avcl`, seed 0) ends at Loss_cor 0.6 and Loss_self 0.7 with its probe at the floor.

Also: Eq. 6 un-centred rewards a collapsed batch (``cgra_center`` is the avbench option that removes it).
"""
from __future__ import annotations

import math

import pytest
import torch

from avbench_baselines.avcl.fusion import AttentionFusion
from avbench_baselines.avcl.losses import avcl_total_loss, cocorrelation_loss, cross_correlation
from avbench_baselines.avcl.pretrain import AVCLConfig

B, D = 32, 64  # the world preset's batch and the width-8 trunks' feature size (8 x 8 channels)


def _train_fusion_on_noise(seed: int, steps: int) -> tuple[float, float, float, float]:
    """Mean (Loss_cor, Loss_self) of the last 50 steps with the module, then both on the last noise batch
    without it."""
    torch.manual_seed(seed)
    fusion = AttentionFusion(D, "sigmoid")  # the world preset's gate
    opt = torch.optim.SGD(fusion.parameters(), lr=0.01, momentum=0.9)  # the world preset's rate
    gen = torch.Generator().manual_seed(100 + seed)
    tail: list[tuple[float, float]] = []
    for step in range(steps):
        v, a = torch.rand(B, D, generator=gen), torch.rand(B, D, generator=gen)   # independent: no pair information
        loss, parts = avcl_total_loss(*fusion(v, a))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= steps - 50:
            tail.append((float(parts["cor"]), float(parts["self"])))
    _, plain = avcl_total_loss(v, a)
    cor, self_ = (sum(x) / len(tail) for x in zip(*tail))
    return cor, self_, float(plain["cor"]), float(plain["self"])


@pytest.mark.parametrize("seed", [0, 1])
def test_fusion_gate_alone_solves_both_losses_on_unrelated_pairs(seed: int) -> None:
    cor, self_, plain_cor, plain_self = _train_fusion_on_noise(seed, steps=600)
    chance_self = 2 * math.log(2 * B - 1)                      # 8.29: every similarity equal
    assert plain_self > chance_self - 0.5 and plain_cor > 14.0  # without the module: chance
    # Features carrying only a 6-way class could not take Loss_self below 4.70 (README 'Do they learn?');
    # the gate takes pure noise far below it.
    assert self_ < 1.5, self_
    assert cor < 4.0, cor


def test_centred_cross_correlation_does_not_reward_a_collapsed_batch() -> None:
    gen = torch.Generator().manual_seed(0)
    common = torch.rand(1, D, generator=gen) + 1.0
    fv = common + 1e-3 * torch.rand(B, D, generator=gen)        # collapsed: every clip the same non-negative vector
    fa = common + 1e-3 * torch.rand(B, D, generator=gen)        # with independent jitter
    assert torch.diagonal(cross_correlation(fv, fa)).min() > 0.999            # Eq. 6: the diagonal target met
    assert cocorrelation_loss(fv, fa) > 0.005 * D * (D - 1) * 0.99           # only the small off-diagonal cost
    assert torch.diagonal(cross_correlation(fv, fa, center=True)).abs().mean() < 0.3   # centred: no correlation
    assert cocorrelation_loss(fv, fa, center=True) > 0.5 * D


def test_the_paper_settings_are_the_defaults() -> None:
    cfg = AVCLConfig()
    assert cfg.fusion is True and cfg.cgra_center is False
