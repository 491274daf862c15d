"""AVCL (self-supervised contrastive learning for audio-visual action recognition) as an avbench encoder.

Trunks (avcl-paper Section 3.2): a video R(2+1)D with no repetitions in conv2-5 (R(2+1)D-10, AVID-variant blocks)
and, for the audio, "two independent models with the same backbone": the paper does not say what the audio
backbone is beyond that, so avbench uses the 2D analogue, a ResNet-10 over the mel-spectrogram (OPEN VALUE).
Audio front end (Section 2.1): the WHOLE clip, mono, 24 kHz, 10 ms window and hop, 256 mel bands (n_fft 1024 so
that 256 bands have bins to draw on). Video: 16 consecutive frames at 25 fps (the paper samples consecutive frames
at the source rate; 25 fps is avbench's fixed choice), 112² crops.
Weights: an ``avbench pretrain avcl`` output (``OUT`` or ``OUT/encoder.safetensors``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from avbench.encoder import MODALITIES
from avbench.media.logmel import LogMelConfig
from avbench.models.two_tower import EncoderIdentity, TwoTowerArch, TwoTowerEncoder, build_two_tower

NAME = "avcl"
ARCH = TwoTowerArch(video_depth=10, audio_depth=10, fps=25.0,
                    audio=LogMelConfig(sample_rate=24000, n_fft=1024, win_length=240, hop_length=240, n_mels=256,
                                       f_max=12000.0).to_dict())


class AVCLEncoder(TwoTowerEncoder):
    """AVCL trunks (shapes and layers: :class:`avbench.models.two_tower.TwoTowerEncoder`)."""

    identity = EncoderIdentity(NAME, "1.0", "AVCL: R(2+1)D-10 video (16 frames, 25 fps) + ResNet-10 over the whole clip's "
                        "256-band mel (24 kHz)", "Apache-2.0",
                        "'Self-supervised contrastive learning for audio-visual action recognition' (AVCL), "
                        "avcl-paper.md in avbench's shared papers; reimplemented in avbench")

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__(modalities, arch=arch or ARCH, init_seed=init_seed)


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> AVCLEncoder:
    """Random init (``init_seed``; architecture options e.g. ``video_width=16``) or an ``avbench pretrain`` output."""
    return build_two_tower(AVCLEncoder, name=NAME, default_arch=ARCH, weights=weights, init_seed=init_seed,
                           modalities=modalities, options=options)
