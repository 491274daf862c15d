"""Cutting and augmenting pretraining views from one decoded video (runs in DataLoader workers, on CPU).

A decoded sample is a frame timeline ``[N, H, W, 3]`` uint8 at ``fps`` Hz and a waveform ``[M]`` float32 at
``sample_rate`` Hz starting at the same instant. Views are cut by START TIME (seconds), so a video view and an
audio view with the same start show the same moment. Everything random is drawn from the ``torch.Generator``
handed in (derived from (seed, epoch, sample index)), never from the global RNG, so a view does not depend on
the worker count, the batch or the rank.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from avbench.media.audio_augment import AudioAugmentConfig, augment_spectrogram, augment_waveform
from avbench.media.logmel import LogMelFrontend
from avbench.media.video_augment import VideoAugmentConfig, apply_cutout, draw_clip_params, transform_clip


@dataclass(frozen=True)
class Decoded:
    """One source video: ``frames`` ``[N, H, W, 3]`` uint8 at ``fps`` Hz; ``wave`` ``[M]`` float32 at ``sample_rate``.

    ``segments``: the scenes of a source with scene cuts, ``((start, end), ...)`` in seconds (the identity world,
    :mod:`avbench.synth.identity_world`); empty for an ordinary video. Samplers that find scenes place each view
    inside one scene (:func:`window_in_scene`) and the views of an intra-modal or asynchronous pair in different
    scenes (:func:`pick_scenes`)."""

    frames: torch.Tensor
    fps: float
    wave: torch.Tensor
    sample_rate: int
    segments: tuple[tuple[float, float], ...] = ()

    @property
    def seconds(self) -> float:
        """Length of the shorter stream (s): views are cut where both modalities exist."""
        return min(self.frames.shape[0] / self.fps, self.wave.numel() / self.sample_rate)


def uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    """One draw from U(lo, hi) using ``gen`` only."""
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def randint(gen: torch.Generator, n: int) -> int:
    """One draw from {0, ..., n-1} using ``gen`` only."""
    return int(torch.randint(n, (), generator=gen))


def pick_scenes(n: int, mode: str, gen: torch.Generator) -> tuple[int, int]:
    """Scene indices of two views in a source of ``n >= 2`` scenes: ``"same"`` one scene for both; ``"adjacent"``
    scenes ``i`` and ``i + 1``; ``"halves"`` one scene from each half (the first ``n // 2`` scenes, the rest);
    ``"distinct"`` two different scenes drawn uniformly. Draws from ``gen`` only."""
    if n < 1 or (n < 2 and mode != "same"):
        raise ValueError(f"pick_scenes: {mode!r} needs at least {1 if mode == 'same' else 2} scenes, got {n}")
    if mode == "same":
        i = randint(gen, n)
        return i, i
    if mode == "adjacent":
        i = randint(gen, n - 1)
        return i, i + 1
    if mode == "halves":
        half = n // 2
        return randint(gen, half), half + randint(gen, n - half)
    if mode == "distinct":
        i = randint(gen, n)
        return i, (i + 1 + randint(gen, n - 1)) % n
    raise ValueError(f"pick_scenes: unknown mode {mode!r}; known: same, adjacent, halves, distinct")


def window_in_scene(d: Decoded, scene: int, seconds: float, gen: torch.Generator) -> float:
    """Start (s) of a window of ``seconds`` s drawn uniformly so that it lies inside scene ``scene`` of ``d`` (at the
    scene's start when the window is longer than the scene). Half a frame of margin at the end keeps
    :func:`cut_frames`'s rounding to the nearest frame inside the scene. One draw from ``gen``."""
    start, end = d.segments[scene]
    return start + uniform(gen, 0.0, max(0.0, end - start - seconds - 0.5 / d.fps))


def cut_frames(d: Decoded, start_s: float, n_frames: int, stride: int = 1, reverse: bool = False) -> torch.Tensor:
    """``[n_frames, H, W, 3]`` uint8: every ``stride``-th frame from ``start_s`` (cyclic past the end), optionally
    in reverse order (played backwards). ``stride`` k plays the video at k x speed."""
    n = d.frames.shape[0]
    first = int(round(start_s * d.fps))
    idx = (first + stride * torch.arange(n_frames)) % n
    if reverse:
        idx = idx.flip(0)
    return d.frames[idx]


def cut_wave(d: Decoded, start_s: float, seconds: float) -> torch.Tensor:
    """``[round(seconds * sample_rate)]`` float32 from ``start_s``; zero-padded past the end of the stream."""
    n = int(round(seconds * d.sample_rate))
    first = int(round(start_s * d.sample_rate))
    out = d.wave[first:first + n]
    if out.numel() < n:
        out = torch.cat([out, out.new_zeros(n - out.numel())])
    return out


def video_view(frames: torch.Tensor, cfg: VideoAugmentConfig | None, size: int, gen: torch.Generator,
               mean: tuple[float, float, float], std: tuple[float, float, float]) -> torch.Tensor:
    """Augment one clip ``[T, H, W, 3]`` uint8 with Table S1 parameters drawn from ``gen`` (the same on every frame),
    normalise with ``mean``/``std`` and apply cutout -> ``[3, T, size, size]`` float32."""
    params = draw_clip_params(cfg, gen, frames.shape[1], frames.shape[2], size)
    x = transform_clip(frames, params, size).float().div_(255.0)
    m = torch.tensor(mean).view(3, 1, 1, 1)
    s = torch.tensor(std).view(3, 1, 1, 1)
    x = ((x - m) / s).unsqueeze(0)
    if cfg is not None and cfg.cutout > 0:
        x = apply_cutout(x, [params], cfg.cutout_fill)
    return x[0]


def audio_view(wave: torch.Tensor, frontend: LogMelFrontend, cfg: AudioAugmentConfig | None,
               gen: torch.Generator) -> torch.Tensor:
    """Waveform ``[N]`` -> (volume jitter) -> log-mel -> (SpecAugment masks, random resize crop) -> ``[1, F, T]``."""
    w = wave[None].float()
    if cfg is not None:
        w = augment_waveform(w, cfg, [gen])
    spec = frontend(w)  # [1, 1, F, T]
    if cfg is not None:
        spec = augment_spectrogram(spec, cfg, [gen])
    return spec[0]
