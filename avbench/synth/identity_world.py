"""The identity world: a synthetic audio-visual world where the class is a cross-modal IDENTITY that persists
through scene cuts, and every nuisance is redrawn at every cut.

Built to show whether a self-supervised audio-visual pretrainer learns (issue 20; ``../shared/notes/ssl-world.md``
explains why the rhythm world of :mod:`avbench.synth.world` cannot). A clip is ``n_segments`` scenes of
``segment_seconds`` each (default 4 x 1 s). Class ``k`` is one object SHAPE and one impact TIMBRE, both the same in
every scene of the clip:

====  ============  ==============================  =============================================================
 k    shape         timbre: partial ratios          what stays the same from scene to scene
====  ============  ==============================  =============================================================
 0    disc          1 : 1.26 : 3                    the shape (at any size, colour, rotation, place) and the
 1    square        1 : 1.50 : 3                    ratio of the middle partial to the fundamental (at any
 2    half_disc     1 : 1.78 : 3                    fundamental, loudness, decay, noise level); all shapes have
 3    triangle      1 : 2.00 : 3                    the same area at the same size draw and all timbres the same
 4    bar           1 : 2.24 : 3                    number of partials, the same span (1 : 3) and the same
 5    plus          1 : 2.52 : 3                    per-partial amplitude and decay distributions
====  ============  ==============================  =============================================================

Per scene (drawn afresh at every cut, independent of the class and of the other scenes): background colour, a
low-frequency colour texture (amplitude 0-30 in 0..255 units) and pixel noise (sigma 1-5); the object's colour
(channels 0..200, its luma at least 60 above or below the background's), area (8-18 % of the frame), position and
drift (up to 30 % of the frame per second, reflecting off the walls) and flash strength; the fundamental
(log-uniform 200-1600 Hz), the two upper partials' amplitudes (U(0.4, 1) of the fundamental's), the decay time
(40-150 ms), the onset-noise level, the loudness (impact peak -20..-6 dBFS), white noise at 5-25 dB SNR and, in
half the scenes, a hum (50-300 Hz). A scene's sound is cut hard at the scene's end (a 5-ms fade), so no tail of
one scene rings into the next.

Events (class-free, shared by both modalities): a renewal process per scene with inter-onset intervals U(0.15, 0.4)
s, the first onset U(0.02, 0.3) s after the cut. At an event the object FLASHES (its colour moves towards white
by the scene's flash strength and decays with a 50 ms time constant; the onset frame is the first frame at or
after the event) and an IMPACT sounds (the scene's partials, each a decaying sinusoid, plus a 5-ms noise burst)
starting at sample ``round(e * sample_rate)``. Events are kept up to 0.1 s before the cut.

So two scenes of one clip share the identity and nothing else; audio and video of one scene share the identity
and the event times; random pooled features are dominated by per-scene nuisance (tests/test_identity_world.py and
the gates in ``benchmarks/identity_evidence.py`` measure these claims).

Shapes are upright (the bar horizontal, the triangle's apex and the half disc's dome up). Measured before this
choice (width-8 R(2+1)D-18, 600 supervised steps of 64 clips, one 8-frame view): with a random rotation per scene
and free colours the trunk stayed at chance (21 %) at 32² and a plain 2D CNN on single frames reached 31 %; upright
with a luma contrast 30 % at 32² and 63 % after 400 steps at 48² (the R(2+1)D stem leaves a 12x12 map at 48²,
8x8 at 32²), while the random-init probe stayed at 17.5 % (20.5 % with calibrated BatchNorm) at 32².

Rendering is deterministic for a ``numpy.random.Generator`` and takes a few milliseconds per 4-s clip at 48², so
pretraining renders a fresh clip for every sample (:mod:`avbench.pretrain.identity_source`): no clip is ever
seen twice, and memorising the training set is impossible. Frames and audio come from separate child generators,
so the audio of a clip does not depend on its frame size or rate, nor the frames on the sample rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: shape of each identity, in class-index order (the timbre of class k is :data:`MIDDLE_PARTIAL` [k]).
SHAPES = ("disc", "square", "half_disc", "triangle", "bar", "plus")
#: class names (shape + timbre).
IDENTITY_CLASSES = tuple(f"{s}_{i}" for i, s in enumerate(SHAPES))
#: ratio of the middle partial to the fundamental, per class; every timbre is 1 : MIDDLE_PARTIAL[k] : TOP_PARTIAL.
MIDDLE_PARTIAL = (1.26, 1.50, 1.78, 2.00, 2.24, 2.52)
#: ratio of the top partial to the fundamental (the same for every class).
TOP_PARTIAL = 3.0
#: time constant (s) of the visual flash.
FLASH_TAU = 0.05
#: inter-onset interval range (s) of the class-free event process.
IOI_RANGE = (0.15, 0.40)
#: fundamental range (Hz), drawn log-uniformly per scene.
PITCH_RANGE = (200.0, 1600.0)
#: object area range, as a fraction of the frame area, drawn per scene.
AREA_RANGE = (0.08, 0.18)


@dataclass(frozen=True)
class IdentityWorldConfig:
    """Geometry of the rendered clips: ``n_segments`` scenes of ``segment_seconds`` s; ``size`` x ``size`` px frames
    at ``fps`` Hz; mono audio at ``sample_rate`` Hz; ``n_classes`` <= 6 identities."""

    n_classes: int = 6
    n_segments: int = 4
    segment_seconds: float = 1.0
    fps: float = 16.0
    size: int = 48
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if not 2 <= self.n_classes <= len(SHAPES):
            raise ValueError(f"n_classes must be 2..{len(SHAPES)}, got {self.n_classes}")
        if self.n_segments < 1 or self.segment_seconds < 0.25 or self.fps <= 0 or self.size < 16:
            raise ValueError(f"need n_segments >= 1, segment_seconds >= 0.25, fps > 0, size >= 16; got {self}")
        if self.sample_rate < 8000:
            raise ValueError(f"sample_rate must be >= 8000 Hz (the top partial reaches 4.8 kHz), got {self.sample_rate}")

    @property
    def seconds(self) -> float:
        """Clip length (s)."""
        return self.n_segments * self.segment_seconds

    @property
    def frames_per_segment(self) -> int:
        return int(round(self.segment_seconds * self.fps))

    @property
    def samples_per_segment(self) -> int:
        return int(round(self.segment_seconds * self.sample_rate))

    def segments(self) -> tuple[tuple[float, float], ...]:
        """(start, end) of every scene, seconds."""
        d = self.segment_seconds
        return tuple((i * d, (i + 1) * d) for i in range(self.n_segments))


@dataclass(frozen=True, eq=False)
class IdentityClip:
    """One rendered clip. frames ``[T, S, S, 3]`` uint8 RGB (frame ``i`` shows ``i / fps`` s); audio ``[N]`` float32
    in [-1, 1]; events ``[E]`` float64 seconds (sorted, every scene's events); segments ``[n_segments, 2]`` float64
    (start, end) seconds; label: class index; nuisance: one dict of drawn values per scene."""

    frames: np.ndarray
    audio: np.ndarray
    events: np.ndarray
    segments: np.ndarray
    label: int
    nuisance: tuple[dict, ...]


# ---- draws ---------------------------------------------------------------------------------------------------
def scene_events(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Class-free event times (s) within one scene of ``seconds`` s: renewal with IOIs U(:data:`IOI_RANGE`), first
    onset U(0.02, 0.3), none in the last 0.1 s. ``[E]`` float64, sorted."""
    t = rng.uniform(0.02, 0.3)
    out = []
    while t < seconds - 0.1:
        out.append(t)
        t += rng.uniform(*IOI_RANGE)
    return np.asarray(out, dtype=np.float64)


def _luma(rgb: np.ndarray) -> float:
    """BT.601 luma of an RGB colour (0..255)."""
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def draw_scene(rng: np.random.Generator) -> dict:
    """Every per-scene nuisance value (resolution- and rate-free units: fractions of the frame, 0..255 colours,
    Hz, seconds, dB), in a fixed draw order. Independent of the class."""
    bg = rng.uniform(0, 255, 3)
    obj = rng.uniform(0, 200, 3)
    while abs(_luma(obj) - _luma(bg)) < 60:  # the shape's edge is visible in brightness, whatever the hues
        obj = rng.uniform(0, 200, 3)
    speed, heading = rng.uniform(0.0, 0.3), rng.uniform(0, 2 * np.pi)
    return {
        "background_rgb": bg.tolist(), "texture_amplitude": rng.uniform(0, 30), "texture_cycles": rng.uniform(1, 3),
        "pixel_noise": rng.uniform(1, 5), "object_rgb": obj.tolist(), "area": rng.uniform(*AREA_RANGE),
        "start_xy": [rng.uniform(0, 1), rng.uniform(0, 1)],
        "velocity_xy": [speed * math.cos(heading), speed * math.sin(heading)], "flash_gain": rng.uniform(0.5, 0.8),
        "pitch_hz": float(np.exp(rng.uniform(np.log(PITCH_RANGE[0]), np.log(PITCH_RANGE[1])))),
        "partial_amps": [1.0, rng.uniform(0.4, 1.0), rng.uniform(0.4, 1.0)], "decay_s": rng.uniform(0.04, 0.15),
        "burst_gain": rng.uniform(0.1, 0.4), "loudness_db": rng.uniform(-20, -6), "snr_db": rng.uniform(5, 25),
        "hum": bool(rng.uniform() < 0.5), "hum_hz": rng.uniform(50, 300), "hum_db": rng.uniform(-30, -10),
    }


# ---- shapes --------------------------------------------------------------------------------------------------
def _box(x: np.ndarray, y: np.ndarray, hx: float, hy: float) -> np.ndarray:
    return np.maximum(np.abs(x) - hx, np.abs(y) - hy)


def shape_distance(shape: str, x: np.ndarray, y: np.ndarray, area: float) -> np.ndarray:
    """Signed distance (px, negative inside; exact at the edges, which is all the anti-aliasing needs) of ``shape``
    with area ``area`` px² centred at the origin, at points ``(x, y)`` (px, any shape). Every shape has exactly
    ``area`` (the half disc's flat edge passes through the origin)."""
    if shape == "disc":
        return np.hypot(x, y) - math.sqrt(area / math.pi)
    if shape == "square":
        h = math.sqrt(area) / 2
        return _box(x, y, h, h)
    if shape == "half_disc":
        r = math.sqrt(2 * area / math.pi)
        return np.maximum(np.hypot(x, y) - r, -y)
    if shape == "triangle":
        side = math.sqrt(4 * area / math.sqrt(3))
        inradius = side / (2 * math.sqrt(3))
        d = None
        for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            e = x * math.cos(a) + y * math.sin(a) - inradius
            d = e if d is None else np.maximum(d, e)
        return d
    if shape == "bar":
        length = math.sqrt(3 * area)
        return _box(x, y, length / 2, length / 6)
    if shape == "plus":
        length = math.sqrt(9 * area / 5)
        return np.minimum(_box(x, y, length / 2, length / 6), _box(x, y, length / 6, length / 2))
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def shape_radius(shape: str, area: float) -> float:
    """Distance (px) from the origin to the farthest point of ``shape`` with area ``area``: the object stays in the
    frame when its centre is at least this far from every edge."""
    if shape == "disc":
        return math.sqrt(area / math.pi)
    if shape == "square":
        return math.sqrt(area / 2)
    if shape == "half_disc":
        return math.sqrt(2 * area / math.pi)
    if shape == "triangle":
        return math.sqrt(4 * area / math.sqrt(3)) / math.sqrt(3)
    if shape == "bar":
        length = math.sqrt(3 * area)
        return math.hypot(length / 2, length / 6)
    if shape == "plus":
        length = math.sqrt(9 * area / 5)
        return math.hypot(length / 2, length / 6)
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    span = max(hi - lo, 1e-6)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def _texture(rng: np.random.Generator, size: int, cycles: float) -> np.ndarray:
    """``[S, S, 3]`` float32 low-frequency colour texture with unit std per channel: a random grid of about
    ``2 * cycles + 2`` knots per side, bilinearly interpolated to ``size`` x ``size``."""
    knots = int(round(2 * cycles)) + 2
    grid = rng.standard_normal((knots, knots, 3)).astype(np.float32)
    pos = np.linspace(0, knots - 1, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.int64), knots - 2)
    w = (pos - i0)[:, None]
    rows = grid[i0] * (1 - w)[..., None] + grid[i0 + 1] * w[..., None]  # [S, knots, 3]
    tex = rows[:, i0] * (1 - w.T)[..., None] + rows[:, i0 + 1] * w.T[..., None]  # [S, S, 3]
    tex -= tex.mean(axis=(0, 1))
    return tex / (tex.std(axis=(0, 1)) + 1e-6)


