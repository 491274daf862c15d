"""Fixture writers: small synthetic data sets in the OFFICIAL layouts, plus damaged files for decode tests.

* :func:`write_esc50`: ``meta/esc50.csv`` (real header, realistic ``src_file``/``take``, every source
  recording kept in one fold) and ``audio/{fold}-{src}-{take}-{target}.wav``; class names are the real
  ESC-50 categories in target order.
* :func:`write_dcase2013`: ``set1/scenes_stereo/scenes_stereo/<class>NN.wav`` (train) and
  ``set1/scenes_stereo_testset/scenes_stereo_testset/<class>NN.wav`` (test), stereo 44.1 kHz, the layout the
  CrissCross code reads.
* :func:`write_corrupt_audio`: good files in many containers and bad ones (zero-byte, truncated, text, ...).

Audio carries a learnable class signal (:mod:`avbench.synth.signals`). Everything is deterministic for a
seed. Each data set root also gets ``avbench_fixture.json`` saying it is synthetic and what was written.
"""
from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avbench.datasets.official import ESC10_CATEGORIES, ESC50_CATEGORIES
from avbench.synth.signals import class_signature, render

ESC50_HEADER = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
#: DCASE 2013 Task 1 scene classes (the official names, sorted).
DCASE2013_CLASSES = ("bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant",
                     "supermarket", "tube", "tubestation")

#: what :func:`write_corrupt_audio` puts in its good files: a sine of this frequency (Hz) lasting this long (s).
TONE_HZ = 1000.0
TONE_SECONDS = 1.5


# ---- wav writing ------------------------------------------------------------------------------------------
def write_wav(path: Path, data: np.ndarray, sample_rate: int, sample_format: str = "s16") -> Path:
    """Write ``data`` ``[channels, samples]`` (floats in [-1, 1]) as a RIFF/WAVE file.

    sample_format: "s16" / "s24" (integer PCM, format tag 1) or "f32" (IEEE float, format tag 3).
    """
    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    channels, _ = data.shape
    inter = np.clip(data.T, -1.0, 1.0)  # [samples, channels], interleaved on write
    if sample_format == "s16":
        payload, tag, width = np.round(inter * 32767).astype("<i2").tobytes(), 1, 2
    elif sample_format == "s24":
        ints = np.round(inter * (2 ** 23 - 1)).astype("<i4").reshape(-1)
        payload, tag, width = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), 1, 3
    elif sample_format == "f32":
        payload, tag, width = inter.astype("<f4").tobytes(), 3, 4
    else:
        raise ValueError(f"unknown sample_format {sample_format!r} (s16, s24, f32)")
    block = channels * width
    fmt = struct.pack("<HHIIHH", tag, channels, sample_rate, sample_rate * block, block, 8 * width)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if tag == 3:  # non-PCM formats carry a fact chunk (sample frames per channel)
        chunks += b"fact" + struct.pack("<II", 4, data.shape[1])
    chunks += b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


def _write_marker(out: Path, info: dict) -> None:
    (out / "avbench_fixture.json").write_text(json.dumps({"synthetic": True, "writer": "avbench.synth.audio_fixtures",
                                                          **info}, indent=1, sort_keys=True) + "\n")


