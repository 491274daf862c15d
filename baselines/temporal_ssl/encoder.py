"""Audio-visual contrastive learning with temporal self-supervision (temporal-SSL) as an avbench encoder.

Trunks (paper, "Implementation Details"): video R(2+1)D-18 (16 frames of 112²), audio ResNet-34 over a spectrogram.
The paper does not give the frame rate, the audio rate or the spectrogram kind; avbench uses 16 fps and the
CrissCross 80-band log-mel at 16 kHz (OPEN VALUES).
Audio scale (issue 19, item 5): "Input spectrograms to the audio encoder are resized to 224 x 224" ("Implementation
Details"). Pretraining (``spec_size``, 224 by default) resizes each clip's log-mel (``frames / fps`` seconds: 1 s
at 16 frames and 16 fps, 80 x 101 native frames) to ``spec_size x spec_size``, so ``audio_frontend`` resamples a
test window to that scale (:class:`avbench.models.mel_scale.MelScaleEncoder`): 80 -> 224 bands and T ->
``round(T * 224 / 101)`` columns, a 1-s window exactly as pretraining saw it. The scale comes from the weights'
pretraining card (``spec_size`` and ``frames``); weights whose card has no ``spec_size`` were trained on the native
log-mel (avbench before issue 19) and are evaluated on it. Random init: the paper's 224 over 1 s.
Weights: an ``avbench pretrain temporal-ssl`` output (``OUT`` or ``OUT/encoder.safetensors``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from avbench.encoder import MODALITIES
from avbench.models.mel_scale import MelScaleEncoder, pretraining_config
from avbench.models.two_tower import EncoderIdentity, TwoTowerArch, build_two_tower

NAME = "temporal-ssl"
ARCH = TwoTowerArch(video_depth=18, audio_depth=34, fps=16.0)
#: "Implementation Details": spectrograms resized to 224 x 224; the pretraining clip: 16 frames (at avbench's 16 fps)
SPEC_SIZE = 224
CLIP_FRAMES = 16


class TemporalSSLEncoder(MelScaleEncoder):
    """Temporal-SSL trunks (shapes and layers: :class:`avbench.models.two_tower.TwoTowerEncoder`); the audio front
    end resamples to the pretraining spectrogram scale (module docstring)."""

    identity = EncoderIdentity(NAME, "1.0", "temporal-SSL: R(2+1)D-18 video (16 fps) + ResNet-34 audio over 80-band log-mel "
                        "(16 kHz) resized to the pretraining 224x224 scale", "Apache-2.0",
                        "'Audio-Visual Contrastive Learning with Temporal Self-Supervision', AAAI 2023 "
                        "(temporal-ssl-av-paper.md in avbench's shared papers); reimplemented in avbench")

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__(modalities, arch=arch or ARCH, init_seed=init_seed)
        self.set_training_scale(SPEC_SIZE, CLIP_FRAMES / self.arch.fps)

    @property
    def columns_per_clip(self) -> float:
        """Native frames of one pretraining clip EXACTLY as pretraining computed them: ``1 + round(seconds *
        sample_rate) // hop`` (101 for 1 s at 16 kHz, hop 160), so a window of the clip's length gets its resize."""
        a = self.arch.logmel()
        return float(1 + round(self.train_clip_seconds * a.sample_rate) // a.hop_length)


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> TemporalSSLEncoder:
    """Random init (``init_seed``; architecture options e.g. ``video_width=16``) or an ``avbench pretrain`` output.
    ``spec_size`` (0: native log-mel) and ``clip_frames`` override the pretraining scale read from the weights'
    card (module docstring)."""
    options = dict(options)
    spec_size, frames = options.pop("spec_size", None), options.pop("clip_frames", None)
    enc = build_two_tower(TemporalSSLEncoder, name=NAME, default_arch=ARCH, weights=weights, init_seed=init_seed,
                          modalities=modalities, options=options)
    if weights:  # the pretraining card says what the trunk saw; no spec_size there: the native log-mel
        config = pretraining_config(weights)
        spec_size = (config.get("spec_size") or 0) if spec_size is None else spec_size
        frames = config.get("frames") if frames is None else frames
    elif spec_size is None:
        spec_size = SPEC_SIZE
    enc.set_training_scale(int(spec_size) or None, int(frames or CLIP_FRAMES) / enc.arch.fps)
    return enc
