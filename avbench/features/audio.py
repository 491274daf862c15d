"""The audio media path of feature extraction: decode + window + waveform augmentation in DataLoader workers;
front end, spectrogram augmentation, trunk and pooling on the device.

Random choices come from generators seeded by (seed, side, sample id, clip index, stage): stage "start" for
window starts, "wave" for waveform augmentation (worker), "spec" for spectrogram augmentation (device).

``windows: spectrogram`` (the released CrissCross dense test): the worker returns the whole (trimmed, padded)
recording ``[1, N]``; on the device ONE front-end pass gives ``[1, C, F, T]`` and :func:`spectrogram_windows` cuts the
card's K windows from it, which then skip the front end in :meth:`AudioPath.forward`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from avbench.datasets.base import Sample
from avbench.encoder import Encoder
from avbench.features.spec import ClipSource, DecodedSample, ExtractionSpec, autocast, check_finite_output
from avbench.media.audio_augment import AudioAugmentConfig, augment_spectrogram, augment_waveform
from avbench.media.audio_decode import load_audio
from avbench.media.audio_window import audio_span, load_window
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
        clip_len = int(round(v.clip.seconds * self.sr))
        wave, lo, total, notes, starts = self._decode(sample, clip_len)
        seconds = total / self.sr
        if seconds < v.clip.min_seconds:
            return DecodedSample(pos, None, error=f"too short: {seconds:.3f} s < min_seconds {v.clip.min_seconds} s")
        if v.sampling.trim_to_first_clip:
            wave = wave[:clip_len]
        if v.sampling.windows == "spectrogram":  # one front-end pass on the device (module docstring)
            whole = cut_clips(wave, [0], max(clip_len, wave.numel()), pad=v.clip.pad)
            return DecodedSample(pos, whole.float(), padded=total < clip_len, notes=notes)
        k = v.sampling.clips
        if starts is None:
            starts = clip_starts(v.sampling.sampling, wave.numel(), clip_len, k, self.start_generators(sample))
        clips = cut_clips(wave, [s - lo for s in starts], clip_len, pad=v.clip.pad)
        if self.augment is not None:
            clips = augment_waveform(clips, self.augment, [generator_for(v.seed, v.side, sample.id, j, "wave") for j in range(k)])
        return DecodedSample(pos, clips.float(), padded=total < clip_len, notes=notes)

    def _decode(self, sample: Sample, clip_len: int) -> tuple[torch.Tensor, int, int, tuple[str, ...], list[int] | None]:
        """(waveform ``[n]`` float32 holding samples ``lo:lo + n`` of the whole decode, ``lo``, the whole decode's
        length in samples, damage notes, the window starts when they were placed before decoding or None). Only the
        windows the card needs are decoded where :mod:`avbench.media.audio_window` proves it the same (an
        integer-PCM WAV file) and the card keeps the default resampler; otherwise the whole file (:func:`load_audio`,
        with the card's ``audio.resampler``: the released readings' swresample has no window path)."""
        v = self.view
        whole_needed = (v.sampling.windows == "spectrogram" and not v.sampling.trim_to_first_clip) \
            or v.clip.resampler != "sinc"
        span = None if whole_needed else audio_span(sample.path, self.sr, v.limits)
        if span is not None and span.total / self.sr >= v.clip.min_seconds:
            starts = None
            if v.sampling.trim_to_first_clip:
                lo, hi = 0, min(span.total, clip_len)
            elif span.total > clip_len:
                starts = clip_starts(v.sampling.sampling, span.total, clip_len, v.sampling.clips,
                                     self.start_generators(sample))
                lo, hi = min(starts), max(starts) + clip_len
            else:
                lo, hi = 0, span.total  # padded windows need the whole recording
            got = load_window(sample.path, span, lo, hi, limits=v.limits) if (lo, hi) != (0, span.total) else None
            if got is not None:
                return got.wave, lo, span.total, (), starts
        decoded = load_audio(sample.path, self.sr, limits=v.limits, resampler=v.clip.resampler)
        return decoded.wave, 0, decoded.wave.numel(), decoded.notes, None


class AudioPath:
    """Audio side of :func:`avbench.features.extract.extract_view`."""

    def __init__(self, encoder: Encoder, view: ExtractionSpec, device: torch.device, dtype: str):
        self.encoder, self.view, self.device, self.dtype = encoder, view, device, dtype
        self.sr = encoder.meta.audio.sample_rate if encoder.meta.audio else 16000
        self.augment = AudioAugmentConfig.from_dict(view.sampling.augment) if view.sampling.augment else None

    def hop(self) -> int:
        """The front end's hop (samples per output frame), measured once on 10 s of silence: ``n // (T - 1)`` is
        exact there, where one short recording's ``round(n / (T - 1))`` can be off by one or two (a 1-s recording
        of 16,100 samples gives 161 for a hop of 160, so its windows were 99 frames where the others had 100)."""
        if getattr(self, "_hop", None) is None:
            n = 10 * self.sr
            with torch.inference_mode():
                frames = int(self.encoder.audio_frontend(torch.zeros(1, n, device=self.device)).shape[-1])
            self._hop = max(1, n // max(frames - 1, 1))
        return self._hop

    def source(self, samples: Sequence[Sample], positions: Sequence[int]) -> Dataset:
        return AudioClipSource(samples, positions, self.view, self.sr, self.augment)

    def prepare(self, item: DecodedSample, sample: Sample) -> tuple[torch.Tensor, list[Any]]:
        """Worker output -> (``[K, N]`` windows, per-clip spectrogram generators or Nones); with ``windows:
        spectrogram``, ``[K, C, F, W]`` front-end windows of the whole recording (:func:`spectrogram_windows`)."""
        assert item.clips is not None
        if self.view.sampling.windows == "spectrogram":
            with torch.inference_mode(), autocast(self.device, self.dtype):
                spec = self.encoder.audio_frontend(item.clips.to(self.device, non_blocking=True))
            windows = spectrogram_windows(spec[0], int(item.clips.shape[1]), self.sr, self.view.clip.seconds,
                                          self.view.sampling.clips, hop=self.hop())
            return windows, [None] * windows.shape[0]
        k = item.clips.shape[0]
        extras = ([generator_for(self.view.seed, self.view.side, sample.id, j, "spec") for j in range(k)]
                  if self.augment is not None else [None] * k)
        return item.clips, extras

    def forward(self, x: torch.Tensor, extras: list[Any]) -> torch.Tensor:
        """``[B, N]`` waveform windows -> ``[B, D]`` pooled features (front end, spectrogram augmentation, trunk)."""
        with torch.inference_mode(), autocast(self.device, self.dtype):
            x = x.to(self.device, non_blocking=True)
            spec = x if self.view.sampling.windows == "spectrogram" else self.encoder.audio_frontend(x)
            if self.augment is not None:
                spec = augment_spectrogram(spec.float(), self.augment, extras)
            out = self.encoder.encode_audio(spec, layers=requested_layers(self.view.layer, self.view.features))
            feats = probe_features(out, "audio", self.view.features).float()
            check_finite_output(out, feats)
            return feats.cpu()


def spectrogram_windows(spec: torch.Tensor, n_samples: int, sample_rate: int, seconds: float, k: int,
                        hop: int | None = None) -> torch.Tensor:
    """The released CrissCross dense test windows (``audio_db.py:104-110``) of one front-end output.

    spec: ``[C, F, T]`` front end of ``n_samples`` samples at ``sample_rate`` Hz. The front end's hop is ``hop`` (or,
    when None, read off this output: ``round(n_samples / (T - 1))`` samples, 160 for the CrissCross log-mel, exact
    only for long recordings: :meth:`AudioPath.hop`), the window is
    ``int(seconds * sample_rate / hop)`` frames (200 for 2 s) and the K windows start at the frames
    ``linspace(0, max(T - width, 1), K).astype(int)``; an output no wider than one window gives K copies of it.
    Returns ``[K, C, F, width]``.
    """
    frames = int(spec.shape[-1])
    hop = hop or round(n_samples / max(frames - 1, 1))
    width = int(round(seconds * sample_rate / hop, 6))
    if width >= frames:
        return spec.unsqueeze(0).expand(k, *spec.shape).contiguous()
    starts = np.linspace(0, max(frames - width, 1), k).astype(int)
    return torch.stack([spec[..., s:s + width] for s in starts.tolist()])
