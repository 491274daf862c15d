"""The HMDB51 fixture writer: ``hmdb51_org/<class>/<movie>_<class>_<b>_<cm>_<np>_<view>_<q>_<n>.avi`` and
``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from avbench.datasets.official import HMDB51_CLASSES
from avbench.synth.video_render import avi_spec, write_class_video, write_marker

#: movie names in the HMDB style, with the special characters the real file names contain.
HMDB_MOVIES = (
    "April_09", "(Rad)Schlag_die_Bank!", "Tom_&_Jerry_Show", "#20_Rhythm", "Pirates;_At_World's_End",
    "Bodenturnen_2004", "Glory_(1989)", "Hitch!_Part_2", "Veoh_Alpha_Dog", "Fellowship_#7",
)


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
            write_class_video(out / "hmdb51_org" / cls / name, k, n_classes, avi_spec(i + 1, vrng), vrng)
            i += 1
        for split in (1, 2, 3):
            ordered = sorted(names)
            unused = next((name for name, m in reversed(ordered)
                           if m != split - 1 and sum(mm == m for _, mm in names) > 1), None)
            lines = [f"{name} {0 if name == unused else 2 if m == split - 1 else 1} " + (" " if j % 4 == 3 else "")
                     for j, (name, m) in enumerate(ordered)]
            (splits_dir / f"{cls}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
    write_marker(out, {"dataset": "hmdb51", "n_classes": n_classes, "classes": list(HMDB51_CLASSES[:n_classes]),
                        "per_class": per_class, "seed": seed, "files": i})
    return out

