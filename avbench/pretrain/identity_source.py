"""``--data identity-world``: pretraining clips of the identity world, rendered on the fly, a fresh clip per sample.

An epoch is :data:`CLIPS_PER_EPOCH` virtual items; item ``i`` is class ``i % 6`` and, in epoch ``e`` of a run with
data seed ``s``, the clip ``render_identity_clip(i % 6, cfg, identity_rng("pretrain", s, e, i))``: never the same
clip twice, never a probe or demo clip (those come from other seed streams). Each clip has :data:`SCENES` scenes
of 1 s, 48² frames at the encoder's frame rate and audio at its sample rate; the :class:`Decoded` carries the
scene boundaries, so the samplers place views inside scenes (:func:`avbench.pretrain.views.pick_scenes`).
Rendering takes about 7 ms per 2-scene clip on one CPU core (measured: 14.8 ms per 4-scene clip).
"""
from __future__ import annotations

import torch

from avbench.pretrain.views import Decoded
from avbench.synth.identity_world import IdentityWorldConfig, identity_rng, render_identity_clip

#: virtual items per epoch (>= 5,000, divisible by the 6 classes and by batch sizes up to 1024).
CLIPS_PER_EPOCH = 6144
#: scenes per pretraining clip (two views in different scenes need two; more would only cost rendering time).
SCENES = 2
#: the ``--data`` name.
NAME = "identity-world"


class IdentityRenderer:
    """Picklable ``(index, epoch, fps, sample_rate) -> Decoded`` for :class:`avbench.pretrain.data.PretrainDataset`
    (:func:`avbench.pretrain.data.resolve_sources` builds the ``Sources`` of ``--data identity-world`` around it)."""

    def __init__(self, seed: int = 0, n_classes: int = 6, scenes: int = SCENES, size: int = 48) -> None:
        self.seed, self.n_classes, self.scenes, self.size = seed, n_classes, scenes, size

    def config(self, fps: float, sample_rate: int) -> IdentityWorldConfig:
        return IdentityWorldConfig(n_classes=self.n_classes, n_segments=self.scenes, segment_seconds=1.0, fps=fps,
                                   size=self.size, sample_rate=sample_rate)

    def __call__(self, index: int, epoch: int, fps: float, sample_rate: int) -> Decoded:
        cfg = self.config(fps, sample_rate)
        clip = render_identity_clip(index % self.n_classes, cfg, identity_rng("pretrain", self.seed, epoch, index))
        return Decoded(torch.from_numpy(clip.frames), fps, torch.from_numpy(clip.audio), sample_rate,
                       segments=tuple((float(a), float(b)) for a, b in clip.segments))
