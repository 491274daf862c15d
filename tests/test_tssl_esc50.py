"""Temporal-SSL's audio trunk evaluated as it was trained, and its ESC-50 card (issue 19, item 5).

The paper ("Implementation Details") resizes input spectrograms to 224 x 224. Pretraining resizes each clip's log-mel
(16 frames at 16 fps: 1 s, 80 x 101 native frames) to 224 x 224, so the encoder's audio_frontend resamples a test
window to that time/frequency scale with the mechanism AVCL's front end uses (avbench.models.mel_scale). Before
issue 19 the front end fed the native 80 x T log-mel, in pretraining and evaluation alike.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avbench.leaderboard.reported import load_reported_file
from avbench.media.logmel import LogMelConfig, LogMelFrontend
from avbench.models.two_tower import save_two_tower
from avbench.pretrain.views import Decoded
from avbench.taskcard import load_card
from avbench_baselines.temporal_ssl.encoder import TemporalSSLEncoder, build
from avbench_baselines.temporal_ssl.pretrain import TemporalSSLConfig, TemporalViews


def small_tssl(weights: str | None = None, init_seed: int = 0) -> TemporalSSLEncoder:
    """A narrow temporal-SSL (random init, the paper's 224 scale) for fixture runs."""
    return build(weights, init_seed, video_width=8, audio_width=8, audio_depth=18)


def _wave(seconds: float, sr: int = 16000) -> torch.Tensor:
    return torch.randn(1, int(seconds * sr), generator=torch.Generator().manual_seed(0)) * 0.1


def test_front_end_resamples_to_the_pretraining_scale():
    enc = build(audio_width=8, modalities="audio")
    one_s = _wave(1.0)  # one pretraining clip: 16 frames at 16 fps
    native = LogMelFrontend(LogMelConfig(**enc.arch.audio))(one_s)
    assert native.shape == (1, 1, 80, 101)
    trained = F.interpolate(native, size=(224, 224), mode="bilinear", align_corners=False)  # pretrain.py's resize
    assert torch.equal(enc.audio_frontend(one_s), trained)
    assert enc.audio_frontend(_wave(2.0)).shape == (1, 1, 224, 446)  # 201 frames * 224 / 101 = 445.8
    assert "bilinear to 224 bands" in enc.meta.audio.frontend


def test_pretraining_views_are_224_square():
    sr = 16000
    d = Decoded(torch.randint(0, 255, (64, 40, 40, 3), dtype=torch.uint8), 16.0, torch.randn(4 * sr) * 0.1, sr)
    views = TemporalViews(TemporalSSLConfig(crop=32, speeds=[1, 2]), 16.0, (0.5,) * 3, (0.5,) * 3,
                          LogMelConfig().to_dict())
    out = views(d, torch.Generator().manual_seed(0))
    assert out["a_r"].shape == out["a_s"].shape == (1, 224, 224)


def test_weights_say_which_scale(tmp_path):
    """Weights pretrained with spec_size evaluate at its scale; weights whose card has none (trained on the native
    log-mel, avbench before issue 19) keep the native front end; the `small` preset's 8 frames cover 0.5 s."""
    enc = build(audio_width=8, modalities="audio")
    save_two_tower(enc, tmp_path / "new.safetensors", card={"config": {"spec_size": 96, "frames": 8}})
    save_two_tower(enc, tmp_path / "old.safetensors", card={"config": {"frames": 16}})
    half = _wave(0.5)  # 51 native frames = one 8-frame clip
    new = build(tmp_path / "new.safetensors", modalities="audio")
    assert new.audio_frontend(half).shape == (1, 1, 96, 96)
    old = build(tmp_path / "old.safetensors", modalities="audio")
    assert old.audio_frontend(half).shape == (1, 1, 80, 51) and "bilinear" not in old.meta.audio.frontend


def test_card_settings_are_stated_or_recorded_readings():
    card = load_card("esc50-tssl")
    assert card.audio.seconds == 1.0 and card.train.clips == card.test.clips == 10
    assert card.train.augment is None and card.classifier.aggregate == "video_mean_std"
    assert card.features.pool.type == "adaptive_avg" and card.features.normalize == "none"
    assert any("READINGS" in n for n in card.notes) and "224 x 224" in card.citation
    # the readings keep the paper's numbers out of this card's column (like ucf101-linear-tssl)
    reported = load_reported_file()
    own = [c for c in reported.cells if c.method == "Temporal-SSL" and c.protocol.startswith(("esc50", "tssl-esc50"))]
    assert len(own) == 4 and {c.protocol for c in own} == {"tssl-esc50-linear"}
    assert "esc50-tssl" in reported.protocols["tssl-esc50-linear"].description
    assert not [c for c in reported.cells if c.protocol == "esc50-tssl"]


@pytest.mark.slow
def test_esc50_tssl_runs_end_to_end(esc50_root, tmp_path):
    from avbench.cli import main

    code = main(["eval", "--model", "tests.test_tssl_esc50:small_tssl", "--task", "esc50-tssl", "--data-root",
                 str(esc50_root), "--set", "train.clips=2", "--set", "test.clips=2", "--min-coverage", "0.9",
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    assert code == 0
    path = next(p for p in (tmp_path / "out").rglob("*.json") if not p.name.endswith(("ids.json", "summary.json")))
    record = json.loads(Path(path).read_text())
    assert record["task"]["name"] == "esc50-tssl" and record["encoder"]["name"] == "temporal-ssl"
    assert "bilinear to 224 bands" in json.dumps(record["encoder"])
    assert 0.0 <= record["metrics"]["top1"]["mean"] <= 100.0
