"""Class-conditioned synthetic sounds: learnable from log-mel features, never identical between files.

Each class ``k`` of ``n`` has a signature: a band of noise at a characteristic centre frequency, a
harmonic tone (fundamental and harmonic weights), and an amplitude-modulation rate. The attributes are
spread over their ranges with different strides, so neighbouring classes differ in several ways at once.
Every file jitters the signature (pitch +-4 %, band centre +-6 %, AM rate +-10 %, level +-6 dB, random
phases and onset), adds white background noise at 12-30 dB SNR, and ``event`` sounds may stop early
and be followed by digital silence (as many ESC-50 clips are).

All frequencies stay below 7 kHz so they survive resampling to 16 kHz. Output is float64 in [-1, 1],
shape ``[channels, samples]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassSignature:
    """What makes class ``k`` recognisable (Hz, Hz, Hz, relative weights, 0..1)."""

    noise_centre_hz: float
    f0_hz: float
    harmonic_weights: tuple[float, ...]
    am_rate_hz: float
    tone_share: float  # share of the tone in the mix (the rest is the noise band)


def class_signature(k: int, n: int, *, family: int = 0) -> ClassSignature:
    """Signature of class ``k`` of ``n``; ``family`` shifts the whole set (e.g. 1 for acoustic scenes)."""
    if not 0 <= k < n:
        raise ValueError(f"class index {k} outside 0..{n - 1}")

    def spread(stride: int) -> float:  # a permutation of 0..n-1 mapped to [0, 1]
        return ((k * stride + family * 3) % n) / max(1, n - 1) if n > 1 else 0.5

    centre = 250.0 * 2 ** (spread(1) * 4.6)  # 250 Hz .. ~6 kHz, log-spaced
    f0 = 90.0 * 2 ** (spread(7 if n % 7 else 3) * 3.0)  # 90 .. 720 Hz
    am = 0.7 + spread(3 if n % 3 else 11) * 11.0  # 0.7 .. 11.7 Hz
    n_h = 1 + (k + family) % 5
    weights = tuple(round(1.0 / (h + 1) ** (0.5 + 0.5 * ((k + h) % 3)), 4) for h in range(n_h))
    tone_share = 0.25 + 0.5 * spread(13 if n % 13 else 1)
    return ClassSignature(centre, f0, weights, am, tone_share)


def _band_noise(rng: np.random.Generator, n: int, sr: int, centre: float, rel_width: float = 0.35) -> np.ndarray:
    m = 1 << max(0, n - 1).bit_length()  # power-of-two FFT length (odd lengths are slow), cropped to n
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1.0 / sr)
    octaves = np.log2(np.maximum(f, 1.0) / centre)
    spec *= np.exp(-0.5 * (octaves / rel_width) ** 2)
    x = np.fft.irfft(spec, m)[:n]
    return x / (np.abs(x).max() + 1e-12)


def render(sig: ClassSignature, *, seconds: float, sample_rate: int, rng: np.random.Generator, channels: int = 1,
           event: bool = True, silence_tail: bool = False) -> np.ndarray:
    """One file's audio, ``[channels, round(seconds * sample_rate)]`` float64 in [-1, 1].

    event: a sound that starts after a short random onset (else a stationary scene from the first sample);
    silence_tail: the event stops early (1.2 s .. 80 % of the file) and digital silence follows.
    """
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    pitch = sig.f0_hz * rng.uniform(0.96, 1.04)
    centre = sig.noise_centre_hz * rng.uniform(0.94, 1.06)
    am_rate = sig.am_rate_hz * rng.uniform(0.9, 1.1)
    tone = np.zeros(n)
    for h, w in enumerate(sig.harmonic_weights, start=1):
        if pitch * h < 0.45 * sample_rate and pitch * h < 7000:
            tone += w * np.sin(2 * np.pi * pitch * h * t + rng.uniform(0, 2 * np.pi))
    tone /= np.abs(tone).max() + 1e-12
    am = 0.55 + 0.45 * np.sin(2 * np.pi * am_rate * t + rng.uniform(0, 2 * np.pi))
    out = np.empty((channels, n))
    for c in range(channels):  # channels share the tone, each gets its own noise (decorrelated, like binaural)
        band = _band_noise(rng, n, sample_rate, centre)
        mix = am * (sig.tone_share * tone + (1.0 - sig.tone_share) * band)
        bg = rng.standard_normal(n)  # broadband (white) background
        snr_db = rng.uniform(12, 30)
        out[c] = mix / (np.std(mix) + 1e-12) + bg / (np.std(bg) + 1e-12) * 10 ** (-snr_db / 20)
    env = np.ones(n)
    if event:
        onset = int(rng.uniform(0.0, min(0.5, seconds / 4)) * sample_rate)
        ramp = max(1, int(0.02 * sample_rate))
        env[:onset] = 0.0
        env[onset:onset + ramp] = np.linspace(0, 1, len(env[onset:onset + ramp]))
    if silence_tail:
        stop = int(rng.uniform(min(1.2, 0.5 * seconds), 0.8 * seconds) * sample_rate)
        ramp = max(1, int(0.05 * sample_rate))
        env[max(0, stop - ramp):stop] *= np.linspace(1, 0, len(env[max(0, stop - ramp):stop]))
        env[stop:] = 0.0
    out *= env
    level_db = rng.uniform(-18, -6)  # peak level, -6 dB jitter either side of -12 dBFS
    peak = np.abs(out).max()
    if peak > 0:
        out *= 10 ** (level_db / 20) / peak
    return out
