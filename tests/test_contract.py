"""The contract says it all (issue 17, case 6): a card that augments spectrograms needs the audio front end to
return ``[B, C, F, T]``, and a card's layer must exist (or be mapped by the encoder's ``layer_map``): `avbench
validate MODEL --task CARD` runs both on the encoder's outputs and names the fix, and `avbench eval` refuses the card
before any decoding. Before: validate passed a waveform front end and eval crashed mid-extraction (``augment_spectrogram
expects [K, C, F, T], got shape (32, 32000)``); a layer not named conv5x silently fell back to ``pooled``."""
from __future__ import annotations

from pathlib import Path

import pytest

from avbench.cli.app import main
from avbench.encoder import GeometryError
from avbench.evaluation.runner import RunOptions, run
from avbench.synth.audio_fixtures import write_esc50
from avbench.validate.card import check_card
from tests._toys import ToyAudio, WaveToy

FAST = {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"], "classifier": {"costs": [1.0]}}


@pytest.fixture(scope="module")
def esc(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc") / "root", n_classes=3, clips_per_class=5, seconds=1.0, seed=8)


def test_validate_task_runs_the_cards_requests_and_names_the_fixes(capsys):
    assert main(["validate", "tests._toys:build_wave", "--task", "esc50", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  wavetoy on task esc50" in out
    assert "has no layer 'conv5x'" in out and "layer_map" in out and "--set features.layer=block4" in out
    check = check_card(WaveToy(layer_map={"conv5x": "block4"}), "esc50")
    assert len(check.problems) == 1 and "augments spectrograms" in check.problems[0]
    assert "returned shape (2, 32000)" in check.problems[0] and "--set train.augment=null" in check.problems[0]
    assert check_card(ToyAudio(), "esc50").ok  # a spectrogram front end with conv5x: nothing to fix


def test_eval_refuses_the_card_before_any_decoding(esc, tmp_path, capsys):
    args = ["eval", "--model", "tests._toys:build_wave", "--task", "esc50", "--data-root", str(esc), "--set",
            "train.clips=1", "--set", "test.clips=1", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
            "--no-progress", "--workers", "0"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no layer 'conv5x'" in err[0]
    opts = RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None, num_workers=0)
    with pytest.raises(GeometryError, match=r"audio_frontend to return \[B, C, F, T\].*--set train.augment=null"):
        run(WaveToy(layer_map={"conv5x": "block4"}), "esc50", data_root=esc, overrides=FAST, options=opts)
    assert not (tmp_path / "c" / "features").exists() and not (tmp_path / "o").exists()


def test_with_the_fixes_the_card_runs_and_the_record_says_which_layer_was_used(esc, tmp_path):
    opts = RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None, num_workers=0)
    record, _ = run(WaveToy(layer_map={"conv5x": "block4"}), "esc50", data_root=esc,
                    overrides={**FAST, "train": {"clips": 1, "augment": None}}, options=opts)
    assert record.task.layer_used == "block4" and "layer_map" in record.task.layer_fallback
    pooled, _ = run(WaveToy(layer_map={"conv5x": "pooled"}), "esc50", data_root=esc,
                    overrides={**FAST, "train": {"clips": 1, "augment": None}}, options=opts)
    assert pooled.task.layer_used == "pooled" and "pooling is not applied" in pooled.task.layer_fallback


def test_eval_runs_the_cards_pooling_on_a_blank_clip_before_any_decoding(esc, tmp_path):
    """A pooling the encoder's map cannot take (a 3x3 max-pool on WaveToy's one-row ``block4`` map): eval stops with
    a GeometryError naming the fix before any file is decoded, as ``validate --task`` does. Before, only probe_layers
    cards ran the pooling first: this one failed mid-extraction with a raw pooling error."""
    opts = RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None, num_workers=0)
    overrides = {**FAST, "train": {"clips": 1, "augment": None},
                 "features": {"pool": {"type": "max", "kernel": [3, 3], "stride": [1, 2]}}}
    with pytest.raises(GeometryError, match=r"^audio: the card's pooling .* on the encoder's layer 'block4' fails for one "
                                            r"blank clip .*fix: a layer_map entry for 'conv5x'.*--set features.pool="):
        run(WaveToy(layer_map={"conv5x": "block4"}), "esc50", data_root=esc, overrides=overrides, options=opts)
    assert not (tmp_path / "c" / "features").exists() and not (tmp_path / "o").exists()
    check = check_card(WaveToy(layer_map={"conv5x": "block4"}), str(_card(tmp_path, overrides)))
    assert len(check.problems) == 1 and "fails for one blank clip" in check.problems[0]


def _card(tmp_path: Path, overrides: dict) -> Path:
    """The esc50 card with ``overrides`` applied, written as a card file (validate --task takes a path)."""
    import yaml

    from avbench.taskcard import load_card

    card = load_card("esc50", overrides)
    path = tmp_path / "esc50-pool.yaml"
    path.write_text(yaml.safe_dump(card.model_dump(mode="json", exclude_none=True)))
    return path
