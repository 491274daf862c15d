"""The demo: its verdict needs a 15-point gain; it evaluates a checkpoint on the sets of the world its card names;
the shipped checkpoint was made by the `avbench pretrain` command in its card."""
from __future__ import annotations

import json

from avbench.cli.demo import MARGIN, SHIPPED, WORLD_TASKS, demo_tasks, shipped_card, verdict
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
    for world, tasks in WORLD_TASKS.items():
        for task, world_set, overrides in tasks:
            card = load_card(task, overrides)
            assert world_set.startswith("identity_" if world == "identity-world" else "world_")
            if world == "identity-world" and card.modality == "video":
                assert card.video.size == 48 and card.train.augment["cutout"] == 0


def test_demo_evaluates_on_the_world_the_card_names(tmp_path) -> None:
    """An `avbench pretrain` output folder's card.json is read; the rhythm world's checkpoints get the rhythm sets,
    everything else the identity world's."""
    (tmp_path / "card.json").write_text(json.dumps({"data": "identity-world", "method": "crisscross"}))
    assert shipped_card(tmp_path)["data"] == "identity-world"
    assert demo_tasks(shipped_card(tmp_path)) == WORLD_TASKS["identity-world"]
    assert demo_tasks({"data": "world"}) == WORLD_TASKS["world"]
    assert [s for _, s, _ in WORLD_TASKS["world"]] == ["world_esc50", "world_ucf101"]


def test_shipped_checkpoint_was_made_by_the_command_in_its_card() -> None:
    card = shipped_card(SHIPPED)
    assert card["method"] == "crisscross" and card["data"] in WORLD_TASKS
    assert card["command"].startswith(f"avbench pretrain crisscross --data {card['data']} ") or \
        card["command"].startswith(f"avbench pretrain crisscross --preset {card['preset']} --data {card['data']} ")
    assert card["steps"] == card["total_steps"] and card["n_skipped"] == 0
    from avbench.registry import build_encoder

    enc = build_encoder("crisscross", weights=str(SHIPPED))
    assert enc.arch.video_width == card["arch"]["video_width"] and enc.meta.weights_sha256
