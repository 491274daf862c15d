"""avbench reproduce crisscross: golden released key names, strict refusal, the plan, dry run, one real card."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from avbench.cli.app import main
from avbench.models.r2plus1d import R2Plus1D
from avbench.models.resnet_audio import ResNetAudio
from avbench.reproduce.crisscross import (
    PLAN,
    PRETRAININGS,
    TOLERANCE,
    build_plan,
    card_input,
    load_trunk,
    released_name,
)
from avbench.synth.audio_fixtures import write_esc50
from avbench.models.weights import WeightsError, sha256_file

GOLDEN = json.loads((Path(__file__).parent / "golden" / "crisscross_released_keys.json").read_text())
SMALL = {"video_width": 8, "audio_width": 8}  # released-format files at width 8: fast to write and load


def _trunk(modality: str, width: int = 64, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return R2Plus1D(18, width) if modality == "video" else ResNetAudio(18, width)


def _save(state: dict, path: Path) -> Path:
    torch.save(state, path)  # what the release did: torch.save(backbone.state_dict())
    return path


# ---- golden key names ---------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["video", "audio"])
def test_golden_keys_are_the_trunk_state_dict(modality):
    with torch.device("meta"):
        full = _trunk(modality).state_dict()
        small = _trunk(modality, width=8).state_dict()
    golden = GOLDEN["keys"][modality]
    assert list(full) == list(golden)  # names AND order of the released state_dict
    assert {k: list(v.shape) for k, v in full.items()} == golden
    assert list(small) == list(golden)  # width-reduced smoke checkpoints use the same names
    assert len(golden) == {"video": 201, "audio": 120}[modality]


def test_golden_files_are_the_released_names():
    expected = {released_name(m, pt): m for pt in PRETRAININGS for m in ("video", "audio")}
    assert GOLDEN["files"] == expected
    assert "vid_crisscross_kinetics_400.pth.tar.zip" in expected and "aud_crisscross_audioset.pth.tar.zip" in expected


# ---- strict loading -----------------------------------------------------------------------------------
def test_a_correct_released_file_loads_strictly(tmp_path):
    trunk = _trunk("audio", seed=3)
    with torch.no_grad():
        trunk.conv1[1].running_mean.uniform_(-1, 1)  # a buffer must load too
    path = _save(trunk.state_dict(), tmp_path / "aud_crisscross_audioset.pth.tar")
    enc = load_trunk(path, "audio")
    loaded = enc.trunk("audio").state_dict()
    assert list(loaded) == list(GOLDEN["keys"]["audio"])
    assert all(torch.equal(loaded[k], v) for k, v in trunk.state_dict().items())
    assert enc.meta.weights_sha256 == sha256_file(path) and enc.meta.pretraining_data == "AudioSet"


def test_renamed_or_missing_keys_are_refused_naming_them(tmp_path):
    state = _trunk("video", width=8).state_dict()
    renamed = dict(state)
    renamed["conv3x.0.res_conv_renamed.weight"] = renamed.pop("conv3x.0.res_conv.weight")
    path = _save(renamed, tmp_path / "vid_crisscross_kinetics_400.pth.tar")
    with pytest.raises(WeightsError) as err:
        load_trunk(path, "video", SMALL)
    msg = str(err.value)
    assert str(path) in msg and "conv3x.0.res_conv.weight" in msg and "conv3x.0.res_conv_renamed.weight" in msg
    assert "missing from the file (1)" in msg and "unexpected in the file (1)" in msg

    missing = dict(state)
    del missing["conv5x.1.out_bn.running_var"]
    path = _save(missing, tmp_path / "vid_crisscross_audioset.pth.tar")
    with pytest.raises(WeightsError, match=r"missing from the file \(1\): conv5x\.1\.out_bn\.running_var"):
        load_trunk(path, "video", SMALL)
    # a released-size file is refused by a width-8 trunk on shapes, naming the key and both shapes
    with pytest.raises(WeightsError, match=r"conv1\.0\.weight \(16, 3, 3, 7, 7\) != \(8, 3, 3, 7, 7\)"):
        load_trunk(_save(_trunk("video", width=16).state_dict(), tmp_path / "vid_x.pth.tar"), "video", SMALL)


def test_cli_refuses_a_bad_checkpoint_before_running_any_card(tmp_path, esc50_root, capsys):
    weights, data = tmp_path / "w", tmp_path / "d"
    weights.mkdir(), data.mkdir()
    (data / "esc50").symlink_to(esc50_root)
    state = _trunk("audio", width=8).state_dict()
    state["block9.extra.weight"] = torch.zeros(1)
    _save(state, weights / "aud_crisscross_audioset.pth.tar")
    code = main(["reproduce", "crisscross", "--weights-dir", str(weights), "--data-root", str(data), "--only", "8",
                 "--pretraining", "audioset", "--arch", "audio_width=8", "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    assert code == 2
    assert "unexpected in the file (1): block9.extra.weight" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing ran


# ---- the plan -----------------------------------------------------------------------------------------
def test_plan_covers_the_tables_and_matches_the_cards():
    assert {t: len(build_plan([t])) for t in "4678"} == {"4": 15, "6": 10, "7": 6, "8": 4}
    assert len(PLAN) == 35 and len(set(PLAN)) == 35
    for row in PLAN:  # the stated input is the card's geometry (with the row's overrides applied)
        assert card_input(row.card, row.overrides) == row.input, row
        assert row.tolerance == TOLERANCE[row.protocol]
    assert [r.card for r in build_plan(["Table 8"], ["AS"])] == ["esc50-5s", "dcase"]
    assert {r.pretraining for r in build_plan(["6"], ["kinetics_sound"])} == {"Kinetics-Sound"}
    as_8f = next(r for r in PLAN if r.table == "6" and r.pretraining == "AudioSet" and r.card == "hmdb51-finetune")
    assert "classifier.dropout=0.5" in as_8f.overrides
    with pytest.raises(ValueError, match="unknown table"):
        build_plan(["5"])


def test_every_row_has_one_reported_value():
    from avbench.reproduce.crisscross import attach_reported, load_cells

    cells = attach_reported(PLAN, load_cells())
    assert set(cells) == set(PLAN), [r for r in PLAN if r not in cells]
    value = {(r.table, r.pretraining, r.dataset, r.card, r.metric): float(c.value) for r, c in cells.items()}
    assert value[("4", "Kinetics-400", "UCF101", "ucf101-linear-32f", "top1")] == 83.9
    assert value[("4", "Kinetics-Sound", "DCASE", "dcase", "top1")] == 93.0
    assert value[("6", "AudioSet", "HMDB51", "hmdb51-finetune-32f", "top1")] == 67.4
    assert value[("6", "Kinetics-400", "UCF101", "ucf101-finetune", "top1")] == 86.9
    assert value[("7", "Kinetics-400", "HMDB51", "hmdb51-retrieval", "recall20")] == 77.7
    assert value[("8", "AudioSet", "ESC50", "esc50-5s", "top1")] == 90.5


# ---- dry run and a real card --------------------------------------------------------------------------
def test_dry_run_lists_cards_files_and_data(tmp_path, esc50_root, capsys):
    weights, data = tmp_path / "w", tmp_path / "d"
    weights.mkdir(), data.mkdir()
    (data / "esc50").symlink_to(esc50_root)
    (data / "ucf101").mkdir()  # present but not a UCF101 layout
    _save(_trunk("audio", width=8).state_dict(), weights / "aud_crisscross_audioset.pth.tar")
    _save(_trunk("video", width=8).state_dict(), weights / "vid_crisscross_kinetics_400.pth.tar")
    code = main(["reproduce", "crisscross", "--weights-dir", str(weights), "--data-root", str(data), "--dry-run",
                 "--only", "4", "--only", "8", "--arch", "audio_width=8", "--arch", "video_width=8"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "dry run: 2 of 19 rows can run; nothing was evaluated"
    ready = [ln for ln in lines if "| READY" in ln]
    assert len(ready) == 2 and all("AudioSet" in ln and "esc50-5s" in ln for ln in ready)
    assert any("Kinetics-400" in ln and "ucf101-linear-32f" in ln and "ucf101 data unusable" in ln for ln in lines)
    assert any("Kinetics-Sound" in ln and "esc50-5s" in ln and "no aud_crisscross_kinetics_sound.pth.tar[.zip]" in ln
               for ln in lines)
    assert any("aud_crisscross_audioset.pth.tar.zip" in ln and "keys OK (120)" in ln for ln in lines)
    assert any("vid_crisscross_kinetics_400.pth.tar.zip" in ln and "keys OK (201)" in ln for ln in lines)
    assert any("vid_crisscross_audioset.pth.tar.zip" in ln and "MISSING" in ln for ln in lines)
    assert any(ln.startswith("| esc50 ") and re.search(r"found \d+ of 55 samples", ln) for ln in lines)
    assert any(ln.startswith("| hmdb51 ") and "none of hmdb51/, HMDB51/, hmdb/" in ln for ln in lines)
    assert any(ln.startswith("| ucf101 ") and "unusable" in ln for ln in lines)


def test_end_to_end_one_card_marks_the_row_against_its_tolerance(tmp_path, capsys):
    weights, data, out_dir = tmp_path / "w", tmp_path / "d", tmp_path / "o"
    weights.mkdir(), data.mkdir()
    # 3 classes x 5 clips: 3 test clips per fold, so the 5-fold mean top-1 is a multiple of 100/15 (86.7, 93.3):
    # it cannot land within 1.0 of the reported 90.5, whatever the random weights do. No dcase/: that row is
    # skipped with the reason.
    write_esc50(data / "esc50", n_classes=3, clips_per_class=5, seed=4)
    path = _save(_trunk("audio", width=8, seed=5).state_dict(), weights / "aud_crisscross_audioset.pth.tar")
    code = main(["reproduce", "crisscross", "--weights-dir", str(weights), "--data-root", str(data), "--only", "8",
                 "--pretraining", "audioset", "--arch", "audio_width=8", "--set", "train.clips=1",
                 "--out", str(out_dir), "--cache-dir", str(tmp_path / "c"), "--workers", "0", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1  # the row fails its tolerance
    row = next(ln for ln in out.splitlines() if "esc50-5s" in ln)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:6] == ["8", "AudioSet", "ESC50", "esc50-5s", "5 s", "top1"]
    assert cells[6] == "90.5" and cells[9] == "±1.0" and cells[10] == "FAIL"
    measured = float(cells[7])
    assert 0.0 <= measured <= 100.0 and float(cells[8]) == pytest.approx(measured - 90.5, abs=0.051)
    assert "NOT the released trunk: --arch audio_width=8" in cells[11] and "override track" in cells[11]
    dcase = next(ln for ln in out.splitlines() if "| dcase " in ln)
    assert "SKIPPED" in dcase and "no dcase2013 data" in dcase
    summary = Path(out.strip().splitlines()[-1].split("summary: ")[1])
    doc = json.loads(summary.read_text())
    esc = next(r for r in doc["rows"] if r["card"] == "esc50-5s")
    assert esc["status"] == "FAIL" and esc["reported"] == 90.5 and esc["measured"] == pytest.approx(measured, abs=0.051)
    record = json.loads(Path(esc["record"]).read_text())
    assert record["encoder"]["weights"] == f"audio={path}" and record["encoder"]["weights_sha256"] == sha256_file(path)
    assert record["encoder"]["meta"]["pretraining_data"] == "AudioSet"
    assert record["task"]["name"] == "esc50-5s" and record["task"]["track"] == "override"
    assert record["metrics"]["top1"]["mean"] == pytest.approx(esc["measured"])
    assert summary.with_suffix(".md").read_text().count("esc50-5s") == 1
