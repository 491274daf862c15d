"""Fixture writer for VGG-Sound: a tiny synthetic copy in the release layout, with real H.264 + AAC videos.

:func:`write_vggsound` writes ``vggsound.csv`` (no header; ``ytid,start,label,split``; labels with commas quoted,
as in the real file) and one ``<ytid>_<start:06d>.mp4`` per written row. Every video is 3 s of 64x48 frames at
16, 20, 24 or 25 fps (H.264, or mpeg4 where libx264 is missing) with a mono 16 kHz AAC track. The class shows in
both streams (the drifting grating + moving blob of :func:`avbench.synth.video_fixtures.render_frames` and the
class sound of :mod:`avbench.synth.signals`); each video also draws its own colours, phases, static noise
texture, blob path, pitch/noise jitter and background noise, so no two videos are alike (instance retrieval and
AugVGG fingerprinting need every clip to be unique). Deterministic for a seed; the root gets
``avbench_fixture.json``.

Not registered in :mod:`avbench.synth.defaults` (that file has its own owner); a synthetic default would be e.g.
``"vggsound": ("vggsound-synthetic-v1", lambda out: write_vggsound(out, n_classes=6, train_per_class=6,
test_per_class=3, missing=2, seed=0))``.
"""
from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from avbench.synth.video_fixtures import VideoSpec, h264_encoder, write_class_video

#: real VGG-Sound labels (as vggsound.csv spells them); the first has a comma, so every fixture has a quoted label.
VGGSOUND_FIXTURE_CLASSES = (
    "male speech, man speaking", "dog barking", "engine accelerating, revving, vroom", "playing acoustic guitar",
    "church bell ringing", "female speech, woman speaking", "cat purring", "helicopter", "people marching",
    "typing on computer keyboard", "bird chirping, tweeting", "lions roaring",
)
#: ``layout`` -> folder of a clip (relative to the root), from its split and label.
LAYOUTS = ("video", "flat", "split", "class_folders")
#: frame rates the fixture videos use (Hz), by video index.
FIXTURE_FPS = (Fraction(25), Fraction(16), Fraction(24), Fraction(20))
FIXTURE_SECONDS = 3.0

_YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _folder(out: Path, layout: str, split: str, label: str) -> Path:
    if layout == "video":
        return out / "video"
    if layout == "flat":
        return out
    if layout == "split":
        return out / split
    return out / split / label.replace(" ", "_").replace(",", "")


def write_vggsound(out: Path, *, n_classes: int = 4, train_per_class: int = 4, test_per_class: int = 2,
                   missing: int = 1, layout: str = "video", seed: int = 0) -> Path:
    """Write a synthetic VGG-Sound under ``out``; returns ``out``.

    Classes: the first ``n_classes`` of :data:`VGGSOUND_FIXTURE_CLASSES`. ``train_per_class`` / ``test_per_class``
    videos per class, plus ``missing`` extra rows per split (random class) whose video is not written.
    ``layout``: "video" (``video/<id>.mp4``, as the release tarballs unpack), "flat" (``<id>.mp4``), "split"
    (``{train,test}/<id>.mp4``) or "class_folders" (``<split>/<label_>/<id>.mp4``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not 1 <= n_classes <= len(VGGSOUND_FIXTURE_CLASSES):
        raise ValueError(f"n_classes must be 1..{len(VGGSOUND_FIXTURE_CLASSES)}, got {n_classes}")
    if train_per_class < 1 or test_per_class < 1 or missing < 0:
        raise ValueError("need train_per_class >= 1, test_per_class >= 1, missing >= 0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(VGGSOUND_FIXTURE_CLASSES[:n_classes])
    codec = h264_encoder()
    rng = np.random.default_rng([seed, 309])
    used: set[str] = set()
    rows: list[list[str]] = []
    i = 0
    for split, per in (("train", train_per_class), ("test", test_per_class)):
        plan = [(k, True) for k in range(n_classes) for _ in range(per)]
        plan += [(int(rng.integers(n_classes)), False) for _ in range(missing)]
        for k, written in plan:
            ytid = "".join(_YT_ALPHABET[int(j)] for j in rng.integers(0, len(_YT_ALPHABET), 11))
            while ytid in used:
                ytid = "".join(_YT_ALPHABET[int(j)] for j in rng.integers(0, len(_YT_ALPHABET), 11))
            used.add(ytid)
            start = int(rng.integers(0, 290))
            rows.append([ytid, str(start), names[k], split])
            if not written:
                continue
            vrng = np.random.default_rng([seed, 309, i])
            spec = VideoSpec(codec, FIXTURE_FPS[i % len(FIXTURE_FPS)], FIXTURE_SECONDS, audio=("aac", 16000))
            write_class_video(_folder(out, layout, split, names[k]) / f"{ytid}_{start:06d}.mp4", k, n_classes, spec,
                              vrng)
            i += 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(sorted(rows, key=lambda r: (r[0], int(r[1]))))
    (out / "vggsound.csv").write_text(buf.getvalue())
    marker = {"synthetic": True, "writer": "avbench.synth.vggsound_fixtures", "dataset": "vggsound",
              "classes": names, "train_per_class": train_per_class, "test_per_class": test_per_class,
              "missing": missing, "layout": layout, "codec": codec, "seed": seed, "files": i}
    (out / "avbench_fixture.json").write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
    return out
