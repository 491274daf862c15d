"""The fixture videos' content and encoding: the class signal (:func:`visual_signature`, :func:`render_frames`:
``[T, H, W, 3]`` uint8 frames of an oriented drifting grating and a moving blob), :class:`VideoSpec` and
:func:`encode_video` (PyAV), and :func:`write_class_video` (one video of a class, with its sound when the spec
has audio). Shared by the data set writers of :mod:`avbench.synth.video_fixtures`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avbench.media.encode import x264_options
from avbench.synth.signals import class_signature, render


# ---- the class signal ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VisualSignature:
    """What makes class ``k`` recognisable in a fixture video.

    orientation_deg: direction (degrees, 0..90) along which the grating varies; a horizontal flip maps it to
      180 - orientation, which no class uses. cycles_per_width: grating spatial frequency (cycles per frame
      width). drift_hz: grating drift (cycles per second). blob_direction_deg: direction of the blob's motion
      (degrees, image coordinates, y down). blob_speed: frame widths per second.
    """

    orientation_deg: float
    cycles_per_width: float
    drift_hz: float
    blob_direction_deg: float
    blob_speed: float


def visual_signature(k: int, n: int) -> VisualSignature:
    """Signature of class ``k`` of ``n``: attributes spread over their ranges with different strides."""
    if not 0 <= k < n:
        raise ValueError(f"class index {k} outside 0..{n - 1}")

    def spread(stride: int) -> float:  # a permutation of 0..n-1 mapped to [0, 1] (stride coprime with n)
        while math.gcd(stride, n) != 1:
            stride += 1
        return ((k * stride) % n) / max(1, n - 1) if n > 1 else 0.5

    return VisualSignature(orientation_deg=90.0 * spread(1), cycles_per_width=4.0 + 6.0 * spread(3),
                           drift_hz=0.25 + 2.75 * spread(5), blob_direction_deg=360.0 * spread(7) * (n - 1) / n,
                           blob_speed=0.2 + 0.8 * spread(2))


def render_frames(sig: VisualSignature, times: np.ndarray, width: int, height: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Frames at ``times`` (s) of one video of the class with signature ``sig``: ``[T, height, width, 3]`` uint8.

    Per video: orientation +-5 degrees, frequency +-10 %, drift and blob speed +-20 %, random phases, grating
    colours (two random RGB colours, so colour carries no class), contrast, blob colour, size and start, a
    static noise texture (sigma 10) and temporal noise (sigma 3) in 0..255 units.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = math.radians(sig.orientation_deg + rng.uniform(-5, 5))
    freq = sig.cycles_per_width * rng.uniform(0.9, 1.1) / width  # cycles per pixel
    drift = sig.drift_hz * rng.uniform(0.8, 1.2) * rng.choice([-1.0, 1.0])
    phase0 = rng.uniform(0, 2 * np.pi)
    proj = (xx * math.cos(theta) + yy * math.sin(theta)) * freq
    mid = rng.uniform(90, 165) + rng.uniform(-25, 25, 3)  # a grey with a per-video tint
    half = rng.uniform(55, 90) * rng.uniform(0.75, 1.0, 3)  # luminance-dominated stripes
    beta = math.radians(sig.blob_direction_deg + rng.uniform(-10, 10))
    speed = sig.blob_speed * rng.uniform(0.8, 1.2) * width  # px / s
    bx0, by0 = rng.uniform(0, width), rng.uniform(0, height)
    radius = rng.uniform(0.09, 0.14) * height
    blob_rgb = rng.uniform(200, 255, 3)
    static = rng.normal(0.0, 10.0, (height, width, 1)).astype(np.float32)
    out = np.empty((len(times), height, width, 3), dtype=np.uint8)
    for i, t in enumerate(times):
        g = np.tanh(3.0 * np.sin(2 * np.pi * (proj - drift * t) + phase0))[..., None]  # near-square stripes
        img = mid + half * g
        cx = (bx0 + speed * math.cos(beta) * t) % width
        cy = (by0 + speed * math.sin(beta) * t) % height
        dx = np.minimum(np.abs(xx - cx), width - np.abs(xx - cx))  # the blob wraps around the frame edges
        dy = np.minimum(np.abs(yy - cy), height - np.abs(yy - cy))
        w = np.exp(-(dx ** 2 + dy ** 2) / (2 * radius ** 2))[..., None]
        img = img * (1 - w) + blob_rgb * w + static + rng.normal(0.0, 3.0, (height, width, 1))
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


# ---- encoding ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoSpec:
    """How one fixture file is encoded.

    codec: PyAV video encoder ("mpeg4", "libx264"); fps: nominal frame rate (Hz); seconds: duration;
    width/height: pixels; audio: None or (encoder, sample rate Hz) of a mono class sound ("pcm_s16le", "aac");
    vfr: irregular frame intervals (20-67 ms, needs a container with real timestamps: mp4/mkv).
    """

    codec: str
    fps: Fraction
    seconds: float
    width: int = 64
    height: int = 48
    audio: tuple[str, int] | None = None
    vfr: bool = False


def h264_encoder() -> str:
    """"libx264" when PyAV's FFmpeg has it, else "mpeg4" (the fallback the Kinetics fixture uses)."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # av.codec.codec.UnknownCodecError and friends
        return "mpeg4"


