"""Frame operations of AugVGG: in-place (IP) and spatial (S) manipulations, and the video half of the time (T) ops.

Every op is a pair: ``draw_<op>(rng) -> params`` draws JSON-serialisable parameters (floats rounded to 4
decimals, so the recorded value IS the applied value; sizes and positions relative to the frame, so drawing
never needs the source) and ``<op>(frames, **params)`` applies them, a pure function of its inputs (noise comes
from a ``*_seed`` parameter). Frames are ``[T, H, W, 3]`` uint8 RGB numpy arrays in and out, same shape; work is
done in float32 on ``[t, 3, H, W]`` chunks with ``torchvision.transforms.v2.functional`` and rounded once at the
end. Ops that change the geometry resize back to ``H x W``.

======  =========  ====================================  ==============================================================
family  op         AugLy analogue                        parameters (ranges)
======  =========  ====================================  ==============================================================
IP      noise      augly.video.add_noise                 std 0.02-0.10 of full scale, i.i.d. per pixel, channel, frame
IP      blur       augly.video.blur                      Gaussian sigma 1-3 % of the shorter side (kernel 6 sigma + 1)
IP      pixelize   augly.video.pixelization              ratio 0.10-0.40: antialiased downscale, nearest upscale
IP      overlay    augly.video.overlay_emoji /           a generated smiley (diameter 25-50 % of the shorter side) or a
                   overlay_text                          box of 3-8 random 5x7 glyphs (height 12-30 %), uniform
                                                         position, opacity 0.5-1.0, random colours, static
S       crop       augly.video.crop                      keep 50-90 % of the area, aspect x 3/4..4/3, uniform position,
                                                         resized back (bilinear, antialiased)
S       pad        augly.video.pad                       borders 5-25 % of width / height on each side, random RGB
                                                         colour, resized back
S       rotate     augly.video.rotate                    +-10..45 degrees (sign random), expand=False, black corners
T       speed      augly.video.change_video_speed        :func:`change_speed` (factor drawn in ``generate``)
T       time_crop  augly.video.time_crop                 :func:`time_crop` (segment drawn in ``generate``)
======  =========  ====================================  ==============================================================
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

#: frames processed per chunk (bounds float32 memory: 32 x 3 x 360 x 640 x 4 B = 88 MB).
CHUNK = 32


def _r(x: float) -> float:
    return round(float(x), 4)


def _colour(rng: np.random.Generator) -> list[int]:
    return [int(v) for v in rng.integers(0, 256, 3)]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 31 - 1))


def _map_chunks(frames: np.ndarray, fn: Callable[[torch.Tensor, int], torch.Tensor]) -> np.ndarray:
    """Apply ``fn(x, first_index)`` to float32 ``[t, 3, H, W]`` chunks (0..255); returns uint8 ``[T, H, W, 3]``."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be [T, H, W, 3] uint8, got {frames.shape} {frames.dtype}")
    out = np.empty_like(frames)
    for i in range(0, frames.shape[0], CHUNK):
        x = torch.from_numpy(np.ascontiguousarray(frames[i:i + CHUNK])).permute(0, 3, 1, 2).float()
        y = fn(x, i)
        out[i:i + CHUNK] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


# ---- IP: in-place ------------------------------------------------------------------------------------------------
def draw_noise(rng: np.random.Generator) -> dict:
    return {"std": _r(rng.uniform(0.02, 0.10)), "noise_seed": _seed(rng)}


def noise(frames: np.ndarray, *, std: float, noise_seed: int) -> np.ndarray:
    """Additive Gaussian noise, ``std`` in units of full scale (255), independent per value."""
    gen = np.random.default_rng(noise_seed)

    def fn(x: torch.Tensor, _: int) -> torch.Tensor:
        return x + torch.from_numpy(gen.standard_normal(tuple(x.shape), dtype=np.float32)) * (255.0 * std)

    return _map_chunks(frames, fn)


