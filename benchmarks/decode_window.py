"""Windowed vs whole-file decoding: the time to cut one short random clip from a long video, and one 2-s window from a
long WAV file.

Writes two 60-s 320x240 fixture videos with the fixture writer (:func:`avbench.synth.video_render.write_class_video`):
MPEG-4 part 2 in AVI (a keyframe every 12 frames, as UCF101/HMDB51 fixtures) and H.264 in MP4 (x264's default
keyframe interval, 250 frames), then decodes one random 16-frame clip at 25 fps with the window
(``decode_clips(..., window=True)``, the default) and without (``window=False``: every frame decoded), for several
seeds, and prints per file: frames decoded and the median time of each, side by side. The two results are checked
equal (frames, starts) on every seed.

Audio: a 60-s 44.1 kHz stereo 16-bit WAV (:func:`avbench.synth.audio_fixtures.write_wav`, noise), one random 2-s
window at 16 kHz: ``load_audio`` then slicing (whole) vs :func:`avbench.media.audio_window.load_window` (windowed),
median time and source samples decoded; the windows are checked equal.

    nice -n 10 python benchmarks/decode_window.py [--seconds 60] [--seeds 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from avbench.media.audio_decode import load_audio
from avbench.media.audio_window import audio_span, load_window
from avbench.media.video_decode import decode_clips
from avbench.synth.video_render import VideoSpec, h264_encoder, write_class_video


def _timed(path: Path, seed: int, window: bool):
    t0 = time.perf_counter()
    out = decode_clips(path, fps=25.0, frames=16, clips=1, sampling="random",
                       generators=[torch.Generator().manual_seed(seed)], window=window)
    return time.perf_counter() - t0, out


def audio_line(tmp: Path, seconds: float, seeds: int) -> str:
    """The audio comparison (module docstring) as one printed line."""
    from avbench.synth.audio_fixtures import write_wav

    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal((2, int(44100 * seconds)))).clip(-1, 1).astype(np.float32)
    path = write_wav(tmp / "long.wav", noise, 44100, "s16")
    times: dict[str, list[float]] = {"whole": [], "window": []}
    decoded = []
    for seed in range(seeds):
        span = audio_span(path, 16000)
        lo = int(np.random.default_rng(seed).integers(0, span.total - 32000))
        t0 = time.perf_counter()
        whole = load_audio(path, 16000).wave[lo:lo + 32000]
        t1 = time.perf_counter()
        got = load_window(path, audio_span(path, 16000), lo, lo + 32000)
        t2 = time.perf_counter()
        assert got is not None and torch.equal(got.wave, whole), seed
        times["whole"].append(t1 - t0)
        times["window"].append(t2 - t1)
        decoded.append(got.decoded)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return (f"wav s16 44.1 kHz stereo {seconds:.0f} s, 1 random 2-s window at 16 kHz: whole {med['whole']:7.1f} ms "
            f"({span.source_samples} samples decoded) | windowed {med['window']:7.1f} ms "
            f"({statistics.median(decoded):.0f} samples, median of {seeds}); equal windows; "
            f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seeds", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="avbench-window-") as tmp:
        for ext, codec in (("avi", "mpeg4"), ("mp4", h264_encoder())):
            spec = replace(VideoSpec(codec, Fraction(25), a.seconds), width=320, height=240)
            path = write_class_video(Path(tmp) / f"long.{ext}", 1, 4, spec, np.random.default_rng(0))
            rows = {True: [], False: []}
            for seed in range(a.seeds):
                (tw, w), (tf, f) = _timed(path, seed, True), _timed(path, seed, False)
                assert torch.equal(w.frames, f.frames) and w.starts == f.starts, (ext, seed)
                rows[True].append((tw, w.decoded_frames))
                rows[False].append((tf, f.decoded_frames))
            med = {k: statistics.median(t for t, _ in v) for k, v in rows.items()}
            dec = {k: statistics.median(n for _, n in v) for k, v in rows.items()}
            print(f"{ext} {codec:7s} {a.seconds:.0f} s 320x240, 1 random 16-frame clip: whole {med[False] * 1e3:7.1f} ms "
                  f"({dec[False]:.0f} frames decoded) | windowed {med[True] * 1e3:7.1f} ms ({dec[True]:.0f} frames, "
                  f"median of {a.seeds}); equal frames; load average {os.getloadavg()[0]:.1f}")
        print(audio_line(Path(tmp), a.seconds, a.seeds))


if __name__ == "__main__":
    main()
