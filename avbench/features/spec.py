"""What the extraction loop and the per-modality media paths share: the view, a decoded item, autocast."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from avbench.datasets.base import Sample
from avbench.encoder import FeatureMap
from avbench.media.errors import MediaError
from avbench.media.seeding import generator_for

from avbench.taskcard import AudioClip, ClipSampling, Features, VideoClip


@dataclass(frozen=True)
class ExtractionSpec:
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


class NonFiniteFeaturesError(RuntimeError):
    """An encoder produced NaN or +-inf during extraction. The message names the encoder, the layer, the sample,
    the feature-cache entry (nothing of the failing shard is written to it) and the ``avbench validate`` command."""


class NonFiniteOutput(Exception):
    """Raised by a media path's ``forward``: row ``row`` of the batch holds a non-finite value in ``layer``."""

    def __init__(self, layer: str, row: int):
        super().__init__(layer, row)
        self.layer, self.row = layer, row


def check_finite_output(output: dict[str, Any], pooled: torch.Tensor) -> None:
    """Raise :class:`NonFiniteOutput` at the first batch row whose requested layer output (every entry of
    ``output``: FeatureMaps ``[B, C, ...]`` or ``[B, D]`` tensors) or pooled features ``pooled [B, D]`` hold NaN /
    inf. Costs one pass over the maps (small beside the forward that made them)."""
    items = [(name, v.data if isinstance(v, FeatureMap) else v) for name, v in output.items()]
    for name, t in [*items, ("pooled features (after the card's pooling)", pooled)]:
        if not isinstance(t, torch.Tensor) or t.dim() == 0 or not t.is_floating_point():
            continue
        ok = torch.isfinite(t.reshape(t.shape[0], -1)).all(1)
        if not bool(ok.all()):
            raise NonFiniteOutput(name, int((~ok).nonzero()[0]))


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``dtype == "bfloat16"``; float32 everywhere else."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown compute dtype {dtype!r} (float32 or bfloat16)")
    if dtype == "bfloat16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class ClipSource(Dataset):
    """Item i: sample ``positions[i]`` decoded once and cut into the view's clips (runs in DataLoader workers).

    Subclasses implement :meth:`cut`. A file the decoder rejects, or a decoder crash, becomes a
    :class:`DecodedSample` with the reason (the run goes on and records the skip)."""

    def __init__(self, samples: Sequence[Sample], positions: Sequence[int], view: ExtractionSpec):
        self.samples, self.positions, self.view = samples, positions, view

    def __len__(self) -> int:
        return len(self.positions)

    def start_generators(self, sample: Sample) -> list[torch.Generator] | None:
        """One generator per clip for random/synced starts (stage "start"), None for uniform windows."""
        v = self.view
        if v.sampling.sampling == "uniform":
            return None
        return [generator_for(v.seed, v.side, sample.id, j, "start") for j in range(v.sampling.clips)]

    def cut(self, pos: int, sample: Sample) -> DecodedSample:
        raise NotImplementedError

    def __getitem__(self, i: int) -> DecodedSample:
        pos = self.positions[i]
        try:
            return self.cut(pos, self.samples[pos])
        except MediaError as exc:
            return DecodedSample(pos, None, error=str(exc.reason))
        except Exception as exc:  # a decoder crash must not end the run; it is recorded with its type
            return DecodedSample(pos, None, error=f"decoder failure: {type(exc).__name__}: {exc}")


#: the name before the redesign (an SSL pretraining *view* is another thing: avbench.pretrain.views)
View = ExtractionSpec
