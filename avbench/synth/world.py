"""A procedurally generated audio-visual world: synchronised flashes, bounces and impacts whose RHYTHM is the class.

Made to pretrain self-supervised audio-visual encoders (CrissCross, AVCL, temporal SSL) and to evaluate them with
linear probes. Each clip shows one object (a disc or a square) drifting over a textured background; at every event
instant the object FLASHES (blends towards white) and BOUNCES (jumps up), both decaying with a 50 ms time constant
(to 20 % after 80 ms; a frame sampled at 16 fps from a 25-fps file shows at least 45 % of the pulse), and the sound
track has an IMPACT (a damped sinusoid plus a short noise burst) starting at the same instant. The class is the
timing pattern of the events and nothing else.

Class table (inter-onset intervals, IOIs, in seconds before the per-clip tempo factor; every cycle has the same
mean IOI of 0.20 s, i.e. 5 events per second, so the event count carries no class):

====  =========================  =========================  ==================================================
 k    name                       IOI cycle (s)              what a 0.5-s window (8 frames at 16 fps) shows
====  =========================  =========================  ==================================================
 0    ``steady``                 0.20                       evenly spaced events
 1    ``long_short``             0.28, 0.12                 close pairs, alternating with gaps
 2    ``short_long_long``        0.12, 0.24, 0.24           a close pair, then two even gaps
 3    ``short_short_long``       0.12, 0.12, 0.36           bursts of three, then a long pause
 4    ``swing``                  0.16, 0.24                 nearly even, alternately early/late
 5    ``short_mid_long``         0.12, 0.18, 0.30           accelerating triplets
 6    ``triplet_pause``          0.12, 0.12, 0.12, 0.44     bursts of four, then a long pause
 7    ``long_long_short_short``  0.28, 0.28, 0.12, 0.12     class 1's IOIs in another ORDER (pairs of pairs)
====  =========================  =========================  ==================================================

The default world uses the first 6 classes (classes 0-5 differ in their IOI sets; class 7 has class 1's set and
differs only in order). Per clip, the cycle is scaled by a tempo factor drawn from U(0.92, 1.08) and starts at a
random phase. IOIs stay >= 0.11 s (>= 1.7 frames at 16 fps, 2.7 at 25 fps), so every event has its own onset
frame even after resampling to 16 fps. A 0.5-s window holds 2 or 3 events in classes 0-5 (1 in < 1 % of windows,
at slow tempi), 1-4 in classes 6 and 7; within ~1 s every pattern has shown its characteristic intervals.

Nuisances (drawn per clip, independent of the class): background colour, a low-frequency colour texture
(amplitude 5-25 in 0..255 units) and per-frame pixel noise (sigma 1-6); object shape, colour (channels 0..150 so
the flash shows, at least 70 from the background colour), size (radius 8-15 % of the frame), start position,
drift velocity (0-25 % of the frame per second, reflecting off the walls), flash strength (60-80 % of the way to
white) and bounce height (8-14 % of the frame height); impact pitch (200-2000 Hz, log-uniform),
an inharmonic partial, decay time (20-80 ms), noise-burst level, per-event amplitude jitter (+-15 %), loudness
(impact peak -20..-6 dBFS), white background noise at 10-30 dB SNR and, in half the clips, a steady hum
(50-300 Hz). Flash and bounce add linearly over events (no saturation at 25 fps), so neither the mean colour,
the colour histogram, the mean spectrum nor the loudness of a clip depends on its class (tests/test_synth_world.py
checks this with linear probes).

Synchrony: the flash/bounce onset frame of an event at ``e`` seconds is the first frame at or after ``e``
(frame ``i`` shows time ``i / fps``), and the impact starts at audio sample ``round(e * sample_rate)``. Events
are kept only up to the last frame's time, so every event is both seen and heard.

Writers: :func:`write_world` (H.264 + AAC ``.mp4`` files, ``labels.csv``), :func:`write_world_esc50` (the
official ESC-50 layout, the world's audio) and :func:`write_world_ucf101` (the official UCF101 layout, world
clips as mpeg4 + PCM ``.avi``). Everything is deterministic for a seed; each clip draws from its own generator,
so a clip never depends on the others. Each root gets ``avbench_fixture.json``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from avbench.synth.audio_fixtures import ESC50_CATEGORIES, ESC50_HEADER, _esc50_rows, write_wav
from avbench.synth.video_fixtures import (
    UCF101_CLASSES,
    UCF101_FILE_SPELLING,
    VideoSpec,
    encode_video,
    h264_encoder,
    write_ucf101_lists,
)

#: class names, in class-index order (see the module docstring's table).
WORLD_CLASSES = ("steady", "long_short", "short_long_long", "short_short_long", "swing", "short_mid_long",
                 "triplet_pause", "long_long_short_short")
#: IOI cycle (s) of each class, before the per-clip tempo factor; every cycle has mean :data:`MEAN_IOI`.
RHYTHMS: tuple[tuple[float, ...], ...] = (
    (0.20,), (0.28, 0.12), (0.12, 0.24, 0.24), (0.12, 0.12, 0.36), (0.16, 0.24), (0.12, 0.18, 0.30),
    (0.12, 0.12, 0.12, 0.44), (0.28, 0.28, 0.12, 0.12),
)
#: mean inter-onset interval (s) of every class.
MEAN_IOI = 0.20
#: range of the per-clip tempo factor (multiplies every IOI).
TEMPO_RANGE = (0.92, 1.08)
#: time constant (s) of the flash and bounce decays (both are 1 at their onset frame).
PULSE_TAU = 0.05

_WRITER = "avbench.synth.world"


@dataclass(frozen=True)
class WorldConfig:
    """Size of a world: ``n_classes`` rhythms (<= len(:data:`RHYTHMS`)); clips of ``seconds`` s, frames of
    ``width`` x ``height`` px at ``fps`` Hz, mono audio at ``sample_rate`` Hz."""

    n_classes: int = 6
    seconds: float = 4.0
    fps: float = 25.0
    width: int = 64
    height: int = 64
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if not 1 <= self.n_classes <= len(RHYTHMS):
            raise ValueError(f"n_classes must be 1..{len(RHYTHMS)}, got {self.n_classes}")
        if self.seconds <= 0 or self.fps <= 0 or self.width < 8 or self.height < 8 or self.sample_rate < 8000:
            raise ValueError(f"need seconds > 0, fps > 0, width/height >= 8, sample_rate >= 8000; got {self}")

    @property
    def n_frames(self) -> int:
        """Frames per clip: ``round(seconds * fps)``."""
        return max(1, int(round(self.seconds * self.fps)))

    @property
    def n_samples(self) -> int:
        """Audio samples per clip: ``round(seconds * sample_rate)``."""
        return int(round(self.seconds * self.sample_rate))


@dataclass(frozen=True, eq=False)
class WorldClip:
    """One rendered clip.

    frames: ``[T, H, W, 3]`` uint8 RGB; times: ``[T]`` float64 seconds (``i / fps``); audio: ``[N]`` float32 in
    [-1, 1] at the config's sample rate; events: ``[E]`` float64 event times (s), sorted; label: class index;
    nuisance: the drawn nuisance values (JSON-able floats, lists and strings).
    """

    frames: np.ndarray
    times: np.ndarray
    audio: np.ndarray
    events: np.ndarray
    label: int
    nuisance: dict


# ---- the class: event times ----------------------------------------------------------------------------------
def _check_class(k: int, cfg: WorldConfig) -> None:
    if not 0 <= k < cfg.n_classes:
        raise ValueError(f"class index {k} outside 0..{cfg.n_classes - 1}")


def class_events(k: int, cfg: WorldConfig, rng: np.random.Generator) -> np.ndarray:
    """Sorted event times (s) of one clip of class ``k``: the class's IOI cycle (:data:`RHYTHMS`) scaled by a
    tempo factor from :data:`TEMPO_RANGE`, started at a random phase, kept within ``[0, (T - 1) / fps]`` (so
    within ``[0, cfg.seconds)`` and on screen). Draws exactly two values from ``rng`` (tempo, then phase)."""
    _check_class(k, cfg)
    cycle = np.asarray(RHYTHMS[k], dtype=np.float64) * rng.uniform(*TEMPO_RANGE)
    period = float(cycle.sum())
    offset = rng.uniform(0.0, period)
    in_cycle = np.concatenate([[0.0], np.cumsum(cycle)[:-1]])
    n_cycles = int(math.ceil((cfg.seconds + offset) / period)) + 1
    t = (np.arange(n_cycles)[:, None] * period + in_cycle[None, :]).ravel() - offset
    last = (cfg.n_frames - 1) / cfg.fps
    return np.sort(t[(t >= 0.0) & (t <= last + 1e-9) & (t < cfg.seconds)])


def onset_frames(events: np.ndarray, fps: float) -> np.ndarray:
    """Index of the first frame at or after each event time (frame ``i`` shows ``i / fps`` s): ``[E]`` int64."""
    return np.ceil(np.asarray(events, dtype=np.float64) * fps - 1e-6).astype(np.int64)


def _pulse_train(times: np.ndarray, onsets: np.ndarray, tau: float = PULSE_TAU) -> np.ndarray:
    """``[len(times)]``: sum over onset times (s) of ``exp(-(t - onset) / tau)`` for ``t >= onset``, 0 before.
    Linear in the events, so the time-average of the train is the same for every rhythm with the same count."""
    if not onsets.size:
        return np.zeros_like(times)
    dt = times[:, None] - onsets[None, :]
    return np.where(dt >= -1e-9, np.exp(-np.maximum(dt, 0.0) / tau), 0.0).sum(axis=1)


# ---- nuisance ------------------------------------------------------------------------------------------------
def _draw_nuisance(rng: np.random.Generator) -> dict:
    """Every per-clip nuisance value, in resolution- and rate-free units, in a fixed draw order (so the audio of a
    clip does not depend on its frame size and vice versa). Sizes are fractions of the frame; colours 0..255."""
    bg = rng.uniform(0, 255, 3)
    obj = rng.uniform(0, 150, 3)  # dark enough to flash visibly towards white
    while np.linalg.norm(obj - bg) < 70:  # and apart from the background
        obj = rng.uniform(0, 150, 3)
    radius = rng.uniform(0.08, 0.15)
    bounce = rng.uniform(0.08, 0.14)  # of the frame height
    speed, angle = rng.uniform(0.0, 0.25), rng.uniform(0, 2 * np.pi)
    return {
        "background_rgb": bg.tolist(), "texture_amplitude": rng.uniform(5, 25), "texture_cycles": rng.uniform(1.0, 3.0),
        "pixel_noise": rng.uniform(1, 6), "shape": str(rng.choice(["disc", "square"])), "object_rgb": obj.tolist(),
        "radius": radius, "start_xy": [rng.uniform(0, 1), rng.uniform(0, 1)],
        "velocity_xy": [speed * math.cos(angle), speed * math.sin(angle)], "flash_gain": rng.uniform(0.6, 0.8),
        "bounce_height": bounce,
        "pitch_hz": float(np.exp(rng.uniform(np.log(200.0), np.log(2000.0)))), "partial_ratio": rng.uniform(1.5, 3.0),
        "partial_weight": rng.uniform(0.0, 0.5), "decay_s": rng.uniform(0.02, 0.08), "burst_gain": rng.uniform(0.1, 0.5),
        "loudness_db": rng.uniform(-20, -6), "snr_db": rng.uniform(10, 30), "hum": bool(rng.uniform() < 0.5),
        "hum_hz": rng.uniform(50, 300), "hum_db": rng.uniform(-30, -10),
    }


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions ``x`` folded into ``[lo, hi]`` as by reflecting walls (a triangle wave)."""
    span = max(hi - lo, 1e-6)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


