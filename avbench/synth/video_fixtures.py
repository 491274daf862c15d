"""Fixture writers for the video data sets: tiny synthetic copies of UCF101, HMDB51 and Kinetics-400 in their
OFFICIAL layouts, with real videos encoded by PyAV, plus damaged files for verify/decode tests.

* :func:`write_ucf101`: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` (``classInd.txt``,
  ``trainlist0k.txt`` with 1-based labels, ``testlist0k.txt`` without) in CRLF with trailing blank lines;
  the ``HandstandPushups`` folder holds ``v_HandStandPushups_*`` files, as in the real set. Split k tests the
  k-th block of groups (real set: groups 7(k-1)+1..7k of 25).
* :func:`write_hmdb51`: ``hmdb51_org/<class>/<movie>_<class>_<b>_<cm>_<np>_<view>_<q>_<n>.avi`` (movie names
  with ``&``, ``()``, ``;``, ``#``, ``!``) and ``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``
  (lines ``<video>.avi <0|1|2> `` with a trailing space; a movie is all test (2) or train (1) and unused (0)).
* :func:`write_kinetics400`: ``annotations/{train,val,test}.csv`` (``label,youtube_id,time_start,time_end,
  split,is_cc``; the test CSV has no label) and ``{train,val}/<label_with_underscores>/<ytid>_<s:06d>_<e:06d>.mp4``
  (``layout="class_folders"``) or ``{train,val}/<id>.mp4`` (``layout="flat"``); ``missing`` rows per CSV have no
  file; one file per split is a variable-frame-rate ``.mkv``.
* :func:`write_corrupt_video`: zero-byte, truncated, text and audio-only files with video names.

Every video shows a learnable class signal (:func:`visual_signature`): an oriented drifting grating whose
orientation (0..90 degrees, so a horizontal flip never maps one class onto another) and spatial frequency
depend on the class, and a bright blob moving in a class-dependent direction, over per-video colours,
contrast, phases, start positions and static + temporal noise. Files with audio carry the class's sound from
:mod:`avbench.synth.signals`. Frames are 64x48 (some 71x53), 2-4 s, at 25 / 30 / 29.97 fps (Kinetics also has
VFR files). Everything is deterministic for a seed; each root gets ``avbench_fixture.json``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avbench.synth.signals import class_signature, render

#: real UCF101 class names (a subset) in the order the fixture takes them; HandstandPushups comes first so every
#: fixture has the folder/file-name wart. The classInd of a fixture lists its classes sorted case-insensitively,
#: as the real classInd.txt does.
UCF101_CLASSES = (
    "HandstandPushups", "ApplyEyeMakeup", "PlayingGuitar", "YoYo", "Archery", "Basketball", "BenchPress", "Biking",
    "Billiards", "BlowDryHair", "Bowling", "Drumming", "Fencing", "GolfSwing", "HorseRiding", "JumpRope", "Knitting",
    "PlayingPiano", "PlayingViolin", "PullUps", "Punch", "PushUps", "Rowing", "Skiing", "Surfing", "TaiChi",
    "TennisSwing", "WalkingWithDog", "WritingOnBoard",
)
#: the spelling the real files use where it differs from the folder (class) name.
UCF101_FILE_SPELLING = {"HandstandPushups": "HandStandPushups"}
#: the 51 HMDB51 action classes (sorted, as ``sorted(os.listdir)`` gives them).
HMDB51_CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive", "draw_sword", "dribble",
    "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf", "handstand", "hit", "hug", "jump", "kick",
    "kick_ball", "kiss", "laugh", "pick", "pour", "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse",
    "run", "shake_hands", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave",
)
#: movie names in the HMDB style, with the special characters the real file names contain.
HMDB_MOVIES = (
    "April_09", "(Rad)Schlag_die_Bank!", "Tom_&_Jerry_Show", "#20_Rhythm", "Pirates;_At_World's_End",
    "Bodenturnen_2004", "Glory_(1989)", "Hitch!_Part_2", "Veoh_Alpha_Dog", "Fellowship_#7",
)
#: real Kinetics-400 labels (as the CSVs spell them: spaces, parentheses) used by the default K400 fixture.
KINETICS400_FIXTURE_CLASSES = (
    "abseiling", "air drumming", "passing American football (in game)", "playing guitar",
    "riding or walking with horse", "tying knot (not on a tie eg bowtie)", "dribbling basketball", "shoveling snow",
    "blowing out candles", "tap dancing", "eating spaghetti", "juggling balls",
)
K400_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")

#: what :func:`write_corrupt_video` puts in its good files: 64x48, this many seconds at 25 fps.
CORRUPT_SECONDS = 2.0

_YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


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
    options = {"crf": "30", "preset": "veryfast"} if spec.codec == "libx264" else {}
    with av.open(str(path), mode="w") as c:
        vs = c.add_stream(spec.codec, rate=spec.fps, options=options)
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


def _avi_spec(i: int, rng: np.random.Generator) -> VideoSpec:
    """File ``i`` of a UCF/HMDB fixture: mpeg4 in AVI; 25 fps mostly, 30 and 29.97 fps too; every 5th file
    71x53; every 3rd with audio: PCM (16 kHz) or AAC (22.05 kHz), mono."""
    fps = (Fraction(25), Fraction(25), Fraction(30), Fraction(30000, 1001))[i % 4]
    odd = i % 5 == 2
    audio = (("pcm_s16le", 16000) if i % 6 == 0 else ("aac", 22050)) if i % 3 == 0 else None
    return VideoSpec("mpeg4", fps, round(float(rng.uniform(2.0, 4.0)), 2), 71 if odd else 64, 53 if odd else 48,
                     audio)


def _write_marker(out: Path, info: dict) -> None:
    (out / "avbench_fixture.json").write_text(json.dumps({"synthetic": True, "writer": "avbench.synth.video_fixtures",
                                                          **info}, indent=1, sort_keys=True) + "\n")


# ---- UCF101 ----------------------------------------------------------------------------------------------------
def ucf101_test_groups(split: int, groups: int) -> set[int]:
    """Groups (1-based) that split ``split`` (1..3) tests: the k-th block of ``max(1, groups // 3)`` groups
    (the real set: 7 of 25, groups 22-25 always train)."""
    block = max(1, groups // 3)
    return set(range(block * (split - 1) + 1, block * split + 1))


def write_ucf101(out: Path, *, n_classes: int = 4, groups: int = 3, clips_per_group: int = 2, seed: int = 0,
                 frame_size: tuple[int, int] | None = None, seconds: float | None = None,
                 fps: float | None = None) -> Path:
    """Write a synthetic UCF101 in the official layout under ``out``; returns ``out``.

    Classes: the first ``n_classes`` of :data:`UCF101_CLASSES` (always including ``HandstandPushups``), numbered
    in classInd.txt in case-insensitive sorted order (label = index - 1). Each class has ``groups`` groups
    (g01..) of ``clips_per_group`` clips (c01..); every file is listed in each split (train or test), so split k
    has ``n_classes * clips_per_group * len(ucf101_test_groups(k, groups))`` test files.
    frame_size ``(width, height)`` px, seconds and fps (Hz), when given, replace the small defaults of every file
    (e.g. ``(320, 240), 7.0, 25`` for real UCF101 sizes, as ``benchmarks/e2e_speed.py`` writes).
    """
    if not 1 <= n_classes <= len(UCF101_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(UCF101_CLASSES)}, got {n_classes}")
    if groups < 3 or clips_per_group < 1:
        raise ValueError("need groups >= 3 (one test block per split) and clips_per_group >= 1")
    out = Path(out)
    classes = sorted(UCF101_CLASSES[:n_classes], key=str.lower)
    files: list[tuple[str, int, int]] = []  # (relative path, class index, group)
    i = 0
    for k, cls in enumerate(classes):
        stem_cls = UCF101_FILE_SPELLING.get(cls, cls)
        for g in range(1, groups + 1):
            for c in range(1, clips_per_group + 1):
                rel = f"{cls}/v_{stem_cls}_g{g:02d}_c{c:02d}.avi"
                rng = np.random.default_rng([seed, 101, k, g, c])
                spec = _avi_spec(i, rng)
                if frame_size is not None:
                    spec = replace(spec, width=int(frame_size[0]), height=int(frame_size[1]))
                if seconds is not None:
                    spec = replace(spec, seconds=float(seconds))
                if fps is not None:
                    spec = replace(spec, fps=Fraction(fps).limit_denominator(1001))
                write_class_video(out / "UCF-101" / rel, k, n_classes, spec, rng)
                files.append((rel, k, g))
                i += 1
    write_ucf101_lists(out, classes, files, groups)
    _write_marker(out, {"dataset": "ucf101", "n_classes": n_classes, "classes": classes, "groups": groups,
                        "clips_per_group": clips_per_group, "seed": seed, "files": len(files)})
    return out


def write_ucf101_lists(out: Path, classes: list[str], files: list[tuple[str, int, int]], groups: int) -> None:
    """``ucfTrainTestlist/``: classInd.txt and the three train/test lists for ``files`` (relative path, class
    index, group), in CRLF with the real set's trailing blank lines."""
    lists = out / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    _crlf(lists / "classInd.txt", [f"{k + 1} {cls}" for k, cls in enumerate(classes)], blank_tail=0)
    for split in (1, 2, 3):
        test = ucf101_test_groups(split, groups)
        _crlf(lists / f"trainlist0{split}.txt", [f"{rel} {k + 1}" for rel, k, g in files if g not in test],
              blank_tail=split % 2)
        _crlf(lists / f"testlist0{split}.txt", [rel for rel, _, g in files if g in test], blank_tail=2 if split == 3 else 0)


def _crlf(path: Path, lines: list[str], *, blank_tail: int) -> None:
    path.write_bytes(("\r\n".join(lines) + "\r\n" + "\r\n" * blank_tail).encode())


# ---- HMDB51 ----------------------------------------------------------------------------------------------------
def write_hmdb51(out: Path, *, n_classes: int = 3, per_class: int = 6, seed: int = 0) -> Path:
    """Write a synthetic HMDB51 in the official layout under ``out``; returns ``out``.

    Classes: the first ``n_classes`` of :data:`HMDB51_CLASSES` (real names, sorted). Each class has
    ``per_class`` clips from 3 movies (groups) of :data:`HMDB_MOVIES` (class k: movies 2k, 2k+1, 2k+2, so the
    first three classes cover every special character and neighbouring classes share a movie), named
    ``<movie>_<class>_<body>_<cm|nm>_<np1..>_<view>_<quality>_<n>.avi`` under ``hmdb51_org/<class>/``. In
    split k the clips of the k-th movie are test (2), one clip of another movie is unused (0) when that movie
    has several (the last such clip in sorted order), the rest train (1); lines end in a trailing space (some
    in two), LF line ends.
    """
    if not 1 <= n_classes <= len(HMDB51_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(HMDB51_CLASSES)}, got {n_classes}")
    if per_class < 3:
        raise ValueError("per_class must be >= 3 (one movie per split)")
    out = Path(out)
    splits_dir = out / "testTrainMulti_7030_splits"
    splits_dir.mkdir(parents=True, exist_ok=True)
    i = 0
    for k, cls in enumerate(HMDB51_CLASSES[:n_classes]):
        rng = np.random.default_rng([seed, 51, k])
        movies = [HMDB_MOVIES[(2 * k + j) % len(HMDB_MOVIES)] for j in range(3)]  # neighbours share a movie
        names: list[tuple[str, int]] = []  # (file name, movie index)
        for j in range(per_class):
            m = j % 3
            tags = (rng.choice(["f", "h", "u"]), rng.choice(["cm", "nm"]), rng.choice(["np1", "np2"]),
                    rng.choice(["fr", "ba", "le", "ri"]), rng.choice(["bad", "med", "goo"]))
            names.append((f"{movies[m]}_{cls}_{'_'.join(tags)}_{j // 3}.avi", m))
        for name, _ in names:
            vrng = np.random.default_rng([seed, 51, k, i])
            write_class_video(out / "hmdb51_org" / cls / name, k, n_classes, _avi_spec(i + 1, vrng), vrng)
            i += 1
        for split in (1, 2, 3):
            ordered = sorted(names)
            unused = next((name for name, m in reversed(ordered)
                           if m != split - 1 and sum(mm == m for _, mm in names) > 1), None)
            lines = [f"{name} {0 if name == unused else 2 if m == split - 1 else 1} " + (" " if j % 4 == 3 else "")
                     for j, (name, m) in enumerate(ordered)]
            (splits_dir / f"{cls}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
    _write_marker(out, {"dataset": "hmdb51", "n_classes": n_classes, "classes": list(HMDB51_CLASSES[:n_classes]),
                        "per_class": per_class, "seed": seed, "files": i})
    return out


# ---- Kinetics-400 ----------------------------------------------------------------------------------------------
def _youtube_id(rng: np.random.Generator) -> str:
    return "".join(_YT_ALPHABET[int(j)] for j in rng.integers(0, len(_YT_ALPHABET), 11))


def write_kinetics400(out: Path, *, n_classes: int = 4, train_per_class: int = 4, val_per_class: int = 2,
                      missing: int = 1, layout: str = "class_folders", class_names: tuple[str, ...] | list[str] | None = None,
                      seed: int = 0) -> Path:
    """Write a synthetic Kinetics-400 in the common layout under ``out``; returns ``out``.

    class_names: CSV labels (default: the first ``n_classes`` of :data:`KINETICS400_FIXTURE_CLASSES`, real labels
    with spaces and parentheses); class folders replace spaces with ``_``. ``annotations/train.csv`` and
    ``val.csv`` list ``train_per_class`` / ``val_per_class`` clips per class plus ``missing`` extra rows each
    whose file is not written; ``annotations/test.csv`` lists unlabelled rows (no files). Videos: 2-4 s, H.264
    (mpeg4 if libx264 is unavailable) in .mp4 at 25/30/29.97 fps, one VFR .mkv per split, most with AAC audio
    (16 kHz mono, the class sound), some without. ``layout``: "class_folders" (``<split>/<label_>/<id>.mp4``)
    or "flat" (``<split>/<id>.mp4``).
    """
    if layout not in ("class_folders", "flat"):
        raise ValueError(f"layout must be 'class_folders' or 'flat', got {layout!r}")
    names = list(class_names) if class_names is not None else list(KINETICS400_FIXTURE_CLASSES[:n_classes])
    if class_names is None and not 1 <= n_classes <= len(KINETICS400_FIXTURE_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(KINETICS400_FIXTURE_CLASSES)} (or pass class_names), got {n_classes}")
    if not names or len(set(names)) != len(names) or train_per_class < 1 or val_per_class < 1 or missing < 0:
        raise ValueError("need distinct class names, train_per_class >= 1, val_per_class >= 1, missing >= 0")
    out = Path(out)
    n = len(names)
    codec = h264_encoder()
    rng = np.random.default_rng([seed, 400])
    used: set[str] = set()
    rows: dict[str, list[list[str]]] = {"train": [], "val": []}
    i = 0
    for split, per in (("train", train_per_class), ("val", val_per_class)):
        plan = [(k, True) for k in range(n) for _ in range(per)]
        plan += [(int(rng.integers(n)), False) for _ in range(missing)]
        for j, (k, written) in enumerate(plan):
            ytid = _youtube_id(rng)
            while ytid in used:
                ytid = _youtube_id(rng)
            used.add(ytid)
            start = int(rng.integers(0, 290))
            sid = f"{ytid}_{start:06d}_{start + 10:06d}"
            rows[split].append([names[k], ytid, str(start), str(start + 10), split, str(int(rng.integers(2)))])
            if not written:
                continue
            vrng = np.random.default_rng([seed, 400, i])
            fps = (Fraction(30), Fraction(25), Fraction(30000, 1001))[i % 3]
            vfr = j == 1
            spec = VideoSpec(codec, fps, round(float(vrng.uniform(2.0, 4.0)), 2),
                             audio=None if i % 4 == 3 else ("aac", 16000), vfr=vfr)
            folder = out / split / names[k].replace(" ", "_") if layout == "class_folders" else out / split
            write_class_video(folder / f"{sid}{'.mkv' if vfr else '.mp4'}", k, n, spec, vrng)
            i += 1
    ann = out / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        _write_csv(ann / f"{split}.csv", list(K400_HEADER), sorted(split_rows, key=lambda r: (r[0], r[1])))
    test_rows = [[_youtube_id(rng), str(s), str(s + 10), "test"] for s in rng.integers(0, 290, 3)]
    _write_csv(ann / "test.csv", ["youtube_id", "time_start", "time_end", "split"], test_rows)
    _write_marker(out, {"dataset": "kinetics400", "classes": names, "train_per_class": train_per_class,
                        "val_per_class": val_per_class, "missing": missing, "layout": layout, "codec": codec,
                        "seed": seed, "files": i})
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue())


# ---- damaged files -----------------------------------------------------------------------------------------------
def write_corrupt_video(out: Path) -> dict[str, Path]:
    """Write good and damaged video files under ``out`` for verify/decode tests; returns name -> path.

    Good (64x48, :data:`CORRUPT_SECONDS` s at 25 fps): ``good_avi`` (mpeg4), ``good_mp4`` (H.264 + AAC).
    Bad: ``zero_byte`` (empty .avi), ``truncated_avi`` and ``truncated_mp4`` (the first 40 % of the bytes of a
    10-s file; the AVI still opens and decodes its first seconds, the MP4 loses its index at the end and does
    not open), ``not_video`` (a text file named .avi), ``audio_only`` (an AAC-only file named .mp4).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    rng = np.random.default_rng(7)
    f["good_avi"] = write_class_video(out / "good.avi", 0, 2, VideoSpec("mpeg4", Fraction(25), CORRUPT_SECONDS), rng)
    f["good_mp4"] = write_class_video(out / "good.mp4", 1, 2, VideoSpec(h264_encoder(), Fraction(25), CORRUPT_SECONDS,
                                                                         audio=("aac", 16000)), rng)
    f["zero_byte"] = out / "zero_byte.avi"
    f["zero_byte"].write_bytes(b"")
    for ext, codec in (("avi", "mpeg4"), ("mp4", h264_encoder())):
        full = write_class_video(out / f"_full.{ext}", 0, 2, VideoSpec(codec, Fraction(25), 10.0), rng)
        data = full.read_bytes()
        f[f"truncated_{ext}"] = out / f"truncated.{ext}"
        f[f"truncated_{ext}"].write_bytes(data[: int(len(data) * 0.4)])
        full.unlink()
    f["not_video"] = out / "not_video.avi"
    f["not_video"].write_text("this is a text file, not a video\n" * 20)
    f["audio_only"] = out / "audio_only.mp4"
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(32000) / 16000)
    with av.open(str(f["audio_only"]), mode="w") as c:
        s = c.add_stream("aac", rate=16000, layout="mono")
        data = tone.astype(np.float32)[None]
        for start in range(0, data.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start:start + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 16000, start, Fraction(1, 16000)
            for p in s.encode(af):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return f
