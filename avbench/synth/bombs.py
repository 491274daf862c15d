"""Decoding bombs for the fault corpus (:mod:`avbench.synth.corrupt`): small files whose declared or decoded
parameters would make an unbounded decoder allocate gigabytes. Each is real media written with PyAV (or a RIFF
header written by hand where the point is a header FFmpeg accepts but no encoder would write):

==================  ============================================================================================
``wav_1hz``         a 20 KB 16-bit PCM wav whose header declares a 1 Hz sample rate (resampling it to 16 kHz
                    would make 160 million samples of every second it claims)
``flac_3h``         a 3-hour silent FLAC (8 kHz mono, 2 MB): 86 million samples once decoded
``ts_jump``         a 4-frame 32x32 MPEG-4 video in Matroska (about 0.7 KB) whose third frame's timestamp jumps
                    10 million seconds ahead: a 16-fps timeline over it has 160 million entries
``frame_8k``        3 frames of 7680x4320 H.264 (about 100 KB): 100 MB per RGB frame
``float_1e300``     a 64-bit float wav (1 s, 16 kHz) whose samples are a tone scaled by 1e300: far outside
                    the [-1, 1] full scale of float PCM
==================  ============================================================================================

Every bomb must end as a named skip or a recorded repair (:data:`BOMB_OUTCOME`), within a bounded amount of
memory (tests/test_bombs.py).
"""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: the bombs, in the order :func:`write_bombs` writes them
BOMBS = ("wav_1hz", "flac_3h", "ts_jump", "frame_8k", "float_1e300")
#: what each bomb must become in a run: a substring of its skip reason, or of its repair note ("repair:" prefix)
BOMB_OUTCOME = {
    "wav_1hz": "sample rate 1 Hz outside",
    "flac_3h": "beyond max_seconds",
    "ts_jump": "beyond max_seconds",
    "frame_8k": "beyond max_pixels",
    "float_1e300": "repair:outside [-1, 1]",
}


def _wav_header(rate: int, channels: int, bits: int, n_bytes: int, fmt: int = 1) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", n_bytes))


def write_wav_1hz(path: Path) -> Path:
    """20 KB of 16-bit mono PCM noise under a header declaring 1 Hz (10 000 samples: 2.8 hours at 1 Hz)."""
    data = (np.random.default_rng(1).standard_normal(10_000) * 3000).astype("<i2").tobytes()
    path.write_bytes(_wav_header(1, 1, 16, len(data)) + data)
    return path


def write_float_wav(path: Path, scale: float = 1e300, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A 64-bit IEEE-float mono wav: a 440 Hz tone at amplitude 0.5 times ``scale``."""
    t = np.arange(int(seconds * rate)) / rate
    data = (0.5 * np.sin(2 * np.pi * 440 * t) * scale).astype("<f8").tobytes()
    path.write_bytes(_wav_header(rate, 1, 64, len(data), fmt=3) + data)
    return path


def write_silent_flac(path: Path, hours: float = 3.0, rate: int = 8000) -> Path:
    """``hours`` of digital silence in FLAC (FFmpeg's encoder; about 0.7 MB per hour at 8 kHz)."""
    total = int(hours * 3600 * rate)
    zeros = np.zeros((1, 65536), np.int16)
    with av.open(str(path), "w", format="flac") as c:
        s = c.add_stream("flac", rate=rate, layout="mono")
        for n in range(0, total, 65536):
            f = av.AudioFrame.from_ndarray(zeros[:, :min(65536, total - n)].copy(), format="s16", layout="mono")
            f.sample_rate, f.pts, f.time_base = rate, n, Fraction(1, rate)
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode(None):
            c.mux(pk)
    return path


def write_ts_jump(path: Path, jump_seconds: int = 10**7) -> Path:
    """Four 32x32 MPEG-4 frames at 25 fps in Matroska; frames 3 and 4 are stamped ``jump_seconds`` later."""
    with av.open(str(path), "w", format="matroska") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        img = np.full((32, 32, 3), 90, np.uint8)
        packets = []
        for i in range(4):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            packets += list(s.encode(f))
        packets += list(s.encode(None))
        for j, pk in enumerate(packets):
            if j >= 2:
                pk.pts += 25 * jump_seconds
                pk.dts += 25 * jump_seconds
            c.mux(pk)
    return path


def write_frame_8k(path: Path, frames: int = 3) -> Path:
    """``frames`` flat grey 7680x4320 frames in H.264 (x264 ultrafast), mp4."""
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25, options={"preset": "ultrafast", "threads": "1"})
        s.width, s.height, s.pix_fmt = 7680, 4320, "yuv420p"
        img = np.full((4320, 7680, 3), 90, np.uint8)
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode(None):
            c.mux(pk)
    return path


def write_bombs(out: Path) -> dict[str, Path]:
    """Write every bomb of :data:`BOMBS` under ``out`` (about 15 s on one core); returns name -> path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f = {"wav_1hz": write_wav_1hz(out / "wav_1hz.wav"), "flac_3h": write_silent_flac(out / "flac_3h.flac"),
         "ts_jump": write_ts_jump(out / "ts_jump.mkv"), "frame_8k": write_frame_8k(out / "frame_8k.mp4"),
         "float_1e300": write_float_wav(out / "float_1e300.wav")}
    assert tuple(f) == BOMBS
    return f
