"""Views of the identity world drawn on the accelerator from a clip pool held in its memory (issue 20, item 5).

The CPU path renders a fresh clip per sample and cuts views in DataLoader workers (:mod:`avbench.pretrain.views`);
on a GPU that path is data-bound. Here a pool of rendered clips lives on the device (frames ``[P, N, S, S, 3]``
uint8, audio ``[P, M]`` float16) and every batch is cut, augmented and turned into log-mel there, with one set of
random parameters PER SAMPLE (a batched affine grid for the crops, per-sample jitter factors), so a batch never
shares augmentation parameters. The view geometry is each method's ``world`` preset on the CPU:

* crisscross: two audio-visual views in adjacent scenes (relaxation ``medium``); each view's video is the first
  ``frames`` frames of its scene and its audio the whole 1-s scene (as :meth:`CrissCrossViews.scene_starts` with
  1-s audio views); supervised: view 1 only, in a random scene, with the clip's label;
* avcl: two adjacent scenes (the CPU path's 2-scene clip); a clip of ``frames`` frames at the start of one of
  them and the native log-mel of both (``native_mel``), resampled to the encoder's rate;
* temporal-ssl: views r and s in two different scenes, each with its own speed and direction, the audio of the
  same span sped up by resampling and reversed with the video; speed, direction and order labels.

Augmentation as the ``world`` preset (:mod:`avbench.pretrain.world_preset`): random resized crop (area 0.4-1, aspect
3/4-4/3), horizontal flip, brightness / contrast / saturation jitter 0.4; volume jitter 0.2 and two time masks of up
to 19 frames (filled with the clip's mean). Shapes: pool frames ``[P, N, S, S, 3]`` uint8 at ``fps`` Hz, audio
``[P, M]`` at ``sample_rate`` Hz; views ``[B, 3, T, S, S]`` float and ``[B, 1, F, T']`` float.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avbench.media.logmel import LogMelConfig, LogMelFrontend


@dataclass
class ClipPool:
    """Rendered clips on one device: ``frames`` ``[P, N, S, S, 3]`` uint8, ``audio`` ``[P, M]`` float16, ``labels``
    ``[P]`` int64; ``scenes`` scenes of ``frames_per_scene`` frames and ``samples_per_scene`` samples each."""

    frames: torch.Tensor
    audio: torch.Tensor
    labels: torch.Tensor
    fps: float
    sample_rate: int
    scenes: int

    @property
    def frames_per_scene(self) -> int:
        return self.frames.shape[1] // self.scenes

    @property
    def samples_per_scene(self) -> int:
        return self.audio.shape[1] // self.scenes


def _u(gen: torch.Generator, n: int, lo: float, hi: float, device: torch.device) -> torch.Tensor:
    return (lo + (hi - lo) * torch.rand(n, generator=gen, device=gen.device)).to(device)


def video_batch(pool: ClipPool, clip: torch.Tensor, first: torch.Tensor, frames: int, gen: torch.Generator, *,
                mean: tuple[float, float, float], std: tuple[float, float, float], stride: torch.Tensor | None = None,
                reverse: torch.Tensor | None = None, augment: bool = True) -> torch.Tensor:
    """Frames ``first + stride * t`` (``t < frames``, reversed where ``reverse``) of pool clips ``clip`` ->
    ``[B, 3, frames, S, S]`` float normalised, each sample with its own crop, flip and colour jitter."""
    dev = pool.frames.device
    b, s = clip.numel(), pool.frames.shape[2]
    t = torch.arange(frames, device=dev)[None]
    st = torch.ones_like(first) if stride is None else stride
    idx = first[:, None] + st[:, None] * t
    if reverse is not None:
        idx = torch.where(reverse[:, None], idx.flip(1), idx)
    x = pool.frames[clip[:, None], idx.clamp_max(pool.frames.shape[1] - 1)]  # [B, T, S, S, 3] uint8
    x = x.permute(0, 4, 1, 2, 3).float().div_(255.0)  # [B, 3, T, S, S]
    if augment:
        area = _u(gen, b, 0.4, 1.0, dev)
        logr = _u(gen, b, math.log(3 / 4), math.log(4 / 3), dev)
        w = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
        h = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
        cx = (1 - w) * (2 * _u(gen, b, 0, 1, dev) - 1)
        cy = (1 - h) * (2 * _u(gen, b, 0, 1, dev) - 1)
        flip = torch.where(_u(gen, b, 0, 1, dev) < 0.5, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta, (b, 3 * frames, s, s), align_corners=False)
        x = F.grid_sample(x.reshape(b, 3 * frames, s, s), grid, mode="bilinear", padding_mode="border",
                          align_corners=False).view(b, 3, frames, s, s)
        bright, contrast, sat = (_u(gen, b, 0.6, 1.4, dev).view(b, 1, 1, 1, 1) for _ in range(3))
        x = x * bright
        grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        x = (x - grey.mean((2, 3, 4), keepdim=True)) * contrast + grey.mean((2, 3, 4), keepdim=True)
        grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
        x = ((x - grey) * sat + grey).clamp_(0.0, 1.0)
    m = torch.tensor(mean, device=dev).view(1, 3, 1, 1, 1)
    sd = torch.tensor(std, device=dev).view(1, 3, 1, 1, 1)
    return (x - m) / sd


def audio_batch(pool: ClipPool, clip: torch.Tensor, first: torch.Tensor, samples: int) -> torch.Tensor:
    """``[B, samples]`` float32 waveforms from sample ``first`` of pool clips ``clip``."""
    idx = (first[:, None] + torch.arange(samples, device=first.device)[None]).clamp_max(pool.audio.shape[1] - 1)
    return pool.audio[clip[:, None], idx].float()


class AudioAugmenter:
    """Volume jitter (gain U(0.8, 1.2)) on the waveform, log-mel, then two time masks of width U{0..19} frames per
    sample filled with that sample's mean: ``[B, N]`` -> ``[B, 1, F, T]``."""

    def __init__(self, logmel: dict, device: torch.device, augment: bool = True) -> None:
        self.frontend = LogMelFrontend(LogMelConfig(**logmel)).to(device)
        self.augment = augment

    def __call__(self, wave: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, dev = wave.shape[0], wave.device
        if self.augment:
            wave = wave * _u(gen, b, 0.8, 1.2, dev)[:, None]
        x = self.frontend(wave)
        if self.augment:
            t = x.shape[-1]
            pos = torch.arange(t, device=dev)[None]
            mean = x.mean((1, 2, 3), keepdim=True)
            for _ in range(2):
                width = (torch.rand(b, generator=gen, device=gen.device) * 20).long().to(dev)
                start = (torch.rand(b, generator=gen, device=gen.device) * (t - width).clamp(min=1)).long().to(dev)
                mask = (pos >= start[:, None]) & (pos < (start + width)[:, None])  # [B, T]
                x = torch.where(mask[:, None, None, :], mean, x)
        return x


def _resample(wave: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    import torchaudio

    return wave if orig == new else torchaudio.functional.resample(wave, orig, new)


class GpuViews:
    """``(pool, clip indices [B], generator) -> batch dict`` for one method's ``world`` preset (module docstring)."""

    def __init__(self, method: str, model: torch.nn.Module, device: torch.device, augment: bool = True) -> None:
        self.method, self.cfg, self.arch = method, model.cfg, model.encoder.arch
        self.sample_rate = self.arch.logmel().sample_rate
        self.audio = AudioAugmenter(self.arch.audio, device, augment=augment and method in ("crisscross", "supervised"))
        self.augment = augment

    def _video(self, pool: ClipPool, clip: torch.Tensor, first: torch.Tensor, gen: torch.Generator,
               **kw: torch.Tensor) -> torch.Tensor:
        return video_batch(pool, clip, first, self.cfg.frames, gen, mean=self.arch.mean, std=self.arch.std,
                           augment=self.augment, **kw)

    def _scene_audio(self, pool: ClipPool, clip: torch.Tensor, scene: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = pool.samples_per_scene
        wave = _resample(audio_batch(pool, clip, scene * n, n), pool.sample_rate, self.sample_rate)
        return self.audio(wave, gen)

    def __call__(self, pool: ClipPool, clip: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        dev, b, k = clip.device, clip.numel(), pool.scenes
        fps_n = pool.frames_per_scene

        def rint(n: int) -> torch.Tensor:
            return (torch.rand(b, generator=gen, device=gen.device) * n).long().to(dev)

        if self.method in ("crisscross", "supervised"):
            s1 = rint(k - 1) if self.method == "crisscross" else rint(k)
            out = {"v1": self._video(pool, clip, s1 * fps_n, gen), "a1": self._scene_audio(pool, clip, s1, gen)}
            if self.method == "supervised":
                out["label"] = pool.labels[clip]
                return out
            out.update(v2=self._video(pool, clip, (s1 + 1) * fps_n, gen), a2=self._scene_audio(pool, clip, s1 + 1, gen))
            return out
        if self.method == "avcl":  # a 2-scene stretch as on the CPU; the clip in one scene, the mel of both
            s1 = rint(k - 1)
            n = pool.samples_per_scene
            wave = _resample(audio_batch(pool, clip, s1 * n, 2 * n), pool.sample_rate, self.sample_rate)
            return {"v": self._video(pool, clip, (s1 + rint(2)) * fps_n, gen), "a": self.audio.frontend(wave)}
        if self.method == "temporal-ssl":
            return self._temporal(pool, clip, gen, rint)
        raise ValueError(f"no GPU views for method {self.method!r}")

    def _temporal(self, pool: ClipPool, clip: torch.Tensor, gen: torch.Generator, rint) -> dict[str, torch.Tensor]:
        cfg, dev, k = self.cfg, clip.device, pool.scenes
        fps_n, sps = pool.frames_per_scene, pool.samples_per_scene
        r_scene = rint(k)
        s_scene = (r_scene + 1 + rint(k - 1)) % k
        speeds = torch.tensor(cfg.speeds, device=dev)
        out: dict[str, torch.Tensor] = {}
        speed_lbl, dir_lbl = [], []
        clip_s = cfg.frames / pool.fps
        for name, scene in (("r", r_scene), ("s", s_scene)):
            si = rint(len(cfg.speeds))
            speed, backward = speeds[si], rint(2) == 1
            span_frames = cfg.frames * speed
            room = (fps_n - span_frames).clamp(min=0)
            off = (torch.rand(clip.numel(), generator=gen, device=gen.device).to(dev) * (room + 1)).long()
            first = scene * fps_n + off
            out[f"v_{name}"] = self._video(pool, clip, first, gen, stride=speed, reverse=backward)
            n_out = int(round(clip_s * pool.sample_rate))
            waves = torch.zeros(clip.numel(), n_out, device=dev)
            for j, sp in enumerate(cfg.speeds):  # speed up each speed group by resampling
                sel = si == j
                if sel.any():
                    w = audio_batch(pool, clip[sel], (first[sel] * sps) // fps_n, n_out * sp)
                    waves[sel] = _resample(w, pool.sample_rate * sp, pool.sample_rate)[:, :n_out] if sp > 1 else w
            waves = torch.where(backward[:, None], waves.flip(1), waves)
            out[f"a_{name}"] = self.audio.frontend(_resample(waves, pool.sample_rate, self.sample_rate))
            speed_lbl.append(si)
            dir_lbl.append(backward.long())
        order = torch.where(r_scene < s_scene, 0, 2)  # different scenes never overlap: ordered or reversed
        out["speed"] = torch.stack(speed_lbl, 1)
        out["direction"] = torch.stack(dir_lbl, 1)
        out["order"] = order[:, None].expand(-1, 4).contiguous()
        return out
