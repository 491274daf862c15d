"""The CrissCross log-mel front end: frame count, config, and parity with the released librosa pipeline."""
import dataclasses

import numpy as np
import pytest
import torch

from avbench.media.logmel import LogMelConfig, LogMelFrontend

SR = 16000
# Measured max |torchaudio - librosa| on the signal below: 5.7e-05 (normalised log-mel units; torch 2.11,
# torchaudio 2.11, librosa 0.11, float32). Zero padding instead of reflect gives errors of order 1 at the edges.
TOL = 1e-3


def _signal(seconds: float = 3.0) -> np.ndarray:
    """Linear chirp 100 Hz -> 4.1 kHz plus white noise, with a stretch of silence and a very quiet stretch."""
    n = int(seconds * SR) + 123
    t = np.arange(n) / SR
    rng = np.random.default_rng(0)
    y = 0.5 * np.sin(2 * np.pi * (100 * t + 4000 / (2 * seconds) * t**2)) + 0.05 * rng.standard_normal(n)
    y[SR // 2: SR] = 0.0
    y[SR: SR + SR // 2] *= 1e-4
    return y.astype(np.float32)


def _crisscross_reference(y: np.ndarray, pad_mode: str = "reflect") -> torch.Tensor:
    """StandardAug(mode='val') of pritamqu/CrissCross without trim/pad: MelSpectrogramLibrosa -> log -> normalise.

    librosa 0.8.1 (their pin) had stft(pad_mode='reflect') as the default; newer librosa needs it spelled out.
    ``np.finfo(float).eps`` is added in float32 as NumPy 1.x value-based casting did.
    """
    librosa = pytest.importorskip("librosa")
    X = librosa.stft(y, n_fft=1024, hop_length=160, center=True, pad_mode=pad_mode)
    mfb = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=80, fmin=0, fmax=None)
    mel = torch.tensor(np.matmul(mfb, np.abs(X) ** 2 + np.float32(np.finfo(float).eps)))
    out = (mel + torch.finfo().eps).log().unsqueeze(0)
    return (out - (-5.3688107)) / 4.410007


def test_two_seconds_give_201_frames():
    front = LogMelFrontend()
    out = front(torch.zeros(3, 2 * SR))
    assert out.shape == (3, 1, 80, 201) and out.dtype == torch.float32
    assert front(torch.zeros(1, SR)).shape == (1, 1, 80, 101)
    assert LogMelConfig().n_frames(2 * SR) == 201
    # silence maps to (ln(eps) - mean) / std everywhere
    expected = (np.log(np.float32(1.1920929e-07)) + 5.3688107) / 4.410007
    torch.testing.assert_close(out, torch.full_like(out, float(expected)))


def test_config_is_frozen_and_described():
    cfg = LogMelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_mels = 64
    text = cfg.describe()
    for part in ("n_fft=1024", "hop=160", "n_mels=80", "fmax=8000", "pad=reflect", "mel=slaney", "norm=slaney",
                 "-5.3688107", "4.410007"):
        assert part in text
    assert cfg.log_eps == float(torch.finfo(torch.float32).eps)
    assert LogMelFrontend().state_dict() == {}  # window and filterbank are fixed, not weights


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        LogMelFrontend()(torch.zeros(2 * SR))


def test_parity_with_the_crisscross_librosa_pipeline():
    y = _signal()
    ref = _crisscross_reference(y)
    ours = LogMelFrontend()(torch.from_numpy(y)[None])[0]
    assert ours.shape == ref.shape == (1, 80, 1 + len(y) // 160)
    diff = float((ours - ref).abs().max())
    assert diff < TOL, f"max |ours - librosa| = {diff:.3g}"
    # the reference is sensitive to the pad mode, so the check above pins it
    zero_padded = _crisscross_reference(y, pad_mode="constant")
    assert float((zero_padded - ref).abs().max()) > 100 * TOL


def test_batch_of_two_matches_single_clips():
    y = torch.from_numpy(_signal(1.0))
    front = LogMelFrontend()
    both = front(torch.stack([y, 0.5 * y]))
    torch.testing.assert_close(both[1:], front((0.5 * y)[None]), rtol=0, atol=1e-5)