# ---- ESC-50 -----------------------------------------------------------------------------------------------
def _esc50_rows(rng: np.random.Generator, n_classes: int, clips_per_class: int) -> list[dict]:
    """Rows of meta/esc50.csv: per class, clips spread evenly over 5 folds, grouped into source recordings of
    1-3 takes (A, B, C) that never cross a fold."""
    used: set[int] = set()
    rows = []
    for target in range(n_classes):
        per_fold = [clips_per_class // 5 + (1 if f < clips_per_class % 5 else 0) for f in range(5)]
        rng.shuffle(per_fold)
        for fold, count in enumerate(per_fold, start=1):
            left = count
            while left > 0:
                takes = min(left, int(rng.choice([1, 1, 2, 2, 3])))
                while True:
                    src = int(rng.integers(1000, 260000))
                    if src not in used:
                        used.add(src)
                        break
                for take in "ABC"[:takes]:
                    rows.append({"fold": fold, "target": target, "category": ESC50_CATEGORIES[target],
                                 "esc10": str(ESC50_CATEGORIES[target] in ESC10_CATEGORIES), "src_file": str(src),
                                 "take": take, "filename": f"{fold}-{src}-{take}-{target}.wav"})
                left -= takes
    rows.sort(key=lambda r: r["filename"])
    return rows


def write_esc50(out: Path, *, n_classes: int = 10, clips_per_class: int = 10, seconds: float = 5.0, seed: int = 0,
                variety: bool = True) -> Path:
    """Write a synthetic ESC-50 in the official layout under ``out``; returns ``out``.

    ``n_classes`` (<= 50) of the real categories in target order, ``clips_per_class`` clips each, over the 5
    folds. With ``variety``: most files 44.1 kHz mono 16-bit (as the real set), others 22.05/48 kHz, stereo,
    24-bit or float; durations between 0.8 x and 1 x ``seconds``; some clips end in digital silence.
    Without: every file 44.1 kHz mono 16-bit, exactly ``seconds`` long.
    """
    if not 1 <= n_classes <= len(ESC50_CATEGORIES):
        raise ValueError(f"n_classes must be 1..{len(ESC50_CATEGORIES)}, got {n_classes}")
    if clips_per_class < 1:
        raise ValueError("clips_per_class must be >= 1")
    out = Path(out)
    rng = np.random.default_rng([seed, 50])
    rows = _esc50_rows(rng, n_classes, clips_per_class)
    variants = {0: ("rate", 22050), 1: ("rate", 48000), 2: ("channels", 2), 3: ("format", "s24"),
                4: ("format", "f32")}
    slots = rng.permutation(len(rows))
    for row, slot in zip(rows, slots):
        frng = np.random.default_rng([seed, 50, row["target"], int(row["src_file"]), ord(row["take"])])
        sr, ch, fmt, dur = 44100, 1, "s16", seconds
        if variety:
            kind, value = variants.get(int(slot) % 20, (None, None))  # 1 file in 4 departs from the norm
            sr = value if kind == "rate" else sr
            ch = value if kind == "channels" else ch
            fmt = value if kind == "format" else fmt
            dur = round(float(frng.uniform(0.8, 1.0)) * seconds, 3)
        audio = render(class_signature(row["target"], n_classes), seconds=dur, sample_rate=sr, rng=frng,
                       channels=ch, event=True, silence_tail=variety and frng.uniform() < 0.3)
        write_wav(out / "audio" / row["filename"], audio, sr, fmt)
    (out / "meta").mkdir(parents=True, exist_ok=True)
    lines = [",".join(ESC50_HEADER)] + [",".join(str(r[k]) for k in ESC50_HEADER) for r in rows]
    (out / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    _write_marker(out, {"dataset": "esc50", "n_classes": n_classes, "clips_per_class": clips_per_class,
                        "seconds": seconds, "seed": seed, "variety": variety, "files": len(rows)})
    return out


# ---- DCASE 2013 -------------------------------------------------------------------------------------------
def write_dcase2013(out: Path, *, n_classes: int = 10, per_class: int = 4, seconds: float = 8.0, seed: int = 0) -> Path:
    """Write a synthetic DCASE 2013 scene set (train and test, ``per_class`` recordings of each of the first
    ``n_classes`` classes in each) in the CrissCross layout under ``out``; returns ``out``.

    Stereo 44.1 kHz 16-bit wav named ``<class>NN.wav`` with non-consecutive 2-digit NN; train and test reuse
    some names, as the official sets do.
    """
    if not 1 <= n_classes <= len(DCASE2013_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(DCASE2013_CLASSES)}, got {n_classes}")
    if not 1 <= per_class <= 40:
        raise ValueError("per_class must be 1..40")
    out = Path(out)
    rng = np.random.default_rng([seed, 2013])
    dirs = {"train": out / "set1" / "scenes_stereo" / "scenes_stereo",
            "test": out / "set1" / "scenes_stereo_testset" / "scenes_stereo_testset"}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(DCASE2013_CLASSES[:n_classes]):
        pool = rng.permutation(np.arange(1, 100))
        train_nums = sorted(int(x) for x in pool[:per_class])
        test_nums = sorted({train_nums[0]} | {int(x) for x in pool[per_class:2 * per_class - 1]})
        for side, nums in (("train", train_nums), ("test", test_nums)):
            for nn in nums:
                frng = np.random.default_rng([seed, 2013, k, nn, side == "test"])
                audio = render(class_signature(k, n_classes, family=1), seconds=seconds, sample_rate=44100,
                               rng=frng, channels=2, event=False)
                write_wav(dirs[side] / f"{name}{nn:02d}.wav", audio, 44100, "s16")
    _write_marker(out, {"dataset": "dcase2013", "n_classes": n_classes, "per_class": per_class, "seconds": seconds,
                        "seed": seed, "files": 2 * n_classes * per_class})
    return out


# ---- files for decode tests -------------------------------------------------------------------------------
def _tone(sample_rate: int, seconds: float, channels: int) -> np.ndarray:
    t = np.arange(int(round(sample_rate * seconds))) / sample_rate
    x = 0.5 * np.sin(2 * np.pi * TONE_HZ * t)
    return np.stack([x * (1.0 if c == 0 else 0.8) for c in range(channels)])


def _encode(path: Path, *, audio: tuple[str, int, int] | None = None, video: str | None = None,
            seconds: float = TONE_SECONDS, audio_options: dict | None = None) -> Path:
    """Encode with PyAV: ``audio`` = (codec, rate, channels) carrying the test tone; ``video`` = codec of a
    small moving-gradient video (64x48, 10 fps)."""
    with av.open(str(path), mode="w") as c:
        vs = None
        if video is not None:
            vs = c.add_stream(video, rate=10)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        as_ = None
        if audio is not None:
            codec, rate, ch = audio
            as_ = c.add_stream(codec, rate=rate, layout="mono" if ch == 1 else "stereo", options=audio_options or {})
        if vs is not None:
            for i in range(int(round(seconds * 10))):
                img = np.zeros((48, 64, 3), dtype=np.uint8)
                img[..., 0] = (np.arange(64)[None, :] * 4 + i * 10) % 256
                img[..., 1] = (np.arange(48)[:, None] * 5) % 256
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                frame.time_base = Fraction(1, 10)
                for p in vs.encode(frame):
                    c.mux(p)
            for p in vs.encode(None):
                c.mux(p)
        if as_ is not None:
            codec, rate, ch = audio
            data = _tone(rate, seconds, ch).astype(np.float32)
            layout = "mono" if ch == 1 else "stereo"
            for start in range(0, data.shape[1], 4096):
                chunk = np.ascontiguousarray(data[:, start:start + 4096])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
                for p in as_.encode(frame):
                    c.mux(p)
            for p in as_.encode(None):
                c.mux(p)
    return path


def write_corrupt_audio(out: Path) -> dict[str, Path]:
    """Write good and damaged audio files under ``out`` for decode tests; returns name -> path.

    Good (a :data:`TONE_HZ` sine, :data:`TONE_SECONDS` long): ``wav_s16`` (44.1 kHz mono), ``wav_s24``
    (48 kHz stereo), ``wav_f32`` (22.05 kHz mono float), ``ogg_vorbis`` (8 kHz stereo), ``mp3`` (44.1 kHz mono),
    ``m4a`` (AAC in MP4, 44.1 kHz stereo), ``avi_with_audio`` (MPEG-4 video + MP3 audio), ``mp4_with_audio``
    (H.264 video + AAC audio), ``too_short`` (a 0.05-s wav: decodes, too short for a clip).
    Bad: ``zero_byte`` (empty .wav), ``not_audio`` (a text file named .wav), ``truncated`` (header declares 1.5 s,
    1.0 s present: decodes with a note), ``header_only`` (header declares 1.5 s, no data), ``tiny`` (5 ms: below
    the 10-ms floor), ``video_only_mp4`` and ``video_only_avi`` (no audio stream), ``corrupt_middle`` (the mp3
    with 400 random bytes a third of the way in: decodes, minus the damaged packets, with a note).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    f["wav_s16"] = write_wav(out / "tone_s16.wav", _tone(44100, TONE_SECONDS, 1), 44100, "s16")
    f["wav_s24"] = write_wav(out / "tone_s24_stereo.wav", _tone(48000, TONE_SECONDS, 2), 48000, "s24")
    f["wav_f32"] = write_wav(out / "tone_f32.wav", _tone(22050, TONE_SECONDS, 1), 22050, "f32")
    f["ogg_vorbis"] = _encode(out / "tone_stereo_8k.ogg", audio=("vorbis", 8000, 2),
                              audio_options={"strict": "experimental"})
    f["mp3"] = _encode(out / "tone.mp3", audio=("libmp3lame", 44100, 1))
    f["m4a"] = _encode(out / "tone.m4a", audio=("aac", 44100, 2))
    f["avi_with_audio"] = _encode(out / "video_audio.avi", audio=("libmp3lame", 44100, 2), video="mpeg4")
    f["mp4_with_audio"] = _encode(out / "video_audio.mp4", audio=("aac", 48000, 2), video="libx264")
    f["too_short"] = write_wav(out / "short_50ms.wav", _tone(16000, 0.05, 1), 16000, "s16")
    f["video_only_mp4"] = _encode(out / "video_only.mp4", video="libx264")
    f["video_only_avi"] = _encode(out / "video_only.avi", video="mpeg4")
    f["zero_byte"] = out / "zero_byte.wav"
    f["zero_byte"].write_bytes(b"")
    f["not_audio"] = out / "not_audio.wav"
    f["not_audio"].write_text("this is a text file, not audio\n" * 20)
    full = write_wav(out / "_full.wav", _tone(16000, TONE_SECONDS, 1), 16000, "s16").read_bytes()
    header = 44  # RIFF + fmt + data headers of a PCM file from write_wav
    f["truncated"] = out / "truncated.wav"
    f["truncated"].write_bytes(full[: header + 2 * 16000])  # 1.0 s of 1.5 s declared
    f["header_only"] = out / "header_only.wav"
    f["header_only"].write_bytes(full[:header])
    (out / "_full.wav").unlink()
    f["tiny"] = write_wav(out / "tiny_5ms.wav", _tone(16000, 0.005, 1), 16000, "s16")
    damaged = bytearray(f["mp3"].read_bytes())
    at = len(damaged) // 3
    damaged[at:at + 400] = np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes()
    f["corrupt_middle"] = out / "corrupt_middle.mp3"
    f["corrupt_middle"].write_bytes(bytes(damaged))
    return f