# ---- rendering -----------------------------------------------------------------------------------------------
def _texture(rng: np.random.Generator, height: int, width: int, cycles: float) -> np.ndarray:
    """Low-frequency colour texture ``[H, W, 3]`` float32, unit standard deviation per channel: white noise
    low-passed to about ``cycles`` cycles per frame."""
    noise = rng.standard_normal((height, width, 3))
    fy = np.fft.fftfreq(height)[:, None] * height
    fx = np.fft.rfftfreq(width)[None, :] * width
    spec = np.fft.rfft2(noise, axes=(0, 1)) * np.exp(-(fx ** 2 + fy ** 2) / (2 * cycles ** 2))[..., None]
    tex = np.fft.irfft2(spec, s=(height, width), axes=(0, 1))
    tex -= tex.mean(axis=(0, 1))
    return (tex / (tex.std(axis=(0, 1)) + 1e-9)).astype(np.float32)


def render_frames(events: np.ndarray, nz: dict, cfg: WorldConfig, rng: np.random.Generator) -> np.ndarray:
    """Frames ``[T, H, W, 3]`` uint8 of a clip with ``events`` (s) and nuisance ``nz``; ``rng`` draws the texture
    and the per-frame noise. The object flashes and bounces from each event's onset frame on."""
    h, w, times = cfg.height, cfg.width, np.arange(cfg.n_frames) / cfg.fps
    onsets = onset_frames(events, cfg.fps) / cfg.fps
    # pulses add up: <= 1.25 at 25 fps (onset frames >= 2 frames apart), so flash_gain * flash <= 1 and colour
    # and position stay linear in the pulse train; other frame rates saturate in the rare overlaps
    flash = np.minimum(_pulse_train(times, onsets), 1.25)
    r = nz["radius"] * min(h, w)
    amp = nz["bounce_height"] * h
    # drift in a box that leaves room above for the largest kick, so a bounce is never clipped by the frame
    cx = _reflect((nz["start_xy"][0] + nz["velocity_xy"][0] * times) * w, r, w - 1 - r)
    cy = _reflect((nz["start_xy"][1] + nz["velocity_xy"][1] * times) * h, r + 1.25 * amp, h - 1 - r) - amp * flash
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = xx[None] - cx.astype(np.float32)[:, None, None]
    dy = yy[None] - cy.astype(np.float32)[:, None, None]
    dist = np.sqrt(dx ** 2 + dy ** 2) if nz["shape"] == "disc" else np.maximum(np.abs(dx), np.abs(dy))
    mask = np.clip(r + 0.5 - dist, 0.0, 1.0)[..., None]  # anti-aliased edge
    tex = _texture(rng, h, w, nz["texture_cycles"])
    bg = np.asarray(nz["background_rgb"], np.float32) + nz["texture_amplitude"] * tex
    obj = np.asarray(nz["object_rgb"], np.float32)
    weight = np.minimum(nz["flash_gain"] * flash, 1.0)
    colour = (obj[None] + weight[:, None] * (255.0 - obj[None])).astype(np.float32)  # [T, 3]
    img = bg[None] * (1 - mask) + colour[:, None, None, :] * mask
    img += np.float32(nz["pixel_noise"]) * rng.standard_normal(img.shape[:3] + (1,), dtype=np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def render_audio(events: np.ndarray, nz: dict, cfg: WorldConfig, rng: np.random.Generator) -> np.ndarray:
    """Audio ``[N]`` float32 in [-1, 1] at ``cfg.sample_rate`` Hz: one impact per event starting at sample
    ``round(e * sample_rate)`` (peak ``loudness_db`` dBFS, +-15 % per event), white noise at ``snr_db`` below the
    impacts' mean power, and optionally a hum; ``rng`` draws the per-event jitter and the noises."""
    sr, n = cfg.sample_rate, cfg.n_samples
    tt = np.arange(int(min(n, round(6 * nz["decay_s"] * sr)) or 1)) / sr
    nyq = 0.45 * sr
    tone = np.sin(2 * np.pi * min(nz["pitch_hz"], nyq) * tt)
    tone += nz["partial_weight"] * np.sin(2 * np.pi * min(nz["pitch_hz"] * nz["partial_ratio"], nyq) * tt)
    tone *= np.exp(-tt / nz["decay_s"])
    tone /= np.abs(tone).max() + 1e-12
    burst_env = nz["burst_gain"] * np.exp(-tt / 0.004)
    peak = 10 ** (nz["loudness_db"] / 20)
    sig = np.zeros(n)
    for e in events:
        i = int(round(e * sr))
        if i >= n:
            continue
        m = min(len(tt), n - i)
        impact = tone[:m] + burst_env[:m] * rng.standard_normal(m)
        sig[i:i + m] += peak * rng.uniform(0.85, 1.15) * impact
    power = float(np.mean(sig ** 2)) if events.size else peak ** 2 * 1e-3
    noise = rng.standard_normal(n) * math.sqrt(power / 10 ** (nz["snr_db"] / 10))
    out = sig + noise
    if nz["hum"]:
        t = np.arange(n) / sr
        ph = rng.uniform(0, 2 * np.pi)
        hum = np.sin(2 * np.pi * nz["hum_hz"] * t + ph) + 0.5 * np.sin(4 * np.pi * nz["hum_hz"] * t + 2 * ph)
        out += math.sqrt(power) * 10 ** (nz["hum_db"] / 20) * hum
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def render_clip(k: int, cfg: WorldConfig, rng: np.random.Generator) -> WorldClip:
    """One clip of class ``k``: events (:func:`class_events`), then the nuisance values, then frames and audio,
    each from its own child generator (so the audio does not depend on the frame size, nor the frames on the
    sample rate). Deterministic for the state of ``rng``."""
    events = class_events(k, cfg, rng)
    nz = _draw_nuisance(rng)
    video_rng = np.random.default_rng(rng.integers(2 ** 63))
    audio_rng = np.random.default_rng(rng.integers(2 ** 63))
    nuisance = {key: (float(v) if isinstance(v, (float, np.floating)) else v) for key, v in nz.items()}
    return WorldClip(frames=render_frames(events, nz, cfg, video_rng), times=np.arange(cfg.n_frames) / cfg.fps,
                     audio=render_audio(events, nz, cfg, audio_rng), events=events, label=k, nuisance=nuisance)


# ---- writers -------------------------------------------------------------------------------------------------
def _write_marker(out: Path, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "avbench_fixture.json").write_text(json.dumps({"synthetic": True, "writer": _WRITER, **info}, indent=1,
                                                         sort_keys=True) + "\n")


def _fps_fraction(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def clip_rng(seed: int, k: int, i: int) -> np.random.Generator:
    """The generator of clip ``i`` of class ``k`` in :func:`write_world` (independent of every other clip)."""
    return np.random.default_rng([seed, 2077, k, i])


def write_world(out: Path, *, n_per_class: int = 40, cfg: WorldConfig = WorldConfig(), seed: int = 0,
                test_fraction: float = 0.25) -> Path:
    """Write ``n_per_class`` clips of each of ``cfg.n_classes`` classes under ``out``; returns ``out``.

    Files: ``videos/<class_name>/<class_name>_NNNN.mp4`` (H.264, or mpeg4 without libx264, ``cfg`` size and
    rate, with a mono AAC track at ``cfg.sample_rate``); ``labels.csv`` with header ``id,path,label,class_name,
    split`` (``path`` relative to ``out``; per class, ``round(n_per_class * test_fraction)`` clips chosen by a
    seeded permutation are ``test``, the rest ``train``); ``avbench_fixture.json``. Clip ``i`` of class ``k`` is
    ``render_clip(k, cfg, clip_rng(seed, k, i))``.
    """
    if n_per_class < 1 or not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"need n_per_class >= 1 and 0 <= test_fraction < 1, got {n_per_class}, {test_fraction}")
    if cfg.width % 2 or cfg.height % 2:
        raise ValueError(f"H.264 in yuv420p needs an even frame size, got {cfg.width}x{cfg.height}")
    out = Path(out)
    codec = h264_encoder()
    spec = VideoSpec(codec, _fps_fraction(cfg.fps), cfg.seconds, cfg.width, cfg.height, ("aac", cfg.sample_rate))
    n_test = int(round(n_per_class * test_fraction))
    rows = []
    for k in range(cfg.n_classes):
        name = WORLD_CLASSES[k]
        test = set(np.random.default_rng([seed, 2077, k]).permutation(n_per_class)[:n_test].tolist())
        for i in range(n_per_class):
            clip = render_clip(k, cfg, clip_rng(seed, k, i))
            rel = f"videos/{name}/{name}_{i:04d}.mp4"
            encode_video(out / rel, clip.frames, clip.times, spec, clip.audio)
            rows.append([f"{name}_{i:04d}", rel, str(k), name, "test" if i in test else "train"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "path", "label", "class_name", "split"])
    w.writerows(rows)
    (out / "labels.csv").write_text(buf.getvalue())
    _write_marker(out, {"dataset": "world", "classes": list(WORLD_CLASSES[:cfg.n_classes]), "n_per_class": n_per_class,
                        "config": vars(cfg), "codec": codec, "seed": seed, "test_fraction": test_fraction,
                        "files": len(rows)})
    return out


def esc50_clip_rng(seed: int, row: dict) -> np.random.Generator:
    """The generator of the :func:`write_world_esc50` file of ``row`` (a meta/esc50.csv row as a dict)."""
    return np.random.default_rng([seed, 50, int(row["target"]), int(row["src_file"]), ord(str(row["take"]))])


def write_world_esc50(out: Path, *, n_classes: int = 6, clips_per_class: int = 10, seed: int = 0) -> Path:
    """Write the world's audio in the official ESC-50 layout under ``out``; returns ``out``.

    ``meta/esc50.csv`` (real header; rows from :func:`avbench.synth.audio_fixtures._esc50_rows`: the real category
    names of targets 0..n_classes-1, 5 folds, source recordings that never cross a fold) and
    ``audio/<fold>-<src>-<take>-<target>.wav``: 5 s, 44.1 kHz mono 16-bit, the audio track of
    ``render_clip(target, WorldConfig(n_classes, seconds=5.0, sample_rate=44100), esc50_clip_rng(seed, row))``.
    Class ``k`` (rhythm ``WORLD_CLASSES[k]``) is ESC-50 target ``k``.
    """
    if clips_per_class < 1:
        raise ValueError("clips_per_class must be >= 1")
    cfg = WorldConfig(n_classes=n_classes, seconds=5.0, sample_rate=44100)
    out = Path(out)
    rows = _esc50_rows(np.random.default_rng([seed, 50]), n_classes, clips_per_class)
    for row in rows:
        clip = render_clip(int(row["target"]), cfg, esc50_clip_rng(seed, row))
        write_wav(out / "audio" / row["filename"], clip.audio, cfg.sample_rate, "s16")
    (out / "meta").mkdir(parents=True, exist_ok=True)
    lines = [",".join(ESC50_HEADER)] + [",".join(str(r[k]) for k in ESC50_HEADER) for r in rows]
    (out / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    _write_marker(out, {"dataset": "esc50", "n_classes": n_classes, "clips_per_class": clips_per_class,
                        "seconds": cfg.seconds, "seed": seed, "files": len(rows),
                        "rhythms": {ESC50_CATEGORIES[k]: WORLD_CLASSES[k] for k in range(n_classes)}})
    return out


def write_world_ucf101(out: Path, *, n_classes: int = 6, groups: int = 3, clips_per_group: int = 3,
                       seed: int = 0) -> Path:
    """Write world clips in the official UCF101 layout under ``out``; returns ``out``.

    The layout of :func:`avbench.synth.video_fixtures.write_ucf101` (``UCF-101/<Class>/v_<Class>_gGG_cCC.avi``,
    ``ucfTrainTestlist/`` in CRLF; classes: the first ``n_classes`` of ``UCF101_CLASSES``, sorted
    case-insensitively as classInd numbers them), but the class at classInd position ``k`` (0-based) is rhythm
    ``k`` and every video is a world clip: 64x64, 25 fps, 4 s, mpeg4 in AVI with the world audio as mono
    16 kHz pcm_s16le, rendered from ``np.random.default_rng([seed, 101, k, g, c])``.
    """
    if not 1 <= n_classes <= min(len(UCF101_CLASSES), len(RHYTHMS)):
        raise ValueError(f"n_classes must be 1..{min(len(UCF101_CLASSES), len(RHYTHMS))}, got {n_classes}")
    if groups < 3 or clips_per_group < 1:
        raise ValueError("need groups >= 3 (one test block per split) and clips_per_group >= 1")
    cfg = WorldConfig(n_classes=n_classes, seconds=4.0, fps=25.0, width=64, height=64, sample_rate=16000)
    spec = VideoSpec("mpeg4", Fraction(25), cfg.seconds, cfg.width, cfg.height, ("pcm_s16le", cfg.sample_rate))
    out = Path(out)
    classes = sorted(UCF101_CLASSES[:n_classes], key=str.lower)
    files: list[tuple[str, int, int]] = []  # (relative path, class index, group)
    for k, cls in enumerate(classes):
        stem_cls = UCF101_FILE_SPELLING.get(cls, cls)
        for g in range(1, groups + 1):
            for c in range(1, clips_per_group + 1):
                rel = f"{cls}/v_{stem_cls}_g{g:02d}_c{c:02d}.avi"
                clip = render_clip(k, cfg, np.random.default_rng([seed, 101, k, g, c]))
                encode_video(out / "UCF-101" / rel, clip.frames, clip.times, spec, clip.audio)
                files.append((rel, k, g))
    write_ucf101_lists(out, classes, files, groups)
    _write_marker(out, {"dataset": "ucf101", "n_classes": n_classes, "classes": classes, "groups": groups,
                        "clips_per_group": clips_per_group, "seed": seed, "files": len(files),
                        "rhythms": {cls: WORLD_CLASSES[k] for k, cls in enumerate(classes)}})
    return out
