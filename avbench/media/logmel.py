"""The CrissCross log-mel front end: 16 kHz waveform -> normalised natural-log mel spectrogram.

Reproduces ``StrongAug``/``StandardAug`` in ``crisscross/*/datasets/augmentations/audio_augmentations.py``
(pritamqu/CrissCross) with the augmentations off:

* ``MelSpectrogramLibrosa`` (``datasets/audiotransforms/to_spec.py``): ``librosa.stft(n_fft=1024,
  hop_length=160)`` with librosa 0.8.1 defaults, i.e. ``center=True``, Hann window of ``n_fft`` samples and
  ``pad_mode='reflect'`` (librosa switched the default to ``'constant'`` in 0.9, see pytorch/pytorch#72550);
  then ``mel_fb @ (|X|**2 + np.finfo(float).eps)`` with ``librosa.filters.mel(sr=16000, n_fft=1024,
  n_mels=80, fmin=0, fmax=None)`` (Slaney scale, Slaney area norm, fmax = 8 kHz).
* ``(mel + torch.finfo().eps).log()``: natural log, eps = float32 eps = 1.1920929e-07.
  The float64 eps added before the filterbank contributes ``2.2e-16 * sum(fb row)`` (< 1e-16), which is below
  float32 resolution next to 1.19e-7, so it is omitted here.
* ``(x - (-5.3688107)) / 4.410007`` (the fixed mean/std in the CrissCross code).

2 s (32000 samples) gives ``[B, 1, 80, 201]`` frames (1 + N // 160); the paper's Table S6 lists 80x200.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio
from torch import nn


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of :class:`LogMelFrontend`. Units: Hz (sample_rate, f_min, f_max), samples (n_fft, win, hop)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0
    power: float = 2.0
    center: bool = True
    pad_mode: str = "reflect"
    mel_scale: str = "slaney"
    norm: str = "slaney"
    log_eps: float = 1.1920928955078125e-07  # torch.finfo(torch.float32).eps, as in CrissCross
    mean: float = -5.3688107
    std: float = 4.410007

    def describe(self) -> str:
        """One-line description for ``AudioSpec.frontend``."""
        return (f"logmel(sr={self.sample_rate},n_fft={self.n_fft},win={self.win_length},hop={self.hop_length},"
                f"n_mels={self.n_mels},fmin={self.f_min:g},fmax={self.f_max:g},power={self.power:g},"
                f"center={self.center},pad={self.pad_mode},mel={self.mel_scale},norm={self.norm},"
                f"ln(x+{self.log_eps:.8g}),(x-({self.mean!r}))/{self.std!r})")

    def n_frames(self, n_samples: int) -> int:
        """Number of spectrogram frames for ``n_samples`` samples (center=True: 1 + N // hop)."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)


class LogMelFrontend(nn.Module):
    """``[B, N] float`` waveform at ``config.sample_rate`` Hz -> ``[B, 1, n_mels, T]`` float32 normalised log-mel.

    ``T = 1 + N // hop_length`` (201 for 2 s at 16 kHz). Always computed in float32 with autocast off.
    The window and filterbank are non-persistent buffers: they follow ``.to(device)`` but stay out of the
    state_dict (they are fixed functions of the config).
    """

    def __init__(self, config: LogMelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or LogMelConfig()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
            f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels, power=cfg.power, center=cfg.center,
            pad_mode=cfg.pad_mode, norm=cfg.norm, mel_scale=cfg.mel_scale)
        for module in self.mel.modules():  # re-register torchaudio's buffers as non-persistent
            for name, buf in list(module.named_buffers(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, buf, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``waveform [B, N]`` (mono, in [-1, 1]) -> ``[B, 1, n_mels, 1 + N // hop]``."""
        if waveform.dim() != 2:
            raise ValueError(f"LogMelFrontend expects a [B, N] waveform, got shape {tuple(waveform.shape)}")
        cfg = self.config
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            mel = self.mel(waveform.float())  # [B, n_mels, T]
            x = torch.log(mel + cfg.log_eps)
            x = (x - cfg.mean) / cfg.std
        return x.unsqueeze(1)
