"""The audio media path of feature extraction: decode + window + waveform augmentation in DataLoader workers;
front end, spectrogram augmentation, trunk and pooling on the device.

Random choices come from generators seeded by (seed, side, sample id, clip index, stage): stage "start" for
window starts, "wave" for waveform augmentation (worker), "spec" for spectrogram augmentation (device).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.utils.data import Dataset

from avbench.datasets.base import Sample
from avbench.encoder import Encoder
from avbench.features.spec import ClipSource, DecodedSample, ExtractionSpec, autocast, check_finite_output
from avbench.media.audio_augment import AudioAugmentConfig, augment_spectrogram, augment_waveform
from avbench.media.audio_decode import load_audio
from avbench.media.clips import clip_starts, cut_clips
from avbench.media.seeding import generator_for
from avbench.features.pooling import probe_features, requested_layers


class AudioClipSource(ClipSource):
    """Item i: sample ``positions[i]`` decoded once, its K windows ``[K, N]`` float32 cut and waveform-augmented."""

    def __init__(self, samples: Sequence[Sample], positions: Sequence[int], view: ExtractionSpec, sample_rate: int,
                 augment: AudioAugmentConfig | None):
        super().__init__(samples, positions, view)
        self.sr, self.augment = sample_rate, augment

    def cut(self, pos: int, sample: Sample) -> DecodedSample:
        v = self.view
        decoded = load_audio(sample.path, self.sr)
        wave = decoded.wave
        seconds = wave.numel() / self.sr
        if seconds < v.clip.min_seconds:
            return DecodedSample(pos, None, error=f"too short: {seconds:.3f} s < min_seconds {v.clip.min_seconds} s")
        clip_len = int(round(v.clip.seconds * self.sr))
        if v.sampling.trim_to_first_clip:
            wave = wave[:clip_len]
        k = v.sampling.clips
        starts = clip_starts(v.sampling.sampling, wave.numel(), clip_len, k, self.start_generators(sample))
        clips = cut_clips(wave, starts, clip_len, pad=v.clip.pad)
        if self.augment is not None:
            clips = augment_waveform(clips, self.augment, [generator_for(v.seed, v.side, sample.id, j, "wave") for j in range(k)])
        return DecodedSample(pos, clips.float(), padded=wave.numel() < clip_len, notes=decoded.notes)


class AudioPath:
    """Audio side of :func:`avbench.features.extract.extract_view`."""

    def __init__(self, encoder: Encoder, view: ExtractionSpec, device: torch.device, dtype: str):
        self.encoder, self.view, self.device, self.dtype = encoder, view, device, dtype
        self.sr = encoder.meta.audio.sample_rate if encoder.meta.audio else 16000
        self.augment = AudioAugmentConfig.from_dict(view.sampling.augment) if view.sampling.augment else None

    def source(self, samples: Sequence[Sample], positions: Sequence[int]) -> Dataset:
        return AudioClipSource(samples, positions, self.view, self.sr, self.augment)

    def prepare(self, item: DecodedSample, sample: Sample) -> tuple[torch.Tensor, list[Any]]:
        """Worker output -> (``[K, N]`` windows, per-clip spectrogram generators or Nones)."""
        assert item.clips is not None
        k = item.clips.shape[0]
        extras = ([generator_for(self.view.seed, self.view.side, sample.id, j, "spec") for j in range(k)]
                  if self.augment is not None else [None] * k)
        return item.clips, extras

    def forward(self, x: torch.Tensor, extras: list[Any]) -> torch.Tensor:
        """``[B, N]`` waveform windows -> ``[B, D]`` pooled features (front end, spectrogram augmentation, trunk)."""
        with torch.inference_mode(), autocast(self.device, self.dtype):
            spec = self.encoder.audio_frontend(x.to(self.device, non_blocking=True))
            if self.augment is not None:
                spec = augment_spectrogram(spec.float(), self.augment, extras)
            out = self.encoder.encode_audio(spec, layers=requested_layers(self.view.layer, self.view.features))
            feats = probe_features(out, "audio", self.view.features).float()
            check_finite_output(out, feats)
            return feats.cpu()
