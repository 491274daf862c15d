"""AVCL (self-supervised contrastive learning for audio-visual action recognition) as an avbench encoder.

Trunks (avcl-paper Section 3.2): a video R(2+1)D with no repetitions in conv2-5 (R(2+1)D-10, AVID-variant blocks)
and, for the audio, "two independent models with the same backbone": the paper does not say what the audio
backbone is beyond that, so avbench uses the 2D analogue, a ResNet-10 over the mel-spectrogram (OPEN VALUE).
Audio front end (Section 2.1): the WHOLE clip, mono, 24 kHz, 10 ms window and hop, 256 mel bands (n_fft 1024 so
that 256 bands have bins to draw on). Video: 16 consecutive frames at 25 fps (the paper samples consecutive frames
at the source rate; 25 fps is avbench's fixed choice), 112² crops.
Weights: an ``avbench pretrain avcl`` output (``OUT`` or ``OUT/encoder.safetensors``).

Evaluated as trained (issue 19, item 7): pretraining resizes the WHOLE clip's mel (about 10 s: about 1000 frames of
10 ms, ``n_mels`` bands) to ``mel_size x mel_size`` (256 in the paper: about 39 ms per column), so
:meth:`AVCLEncoder.audio_frontend` resamples a test window's mel to that scale with the same bilinear resize:
``n_mels`` -> ``mel_size`` bands and ``T`` -> ``max(1, round(T * mel_size / (train_clip_seconds * frames per
second)))`` columns. ``mel_size`` comes from the weights' pretraining card (the ``small`` preset: 96); the clip
length is ``train_clip_seconds`` (10 s, the Kinetics clip length; a build option). Video: the encoder declares its
25 fps as a NATIVE rate (``native_fps``), so video cards sample it at 25 fps over their clip span
(:mod:`avbench.evaluation.rate`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

from avbench.encoder import MODALITIES
from avbench.media.logmel import LogMelConfig
from avbench.models.mel_scale import MelScaleEncoder, pretraining_config
from avbench.models.two_tower import EncoderIdentity, TwoTowerArch, build_two_tower

NAME = "avcl"
ARCH = TwoTowerArch(video_depth=10, audio_depth=10, fps=25.0,
                    audio=LogMelConfig(sample_rate=24000, n_fft=1024, win_length=240, hop_length=240, n_mels=256,
                                       f_max=12000.0).to_dict())
#: the paper's mel_size (Section 2.1: "a 2D spectrogram matrix of size 256x256") and the clip it covers (seconds)
TRAIN_MEL_SIZE = 256
TRAIN_CLIP_SECONDS = 10.0


class AVCLEncoder(MelScaleEncoder):
    """AVCL trunks (shapes and layers: :class:`avbench.models.two_tower.TwoTowerEncoder`); the audio front end
    resamples to the pretraining mel scale (:class:`avbench.models.mel_scale.MelScaleEncoder`)."""

    identity = EncoderIdentity(NAME, "1.0", "AVCL: R(2+1)D-10 video (16 frames, 25 fps) + ResNet-10 over the whole clip's "
                        "256-band mel (24 kHz)", "Apache-2.0",
                        "'Self-supervised contrastive learning for audio-visual action recognition' (AVCL), "
                        "avcl-paper.md in avbench's shared papers; reimplemented in avbench")

    native_fps: ClassVar[bool] = True  # trained on 25-fps clips only

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__(modalities, arch=arch or ARCH, init_seed=init_seed)
        self.set_training_scale(TRAIN_MEL_SIZE, TRAIN_CLIP_SECONDS)


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> AVCLEncoder:
    """Random init (``init_seed``; architecture options e.g. ``video_width=16``) or an ``avbench pretrain`` output.
    ``mel_size`` (default: the weights' pretraining card, else 256) and ``train_clip_seconds`` (10) set the
    pretraining mel scale the audio front end resamples to."""
    options = dict(options)
    clip_seconds = float(options.pop("train_clip_seconds", TRAIN_CLIP_SECONDS))
    mel_size = options.pop("mel_size", None)
    enc = build_two_tower(AVCLEncoder, name=NAME, default_arch=ARCH, weights=weights, init_seed=init_seed,
                          modalities=modalities, options=options)
    if mel_size is None:  # the pretraining card inside the weights names the mel_size it trained at
        mel_size = pretraining_config(weights).get("mel_size")
    enc.set_training_scale(int(mel_size or TRAIN_MEL_SIZE), clip_seconds)
    return enc
