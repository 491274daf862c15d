"""Encoding an AugVGG query reproducibly: H.264 (one thread, fixed GOP, fixed CPU flags) fed YUV 4:2:0 converted
in integer arithmetic, and AAC, in MP4 (:func:`encode_query`); :func:`sha256_file` for the manifest."""
from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from avbench.media.encode import rgb_to_yuv420p, video_codec, x264_cpu_flags, x264_options  # noqa: F401

#: seconds between keyframes (fixed GOP).
GOP_SECONDS = 2
AUDIO_BIT_RATE = 64000


def video_options(codec: str, gop: int | str) -> dict[str, str]:
    """Encoder options: one thread, a fixed GOP of ``gop`` frames (:data:`GOP_SECONDS` at the source rate; no
    scene-cut keyframes) and fixed CPU flags (:func:`x264_cpu_flags`) for determinism; libx264 at CRF 23,
    preset veryfast."""
    if codec == "libx264":
        return x264_options(23, extra=f"keyint={gop}:min-keyint={gop}:scenecut=0")
    return {"g": str(gop), "threads": "1"}


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
