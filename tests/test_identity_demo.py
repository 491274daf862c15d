"""The demo on the identity world: its verdict needs a 15-point gain; the shipped checkpoint was made by the
`avbench pretrain` command in its card, on the identity world, and beats random init on the world's clips."""
from __future__ import annotations

import json

import pytest

from avbench.demo import DEMO_TASKS, MARGIN, SHIPPED, shipped_card, verdict
from avbench.taskcard import load_card


def test_verdict_with_the_demo_margin() -> None:
    assert MARGIN == 15
    assert verdict(20.0, 2.0, 40.0, 3.0, margin=MARGIN) == "beats random"
    assert verdict(20.0, 2.0, 30.0, 3.0, margin=MARGIN) == "gain under 15 points"  # above the spread, under 15
    assert verdict(20.0, 2.0, 22.0, 3.0, margin=MARGIN) == "within noise"
    assert verdict(20.0, 20.0, 38.0, 3.0, margin=MARGIN) == "within noise"  # 18 points but inside the spread
    assert verdict(40.0, 2.0, 20.0, 3.0, margin=MARGIN) == "below random"


def test_demo_cards_resolve_with_their_overrides() -> None:
    """The demo's card overrides are valid card keys (a typo would fail only at demo time)."""
    for task, world_set, overrides in DEMO_TASKS:
        card = load_card(task, overrides)
        assert world_set.startswith("identity_")
        if card.modality == "video":
            assert card.video.size == 48 and card.train.augment["cutout"] == 0


def test_shipped_checkpoint_was_pretrained_on_the_identity_world() -> None:
    card = shipped_card(SHIPPED)
    assert card["method"] == "crisscross" and card["data"] == "identity-world" and card["preset"] == "world"
    assert card["command"].startswith("avbench pretrain crisscross --data identity-world --preset world")
    assert card["steps"] == card["total_steps"] and card["n_skipped"] == 0
    from avbench.registry import build_encoder

    enc = build_encoder("crisscross", weights=str(SHIPPED))
    assert enc.arch.video_width == card["arch"]["video_width"] and enc.meta.weights_sha256
    assert json.dumps(card)  # the card is plain JSON
