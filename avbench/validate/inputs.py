"""Synthetic inputs and measurement helpers of :mod:`avbench.validate`.

Geometries (the durations, clip lengths and crops tried), synthetic batches (audio ``[B, N] float32``, video
``[B, 3, T, S, S] uint8``), files at other sample / frame rates written with PyAV and decoded by avbench's own
decoders at the encoder's declared rates, and the peak-memory probe of the timed run.
"""
from __future__ import annotations

import math
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.encoder import Encoder

AUDIO_SECONDS = (1.0, 2.5)  # besides the declared min and max
AUDIO_MAX_CAP = 10.0  # seconds: the "max" duration tried when the declared max is longer
VIDEO_SECONDS = (0.5, 1.0, 2.5)
VIDEO_SIZE = 112  # px: the second crop size tried (clamped to the declared range)
SOURCE_SAMPLE_RATES = (8000, 22050, 44100, 48000)  # Hz
SOURCE_FPS = ((10, 1), (25, 1), (30000, 1001), (50, 1))  # frames per second as fractions


@dataclass(frozen=True)
class Geometry:
    """One synthetic input shape: audio ``samples`` at ``rate`` Hz, or video ``frames`` x ``size``² at ``rate`` fps."""

    modality: str
    seconds: float
    rate: float
    samples: int = 0
    frames: int = 0
    size: int = 0

    @property
    def label(self) -> str:
        if self.modality == "audio":
            return f"{self.seconds:g} s at {self.rate:g} Hz ({self.samples} samples)"
        return f"{self.frames} frames x {self.size}² at {self.rate:g} fps ({self.seconds:.3g} s)"


def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _audio_geometry(spec: Any, seconds: float) -> Geometry:
    n = max(1, int(round(seconds * spec.sample_rate)))
    return Geometry("audio", n / spec.sample_rate, float(spec.sample_rate), samples=n)


def _video_geometry(spec: Any, frames: int, size: int) -> Geometry:
    return Geometry("video", frames / spec.fps, float(spec.fps), frames=frames, size=size)


def geometries(enc: Encoder, modality: str, video_size: int | None = None) -> tuple[list[Geometry], Geometry]:
    """(the sweep, the default geometry of the batch, determinism, rates and timing runs).

    The default is a 2-s audio clip, or the first frame count at ``video_size`` px (default: the smallest crop
    the sweep uses, to keep validation quick on a CPU; pass the task's crop, e.g. 224, for representative timing).
    """
    if modality == "audio":
        spec = enc.meta.audio
        lo, hi = spec.min_seconds, spec.max_seconds
        secs = sorted({round(_clamp(s, lo, hi), 6) for s in (lo, *AUDIO_SECONDS, min(hi, AUDIO_MAX_CAP))})
        return [_audio_geometry(spec, s) for s in secs], _audio_geometry(spec, _clamp(2.0, lo, hi))
    spec = enc.meta.video
    small = int(_clamp(max(spec.min_size, 32), spec.min_size, spec.max_size))
    mid = int(_clamp(VIDEO_SIZE, spec.min_size, spec.max_size))
    frames = list(spec.frames[:4]) if spec.frames else sorted({max(1, int(round(s * spec.fps))) for s in VIDEO_SECONDS})
    sweep = [_video_geometry(spec, f, small) for f in frames]
    if mid != small:
        sweep.append(_video_geometry(spec, frames[0], mid))
    size = small if video_size is None else int(video_size)
    return sweep, _video_geometry(spec, frames[0], size)


def synthetic_batch(geom: Geometry, batch: int, generator: torch.Generator) -> torch.Tensor:
    """Audio ``[B, N] float32`` (random sines + noise, peak 0.5) or video ``[B, 3, T, S, S] uint8`` (noise);
    every clip differs."""
    if geom.modality == "audio":
        t = torch.arange(geom.samples, dtype=torch.float64) / geom.rate
        freqs = 100.0 + torch.rand(batch, 3, 1, generator=generator, dtype=torch.float64) * 3000.0
        wave = torch.sin(2 * math.pi * freqs * t).sum(1) / 3.0
        wave = wave + 0.05 * torch.randn(batch, geom.samples, generator=generator, dtype=torch.float64)
        return (0.5 * wave / wave.abs().amax(1, keepdim=True).clamp_min(1e-9)).float()
    return torch.randint(0, 256, (batch, 3, geom.frames, geom.size, geom.size), generator=generator,
                         dtype=torch.uint8)


