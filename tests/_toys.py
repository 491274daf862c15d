"""Small real audio encoders for the integrity tests: an |STFT| log front end ``[B, 1, F, T]``, a Conv2d trunk whose
map is offered as layer ``conv5x`` (``[B, C, freq, time]``), and a linear head (``pooled``). Each can be broken in
one way: NaN after a number of forward calls, or noise drawn from the global RNG (nondeterministic)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from avbench.encoder import POOLED, AudioSpec, Encoder, EncoderMeta, FeatureMap


class ToyAudio(Encoder):
    """16 kHz audio encoder; ``nan_from_call``: every forward from that call on (0-based) emits NaN in its map;
    ``noise``: standard deviation of Gaussian noise added to the map from the global RNG (0 = deterministic)."""

    def __init__(self, name: str = "toy", nan_from_call: int | None = None, noise: float = 0.0,
                 scale: float = 1.0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv2d(1, 4, 3, stride=4, padding=1)
            self.head = nn.Linear(4, 8)
        self.nan_from_call, self.noise, self.scale, self.calls = nan_from_call, noise, scale, 0
        self.meta = EncoderMeta(name=name, version="0", modalities=("audio",),
                                audio=AudioSpec(sample_rate=16000, min_seconds=0.5, max_seconds=10.0,
                                                frontend="log|stft|", layers=("conv5x", POOLED)),
                                embedding_dims={"audio": 8})
        self.eval()

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(256, device=waveform.device)
        spec = torch.stft(waveform, n_fft=256, hop_length=160, window=window, return_complex=True).abs()
        return spec.add(1e-6).log().unsqueeze(1)

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict:
        fmap = F.relu(self.conv(x)) * self.scale
        if self.noise:
            fmap = fmap + self.noise * torch.randn(fmap.shape)
        if self.nan_from_call is not None and self.calls >= self.nan_from_call:
            fmap = fmap.clone()
            fmap[:, :, 0, 0] = math.nan
        self.calls += 1
        out: dict = {}
        if "conv5x" in layers:
            out["conv5x"] = FeatureMap(fmap, ("batch", "channel", "freq", "time"))
        if POOLED in layers:
            out[POOLED] = self.head(fmap.mean((2, 3)))
        return out


def build(weights: str | None = None, init_seed: int = 0, **kw) -> ToyAudio:
    """Factory (``tests._toys:build``) of the correct toy."""
    return ToyAudio(**kw)
