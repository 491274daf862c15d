"""HMDB51 (Kuehne et al. 2011): 6,766 clips, 51 actions, 3 official 70/30 splits.

Layout (``hmdb51_org.rar`` with its nested class archives and ``test_train_splits.rar`` unpacked)::

    root/<video root>/<class>/<video>.avi                  video root: root itself, hmdb51_org/, HMDB-51/ or
                                                           videos/ -- whichever holds the class folders
    root/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   "<video>.avi <id> " with id 1 = train,
                                                                    2 = test, 0 = unused (trailing spaces)

File names contain ``&``, ``()``, ``;``, ``#``, ``!`` (a line is split at its LAST whitespace). Classes are the
sorted class names of the split files (the CrissCross/AVID code uses ``sorted(os.listdir(video root))``, the
same list in the real set; a difference is noted). Sample id = ``<class>/<video stem>``; group = the source
movie, the part of the stem before the last ``_<class>_`` (the whole stem when the class does not occur):
HMDB has no official groups. Splits ``split1..3``: train = id 1, test = id 2. ``expected`` counts every
distinct (class, video) the split files list; a listed file that does not exist is a :class:`Skip`
("missing file", or "missing file (no folder <class>)" when the whole class folder is absent); a listed name that
climbs out of its class folder (``../../etc/passwd``) is a refused Skip, never opened. Malformed split
files raise :class:`DatasetError` naming file:line before any file is looked up.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from avbench.datasets.base import (
    DatasetAdapter,
    DatasetError,
    Manifest,
    PathOutsideRoot,
    Sample,
    Skip,
    escapes,
    refused,
    refused_notes,
    safe_join,
)
from avbench.datasets.ucf101 import read_lines

SPLIT_DIRS = ("testTrainMulti_7030_splits", "test_train_splits/testTrainMulti_7030_splits")
VIDEO_ROOTS = ("hmdb51_org", "HMDB-51", "videos", ".")
SPLITS = (1, 2, 3)
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<k>\d+)\.txt$")
_MARKERS = {"0": 0, "1": 1, "2": 2}


def parse_split_file(path: Path) -> dict[str, int]:
    """``{video file name: 0|1|2}`` of one ``<class>_test_splitK.txt`` (a name listed twice is an error)."""
    out: dict[str, int] = {}
    first: dict[str, int] = {}
    for line, text in read_lines(path):
        fields = text.rsplit(None, 1)
        if len(fields) != 2 or fields[1] not in _MARKERS:
            raise DatasetError(f"{path}:{line}: expected '<video>.avi <0|1|2>', got {text!r}")
        name = fields[0].strip()
        nested = "/" in name or "\\" in name
        if name in (".", "..") or (nested and not escapes(Path("class"), name.replace("\\", "/"))):
            raise DatasetError(f"{path}:{line}: {name!r} is not a bare file name")
        # a name that climbs out of the class folder (../../etc/passwd) is kept and refused as a skip on loading
        if name in first:
            raise DatasetError(f"{path}:{line}: {name!r} repeats line {first[name]}")
        first[name] = line
        out[name] = _MARKERS[fields[1]]
    return out


def movie_group(stem: str, cls: str) -> str:
    """Source movie of an HMDB clip: the stem before the last ``_<cls>_`` (the whole stem if absent)."""
    at = stem.rfind(f"_{cls}_")
    return stem[:at] if at > 0 else stem


def _split_dir(root: Path) -> Path:
    for name in SPLIT_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(f"hmdb51: no split folder under {root} (expected {SPLIT_DIRS[0]}/ from test_train_splits.rar)")


def _video_root(root: Path, classes: list[str]) -> tuple[Path, set[str]]:
    """The candidate folder holding the most class folders, and the class folders it holds."""
    best: tuple[int, Path, set[str]] | None = None
    for name in VIDEO_ROOTS:
        d = root / name if name != "." else root
        if not d.is_dir():
            continue
        dirs = {e.name for e in os.scandir(d) if e.is_dir()}
        hits = len(dirs & set(classes))
        if hits and (best is None or hits > best[0]):
            best = (hits, d, dirs)
    if best is None:
        raise DatasetError(f"hmdb51: none of {[str(root / n) for n in VIDEO_ROOTS]} holds a class folder "
                           f"(e.g. {classes[0]}/); expected ROOT/hmdb51_org/<class>/*.avi")
    return best[1], best[2]


class HMDB51(DatasetAdapter):
    """HMDB51 adapter: ``load(root)`` (see the module docstring)."""

    name = "hmdb51"
    modality = "video"

    def load(self, root: Path) -> Manifest:
        """Parse every split file (all errors first), find the video root, then look up the listed files."""
        root = Path(root).expanduser().resolve()
        split_dir = _split_dir(root)
        files: dict[str, dict[int, Path]] = {}
        for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
            m = _SPLIT_FILE.match(entry.name)
            if m and entry.is_file():
                files.setdefault(m.group("cls"), {})[int(m.group("k"))] = Path(entry.path)
        if not files:
            raise DatasetError(f"hmdb51: no <class>_test_split<k>.txt files in {split_dir}")
        split_ids = sorted({k for per in files.values() for k in per})
        unknown = [k for k in split_ids if k not in SPLITS]
        if unknown:
            raise DatasetError(f"hmdb51: split number(s) {unknown} in {split_dir}; the official splits are 1, 2, 3")
        for cls, per in files.items():
            lacking = [k for k in split_ids if k not in per]
            if lacking:
                raise DatasetError(f"hmdb51: {split_dir / f'{cls}_test_split{lacking[0]}.txt'} not found "
                                   f"(other classes have split {lacking[0]})")
        classes = sorted(files)
        marks = {cls: {k: parse_split_file(p) for k, p in per.items()} for cls, per in files.items()}
        video_root, on_disk = _video_root(root, classes)
        label = {c: i for i, c in enumerate(classes)}
        notes = [f"HMDB51 at {root}: videos in {video_root}, {len(classes)} classes from {split_dir.name}/"]
        if on_disk != set(classes):
            notes.append(f"class folders differ from the split files' classes: only on disk "
                         f"{sorted(on_disk - set(classes))[:10]}, only in split files {sorted(set(classes) - on_disk)[:10]}"
                         f" (sorted(os.listdir) would give different labels)")
        samples: list[Sample] = []
        skipped: list[Skip] = []
        listed: dict[str, str] = {}  # sample id -> class
        n_refused = 0
        for cls in classes:
            names = sorted({n for per in marks[cls].values() for n in per})
            for name in names:
                try:
                    path = safe_join(video_root / cls, name.replace("\\", "/"), what=str(files[cls][split_ids[0]]))
                except PathOutsideRoot as exc:
                    skipped.append(refused(name, exc))
                    n_refused += 1
                    continue
                sid = f"{cls}/{Path(name).stem}"
                if sid in listed:
                    raise DatasetError(f"hmdb51: {cls}: two listed files give the id {sid!r}")
                listed[sid] = cls
                if cls not in on_disk:
                    skipped.append(Skip(sid, str(path), f"missing file (no folder {cls})"))
                elif path.is_file():
                    samples.append(Sample(sid, path, label[cls], movie_group(Path(name).stem, cls)))
                else:
                    skipped.append(Skip(sid, str(path), "missing file"))
        samples.sort(key=lambda s: s.id)
        found = {s.id for s in samples}
        splits: dict[str, dict[str, list[str]]] = {}
        for k in split_ids:
            sides: dict[str, list[str]] = {"train": [], "test": []}
            for cls in classes:
                for name, mark in marks[cls][k].items():
                    sid = f"{cls}/{Path(name).stem}"
                    if mark and sid in found and not escapes(Path(cls), name.replace("\\", "/")):
                        sides["train" if mark == 1 else "test"].append(sid)
            splits[f"split{k}"] = {side: sorted(ids) for side, ids in sides.items()}
        no_folder = sorted({listed[s.id] for s in skipped if s.reason.startswith("missing file (no folder")})
        if no_folder:
            notes.append(f"no video folder for class(es) {no_folder}: their files are skipped")
        missing = [s for s in skipped if not s.reason.startswith("refused:")]
        if missing:
            notes.append(f"{len(missing)} listed file(s) missing under {video_root}")
        notes.extend(refused_notes(skipped))
        return Manifest("hmdb51", root, samples, classes, splits, expected=len(listed) + n_refused,
                        skipped=skipped, notes=notes)

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any((Path(root) / d).is_dir() for d in SPLIT_DIRS)

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        from avbench.synth.video_fixtures import write_hmdb51

        given = {k: v for k, v in (("n_classes", n_classes), ("per_class", per_class)) if v is not None}
        return write_hmdb51(out, seed=seed, **given, **options)

    def write_synthetic(self, out: Path) -> Path:
        return self.write_fixture(out, n_classes=5, per_class=9, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_hmdb51

        return inject_hmdb51(root, corpus, names, **options)

