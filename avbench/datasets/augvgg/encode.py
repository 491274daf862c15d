"""Encoding an AugVGG query reproducibly: H.264 (one thread, fixed GOP, fixed CPU flags) fed YUV 4:2:0 converted
in integer arithmetic, and AAC, in MP4 (:func:`encode_query`); :func:`sha256_file` for the manifest."""
from __future__ import annotations

import hashlib
import platform
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

#: seconds between keyframes (fixed GOP).
GOP_SECONDS = 2
AUDIO_BIT_RATE = 64000


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


def video_options(codec: str, gop: int | str) -> dict[str, str]:
    """Encoder options: one thread, a fixed GOP of ``gop`` frames (:data:`GOP_SECONDS` at the source rate; no
    scene-cut keyframes) and fixed CPU flags (:func:`x264_cpu_flags`) for determinism; libx264 at CRF 23,
    preset veryfast."""
    if codec == "libx264":
        return {"preset": "veryfast", "crf": "23", "threads": "1",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:asm={x264_cpu_flags()}"}
    return {"g": str(gop), "threads": "1"}


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


def encode_query(path: Path, frames: np.ndarray, fps: Fraction, wave: torch.Tensor, sample_rate: int, *,
                 title: str) -> None:
    """Write ``frames`` ``[T, H, W, 3]`` uint8 at ``fps`` and ``wave`` ``[N]`` float32 (mono, ``sample_rate``) to
    ``path`` as MP4 (H.264 + AAC; :func:`video_options`), with ``title`` as the only metadata."""
    codec = video_codec()
    t, h, w = frames.shape[:3]
    with av.open(str(path), mode="w", format="mp4") as c:
        c.metadata["title"] = title
        vs = c.add_stream(codec, rate=fps, options=video_options(codec, max(1, round(GOP_SECONDS * float(fps)))))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.thread_count = 1
        vs.time_base = 1 / fps
        as_ = c.add_stream("aac", rate=sample_rate, layout="mono")
        as_.bit_rate = AUDIO_BIT_RATE
        as_.codec_context.thread_count = 1
        tb = 1 / fps
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frames[i]), format="yuv420p")
            frame.pts, frame.time_base = i, tb
            c.mux(vs.encode(frame))
        c.mux(vs.encode(None))
        data = wave.detach().to(torch.float32).clamp(-1, 1).numpy()[None]
        for start in range(0, data.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start:start + 1024]), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts, af.time_base = sample_rate, start, Fraction(1, sample_rate)
            c.mux(as_.encode(af))
        c.mux(as_.encode(None))


def sha256_file(path: Path) -> str:
    """The sha256 (hex) of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
