"""An example avbench submission: a tiny audio-visual encoder written against the public contract only.

Audio: ``[B, N]`` float32 waveform at 16 kHz -> :meth:`TinyAVEncoder.audio_frontend` (log-mel, 40 bins, 10-ms hop,
fixed normalisation) -> ``[B, 1, 40, 1 + N // 160]`` -> three strided Conv2d-BN-ReLU blocks -> feature maps
``block1..block3`` with axes (batch, channel, freq, time) and ``pooled`` ``[B, 64]`` (global average of block3).

Video: ``[B, 3, T, H, W]`` uint8 at 16 fps -> ``video_preprocess`` (the base class: [0, 1], ImageNet mean/std)
-> three strided Conv3d-BN-ReLU blocks -> feature maps ``block1..block3`` with axes (batch, channel, time, height,
width) and ``pooled`` ``[B, 64]``.

Weights: ONE safetensors file with keys ``audio.<trunk key>`` and ``video.<trunk key>``, loaded strictly
(:func:`build`); ``make_weights.py`` writes it. The factory records the file's sha256 in ``meta.weights_sha256``,
which is what the submission card promises and what every result record carries.

The task cards ask for a layer named ``conv5x`` (ResNet-style trunks); this encoder has no such layer, so
avbench evaluates its ``pooled`` vector and says so in each record (``task.layer_fallback``).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Sequence

import torch
import torchaudio
from torch import nn

from avbench import Encoder
from avbench.encoder import POOLED, AudioSpec, EncoderMeta, FeatureMap, VideoSpec

NAME = "tiny-av-example"  # must equal `name` in card.yaml
VERSION = "1"
WIDTH = 16  # channels of block1; block3 has 4 x WIDTH = the embedding size
SAMPLE_RATE = 16000
LAYERS = ("block1", "block2", "block3", POOLED)
AUDIO_AXES = ("batch", "channel", "freq", "time")
VIDEO_AXES = ("batch", "channel", "time", "height", "width")


def _block2d(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def _block3d(c_in: int, c_out: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(c_out),
                         nn.ReLU())


class Trunk(nn.Module):
    """Three blocks; ``forward(x, layers)`` -> {layer name: tensor}, ``"pooled"`` = global mean of block3."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        out = {}
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            out[f"block{i}"] = x
        out[POOLED] = x.flatten(2).mean(2)
        return {k: out[k] for k in layers}


class TinyAVEncoder(Encoder):
    """The example encoder (shapes in the module docstring). Its maps are named block1..block3, not the cards'
    conv5x: ``layer_map`` says the pooled vector stands for conv5x (the card's pooling is then not applied, and
    the record says so); ``{"conv5x": "block3"}`` would pool block3 with the card's pooling instead."""

    layer_map = {"conv5x": POOLED}

    def __init__(self, init_seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(init_seed)
            self.audio = Trunk([_block2d(1, WIDTH), _block2d(WIDTH, 2 * WIDTH), _block2d(2 * WIDTH, 4 * WIDTH)])
            self.video = Trunk([_block3d(3, WIDTH, (1, 2, 2)), _block3d(WIDTH, 2 * WIDTH, (2, 2, 2)),
                                _block3d(2 * WIDTH, 4 * WIDTH, (2, 2, 2))])
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=400, hop_length=160,
                                                        n_mels=40)
        self.meta = EncoderMeta(
            name=NAME, version=VERSION, modalities=("audio", "video"),
            description="example submission: 3-block conv trunks over 40-bin log-mel and 16-fps RGB",
            video=VideoSpec(fps=16.0, frames=(), min_size=32, max_size=320, layers=LAYERS),
            audio=AudioSpec(sample_rate=SAMPLE_RATE, min_seconds=0.5, max_seconds=30.0,
                            frontend="logmel(sr=16000,n_fft=400,hop=160,n_mels=40),ln(x+1e-6),(x+6)/4",
                            layers=LAYERS),
            embedding_dims={"audio": 4 * WIDTH, "video": 4 * WIDTH},
            n_parameters={m: sum(p.numel() for p in self.trunk(m).parameters()) for m in ("audio", "video")},
            weights_sha256=None, init_seed=init_seed, pretraining_data="none (random init)", license="Apache-2.0")

    def trunk(self, modality: str) -> nn.Module:
        return {"audio": self.audio, "video": self.video}[modality]

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 at 16 kHz -> ``[B, 1, 40, 1 + N // 160]`` normalised log-mel."""
        return ((self.mel(waveform) + 1e-6).log() + 6.0).div(4.0).unsqueeze(1)

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        out = self.audio(x, layers)
        return {k: v if k == POOLED else FeatureMap(v, AUDIO_AXES) for k, v in out.items()}

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        out = self.video(x, layers)
        return {k: v if k == POOLED else FeatureMap(v, VIDEO_AXES) for k, v in out.items()}


def save_weights(encoder: TinyAVEncoder, path: str | Path) -> Path:
    """Write the two trunks to ``path`` as safetensors (keys ``audio.*`` / ``video.*``)."""
    from safetensors.torch import save_file

    state = {f"{m}.{k}": v.detach().contiguous().clone() for m in ("audio", "video")
             for k, v in encoder.trunk(m).state_dict().items()}
    # one metadata key: safetensors writes metadata in hash-map order, so several keys would make the bytes
    # (and the sha256 the card promises) differ from run to run
    save_file(state, str(path), metadata={"name": f"{NAME}/{VERSION}"})
    Path(path).chmod(0o644)
    return Path(path)


def build(weights: str | None = None, init_seed: int = 0, **options: Any) -> TinyAVEncoder:
    """The factory avbench calls: ``build(weights=PATH)`` loads the safetensors file strictly; without weights a
    random init seeded by ``init_seed``. Returns the encoder in eval mode."""
    if options:
        raise TypeError(f"{NAME}: unknown option(s) {sorted(options)}")
    enc = TinyAVEncoder(init_seed)
    if weights:
        from safetensors.torch import load_file  # never torch.load: a pickle can run code

        state = load_file(str(weights))
        for m in ("audio", "video"):
            enc.trunk(m).load_state_dict({k[len(m) + 1:]: v for k, v in state.items() if k.startswith(m + ".")},
                                         strict=True)
        stray = [k for k in state if not k.startswith(("audio.", "video."))]
        if stray:
            raise ValueError(f"{weights}: unexpected keys {stray[:5]}")
        sha = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
        enc.meta = dataclasses.replace(enc.meta, weights_sha256=sha, init_seed=None,
                                       pretraining_data="none: random initialisation (seed 0), an example")
    return enc.eval()
