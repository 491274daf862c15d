"""Windowed audio decoding: decode only the source samples a card's clip windows need (issue 17, "decoders read only
what the card needs"), bit-identical to :func:`avbench.media.audio_decode.load_audio` followed by slicing.

Used only where exactness can be shown before decoding: an integer-PCM RIFF/WAVE file (``pcm_s16le`` /
``pcm_s24le``: no out-of-range or non-finite sample can exist, so no note is lost outside the window) whose data
chunk is complete (the header's size is present in the file) and whose stream declares its length in samples. Then

* the resampled length ``N = ceil(S * rate / source rate)`` is known from the header (``S`` source samples), so the
  card's windows can be placed (:func:`audio_span`) before anything is decoded;
* the decoder seeks (PCM is sample-addressable) to the first source sample any needed output sample depends on (the
  resampling kernel's reach: ``width`` samples before its block) and stops after the last;
* the decoded mono samples are placed in a zero array of ``S`` samples and resampled WHOLE: a convolution over an
  input of another length gives other float rounding (measured: 4 to 40 of 40 random segments differed in the last
  bit), while the same length gives the same sums, and every needed output depends only on decoded samples.

Saved: the decoding, channel mixing and conversion of the samples outside the window (most of ``load_audio``'s
time for a WAV file); the resampling still runs over the whole length. Everything else (FLAC, Vorbis, MP3, AAC,
float or truncated WAV: codec priming and overlap, a length the header only estimates, samples that could be
clipped or non-finite) is decoded whole as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import numpy as np
import torch

from avbench.media.audio_decode import (MIN_DECODED_SECONDS, _WAV_OPEN, _check_header, _resample, _riff_data_seconds,
                                        _sinc_kernel, _to_mono)
from avbench.media.container import declared_seconds, open_container
from avbench.media.limits import DEFAULT_LIMITS, MediaLimits
from avbench.media.threads import one_cpu_thread

__all__ = ["AudioSpan", "WindowedAudio", "audio_span", "load_window"]

#: codecs whose samples are integers (full scale by construction) and addressable without decoder state (the two
#: the fixture writers produce and tests/test_audio_window.py checks; other integer PCM is decoded whole)
INTEGER_PCM = frozenset({"pcm_s16le", "pcm_s24le"})


@dataclass(frozen=True)
class AudioSpan:
    """What the header of a windowable file says: ``total`` output samples at ``sample_rate`` Hz (= the length of
    ``load_audio``'s waveform), ``source_samples`` S at ``source_rate`` Hz."""

    total: int
    sample_rate: int
    source_samples: int
    source_rate: int


@dataclass(frozen=True)
class WindowedAudio:
    """``wave`` ``[hi - lo]`` float32: samples ``lo:hi`` of ``load_audio(path, sample_rate).wave``;
    ``decoded``: source samples decoded (of ``span.source_samples``)."""

    wave: torch.Tensor
    lo: int
    span: AudioSpan
    decoded: int


def audio_span(path: str | PathLike[str], sample_rate: int, limits: MediaLimits | None = None) -> AudioSpan | None:
    """The :class:`AudioSpan` of ``path`` at ``sample_rate`` Hz when it can be decoded by window (module docstring),
    else None (decode it whole; a rate or a length beyond ``limits`` is also left to the whole decode, which names
    it). Reads the header only."""
    p = Path(path)
    riff = _riff_data_seconds(p)
    if riff is None or riff[1] < riff[0] or _sinc_kernel(1, 1) is None:
        return None
    try:
        with open_container(p, _WAV_OPEN) as c:
            if len(c.streams) != 1 or not c.streams.audio:
                return None
            st = c.streams.audio[0]
            rate = int(st.codec_context.sample_rate or 0)
            if st.codec_context.name not in INTEGER_PCM or not rate or st.duration is None \
                    or st.time_base != Fraction(1, rate):
                return None
            samples = int(st.duration)
    except Exception:
        return None  # the whole decode names what is wrong
    limits = limits or DEFAULT_LIMITS
    if samples / rate < MIN_DECODED_SECONDS or limits.check_rate(rate) or limits.check_seconds(samples / rate):
        return None
    total = samples if rate == sample_rate else math.ceil(Fraction(samples * sample_rate, rate))
    return AudioSpan(total, sample_rate, samples, rate)


def _source_range(span: AudioSpan, lo: int, hi: int) -> tuple[int, int]:
    """Source samples ``[a, b)`` that output samples ``[lo, hi)`` depend on (the resampling kernel's reach)."""
    if span.source_rate == span.sample_rate:
        return lo, hi
    g = math.gcd(span.source_rate, span.sample_rate)
    o, n = span.source_rate // g, span.sample_rate // g
    width = _sinc_kernel(o, n)[1]
    return max(0, (lo // n) * o - width), min(span.source_samples, ((hi - 1) // n) * o + o + width + 1)


def load_window(path: str | PathLike[str], span: AudioSpan, lo: int, hi: int,
                limits: MediaLimits | None = None) -> WindowedAudio | None:
    """Samples ``[lo, hi)`` of ``load_audio(path, span.sample_rate).wave``, decoding only the source samples they
    depend on; None when the decoded frames do not match what the header promised (decode whole then). The header
    bounds (``limits``) are checked as ``load_audio`` does (MediaError)."""
    p = Path(path)
    a, b = _source_range(span, lo, hi)
    mono = np.zeros(span.source_samples, dtype=np.float32)
    first, end = None, a
    with open_container(p, _WAV_OPEN) as c:
        st = c.streams.audio[0]
        _check_header(p, st, declared_seconds(c, st), limits or DEFAULT_LIMITS)
        if a > 0:
            c.seek(a, stream=st, backward=True)
        try:
            for frame in c.decode(st):
                start = frame.pts
                # the first frame at or before a, each next one where the last ended, at the promised rate
                if start is None or frame.sample_rate != span.source_rate or \
                        (start > a if first is None else start != end):
                    return None
                first = start if first is None else first
                x = _to_mono(frame)
                end = min(start + x.shape[0], span.source_samples)
                mono[start:end] = x[: end - start]
                if end >= b:
                    break
        except av.error.FFmpegError:
            return None
    if first is None or end < b:
        return None
    with one_cpu_thread("cpu"):
        wave = _resample(mono, span.source_rate, span.sample_rate)[lo:hi].clamp_(-1.0, 1.0).contiguous()
    return WindowedAudio(wave, lo, span, end - first)
