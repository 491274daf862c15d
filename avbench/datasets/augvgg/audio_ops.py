"""Waveform operations of AugVGG: in-place (IP) and spatial (S) manipulations, and the audio half of the time (T) ops.

Same contract as :mod:`avbench.datasets.augvgg.video_ops`: ``draw_<op>(rng) -> params`` (JSON-serialisable, floats rounded
to 4 decimals, noise from ``*_seed`` parameters) and ``<op>(wave, sample_rate, **params) -> wave``. Waves are
``[N]`` float32 mono torch tensors in [-1, 1] (AugVGG works at 16 kHz); IP and S ops keep N and clamp to [-1, 1].
Built on ``torchaudio.functional`` and numpy.

======  ===========  ==================================  ============================================================
family  op           AugLy analogue                      parameters (ranges)
======  ===========  ==================================  ============================================================
IP      noise        augly.audio.add_background_noise    white Gaussian noise at SNR 5-20 dB (signal power; a silent
                                                         signal counts as -40 dBFS)
IP      clicks       augly.audio.clicks                  20-ms decaying 1-3 kHz tone bursts every 0.2-1.0 s,
                                                         peak 0.2-0.8, first at a random phase of the interval
S       pitch_shift  augly.audio.pitch_shift             +-2..6 semitones (sign random), duration kept: phase-vocoder
                                                         stretch + resample by a ratio p/q (q <= 48, < 5 cents off)
S       reverb       augly.audio.reverb                  convolution with exponentially decaying noise (RT60 0.2-1.0 s),
                                                         wet share 0.3-0.7, wet level matched to the dry RMS
S       filter       augly.audio.low_pass_filter /       one biquad: low-pass 300-2000 Hz or high-pass 500-3000 Hz,
                     augly.audio.high_pass_filter        Q 0.707 (torchaudio lowpass_biquad / highpass_biquad)
T       speed        augly.audio.speed                   :func:`change_speed`: resampled by p/q (pitch follows)
T       time_crop    augly.audio.clip                    :func:`time_crop`: samples of the kept video segment
======  ===========  ==================================  ============================================================
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable

import numpy as np
import torch
import torchaudio.functional as AF

#: silent inputs get noise / reverb levels as if the signal had this power (-40 dBFS).
SILENT_POWER = 1e-4
_N_FFT, _HOP = 512, 128


def _r(x: float) -> float:
    return round(float(x), 4)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 31 - 1))


def _check(wave: torch.Tensor) -> torch.Tensor:
    if wave.ndim != 1 or wave.dtype != torch.float32:
        raise ValueError(f"wave must be [N] float32, got {tuple(wave.shape)} {wave.dtype}")
    return wave


def _power(wave: torch.Tensor) -> float:
    p = float(wave.double().pow(2).mean()) if wave.numel() else 0.0
    return p if p > 1e-10 else SILENT_POWER


# ---- IP: in-place ------------------------------------------------------------------------------------------------
def draw_noise(rng: np.random.Generator) -> dict:
    return {"snr_db": _r(rng.uniform(5.0, 20.0)), "noise_seed": _seed(rng)}


def noise(wave: torch.Tensor, sample_rate: int, *, snr_db: float, noise_seed: int) -> torch.Tensor:
    """Add white Gaussian noise ``snr_db`` below the signal's mean power."""
    _check(wave)
    n = torch.from_numpy(np.random.default_rng(noise_seed).standard_normal(wave.numel(), dtype=np.float32))
    return (wave + n * math.sqrt(_power(wave) / 10 ** (snr_db / 10))).clamp(-1.0, 1.0)


def draw_clicks(rng: np.random.Generator) -> dict:
    interval = _r(rng.uniform(0.2, 1.0))
    return {"interval_s": interval, "first_s": _r(rng.uniform(0, interval)), "amplitude": _r(rng.uniform(0.2, 0.8)),
            "click_hz": _r(rng.uniform(1000.0, 3000.0))}


def clicks(wave: torch.Tensor, sample_rate: int, *, interval_s: float, first_s: float, amplitude: float,
           click_hz: float) -> torch.Tensor:
    """Add a click (20 ms of a ``click_hz`` tone with a 4-ms exponential decay, peak ``amplitude``) at
    ``first_s + k interval_s`` seconds."""
    _check(wave)
    t = np.arange(int(0.020 * sample_rate)) / sample_rate
    click = torch.from_numpy((amplitude * np.sin(2 * np.pi * click_hz * t) * np.exp(-t / 0.004)).astype(np.float32))
    out = wave.clone()
    n, k = wave.numel(), 0
    while (start := round((first_s + k * interval_s) * sample_rate)) < n:
        end = min(n, start + click.numel())
        out[start:end] += click[:end - start]
        k += 1
    return out.clamp(-1.0, 1.0)


# ---- S: spatial --------------------------------------------------------------------------------------------------
def draw_pitch_shift(rng: np.random.Generator) -> dict:
    steps = float(rng.choice([-1.0, 1.0])) * rng.uniform(2.0, 6.0)
    ratio = Fraction(2 ** (steps / 12)).limit_denominator(48)
    return {"semitones": _r(12 * math.log2(ratio)), "ratio": f"{ratio.numerator}/{ratio.denominator}"}


def _fit(wave: torch.Tensor, n: int) -> torch.Tensor:
    """``wave`` cut or zero-padded to ``n`` samples."""
    return wave[:n] if wave.numel() >= n else torch.nn.functional.pad(wave, (0, n - wave.numel()))


