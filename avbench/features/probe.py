"""THE feature-dimension probe: one blank clip of a card's geometry through the encoder, measured instead of
guessed. Used for the columns of probed layers, the finetuning head's input size and the HEAR export's frame size.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from avbench.encoder import Encoder
from avbench.features.pooling import features_from_output
from avbench.taskcard import Features

__all__ = ["blank_output", "pooled_dims"]


def blank_output(encoder: Encoder, modality: str, layers: tuple[str, ...], *, frames: int | None = None,
                 size: int | None = None, seconds: float | None = None,
                 device: torch.device | str = "cpu") -> dict[str, Any]:
    """The encoder's outputs (``layers``) for one all-zero clip: video ``[1, 3, frames, size, size]`` uint8 through
    ``video_preprocess``, or audio ``seconds`` of silence at the encoder's rate through ``audio_frontend``."""
    with torch.inference_mode():
        if modality == "video":
            x = encoder.video_preprocess(torch.zeros(1, 3, frames, size, size, dtype=torch.uint8, device=device))
            return encoder.encode_video(x, layers)
        sr = encoder.meta.audio.sample_rate
        x = encoder.audio_frontend(torch.zeros(1, int(round(seconds * sr)), device=device))
        return encoder.encode_audio(x, layers)


def pooled_dims(encoder: Encoder, modality: str, clip: Any, specs: Mapping[str, Features], layers: Sequence[str],
                device: torch.device | str = "cpu") -> dict[str, int]:
    """``{name: D}``: the pooled dimension of each spec (its layer, pooling and normalisation, as
    :func:`~avbench.features.pooling.features_from_output` applies them) at the geometry of ``clip`` (a card's
    VideoClip or AudioClip), from ONE forward pass requesting ``layers``."""
    geometry = ({"frames": clip.frames, "size": clip.size} if modality == "video" else {"seconds": clip.seconds})
    out = blank_output(encoder, modality, tuple(layers), device=device, **geometry)
    return {name: int(features_from_output(out, modality, spec).shape[1]) for name, spec in specs.items()}
