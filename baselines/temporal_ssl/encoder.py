"""Audio-visual contrastive learning with temporal self-supervision (temporal-SSL) as an avbench encoder.

Trunks (paper, "Implementation Details"): video R(2+1)D-18 (16 frames of 112²), audio ResNet-34 over a spectrogram.
The paper does not give the frame rate, the audio rate or the spectrogram kind; avbench uses 16 fps and the
CrissCross 80-band log-mel at 16 kHz (OPEN VALUES). The paper resizes spectrograms to 224x224; avbench feeds the
log-mel at its native size (the trunk is fully convolutional), in pretraining and evaluation alike.
Weights: an ``avbench pretrain temporal-ssl`` output (``OUT`` or ``OUT/encoder.safetensors``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from avbench.encoder import MODALITIES
from avbench.models.two_tower import EncoderIdentity, TwoTowerArch, TwoTowerEncoder, build_two_tower

NAME = "temporal-ssl"
ARCH = TwoTowerArch(video_depth=18, audio_depth=34, fps=16.0)


class TemporalSSLEncoder(TwoTowerEncoder):
    """Temporal-SSL trunks (shapes and layers: :class:`avbench.models.two_tower.TwoTowerEncoder`)."""

    identity = EncoderIdentity(NAME, "1.0", "temporal-SSL: R(2+1)D-18 video (16 fps) + ResNet-34 audio over 80-band log-mel "
                        "(16 kHz)", "Apache-2.0",
                        "'Audio-Visual Contrastive Learning with Temporal Self-Supervision', AAAI 2023 "
                        "(temporal-ssl-av-paper.md in avbench's shared papers); reimplemented in avbench")

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__(modalities, arch=arch or ARCH, init_seed=init_seed)


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> TemporalSSLEncoder:
    """Random init (``init_seed``; architecture options e.g. ``video_width=16``) or an ``avbench pretrain`` output."""
    return build_two_tower(TemporalSSLEncoder, name=NAME, default_arch=ARCH, weights=weights, init_seed=init_seed,
                           modalities=modalities, options=options)