def pitch_shift(wave: torch.Tensor, sample_rate: int, *, semitones: float, ratio: str) -> torch.Tensor:
    """Shift the pitch by the frequency ratio ``p/q`` (``semitones`` = 12 log2(p/q), recorded) keeping the duration:
    stretch ``p/q`` times longer with ``torchaudio.functional.phase_vocoder`` (STFT 512 / hop 128, Hann), then
    resample by ``q/p`` (``torchaudio.functional.resample``, cheap because p and q are small) and fit to N.
    (``torchaudio.functional.pitch_shift`` resamples by an irrational ratio and takes ~20 s per 10-s clip.)"""
    _check(wave)
    p, q = (int(v) for v in ratio.split("/"))
    n = wave.numel()
    window = torch.hann_window(_N_FFT)
    spec = torch.stft(wave, _N_FFT, _HOP, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * _HOP, spec.shape[-2])[..., None]
    stretched = AF.phase_vocoder(spec, q / p, advance)
    longer = torch.istft(stretched, _N_FFT, _HOP, window=window, length=round(n * p / q))
    return _fit(AF.resample(longer, p, q), n).clamp(-1.0, 1.0).contiguous()


def draw_reverb(rng: np.random.Generator) -> dict:
    return {"rt60_s": _r(rng.uniform(0.2, 1.0)), "wet": _r(rng.uniform(0.3, 0.7)), "ir_seed": _seed(rng)}


def reverb(wave: torch.Tensor, sample_rate: int, *, rt60_s: float, wet: float, ir_seed: int) -> torch.Tensor:
    """Mix ``(1 - wet) dry + wet reverberant``; the reverberant signal is ``wave`` convolved
    (``torchaudio.functional.fftconvolve``) with white noise under an exp(-6.91 t / RT60) envelope (-60 dB at
    ``rt60_s``), ``rt60_s`` long, scaled to the dry RMS."""
    _check(wave)
    t = np.arange(max(1, round(rt60_s * sample_rate))) / sample_rate
    ir = np.random.default_rng(ir_seed).standard_normal(t.size) * np.exp(-math.log(1000.0) * t / rt60_s)
    ir[0] = 1.0  # the direct sound
    wet_sig = AF.fftconvolve(wave, torch.from_numpy(ir.astype(np.float32)))[: wave.numel()]
    wet_sig = wet_sig * math.sqrt(_power(wave) / _power(wet_sig))
    return ((1 - wet) * wave + wet * wet_sig).clamp(-1.0, 1.0)


def draw_filter(rng: np.random.Generator) -> dict:
    kind = str(rng.choice(["lowpass", "highpass"]))
    cutoff = rng.uniform(300.0, 2000.0) if kind == "lowpass" else rng.uniform(500.0, 3000.0)
    return {"kind": kind, "cutoff_hz": _r(cutoff), "q": 0.707}


def filter_(wave: torch.Tensor, sample_rate: int, *, kind: str, cutoff_hz: float, q: float) -> torch.Tensor:
    """One low- or high-pass biquad (``torchaudio.functional.lowpass_biquad`` / ``highpass_biquad``)."""
    _check(wave)
    if kind == "lowpass":
        return AF.lowpass_biquad(wave, sample_rate, cutoff_hz, q)
    if kind == "highpass":
        return AF.highpass_biquad(wave, sample_rate, cutoff_hz, q)
    raise ValueError(f"filter kind must be 'lowpass' or 'highpass', got {kind!r}")


# ---- T: the audio half of the time ops ---------------------------------------------------------------------------
def change_speed(wave: torch.Tensor, *, p: int, q: int) -> torch.Tensor:
    """``wave`` played ``p/q`` times as fast at the same sample rate: ``resample(orig=p, new=q)``, so N becomes
    ``ceil(N q / p)`` and the pitch moves by ``p/q`` (a tape-speed change)."""
    _check(wave)
    if p == q:
        return wave.clone()
    return AF.resample(wave, p, q).clamp(-1.0, 1.0).contiguous()


def time_crop(wave: torch.Tensor, sample_rate: int, *, start_s: float, seconds: float) -> torch.Tensor:
    """Samples ``round(start_s sr) .. round((start_s + seconds) sr) - 1`` (fewer where the wave ends)."""
    _check(wave)
    return wave[round(start_s * sample_rate):round((start_s + seconds) * sample_rate)].clone()


#: name -> (family, draw, apply, AugLy analogue) of the IP and S waveform ops.
AUDIO_OPS: dict[str, tuple[str, Callable[[np.random.Generator], dict], Callable[..., torch.Tensor], str]] = {
    "noise": ("ip", draw_noise, noise, "augly.audio.add_background_noise"),
    "clicks": ("ip", draw_clicks, clicks, "augly.audio.clicks"),
    "pitch_shift": ("s", draw_pitch_shift, pitch_shift, "augly.audio.pitch_shift"),
    "reverb": ("s", draw_reverb, reverb, "augly.audio.reverb"),
    "filter": ("s", draw_filter, filter_, "augly.audio.low_pass_filter / augly.audio.high_pass_filter"),
}


def names(family: str) -> list[str]:
    """The waveform ops of ``family`` ("ip" or "s"), in their fixed drawing order."""
    return [k for k, v in AUDIO_OPS.items() if v[0] == family]
