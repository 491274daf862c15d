"""The Kinetics-400 fixture writer: ``annotations/{train,val,test}.csv`` and
``{train,val}/[<label_>/]<ytid>_<s>_<e>.mp4`` (one variable-frame-rate ``.mkv`` per split); ``missing`` rows have
no file."""
from __future__ import annotations

import csv
import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from avbench.synth.video_render import VideoSpec, h264_encoder, write_class_video, write_marker

#: real Kinetics-400 labels (as the CSVs spell them: spaces, parentheses) used by the default K400 fixture.
KINETICS400_FIXTURE_CLASSES = (
    "abseiling", "air drumming", "passing American football (in game)", "playing guitar",
    "riding or walking with horse", "tying knot (not on a tie eg bowtie)", "dribbling basketball", "shoveling snow",
    "blowing out candles", "tap dancing", "eating spaghetti", "juggling balls",
)
K400_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")

_YT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


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
    write_marker(out, {"dataset": "kinetics400", "classes": names, "train_per_class": train_per_class,
                        "val_per_class": val_per_class, "missing": missing, "layout": layout, "codec": codec,
                        "seed": seed, "files": i})
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue())
