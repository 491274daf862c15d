"""The demo: its verdict needs a 15-point gain; it evaluates a checkpoint on the sets of the world its card names;
the shipped checkpoint was made by the `avbench pretrain` command in its card."""
from __future__ import annotations

import json

import pytest

from avbench.cli.demo import MARGIN, RHYTHM_CHECKPOINT, SHIPPED, WORLD_TASKS, demo_tasks, shipped_card, verdict
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


@pytest.mark.parametrize("path", [SHIPPED, RHYTHM_CHECKPOINT], ids=["shipped", "rhythm"])
def test_shipped_checkpoints_were_made_by_the_command_in_their_cards(path) -> None:
    """Each checkpoint in avbench/assets was made by `avbench pretrain` (its card's command) for all its steps with no
    video skipped, loads into the encoder its method names, and is evaluated on the world it was pretrained on."""
    from avbench.cli.demo import demo_encoder_name
    from avbench.registry import build_encoder

    card = shipped_card(path)
    method = card["method"]
    assert card["data"] in WORLD_TASKS
    assert card["command"].startswith((f"avbench pretrain {method} --data {card['data']} --preset {card['preset']} ",
                                       f"avbench pretrain {method} --preset {card['preset']} --data {card['data']} "))
    assert card["steps"] == card["total_steps"] and card["n_skipped"] == 0
    enc = build_encoder(demo_encoder_name(card), weights=str(path))
    assert enc.arch.video_width == card["arch"]["video_width"] and enc.meta.weights_sha256


def test_the_default_demo_checkpoint_is_the_identity_world_one() -> None:
    """`avbench demo` (the README's main command) evaluates a checkpoint of the identity world, 1,920 steps of the
    world preset (the evidence table's budget), on that world's ESC-50 and UCF101-layout sets."""
    card = shipped_card(SHIPPED)
    assert card["data"] == "identity-world" and card["preset"] == "world" and card["steps"] == 1920
    assert demo_tasks(card) == WORLD_TASKS["identity-world"]


def test_random_twin_is_the_checkpoints_network_at_its_init_seed(tmp_path) -> None:
    """A temporal-SSL checkpoint trained on the native log-mel (its card has no spec_size) is compared with a random
    init at the same front-end scale and architecture, not with the paper's 224 x 224 default; with the card's init
    seed the twin's weights are the ones pretraining started from."""
    import torch

    from avbench.cli.demo import demo_encoder_name, random_twin
    from avbench.models.two_tower import save_two_tower
    from avbench.registry import build_encoder

    arch = {"video_width": 8, "audio_width": 8, "audio_depth": 18, "min_size": 32}
    start = build_encoder("temporal-ssl", init_seed=3, **arch)
    card = {"method": "temporal-ssl", "data": "identity-world", "init_seed": 3, "config": {"frames": 8}}
    save_two_tower(start, tmp_path / "encoder.safetensors", card=card)
    trained = build_encoder("temporal-ssl", weights=str(tmp_path / "encoder.safetensors"))
    assert shipped_card(tmp_path / "encoder.safetensors")["method"] == "temporal-ssl"
    name = demo_encoder_name(card)
    twin = random_twin(trained, name, card["init_seed"])
    assert name == "temporal-ssl" and type(twin) is type(trained) and twin.arch == trained.arch
    assert (twin.train_mel_size, twin.train_clip_seconds) == (None, 0.5) == (trained.train_mel_size,
                                                                          trained.train_clip_seconds)
    assert build_encoder("temporal-ssl", init_seed=3, **arch).train_mel_size == 224  # what a plain random init gets
    for (k, a), (_, b) in zip(twin.state_dict().items(), trained.state_dict().items()):
        assert torch.equal(a, b), k
    assert not torch.equal(random_twin(trained, name, 4).state_dict()["video.conv1.0.weight"],
                           trained.state_dict()["video.conv1.0.weight"])
    assert demo_encoder_name({}) == "crisscross"  # cards of checkpoints made before the method was recorded
    with pytest.raises(ValueError, match="supervised"):
        demo_encoder_name({"method": "supervised"})


def test_the_demo_header_says_when_a_checkpoint_is_not_the_papers_recipe() -> None:
    """The shipped checkpoint's card overrides CrissCross's objective (NT-Xent, NOT the paper); the demo names every
    change from the preset and says NOT the paper's recipe for those the config documents so; a card that holds its
    preset unchanged (the rhythm checkpoint) gets no such line, and a paper-only change (the Table 1 terms) is named
    but not called NOT the paper."""
    from avbench.cli.demo import recipe_lines
    from avbench.pretrain.method import get_method, resolve_config
    from avbench.pretrain.recipe_deviations import not_the_paper, preset_deviations

    card = shipped_card(SHIPPED)
    assert preset_deviations(card)["objective"] == ("simsiam", "infonce")
    assert set(not_the_paper(card)) == {"objective", "projector_bn_last"}
    lines = recipe_lines(card)
    assert "objective='infonce'" in lines[0] and "train.weight_decay=1e-06" in lines[0]
    assert lines[1].startswith("NOT the paper's recipe: objective, projector_bn_last")
    assert recipe_lines(shipped_card(RHYTHM_CHECKPOINT)) == []
    config = resolve_config(get_method("crisscross"), "world", {"terms": ["v1v2", "a1a2"]}).model_dump(mode="json")
    ablation = {"method": "crisscross", "preset": "world", "config": config}
    assert list(preset_deviations(ablation)) == ["terms"] and not_the_paper(ablation) == []
    assert len(recipe_lines(ablation)) == 1
    wider = {**ablation, "config": {**config, "arch": {**config["arch"], "audio_depth": 10}}}  # a free-form entry
    assert preset_deviations(wider)["arch.audio_depth"] == (None, 10)
