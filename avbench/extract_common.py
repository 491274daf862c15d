"""What the extraction loop and the per-modality media paths share: the view, a decoded item, autocast."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from .taskcard import AudioClip, ClipSampling, Features, VideoClip


@dataclass(frozen=True)
class View:
    """Everything about one side of a protocol that changes its features (part of the cache key).

    seed is None when the side has no randomness (uniform windows, no augmentation)."""

    side: str
    modality: str
    clip: AudioClip | VideoClip
    sampling: ClipSampling
    features: Features
    layer: str
    seed: int | None

    def cache_fields(self) -> dict[str, Any]:
        return {"side": self.side, "modality": self.modality, "clip": self.clip.model_dump(mode="json"),
                "sampling": self.sampling.model_dump(mode="json"), "features": self.features.model_dump(mode="json"),
                "layer": self.layer, "seed": self.seed}

    @property
    def random(self) -> bool:
        return self.sampling.sampling != "uniform" or bool(self.sampling.augment)


@dataclass
class DecodedSample:
    """What a decode worker returns for one sample: its clips, or an error.

    clips: audio ``[K, N]`` float32 waveform windows; video ``[K, T, H, W, 3]`` uint8 frames (native size).
    padded: shorter than one clip, padded (zeros or cyclic, as the card says); notes: damage worked around.
    """

    pos: int
    clips: torch.Tensor | None
    padded: bool = False
    error: str | None = None
    notes: tuple[str, ...] = ()


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``dtype == "bfloat16"``; float32 everywhere else."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown compute dtype {dtype!r} (float32 or bfloat16)")
    if dtype == "bfloat16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
