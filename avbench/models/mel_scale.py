"""An audio trunk evaluated at the mel scale it was pretrained on (issue 19, items 5 and 7).

Some methods resize a pretraining clip's log-mel to a fixed square before the audio trunk: AVCL the whole ~10-s clip
to ``mel_size x mel_size`` (avcl-paper Section 2.1), temporal-SSL each clip to 224 x 224 (its "Implementation
Details"). A test window must then reach the trunk at the same time and frequency scale, or the trunk sees sounds
stretched by a factor it never saw. :class:`MelScaleEncoder` does that in ``audio_frontend``: the native
``[B, 1, n_mels, T]`` log-mel is resized bilinearly (``align_corners=False``, the pretraining resize) to
``mel_size`` bands and ``T' = max(1, round(T * mel_size / columns_per_clip))`` columns, where ``columns_per_clip``
is the native frame count of one pretraining clip. A window as long as the pretraining clip therefore gets exactly
the pretraining resize. ``mel_size = None`` keeps the native log-mel (weights trained without a resize).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from avbench.models.two_tower import TwoTowerEncoder, safetensors_metadata

__all__ = ["MelScaleEncoder", "pretraining_config", "resize_to_scale"]


def pretraining_config(weights: str | Path | None) -> dict[str, Any]:
    """The method config of the pretraining card an ``avbench pretrain`` output carries in its metadata (``{}``
    for no weights or a file without a card)."""
    if not weights:
        return {}
    path = Path(str(weights)).expanduser()
    _, metadata = safetensors_metadata(path / "encoder.safetensors" if path.is_dir() else path)
    return dict((json.loads(metadata.get("card") or "{}").get("config") or {}))


def resize_to_scale(mel: torch.Tensor, mel_size: int, columns_per_clip: float) -> torch.Tensor:
    """``[B, C, F, T]`` log-mel -> ``[B, C, mel_size, max(1, round(T * mel_size / columns_per_clip))]`` (bilinear)."""
    t = max(1, round(mel.shape[-1] * mel_size / columns_per_clip))
    return F.interpolate(mel, size=(mel_size, t), mode="bilinear", align_corners=False)


class MelScaleEncoder(TwoTowerEncoder):
    """A :class:`TwoTowerEncoder` whose audio front end resamples to a pretraining mel scale (module docstring).

    ``train_mel_size`` (bands and columns of one pretraining clip after the resize, or None: native) and
    ``train_clip_seconds`` (the clip that resize covered) are set by :meth:`set_training_scale` and written into
    ``meta.audio.frontend``, so a feature cache keyed on the meta never mixes scales."""

    train_mel_size: int | None = None
    train_clip_seconds: float = 1.0

    def set_training_scale(self, mel_size: int | None, clip_seconds: float) -> None:
        """The pretraining mel scale the audio front end resamples to; recorded in ``meta``."""
        name = self.identity.name
        if (mel_size is not None and mel_size < 1) or clip_seconds <= 0:
            raise ValueError(f"{name}: mel_size {mel_size} and train_clip_seconds {clip_seconds} must be positive")
        self.train_mel_size = None if mel_size is None else int(mel_size)
        self.train_clip_seconds = float(clip_seconds)
        if self.meta.audio is not None:
            base = self.meta.audio.frontend.split(" -> bilinear", 1)[0]
            note = ("" if self.train_mel_size is None else
                    f" -> bilinear to {self.train_mel_size} bands x (T * {self.train_mel_size}/"
                    f"{self.columns_per_clip:g})")
            self.meta = dataclasses.replace(self.meta, audio=dataclasses.replace(self.meta.audio,
                                                                                 frontend=base + note))

    @property
    def columns_per_clip(self) -> float:
        """Native front-end frames in one pretraining clip (``train_clip_seconds * sample_rate / hop``)."""
        a = self.arch.logmel()
        return self.train_clip_seconds * a.sample_rate / a.hop_length

    def mark_loaded(self, weights_sha256: str, pretraining_data: str) -> None:
        super().mark_loaded(weights_sha256, pretraining_data)
        self.set_training_scale(self.train_mel_size, self.train_clip_seconds)

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` waveform -> ``[B, 1, mel_size, T']`` log-mel at the pretraining scale (module docstring);
        the native ``[B, 1, n_mels, 1 + N // hop]`` when ``train_mel_size`` is None."""
        mel = super().audio_frontend(waveform)
        if self.train_mel_size is None:
            return mel
        return resize_to_scale(mel, self.train_mel_size, self.columns_per_clip)
