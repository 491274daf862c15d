"""Decoding an AugVGG source video whole: every frame on a constant-rate timeline and the audio, mono at
:data:`SAMPLE_RATE` (:func:`decode_source`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from avbench.media.audio_decode import load_audio
from avbench.media.container import demux_tolerant, open_container
from avbench.media.errors import MediaError
from avbench.media.video_decode import target_timeline

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Source:
    """A decoded source video: ``frames`` ``[T, H, W, 3]`` uint8 RGB at constant ``fps`` (H, W even), ``wave``
    ``[N]`` float32 mono at :data:`SAMPLE_RATE`; ``notes``: damage worked around."""

    frames: np.ndarray
    fps: Fraction
    wave: torch.Tensor
    notes: tuple[str, ...] = ()


def decode_source(path: str | os.PathLike[str]) -> Source:
    """Decode every frame and the audio of ``path`` (raises MediaError for unusable files, including files
    without an audio stream: every query has both streams). Holds the whole clip in memory (a 10-s 640x360
    30-fps clip: ~210 MB of frames)."""
    p = Path(path)
    notes: list[str] = []
    images: list[np.ndarray] = []
    times: list[float | None] = []
    with open_container(p) as container:
        if not container.streams.video:
            raise MediaError(p, "no video stream")
        if not container.streams.audio:
            raise MediaError(p, "no audio stream (video-only file)")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = Fraction(rate).limit_denominator(1001) if rate and 1 <= float(rate) <= 240 else Fraction(25)
        if not rate:
            notes.append("no frame rate in the header: 25 fps assumed")
        dropped, cc = 0, stream.codec_context
        for packet in [*demux_tolerant(container, stream, notes), None]:  # None flushes the decoder's last frames
            try:
                decoded = cc.decode(packet)
            except av.error.FFmpegError:
                dropped += 1
                continue
            for frame in decoded:
                images.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.pts * stream.time_base) if frame.pts is not None and stream.time_base else None)
        if dropped:
            notes.append(f"{dropped} undecodable video packet(s) dropped")
    if not images:
        raise MediaError(p, "no decodable video frames" + (f"; {'; '.join(notes)}" if notes else ""))
    if len({im.shape for im in images}) > 1:
        raise MediaError(p, "frame size changes mid-stream")
    h, w = images[0].shape[:2]
    if h < 2 or w < 2:
        raise MediaError(p, f"frames of {w}x{h} are too small to encode")
    if any(t is None for t in times):
        stamps = np.arange(len(images)) / float(fps)
    else:
        stamps = np.asarray(times, dtype=np.float64)
        order = np.argsort(stamps, kind="stable")
        images, stamps = [images[i] for i in order], stamps[order]
        stamps = stamps - stamps[0]
    index = target_timeline(stamps, float(fps))
    frames = np.stack([images[i][: h - h % 2, : w - w % 2] for i in index])
    wave = load_audio(p, SAMPLE_RATE).wave
    return Source(frames, fps, wave, tuple(notes))