def decoded_rate_batch(modality: str, geom: Geometry, folder: Path) -> tuple[torch.Tensor, list[str]]:
    """Write files at other source rates into ``folder`` with PyAV and decode them with avbench's decoders at the
    encoder's rate (``geom.rate``), cut to ``geom``.

    Returns the decoded batch (audio ``[R, N]`` float32, video ``[R, 3, T, S, S]`` uint8) and problems found."""
    problems: list[str] = []
    if modality == "audio":
        from avbench.media.audio_decode import load_audio
        from avbench.synth.audio_fixtures import write_wav

        rows = []
        seconds = geom.samples / geom.rate + 0.25  # a little longer than the clip, as real files are
        for rate in SOURCE_SAMPLE_RATES:
            t = np.arange(int(round(seconds * rate))) / rate
            path = write_wav(folder / f"src_{rate}.wav", 0.4 * np.sin(2 * np.pi * 440.0 * t)[None], rate)
            wave = load_audio(path, int(geom.rate), strict=True).wave
            if abs(wave.numel() - seconds * geom.rate) > 2:
                problems.append(f"{rate} Hz file decoded to {wave.numel()} samples, expected {seconds * geom.rate:.0f}")
            rows.append(wave[: geom.samples])
        return torch.stack(rows), problems
    from fractions import Fraction

    from avbench.media.video_decode import decode_clips
    from avbench.synth.video_fixtures import VideoSpec, encode_video

    size = geom.size + geom.size % 2  # yuv420p needs even sides
    clips = []
    for num, den in SOURCE_FPS:
        fps = Fraction(num, den)
        seconds = geom.frames / geom.rate + 0.5
        n = int(math.ceil(seconds * float(fps)))
        times = np.arange(n) / float(fps)
        ramp = np.linspace(0, 255, size, dtype=np.float64)
        frames = np.stack([np.broadcast_to(((ramp[None, :, None] + 40 * i) % 256), (size, size, 3))
                           for i in range(n)]).astype(np.uint8)
        path = encode_video(folder / f"src_{num}_{den}.avi", frames, times,
                            VideoSpec("mpeg4", fps, seconds, size, size))
        got = decode_clips(path, fps=geom.rate, frames=geom.frames, clips=1)
        if got.frames.shape[1] != geom.frames or got.padded:
            problems.append(f"{float(fps):.4g} fps file gave {got.frames.shape[1]} frames (padded={got.padded}), "
                            f"expected {geom.frames}")
        clips.append(got.frames[0, :, :geom.size, :geom.size].permute(3, 0, 1, 2))
    return torch.stack(clips), problems


def _proc_status(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _malloc_trim() -> None:
    """glibc's ``malloc_trim(0)``; a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemoryProbe:
    """Peak memory of a block above its baseline: CUDA allocator, Linux peak RSS (reset first), or getrusage."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "none"
        self.base = 0

    def __enter__(self) -> "MemoryProbe":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base, self.method = torch.cuda.memory_allocated(self.device), "cuda max_memory_allocated"
            return self
        _malloc_trim()  # hand freed heap back to the OS, so the baseline is what is live
        try:  # writing 5 resets the kernel's peak-RSS counter (VmHWM); Linux >= 4.0
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            rss = _proc_status("VmRSS")
            if rss is not None:
                self.base, self.method = rss, "peak RSS (VmHWM reset)"
                return self
        except OSError:
            pass
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.base = int(kb if sys.platform == "darwin" else kb * 1024)
        self.method = "getrusage peak RSS delta (lower bound)"
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def peak(self) -> int | None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return int(torch.cuda.max_memory_allocated(self.device)) - self.base
        if self.method.startswith("peak RSS"):
            hwm = _proc_status("VmHWM")
            return None if hwm is None else max(0, hwm - self.base)
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, int(kb if sys.platform == "darwin" else kb * 1024) - self.base)