_NOISE_TABLE = np.random.default_rng(2020).standard_normal(1 << 20, dtype=np.float32)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian pixel noise of ``shape`` (float32): a contiguous run of a fixed table of 2^20 draws, at an
    offset and with a sign drawn from ``rng`` (two draws). A third of the cost of fresh draws; the table is far
    longer than one clip's noise, so clips do not repeat each other's noise in any way a network could use."""
    size = int(np.prod(shape))
    start = int(rng.integers(0, _NOISE_TABLE.size - size))
    sign = np.float32(1.0 if rng.uniform() < 0.5 else -1.0)
    return (sign * _NOISE_TABLE[start:start + size]).reshape(shape)


# ---- rendering -----------------------------------------------------------------------------------------------
def render_scene_frames(k: int, events: np.ndarray, nz: dict, cfg: IdentityWorldConfig,
                        rng: np.random.Generator) -> np.ndarray:
    """Frames ``[frames_per_segment, S, S, 3]`` uint8 of one scene of class ``k`` (event times in seconds from the
    scene's start); ``rng`` draws the texture and the pixel noise."""
    s, n = cfg.size, cfg.frames_per_segment
    times = np.arange(n) / cfg.fps
    onsets = np.ceil(events * cfg.fps - 1e-6) / cfg.fps
    dt = times[:, None] - onsets[None, :]
    flash = np.where(dt >= -1e-9, np.exp(-np.maximum(dt, 0.0) / FLASH_TAU), 0.0).sum(axis=1) if onsets.size \
        else np.zeros(n)
    weight = np.minimum(nz["flash_gain"] * flash, 1.0).astype(np.float32)
    shape = SHAPES[k]
    area = nz["area"] * s * s
    rad = shape_radius(shape, area)
    lo, hi = rad + 0.5, s - 1.5 - rad
    cx = _reflect((nz["start_xy"][0] + nz["velocity_xy"][0] * times) * s, lo, hi)
    cy = _reflect((nz["start_xy"][1] + nz["velocity_xy"][1] * times) * s, lo, hi)
    grid = np.arange(s, dtype=np.float32)
    dx = grid[None, None, :] - cx.astype(np.float32)[:, None, None]
    dy = grid[None, :, None] - cy.astype(np.float32)[:, None, None]
    mask = np.clip(0.5 - shape_distance(shape, dx, -dy, area), 0.0, 1.0)[..., None]  # [T, S, S, 1], y up
    bg = np.asarray(nz["background_rgb"], np.float32) + np.float32(nz["texture_amplitude"]) * _texture(
        rng, s, nz["texture_cycles"])
    obj = np.asarray(nz["object_rgb"], np.float32)
    colour = obj[None] + weight[:, None] * (np.float32(255.0) - obj[None])  # [T, 3]
    img = bg + mask * (colour[:, None, None, :] - bg)
    img += np.float32(nz["pixel_noise"]) * _noise(rng, (n, s, s, 1))
    np.clip(img, 0.0, 255.0, out=img)
    return (img + 0.5).astype(np.uint8)


def render_scene_audio(k: int, events: np.ndarray, nz: dict, cfg: IdentityWorldConfig,
                       rng: np.random.Generator) -> np.ndarray:
    """Audio ``[samples_per_segment]`` float32 of one scene of class ``k``: an impact per event (partials
    ``1 : MIDDLE_PARTIAL[k] : TOP_PARTIAL`` of the scene's fundamental, each ``exp(-t / decay)``, plus a 5-ms noise
    burst; peak ``loudness_db`` dBFS +-15 % per event), white noise at ``snr_db`` below the impacts' mean power, an
    optional hum, and a 5-ms fade-out at the cut; ``rng`` draws the per-event jitter and the noises."""
    sr, n = cfg.sample_rate, cfg.samples_per_segment
    tt = np.arange(min(n, int(6 * nz["decay_s"] * sr) + 1), dtype=np.float64) / sr
    ratios = (1.0, MIDDLE_PARTIAL[k], TOP_PARTIAL)
    nyq = 0.45 * sr
    tone = sum(a * np.sin(2 * np.pi * min(nz["pitch_hz"] * r, nyq) * tt) for a, r in zip(nz["partial_amps"], ratios))
    tone = tone * np.exp(-tt / nz["decay_s"])
    tone /= np.abs(tone).max() + 1e-12
    burst_env = nz["burst_gain"] * np.exp(-tt / 0.005)
    peak = 10 ** (nz["loudness_db"] / 20)
    sig = np.zeros(n)
    for e in events:
        i = int(round(e * sr))
        m = min(len(tt), n - i)
        if m <= 0:
            continue
        sig[i:i + m] += peak * rng.uniform(0.85, 1.15) * (tone[:m] + burst_env[:m] * rng.standard_normal(m))
    power = float(np.mean(sig ** 2)) if events.size else peak ** 2 * 1e-3
    out = sig + rng.standard_normal(n) * math.sqrt(power / 10 ** (nz["snr_db"] / 10))
    if nz["hum"]:
        t = np.arange(n) / sr
        ph = rng.uniform(0, 2 * np.pi)
        hum = np.sin(2 * np.pi * nz["hum_hz"] * t + ph) + 0.5 * np.sin(4 * np.pi * nz["hum_hz"] * t + 2 * ph)
        out += math.sqrt(power) * 10 ** (nz["hum_db"] / 20) * hum
    fade = min(n, int(0.005 * sr))
    out[n - fade:] *= np.linspace(1.0, 0.0, fade)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def render_identity_clip(k: int, cfg: IdentityWorldConfig, rng: np.random.Generator, *, video: bool = True,
                         audio: bool = True) -> IdentityClip:
    """One clip of class ``k``: per scene, the events, then the nuisance, then frames and audio from two child
    generators (so either modality can be skipped without changing the other, and the audio does not depend on
    the frame geometry). Deterministic for the state of ``rng``. Skipped modalities are empty arrays."""
    if not 0 <= k < cfg.n_classes:
        raise ValueError(f"class index {k} outside 0..{cfg.n_classes - 1}")
    frames, waves, events, scenes = [], [], [], []
    d = cfg.segment_seconds
    for i in range(cfg.n_segments):
        ev = scene_events(d, rng)
        nz = draw_scene(rng)
        video_rng = np.random.default_rng(rng.integers(2 ** 63))
        audio_rng = np.random.default_rng(rng.integers(2 ** 63))
        if video:
            frames.append(render_scene_frames(k, ev, nz, cfg, video_rng))
        if audio:
            waves.append(render_scene_audio(k, ev, nz, cfg, audio_rng))
        events.append(ev + i * d)
        scenes.append({key: (float(v) if isinstance(v, (float, np.floating)) else v) for key, v in nz.items()})
    s = cfg.size
    return IdentityClip(
        frames=np.concatenate(frames) if frames else np.zeros((0, s, s, 3), np.uint8),
        audio=np.concatenate(waves) if waves else np.zeros(0, np.float32),
        events=np.concatenate(events), segments=np.asarray(cfg.segments(), dtype=np.float64), label=k,
        nuisance=tuple(scenes))


# ---- seeds ---------------------------------------------------------------------------------------------------
#: the purposes a clip can be drawn for; each has its own seed stream, so probe and demo clips are never pretraining
#: clips (and vice versa).
STREAMS = {"pretrain": 0, "probe-train": 1, "probe-test": 2, "calibrate": 3, "esc50": 50, "ucf101": 101}


def identity_rng(stream: str, *key: int) -> np.random.Generator:
    """The generator of one clip of ``stream`` (:data:`STREAMS`) identified by the integers ``key`` (e.g. seed,
    epoch, index). Different streams never share a generator."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {sorted(STREAMS)}")
    return np.random.default_rng([20, STREAMS[stream], *[int(x) for x in key]])