def frame_times(spec: VideoSpec, rng: np.random.Generator) -> np.ndarray:
    """Presentation times (s) of the frames of ``spec``: regular at ``fps``, or irregular for ``vfr``."""
    if not spec.vfr:
        return np.arange(int(round(spec.seconds * float(spec.fps)))) / float(spec.fps)
    steps = rng.choice([0.020, 0.033, 0.040, 0.050, 0.067], size=int(spec.seconds * 50) + 2)
    times = np.concatenate([[0.0], np.cumsum(steps)])
    return np.round(times[times < spec.seconds], 3)


def encode_video(path: Path, frames: np.ndarray, times: np.ndarray, spec: VideoSpec,
                 audio: np.ndarray | None = None) -> Path:
    """Encode ``frames`` ``[T, H, W, 3]`` uint8 shown at ``times`` (s) to ``path`` with PyAV; ``audio``
    ``[samples]`` float in [-1, 1] at ``spec.audio[1]`` Hz goes into a mono audio stream."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # one thread and fixed CPU flags: x264's AVX-512 code gave other bytes for the same frames run to run
    options = x264_options(30) if spec.codec == "libx264" else {}
    # Matroska writes a random segment UID unless told to be bit-exact: the same fixture gave other bytes each run
    # (and so another content identity, datasets/sample_identity.py)
    container_options = {"fflags": "+bitexact"} if path.suffix == ".mkv" else {}
    with av.open(str(path), mode="w", options=container_options) as c:
        vs = c.add_stream(spec.codec, rate=spec.fps, options=options)
        if spec.codec == "libx264":
            vs.codec_context.thread_count = 1
        vs.width, vs.height, vs.pix_fmt = spec.width, spec.height, "yuv420p"
        tb = Fraction(1, 1000) if spec.vfr else 1 / spec.fps
        if spec.vfr:
            vs.codec_context.time_base = tb
            vs.time_base = tb
        as_ = None
        if spec.audio is not None and audio is not None:
            as_ = c.add_stream(spec.audio[0], rate=spec.audio[1], layout="mono")
            if spec.audio[0] == "aac":
                as_.bit_rate = 24000
        for img, t in zip(frames, times):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(round(t / tb)), tb
            for p in vs.encode(frame):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if as_ is not None:
            rate = spec.audio[1]
            data = np.asarray(audio, dtype=np.float32)[None]
            packets: list[av.Packet] = []
            for start in range(0, data.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start:start + 1024]), format="fltp",
                                                layout="mono")
                af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
                packets.extend(as_.encode(af))
            packets.extend(as_.encode(None))
            # AAC/MP3 priming gives the first packets negative timestamps; AVI has no edit list, and its muxer
            # would shift the whole file and drop video frames, so the audio starts at 0 there.
            shift = -min((p.dts for p in packets if p.dts is not None), default=0) if path.suffix == ".avi" else 0
            for p in packets:
                if shift > 0 and p.dts is not None:
                    p.dts += shift
                    p.pts = p.pts + shift if p.pts is not None else None
                c.mux(p)
    return path


def write_class_video(path: Path, k: int, n: int, spec: VideoSpec, rng: np.random.Generator) -> Path:
    """One fixture video of class ``k`` of ``n``: :func:`render_frames` plus, with ``spec.audio``, the class
    sound (:func:`avbench.synth.signals.class_signature`, family 2) as long as the video."""
    times = frame_times(spec, rng)
    frames = render_frames(visual_signature(k, n), times, spec.width, spec.height, rng)
    audio = None
    if spec.audio is not None:
        audio = render(class_signature(k, n, family=2), seconds=spec.seconds, sample_rate=spec.audio[1], rng=rng,
                       channels=1, event=False)[0]
    return encode_video(path, frames, times, spec, audio)


def avi_spec(i: int, rng: np.random.Generator) -> VideoSpec:
    """File ``i`` of a UCF/HMDB fixture: mpeg4 in AVI; 25 fps mostly, 30 and 29.97 fps too; every 5th file
    71x53; every 3rd with audio: PCM (16 kHz) or AAC (22.05 kHz), mono."""
    fps = (Fraction(25), Fraction(25), Fraction(30), Fraction(30000, 1001))[i % 4]
    odd = i % 5 == 2
    audio = (("pcm_s16le", 16000) if i % 6 == 0 else ("aac", 22050)) if i % 3 == 0 else None
    return VideoSpec("mpeg4", fps, round(float(rng.uniform(2.0, 4.0)), 2), 71 if odd else 64, 53 if odd else 48,
                     audio)


def write_marker(out: Path, info: dict) -> None:
    """``<out>/avbench_fixture.json``: marks a root as synthetic (writer ``avbench.synth.video_fixtures``) + ``info``."""
    (out / "avbench_fixture.json").write_text(json.dumps({"synthetic": True, "writer": "avbench.synth.video_fixtures",
                                                          **info}, indent=1, sort_keys=True) + "\n")
