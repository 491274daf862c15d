"""`avbench validate`: every contract rule is caught, by exactly its own check, on a deliberately broken toy.

Each toy is a small real encoder (STFT front end, Conv2d trunk, linear head; a Conv3d for video) broken in ONE
way. The validator's full battery runs on each (several durations, files at other sample / frame rates written
and decoded with PyAV, B=1 vs B=8), and the set of failed checks must be exactly the one named.
"""
from __future__ import annotations

import json
import math
from typing import Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from avbench.cli.app import main
from avbench.encoder import POOLED, AudioSpec, Encoder, EncoderMeta, FeatureMap, VideoSpec
from avbench.validate.encoder import CHECKS, validate

AUDIO_AXES = ("batch", "channel", "freq", "time")


class ToyAudio(Encoder):
    """A correct audio encoder: |STFT| log front end ``[B, 1, 33, T]`` -> Conv2d(1, 8) map -> Linear(8, 16)."""

    axes: tuple[str, ...] = AUDIO_AXES
    dim = 16

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
            self.head = nn.Linear(8, 16)
        self.meta = EncoderMeta(name="toy", version="0", modalities=("audio",),
                                audio=AudioSpec(sample_rate=8000, min_seconds=0.5, max_seconds=4.0,
                                                layers=("conv", POOLED)),
                                embedding_dims={"audio": self.dim})
        self.eval()

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(64, device=waveform.device)
        spec = torch.stft(waveform, n_fft=64, hop_length=80, window=window, return_complex=True).abs()
        return spec.add(1e-6).log().unsqueeze(1)

    def pooled(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.head(fmap.mean((2, 3)))

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict:
        fmap = F.relu(self.conv(x))
        out: dict = {}
        if "conv" in layers:
            out["conv"] = FeatureMap(fmap, self.axes)
        if POOLED in layers:
            out[POOLED] = self.pooled(fmap)
        return out


class WrongPooledDim(ToyAudio):
    dim = 32  # meta promises 32; the head gives 16


class NaNOutput(ToyAudio):
    def pooled(self, fmap):
        out = super().pooled(fmap)
        out[:, 3] = math.nan
        return out


class NonDeterministic(ToyAudio):
    def pooled(self, fmap):
        return super().pooled(fmap) + 0.05 * torch.randn(fmap.shape[0], 16)  # global RNG: differs every call


class BatchDependent(ToyAudio):
    def pooled(self, fmap):  # normalised with statistics of the batch, as BatchNorm in train mode would
        out = super().pooled(fmap)
        return out - out.mean(0, keepdim=True)


class SwitchesToTrain(ToyAudio):
    def encode_audio(self, x, layers=(POOLED,)):
        self.train()  # e.g. a "reset" helper that forgets to restore the mode
        return super().encode_audio(x, layers)


class GradOutput(ToyAudio):
    def encode_audio(self, x, layers=(POOLED,)):
        with torch.enable_grad():  # re-enables autograd under the caller's no_grad
            return super().encode_audio(x, layers)


class LeavesGrads(ToyAudio):
    def encode_audio(self, x, layers=(POOLED,)):
        out = super().encode_audio(x, layers)
        with torch.enable_grad():  # a "test-time adaptation" step that leaves .grad behind
            self.head(torch.ones(1, 8)).sum().backward()
        return out


class WrongDtype(ToyAudio):
    def pooled(self, fmap):
        return super().pooled(fmap).double()


class WrongAxesNames(ToyAudio):
    axes = ("batch", "channel", "frequency", "time")


class MislabelledAxes(ToyAudio):
    axes = ("channel", "batch", "freq", "time")  # valid names, but the first axis is really the batch


class FixedLength(ToyAudio):
    def audio_frontend(self, waveform):  # declares 0.5-4 s but only works at exactly 2 s
        if waveform.shape[1] != 16000:
            raise ValueError(f"expected 16000 samples, got {waveform.shape[1]}")
        return super().audio_frontend(waveform)


class BadSampleRate(ToyAudio):
    def __init__(self) -> None:
        super().__init__()
        self.meta = EncoderMeta(name="toy", version="0", modalities=("audio",),
                                audio=AudioSpec(sample_rate=0, layers=(POOLED,)), embedding_dims={"audio": 16})


class ToyVideo(Encoder):
    """A correct video encoder: Conv3d(3, 4) map (axes time-first, to exercise the any-order rule) -> [B, 4]."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv3d(3, 4, 3, stride=2, padding=1)
        self.meta = EncoderMeta(name="toy-video", version="0", modalities=("video",),
                                video=VideoSpec(fps=8.0, min_size=32, max_size=64, layers=("conv", POOLED)),
                                embedding_dims={"video": 4})
        self.eval()

    def encode_video(self, x, layers=(POOLED,)):
        fmap = F.relu(self.conv(x))
        out = {"conv": FeatureMap(fmap.permute(0, 2, 1, 3, 4), ("batch", "time", "channel", "height", "width"))}
        out[POOLED] = fmap.amax((2, 3, 4))
        return {k: v for k, v in out.items() if k in layers}


def not_an_encoder(weights=None, init_seed=0):
    """A factory that returns a plain nn.Module (used through its 'tests.test_validate:not_an_encoder' spec)."""
    return nn.Linear(2, 2)


def good_factory(weights=None, init_seed=0):
    return ToyAudio()


BROKEN = [
    (WrongPooledDim, "shapes", "expected (2, 32)"),
    (NaNOutput, "finite", "NaN/inf"),
    (NonDeterministic, "deterministic", "max |diff|"),
    (BatchDependent, "batch_invariant", "NOT batch invariant"),
    (SwitchesToTrain, "eval_mode", "forward switched to train mode"),
    (GradOutput, "no_grad", "require grad"),
    (LeavesGrads, "no_grad", "set .grad"),
    (WrongDtype, "dtype", "torch.float64"),
    (WrongAxesNames, "axes", "frequency"),
    (MislabelledAxes, "axes", "mislabelled"),
    (FixedLength, "forward", "expected 16000 samples"),
    (BadSampleRate, "meta", "sample_rate 0"),
]


@pytest.mark.parametrize("toy, check, phrase", BROKEN, ids=[t[0].__name__ for t in BROKEN])
def test_each_violation_is_caught_by_exactly_its_check(toy, check, phrase):
    report = validate(toy())
    assert report.failed_names() == {check}, report.tables()
    failed = next(c for c in report.checks if c.status == "fail")
    assert phrase in failed.detail, failed.detail
    assert not report.ok


def test_left_in_train_mode_is_caught_at_build():
    report = validate(ToyAudio().train())
    assert report.failed_names() == {"eval_mode"}
    assert "returned 3 module(s) in train mode" in next(c.detail for c in report.checks if c.name == "eval_mode")


def test_factory_leaving_grads_is_caught_at_build():
    enc = ToyAudio()
    enc.head(torch.ones(1, 8)).sum().backward()
    report = validate(enc)
    assert report.failed_names() == {"no_grad"}
    assert "factory left .grad on 2 parameter(s)" in next(c.detail for c in report.checks if c.name == "no_grad")


def test_non_deterministic_encoder_skips_batch_invariance():
    report = validate(NonDeterministic())
    batch = next(c for c in report.checks if c.name == "batch_invariant")
    assert batch.status == "skip" and "not deterministic" in batch.detail


def test_good_encoders_pass_every_check_and_are_measured():
    for enc, modality in ((ToyAudio(), "audio"), (ToyVideo(), "video")):
        report = validate(enc, batch=8)
        assert report.ok, report.tables()
        names = {c.name for c in report.checks}
        assert names == set(CHECKS), names
        assert all(c.status == "pass" for c in report.checks)
        (m,) = report.measurements
        assert m.modality == modality and m.batch == 8 and m.throughput > 0 and m.wall_seconds > 0
        assert m.media_seconds == pytest.approx(8 * m.clip_seconds)
        assert m.peak_bytes is not None and m.peak_bytes >= 0 and m.memory_method
    # the video sweep covers several clip lengths at the declared fps and two crop sizes
    forward = next(c for c in report.checks if c.name == "forward")
    assert "4 frames x 32²" in forward.detail and "20 frames x 32²" in forward.detail and "x 64²" in forward.detail
    rates = next(c for c in report.checks if c.name == "rates")
    assert "29.97" in rates.detail and "8 fps" in rates.detail


def test_factory_returning_a_plain_module_fails_build():
    report = validate("tests.test_validate:not_an_encoder")
    assert report.failed_names() == {"build"}
    assert "Linear" in report.checks[0].detail


def test_cli_validate_positional_model_json_and_exit_codes(capsys):
    assert main(["validate", "tests.test_validate:good_factory", "esc50", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["tasks"][0]["task"] == "esc50" and doc["tasks"][0]["ok"]
    (enc,) = doc["encoders"]
    assert enc["encoder"] == "toy" and enc["measurements"][0]["throughput"] > 0
    assert {c["name"] for c in enc["checks"]} == set(CHECKS)
    assert main(["validate", "--model", "tests.test_validate:not_an_encoder"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "build" in out
    assert main(["validate", "no-such-thing"]) == 1
    assert "neither a task card" in capsys.readouterr().out
