"""AVCL evaluated as it was trained, on the standard track (issue 19, item 7).

Audio: pretraining resizes the whole ~10-s clip's mel (24 kHz, 10-ms hop, 256 bands) to mel_size x mel_size, so
AVCL's audio_frontend resamples a test window to that scale. Video: AVCL declares 25 fps as its native rate, so a
16-fps card samples it at 25 fps over the card's clip span and the record says which frames were used.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from avbench.encoder import Encoder, GeometryError
from avbench.evaluation.rate import resolve_video_rate
from avbench.media.logmel import LogMelConfig, LogMelFrontend
from avbench.taskcard import load_card
from avbench_baselines.avcl.encoder import AVCLEncoder, build


def small_avcl(weights: str | None = None, init_seed: int = 0) -> AVCLEncoder:
    """A narrow AVCL (random init) for fixture runs: ``--model tests.test_avcl_eval:small_avcl``."""
    return build(weights, init_seed, video_width=8, audio_width=8)


def test_audio_front_end_resamples_to_the_pretraining_scale():
    enc = build(audio_width=8, modalities="audio")
    g = torch.Generator().manual_seed(0)
    whole = torch.randn(1, 240000, generator=g) * 0.1  # a 10-s clip at 24 kHz, as pretraining sees it
    native = LogMelFrontend(LogMelConfig(**enc.arch.audio))(whole)  # [1, 1, 256, 1001] 10-ms frames
    trained = F.interpolate(native, size=(256, 256), mode="bilinear", align_corners=False)  # pretrain.py's resize
    assert native.shape[-1] == 1001 and torch.equal(enc.audio_frontend(whole), trained)
    one_s = enc.audio_frontend(whole[:, :24000])  # 101 native frames -> round(101 * 256 / 1000) = 26 columns
    assert one_s.shape == (1, 1, 256, 26)
    small = build(audio_width=8, modalities="audio", mel_size=96)  # the `small` preset's mel_size
    assert small.audio_frontend(whole[:, :24000]).shape == (1, 1, 96, 10)
    assert "bilinear to 96 bands" in small.meta.audio.frontend


def test_video_rate_resolution():
    card = load_card("ucf101-linear").video
    clip, info = resolve_video_rate(card, small_avcl())
    assert (clip.fps, clip.frames) == (25.0, 13) and info["card_frames"] == 8 and info["seconds"] == 0.52
    assert resolve_video_rate(load_card("ucf101-linear-32f").video, small_avcl())[0].frames == 50

    class NoNative(Encoder):  # an encoder that declares no native rate
        meta = small_avcl().meta

    assert resolve_video_rate(card, NoNative()) == (card, None)
    with pytest.raises(GeometryError, match="needs an encoder that declares a native frame rate"):
        resolve_video_rate(card.model_copy(update={"rate": "encoder"}), NoNative())


@pytest.mark.slow
def test_avcl_runs_ucf101_linear_on_the_standard_track(tmp_path):
    from avbench.cli import main
    from avbench.synth.video_fixtures import write_ucf101

    root = write_ucf101(tmp_path / "UCF101", n_classes=3, groups=3, clips_per_group=1, seed=0)
    code = main(["eval", "--model", "tests.test_avcl_eval:small_avcl", "--task", "ucf101-linear", "--data-root",
                 str(root), "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    assert code == 0
    path = next(p for p in (tmp_path / "out").rglob("*.json") if not p.name.endswith(("ids.json", "summary.json")))
    record = json.loads(Path(path).read_text())
    assert record["task"]["name"] == "ucf101-linear" and record["task"]["track"] == "standard"
    assert record["encoder"]["name"] == "avcl"
    assert record["features"]["video_rate"] == {
        "rate": "encoder", "why": "avcl declares a native rate of 25 fps", "card_fps": 16.0, "card_frames": 8,
        "fps": 25.0, "frames": 13, "card_seconds": 0.5, "seconds": 0.52,
        "rounding": "frames = floor(card_frames * fps / card_fps + 0.5)"}
    assert 0.0 <= record["metrics"]["top1"]["mean"] <= 100.0