def draw_blur(rng: np.random.Generator) -> dict:
    return {"sigma_frac": _r(rng.uniform(0.01, 0.03))}


def blur(frames: np.ndarray, *, sigma_frac: float) -> np.ndarray:
    """Gaussian blur with sigma = ``sigma_frac`` x the shorter side (px); kernel 2 ceil(3 sigma) + 1, at most
    the frame's size (reflect padding)."""
    h, w = frames.shape[1:3]
    sigma = max(0.1, sigma_frac * min(h, w))
    k = min(2 * math.ceil(3 * sigma) + 1, 2 * min(h, w) - 1)  # odd; reflect padding needs k // 2 < size
    return _map_chunks(frames, lambda x, _: TF.gaussian_blur(x, [k, k], [sigma, sigma]))


def draw_pixelize(rng: np.random.Generator) -> dict:
    return {"ratio": _r(rng.uniform(0.10, 0.40))}


def pixelize(frames: np.ndarray, *, ratio: float) -> np.ndarray:
    """Downscale by ``ratio`` (bilinear, antialiased), then upscale back with nearest neighbour (blocks)."""
    h, w = frames.shape[1:3]
    small = [max(1, round(h * ratio)), max(1, round(w * ratio))]

    def fn(x: torch.Tensor, _: int) -> torch.Tensor:
        y = TF.resize(x, small, interpolation=InterpolationMode.BILINEAR, antialias=True)
        return TF.resize(y, [h, w], interpolation=InterpolationMode.NEAREST_EXACT)

    return _map_chunks(frames, fn)


def draw_overlay(rng: np.random.Generator) -> dict:
    kind = str(rng.choice(["emoji", "text"]))
    if kind == "emoji":
        p = {"kind": kind, "size": _r(rng.uniform(0.25, 0.50)),
             "face": str(rng.choice(["smile", "frown", "surprised"])), "colour": _colour(rng)}
    else:
        p = {"kind": kind, "size": _r(rng.uniform(0.12, 0.30)), "n_chars": int(rng.integers(3, 9)),
             "colour": _colour(rng), "box_colour": _colour(rng), "glyph_seed": _seed(rng)}
    p.update(x=_r(rng.uniform(0, 1)), y=_r(rng.uniform(0, 1)), opacity=_r(rng.uniform(0.5, 1.0)))
    return p


