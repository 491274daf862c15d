"""Reproducible video encoding: what makes x264 give the same bytes for the same frames (used by the fixture writers
and the AugVGG query generator)."""
from __future__ import annotations

import platform

import av
import numpy as np

__all__ = ["video_codec", "x264_cpu_flags", "x264_options", "rgb_to_yuv420p"]


def video_codec() -> str:
    """"libx264" when PyAV's FFmpeg has it, else "mpeg4"."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # UnknownCodecError and friends
        return "mpeg4"


def x264_cpu_flags() -> str:
    """x264's ``asm`` setting: the x86-64 baseline (MMX2, SSE, SSE2) on x86-64, else 0 (C code).

    x264's AVX-512 routines read memory they do not own: with them, the same frames encoded after other work in
    the same process gave different bytes (x264 in PyAV 18's FFmpeg, Xeon with AVX-512). The baseline set is
    present on every x86-64 CPU, encodes at about 90 % of the full speed, and gave the same bytes as x264's C code;
    AVX2 gave other (deterministic) bytes, so a per-CPU choice would make outputs differ between machines."""
    return "MMX2,SSE,SSE2" if platform.machine().lower() in ("x86_64", "amd64") else "0"


def x264_options(crf: int | str, preset: str = "veryfast", extra: str = "") -> dict[str, str]:
    """libx264 options that give the same bytes for the same frames: one thread and fixed CPU flags
    (:func:`x264_cpu_flags`); ``extra``: more ``x264-params`` (``key=value:...``)."""
    params = ":".join(p for p in (extra, f"asm={x264_cpu_flags()}") if p)
    return {"preset": preset, "crf": str(crf), "threads": "1", "x264-params": params}


def rgb_to_yuv420p(img: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB (H, W even) -> ``[3H/2, W]`` uint8 planar YUV 4:2:0 (Y, then U, then V, flattened),
    BT.601 limited range with the usual integer coefficients, chroma the rounded mean of each 2x2 block.

    Done here in integer arithmetic (exact and identical on every machine) rather than by swscale inside the
    encoder, whose output depends on its SIMD paths."""
    h, w = img.shape[:2]
    r, g, b = (img[..., i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128

    def half(c: np.ndarray) -> np.ndarray:
        return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2] + 2) >> 2

    flat = np.concatenate([y.ravel(), half(u).ravel(), half(v).ravel()])
    return flat.clip(0, 255).astype(np.uint8).reshape(h * 3 // 2, w)
