"""Windowed vs whole-file video decoding: the time to cut one short random clip from a long video.

Writes two 60-s 320x240 fixture videos with the fixture writer (:func:`avbench.synth.video_render.write_class_video`):
MPEG-4 part 2 in AVI (a keyframe every 12 frames, as UCF101/HMDB51 fixtures) and H.264 in MP4 (x264's default
keyframe interval, 250 frames), then decodes one random 16-frame clip at 25 fps with the window
(``decode_clips(..., window=True)``, the default) and without (``window=False``: every frame decoded), for several
seeds, and prints per file: frames decoded and the median time of each, side by side. The two results are checked
equal (frames, starts) on every seed.

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

from avbench.media.video_decode import decode_clips
from avbench.synth.video_render import VideoSpec, h264_encoder, write_class_video


def _timed(path: Path, seed: int, window: bool):
    t0 = time.perf_counter()
    out = decode_clips(path, fps=25.0, frames=16, clips=1, sampling="random",
                       generators=[torch.Generator().manual_seed(seed)], window=window)
    return time.perf_counter() - t0, out


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


if __name__ == "__main__":
    main()