def _emoji_patch(d: int, face: str, colour: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rgb ``[d, d, 3]`` float32, alpha ``[d, d]`` float32) of a smiley of diameter ``d`` px."""
    yy, xx = (np.mgrid[0:d, 0:d].astype(np.float32) + 0.5) / d  # 0..1
    r = np.hypot(xx - 0.5, yy - 0.5)
    alpha = (r <= 0.5).astype(np.float32)
    rgb = np.empty((d, d, 3), np.float32)
    rgb[:] = colour
    dark = np.zeros((d, d), bool)
    for ex in (0.34, 0.66):  # eyes
        dark |= ((xx - ex) / 0.07) ** 2 + ((yy - 0.36) / 0.10) ** 2 <= 1
    if face == "surprised":
        dark |= np.hypot(xx - 0.5, yy - 0.7) <= 0.11
    else:
        cy = 0.45 if face == "smile" else 0.95
        ring = np.abs(np.hypot(xx - 0.5, yy - cy) - 0.27) <= 0.045
        dark |= ring & ((yy > cy) if face == "smile" else (yy < cy)) & (r < 0.47)
    rgb[dark] = (30.0, 30.0, 30.0)
    rgb[(r > 0.46) & (r <= 0.5)] = (40.0, 40.0, 40.0)  # outline
    return rgb, alpha


def _text_patch(height: int, max_width: int, n_chars: int, colour: list[int], box_colour: list[int],
                glyph_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, alpha) of a filled box holding ``n_chars`` random 5x7 glyphs (as many as fit in ``max_width``)."""
    cell = max(1, (height - 2) // 8)  # px per glyph pixel; 1-cell margin above and below
    char_w = 6 * cell  # 5 columns + 1 gap
    n = max(1, min(n_chars, (max_width - 2 * cell) // max(1, char_w)))
    width = min(max_width, n * char_w + 2 * cell)
    rgb = np.empty((height, width, 3), np.float32)
    rgb[:] = box_colour
    bits = np.random.default_rng(glyph_seed).random((n, 7, 5)) < 0.5
    top = max(0, (height - 7 * cell) // 2)
    for j in range(n):
        glyph = np.kron(bits[j], np.ones((cell, cell), bool))
        gh, gw = glyph.shape
        x0 = cell + j * char_w
        region = rgb[top:top + gh, x0:x0 + gw]
        region[glyph[:region.shape[0], :region.shape[1]]] = colour
    return rgb, np.ones((height, width), np.float32)


def overlay(frames: np.ndarray, *, kind: str, size: float, x: float, y: float, opacity: float, colour: list[int],
            face: str = "smile", n_chars: int = 5, box_colour: list[int] | None = None,
            glyph_seed: int = 0) -> np.ndarray:
    """Paste a static generated emoji (diameter ``size`` x shorter side) or text box (height ``size`` x H) at
    relative position (``x``, ``y``) of the free space, blended with ``opacity``."""
    h, w = frames.shape[1:3]
    if kind == "emoji":
        d = max(4, min(h, w, round(size * min(h, w))))
        rgb, alpha = _emoji_patch(d, face, colour)
    elif kind == "text":
        rgb, alpha = _text_patch(max(4, min(h, round(size * h))), w, n_chars, colour, box_colour or [0, 0, 0],
                                 glyph_seed)
    else:
        raise ValueError(f"overlay kind must be 'emoji' or 'text', got {kind!r}")
    ph, pw = alpha.shape
    top, left = round(y * (h - ph)), round(x * (w - pw))
    a = torch.from_numpy(alpha * opacity)[None, None]  # [1, 1, ph, pw]
    patch = torch.from_numpy(rgb).permute(2, 0, 1)[None]  # [1, 3, ph, pw]

    def fn(t: torch.Tensor, _: int) -> torch.Tensor:
        region = t[:, :, top:top + ph, left:left + pw]
        t[:, :, top:top + ph, left:left + pw] = region * (1 - a) + patch * a
        return t

    return _map_chunks(frames, fn)


# ---- S: spatial --------------------------------------------------------------------------------------------------
def draw_crop(rng: np.random.Generator) -> dict:
    return {"area": _r(rng.uniform(0.5, 0.9)), "aspect": _r(math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))),
            "x": _r(rng.uniform(0, 1)), "y": _r(rng.uniform(0, 1))}


def crop_box(h: int, w: int, *, area: float, aspect: float, x: float, y: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) px of the crop keeping ``area`` of the frame, ``aspect`` times wider relative
    to the frame's own aspect, at relative position (``x``, ``y``) of the free space."""
    cw = min(w, max(1, round(w * math.sqrt(area * aspect))))
    ch = min(h, max(1, round(h * math.sqrt(area / aspect))))
    return round(y * (h - ch)), round(x * (w - cw)), ch, cw


def crop(frames: np.ndarray, *, area: float, aspect: float, x: float, y: float) -> np.ndarray:
    """Crop (:func:`crop_box`) and resize back to the source size (bilinear, antialiased)."""
    h, w = frames.shape[1:3]
    top, left, ch, cw = crop_box(h, w, area=area, aspect=aspect, x=x, y=y)
    return _map_chunks(frames, lambda t, _: TF.resized_crop(t, top, left, ch, cw, [h, w],
                                                            interpolation=InterpolationMode.BILINEAR, antialias=True))


def draw_pad(rng: np.random.Generator) -> dict:
    return {"w_factor": _r(rng.uniform(0.05, 0.25)), "h_factor": _r(rng.uniform(0.05, 0.25)), "colour": _colour(rng)}


def pad(frames: np.ndarray, *, w_factor: float, h_factor: float, colour: list[int]) -> np.ndarray:
    """Borders of ``w_factor`` x W left and right and ``h_factor`` x H top and bottom in ``colour``, then the
    padded frame is resized back to the source size (bilinear, antialiased)."""
    h, w = frames.shape[1:3]
    pw, ph = round(w * w_factor), round(h * h_factor)
    fill = torch.tensor(colour, dtype=torch.float32)[None, :, None, None]

    def fn(t: torch.Tensor, _: int) -> torch.Tensor:
        canvas = fill.expand(t.shape[0], 3, h + 2 * ph, w + 2 * pw).clone()
        canvas[:, :, ph:ph + h, pw:pw + w] = t
        return TF.resize(canvas, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=True)

    return _map_chunks(frames, fn)


def draw_rotate(rng: np.random.Generator) -> dict:
    return {"degrees": _r(float(rng.choice([-1.0, 1.0])) * rng.uniform(10, 45))}


def rotate(frames: np.ndarray, *, degrees: float) -> np.ndarray:
    """Rotate by ``degrees`` (counter-clockwise positive) about the centre, same size, black corners."""
    return _map_chunks(frames, lambda t, _: TF.rotate(t, degrees, interpolation=InterpolationMode.BILINEAR,
                                                      expand=False, fill=[0.0, 0.0, 0.0]))


# ---- T: the video half of the time ops ---------------------------------------------------------------------------
def speed_indices(n: int, p: int, q: int) -> np.ndarray:
    """Source frame shown by each output frame when playing ``n`` frames at speed ``p/q`` at the same frame rate:
    ``round(n q / p)`` (at least 1) outputs, output j shows frame ``round(j p / q)`` (ties up), clipped."""
    m = max(1, (2 * n * q + p) // (2 * p))
    j = np.arange(m, dtype=np.int64)
    return np.minimum((2 * j * p + q) // (2 * q), n - 1)


def change_speed(frames: np.ndarray, *, p: int, q: int) -> np.ndarray:
    """``frames`` played ``p/q`` times as fast at the same frame rate (nearest-frame resampling)."""
    return frames[speed_indices(frames.shape[0], p, q)]


def crop_segment(n: int, *, keep: float, offset: float) -> tuple[int, int]:
    """(first frame, frame count) of the contiguous ``keep`` share of ``n`` frames starting at relative
    ``offset`` of the free range."""
    m = min(n, max(1, round(keep * n)))
    return round(offset * (n - m)), m


def time_crop(frames: np.ndarray, *, start: int, count: int) -> np.ndarray:
    """Frames ``start .. start + count - 1``."""
    return frames[start:start + count]


#: name -> (family, draw, apply, AugLy analogue) of the IP and S frame ops.
VIDEO_OPS: dict[str, tuple[str, Callable[[np.random.Generator], dict], Callable[..., np.ndarray], str]] = {
    "noise": ("ip", draw_noise, noise, "augly.video.add_noise"),
    "blur": ("ip", draw_blur, blur, "augly.video.blur"),
    "pixelize": ("ip", draw_pixelize, pixelize, "augly.video.pixelization"),
    "overlay": ("ip", draw_overlay, overlay, "augly.video.overlay_emoji / augly.video.overlay_text"),
    "crop": ("s", draw_crop, crop, "augly.video.crop"),
    "pad": ("s", draw_pad, pad, "augly.video.pad"),
    "rotate": ("s", draw_rotate, rotate, "augly.video.rotate"),
}


def names(family: str) -> list[str]:
    """The frame ops of ``family`` ("ip" or "s"), in their fixed drawing order."""
    return [k for k, v in VIDEO_OPS.items() if v[0] == family]
