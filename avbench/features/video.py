"""The video media path of feature extraction.

Workers (DataLoader processes) decode each file ONCE and cut all of its clips from that decode
(:func:`avbench.media.video_decode.decode_clips`), returning ``[K, T, H, W, 3]`` uint8 frames at native size.
On the device: per-clip spatial transform and augmentation with parameters drawn per (sample, clip)
(:mod:`avbench.media.video_augment`), the encoder's own normalisation, cutout after normalisation (as the
reference code does), trunk, and the card's pooling. Frames stay uint8 until the device.

Generators are seeded by (seed, side, sample id, clip index, stage): "start" for clip starts (worker),
"augment" for the clip's augmentation parameters (device), so features never depend on batch size,
worker count or rank.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from avbench.datasets.base import Sample
from avbench.encoder import Encoder
from avbench.features.spec import ClipSource, DecodedSample, ExtractionSpec, autocast, check_finite_output
from avbench.media.seeding import generator_for
from avbench.media.video_augment import VideoAugmentConfig, apply_cutout, transform_clips
from avbench.media.multicrop import three_crops
from avbench.media.threads import one_cpu_thread
from avbench.media.video_decode import decode_clips
from avbench.features.pooling import probe_features, requested_layers


class VideoClipSource(ClipSource):
    """Item i: sample ``positions[i]`` decoded once into its K clips ``[K, T, H, W, 3]`` uint8."""

    def cut(self, pos: int, sample: Sample) -> DecodedSample:
        v = self.view
        out = decode_clips(sample.path, fps=v.clip.fps, frames=v.clip.frames, clips=v.sampling.clips,
                           sampling=v.sampling.sampling, generators=self.start_generators(sample),
                           trim_to_first_clip=v.sampling.trim_to_first_clip, timeline=v.clip.timeline,
                           starts=v.clip.starts,
                           limits=v.limits)
        return DecodedSample(pos, out.frames, padded=out.padded, notes=out.notes)


def channels_last_3d_(module: torch.nn.Module) -> torch.nn.Module:
    """Give every 5-D parameter and buffer of ``module`` (Conv3d weights) the channels_last_3d layout, in place.

    ``module.to(memory_format=torch.channels_last_3d)`` cannot be used on a two-tower encoder: it converts 4-D
    tensors too, and the audio trunk's Conv2d weights make it fail ("required rank 5 tensor to use
    channels_last_3d format"; seen on an H200). Values are unchanged; only the strides differ."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        if t.dim() == 5:
            t.data = t.data.contiguous(memory_format=torch.channels_last_3d)
    return module


class VideoPath:
    """Video side of :func:`avbench.features.extract.extract_view`."""

    def __init__(self, encoder: Encoder, view: ExtractionSpec, device: torch.device, dtype: str):
        self.encoder, self.view, self.device, self.dtype = encoder, view, device, dtype
        self.augment = VideoAugmentConfig.from_dict(view.sampling.augment) if view.sampling.augment else None
        self.size = view.clip.size
        self.resize = view.clip.test_resize
        self.channels_last = device.type == "cuda"
        if self.channels_last:
            channels_last_3d_(encoder)

    def source(self, samples: Sequence[Sample], positions: Sequence[int]) -> Dataset:
        return VideoClipSource(samples, positions, self.view)

    def prepare(self, item: DecodedSample, sample: Sample) -> tuple[torch.Tensor, list[Any]]:
        """Native-size clips -> (``[K, 3, T, size, size]`` uint8 on the device, per-clip augmentation params)."""
        assert item.clips is not None
        frames = item.clips.to(self.device, non_blocking=True)
        gens = [generator_for(self.view.seed, self.view.side, sample.id, j, "augment") for j in range(frames.shape[0])]
        clips, params = transform_clips(frames, self.augment, gens, self.size, self.resize)
        if self.view.sampling.spatial_crops == 3:  # each clip -> start, centre, end crops (avbench.media.multicrop)
            with one_cpu_thread(frames.device):
                clips = torch.cat([three_crops(f, self.size, self.resize) for f in frames])
            params = [p for p in params for _ in range(3)]
        return clips, list(params)

    def forward(self, x: torch.Tensor, extras: list[Any]) -> torch.Tensor:
        """``[B, 3, T, S, S]`` uint8 -> ``[B, D]`` pooled features (normalise, cutout, trunk, pooling)."""
        with torch.inference_mode(), autocast(self.device, self.dtype):
            z = self.encoder.video_preprocess(x.to(self.device, non_blocking=True))
            if self.augment is not None and self.augment.cutout > 0:
                z = apply_cutout(z, extras, fill=self.augment.cutout_fill)
            if self.channels_last:
                z = z.contiguous(memory_format=torch.channels_last_3d)
            out = self.encoder.encode_video(z, layers=requested_layers(self.view.layer, self.view.features))
            feats = probe_features(out, "video", self.view.features).float()
            check_finite_output(out, feats)
            return feats.cpu()
