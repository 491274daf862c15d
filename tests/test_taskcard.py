"""Task cards: shipped cards validate, unknown keys and bad values fail early naming the file, includes merge."""
from pathlib import Path

import pytest

from avbench.taskcard import TaskCardError, card_names, load_card, parse_override


def test_shipped_cards_validate_and_carry_the_paper_settings():
    assert {"esc50", "esc50-5s", "dcase"} <= set(card_names())
    esc = load_card("esc50")
    assert esc.audio.seconds == 2.0 and esc.train.clips == 10 and esc.test.clips == 10
    assert esc.classifier.costs == (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1.0)  # supplementary E.1
    assert esc.features.pool.kernel == (1, 3) and esc.features.pool.stride == (1, 2)
    assert esc.splits == ("fold1", "fold2", "fold3", "fold4", "fold5")
    assert esc.test.trim_to_first_clip is False  # the released code's bug is opt-in only
    five = load_card("esc50-5s")
    assert five.audio.seconds == 5.0 and five.test.clips == 1
    dcase = load_card("dcase")
    assert dcase.classifier.type == "fc" and dcase.classifier.lr == 7e-3 and dcase.classifier.epochs == 200
    assert dcase.classifier.dropout == 0.1 and dcase.classifier.l2_normalize and dcase.test.clips == 60
    assert any("DCASE2014" in n for n in dcase.notes)


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


BASE = """
modality: audio
dataset: {name: esc50}
splits: [fold1]
audio: {seconds: 2.0}
train: {clips: 3, sampling: random}
test: {clips: 2, sampling: uniform}
features: {layer: conv5x, pool: {type: max, kernel: [1, 3], stride: [1, 2]}}
classifier: {type: svm, costs: [0.1, 1.0]}
"""


def test_include_inherits_and_overrides(tmp_path):
    _write(tmp_path, "_base.yaml", BASE)
    card = _write(tmp_path, "mine.yaml", "include: _base.yaml\nname: mine\nversion: 2\ndescription: d\ntrain: {clips: 7}\n")
    c = load_card(str(card))
    assert c.train.clips == 7 and c.train.sampling == "random"  # dicts merge key by key
    assert c.classifier.costs == (0.1, 1.0) and c.version == 2


def test_unknown_key_is_an_error_naming_the_file(tmp_path):
    card = _write(tmp_path, "bad.yaml", "name: x\nversion: 1\ndescription: d\n" + BASE + "clasifier_typo: 1\n")
    with pytest.raises(TaskCardError, match=r"bad\.yaml.*clasifier_typo"):
        load_card(str(card))


def test_bad_values_fail_before_work(tmp_path):
    card = _write(tmp_path, "neg.yaml", "name: x\nversion: 1\ndescription: d\n" + BASE.replace("[0.1, 1.0]", "[-1]"))
    with pytest.raises(TaskCardError, match="costs"):
        load_card(str(card))
    nokernel = _write(tmp_path, "pool.yaml", "name: x\nversion: 1\ndescription: d\n" + BASE.replace("type: max, kernel: [1, 3], stride: [1, 2]", "type: max"))
    with pytest.raises(TaskCardError, match="kernel"):
        load_card(str(nokernel))
    with pytest.raises(TaskCardError, match="unknown task"):
        load_card("no-such-task")
    notyaml = _write(tmp_path, "broken.yaml", "name: [unclosed\n")
    with pytest.raises(TaskCardError, match="not valid YAML"):
        load_card(str(notyaml))


def test_include_cycle_is_reported(tmp_path):
    _write(tmp_path, "a.yaml", "include: b.yaml\n")
    _write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(TaskCardError, match="cycle"):
        load_card(str(tmp_path / "a.yaml"))


def test_overrides_and_hash():
    base = load_card("esc50")
    over = load_card("esc50", {"classifier": {"selection": "clean"}, **parse_override("train.clips=100")})
    assert over.classifier.selection == "clean" and over.train.clips == 100
    assert over.sha256() != base.sha256() and load_card("esc50").sha256() == base.sha256()
    with pytest.raises(TaskCardError):
        parse_override("no-equals-sign")


def test_a_block_of_another_type_replaces_the_inherited_one():
    """_video_linear_fc.yaml includes the SVM base: its fc classifier must not inherit the SVM's keys."""
    from avbench.taskcard import deep_merge

    card = load_card("ucf101-linear-32f")
    assert card.classifier.type == "fc" and not hasattr(card.classifier, "costs")
    assert deep_merge({"c": {"type": "svm", "costs": [1]}}, {"c": {"type": "fc", "lr": 1}}) == {"c": {"type": "fc", "lr": 1}}
    assert deep_merge({"c": {"type": "svm", "costs": [1]}}, {"c": {"backend": "x"}}) == {"c": {"type": "svm", "costs": [1], "backend": "x"}}
    with pytest.raises(TaskCardError, match="epochs"):  # a bare type switch must name what the new block lacks
        load_card("ucf101-linear", {"classifier": {"type": "fc"}})


def test_video_augment_in_a_card_is_validated_before_any_work():
    with pytest.raises(TaskCardError, match="bogus"):
        load_card("ucf101-linear", {"train": {"augment": {"bogus": 1}}})


def test_overridden_cards_are_a_flagged_track():
    from avbench.evaluation.runner import card_track

    assert card_track(load_card("ucf101-finetune"), "ucf101-finetune") == "standard"
    assert card_track(load_card("ucf101-finetune", {"splits": ["split1", "split2", "split3"]}), "ucf101-finetune") == "standard"
    # the released code's AudioSet recipe for UCF101 8f (lr 7e-5, gamma 0.1, dropout 0.1) is an override
    audioset = load_card("ucf101-finetune", {"classifier": {"lr": 7e-5, "gamma": 0.1, "dropout": 0.1}})
    assert card_track(audioset, "ucf101-finetune") == "override"


def test_exponent_floats_without_a_dot_are_numbers():
    """YAML 1.1 reads `1e-3` as the string "1e-3"; a card or `--set` means the number (as YAML 1.2 does)."""
    assert parse_override("a=1e-3") == {"a": 0.001}
    assert parse_override("a.b=[1e-3, 2E+2, -5e0, 0.1]") == {"a": {"b": [0.001, 200.0, -5.0, 0.1]}}
    assert parse_override("a=1e") == {"a": "1e"} and parse_override("a=12") == {"a": 12}
