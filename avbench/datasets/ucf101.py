"""UCF101 (Soomro et al. 2012): 13,320 clips, 101 actions, 25 groups, 3 official train/test splits.

Layout (``UCF101.rar`` and ``UCF101TrainTestSplits-RecognitionTask.zip`` unpacked side by side)::

    root/UCF-101/<Class>/v_<Class>_gGG_cCC.avi     (``root/UCF101/`` is accepted when ``UCF-101/`` is absent)
    root/ucfTrainTestlist/classInd.txt             "1 ApplyEyeMakeup" (1-based; label = index - 1)
    root/ucfTrainTestlist/trainlist0{1,2,3}.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    root/ucfTrainTestlist/testlist0{1,2,3}.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi" (no label)

The list files have CRLF line ends and trailing blank lines. The class comes from the FOLDER part of a listed
path: in the real set the folder ``HandstandPushups`` holds ``v_HandStandPushups_*`` files. Sample id = the
listed path without extension (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01``); group = ``gGG`` from the file name
(split k tests groups 7(k-1)+1..7k, so grouped CV on ``gGG`` mirrors the official splits). Splits
``split1..3`` (those whose two lists exist). ``expected`` counts every distinct listed file; listed files
that do not exist are :class:`Skip` records; a listed path that climbs out of the video folder
(``../../etc/passwd``) is a refused Skip, never opened. Malformed lists raise :class:`DatasetError` naming file:line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
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
    read_utf8,
    refused,
    refused_notes,
    safe_join,
)

VIDEO_DIRS = ("UCF-101", "UCF101")
LIST_DIR = "ucfTrainTestlist"
SPLITS = (1, 2, 3)
_FILE = re.compile(r"^v_.+_(?P<group>g\d+)_c\d+\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class _Entry:
    where: str  # "file:line"
    rel: str  # listed path, e.g. "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    folder: str
    group: str


def read_lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines of a list file (CRLF or LF, BOM tolerated)."""
    text = read_utf8(path)
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def parse_class_ind(path: Path) -> list[str]:
    """Class names in label order from ``classInd.txt`` (indices must be 1..N, each once)."""
    by_index: dict[int, tuple[str, int]] = {}
    names: dict[str, int] = {}
    for line, text in read_lines(path):
        fields = text.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise DatasetError(f"{path}:{line}: expected '<index> <ClassName>', got {text!r}")
        index, name = int(fields[0]), fields[1]
        if index in by_index:
            raise DatasetError(f"{path}:{line}: index {index} repeats line {by_index[index][1]}")
        if name in names:
            raise DatasetError(f"{path}:{line}: class {name!r} repeats line {names[name]}")
        by_index[index], names[name] = (name, line), line
    if not by_index:
        raise DatasetError(f"{path}: no classes")
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise DatasetError(f"{path}: indices are not 1..{len(by_index)} (got {sorted(by_index)[:5]}...)")
    return [by_index[i][0] for i in range(1, len(by_index) + 1)]


def parse_split_list(path: Path, classes: list[str], *, labelled: bool) -> list[_Entry]:
    """Entries of a train (``labelled``: "<Class>/<file> <label>") or test ("<Class>/<file>") list; the folder
    must be a classInd class and a given label must be that class's index."""
    index = {c: i + 1 for i, c in enumerate(classes)}
    out: list[_Entry] = []
    for line, text in read_lines(path):
        where = f"{path}:{line}"
        fields = text.split()
        if escapes(Path(VIDEO_DIRS[0]), fields[0].replace("\\", "/")):  # e.g. ../../etc/passwd: refused on loading
            out.append(_Entry(where, fields[0].replace("\\", "/"), "", ""))
            continue
        if len(fields) not in ((2,) if labelled else (1, 2)):
            raise DatasetError(f"{where}: expected '<Class>/<file>.avi{' <label>' if labelled else ''}', got {text!r}")
        rel = fields[0].replace("\\", "/")
        parts = rel.split("/")
        if len(parts) != 2 or not all(parts):
            raise DatasetError(f"{where}: path {rel!r} is not '<Class>/<file>'")
        folder, name = parts
        if folder not in index:
            raise DatasetError(f"{where}: class folder {folder!r} is not in classInd.txt")
        if len(fields) == 2:
            if not fields[1].isdigit():
                raise DatasetError(f"{where}: label {fields[1]!r} is not an integer")
            if int(fields[1]) != index[folder]:
                raise DatasetError(f"{where}: label {fields[1]} disagrees with classInd.txt ({folder} is {index[folder]})")
        m = _FILE.match(name)
        if not m:
            raise DatasetError(f"{where}: file name {name!r} is not v_<Class>_gGG_cCC.<ext> (the group is needed)")
        out.append(_Entry(where, rel, folder, m.group("group")))
    return out


def _video_dir(root: Path) -> Path:
    for name in VIDEO_DIRS:
        if (root / name).is_dir():
            return root / name
    raise DatasetError(f"ucf101: no video folder under {root} (expected {' or '.join(VIDEO_DIRS)}/<Class>/*.avi)")


class UCF101(DatasetAdapter):
    """UCF101 adapter: ``load(root)`` (see the module docstring)."""

    name = "ucf101"
    modality = "audiovisual"

    def load(self, root: Path) -> Manifest:
        """Parse every list under ``root/ucfTrainTestlist`` (all errors before any file check), then look up
        the listed files under the video folder."""
        root = Path(root).expanduser().resolve()
        lists = root / LIST_DIR
        class_ind = lists / "classInd.txt"
        if not class_ind.is_file():
            raise DatasetError(f"ucf101: {class_ind} not found (expected the official layout: ROOT/{LIST_DIR}/ "
                               f"from UCF101TrainTestSplits-RecognitionTask.zip and ROOT/UCF-101/)")
        classes = parse_class_ind(class_ind)
        parsed: dict[int, dict[str, list[_Entry]]] = {}
        notes: list[str] = []
        for k in SPLITS:
            train, test = lists / f"trainlist0{k}.txt", lists / f"testlist0{k}.txt"
            if not train.is_file() and not test.is_file():
                notes.append(f"split{k}: no trainlist0{k}.txt / testlist0{k}.txt, split left out")
                continue
            for p in (train, test):
                if not p.is_file():
                    raise DatasetError(f"ucf101: {p} not found but its partner list exists (half a split)")
            parsed[k] = {"train": parse_split_list(train, classes, labelled=True),
                         "test": parse_split_list(test, classes, labelled=False)}
        if not parsed:
            raise DatasetError(f"ucf101: no trainlist0k.txt / testlist0k.txt under {lists}")
        first: dict[str, _Entry] = {}
        for k, sides in parsed.items():
            seen: dict[str, str] = {}
            for side, entries in sides.items():
                for e in entries:
                    if e.rel in seen:
                        raise DatasetError(f"{e.where}: {e.rel!r} is listed again in split{k} (first at {seen[e.rel]})")
                    seen[e.rel] = e.where
                    first.setdefault(e.rel, e)
        video_dir = _video_dir(root)
        notes.insert(0, f"UCF101 at {root}: videos in {video_dir.name}/, {len(classes)} classes in classInd.txt")
        label = {c: i for i, c in enumerate(classes)}
        samples: list[Sample] = []
        skipped: list[Skip] = []
        for rel in sorted(first):
            e = first[rel]
            try:
                path = safe_join(video_dir, rel, what=e.where)
            except PathOutsideRoot as exc:
                skipped.append(refused(rel, exc))
                continue
            sid = rel.rsplit(".", 1)[0]
            if path.is_file():
                samples.append(Sample(sid, path, label[e.folder], e.group))
            else:
                skipped.append(Skip(sid, str(path), "missing file"))
        samples.sort(key=lambda s: s.id)
        found = {s.id for s in samples}
        splits = {f"split{k}": {side: sorted(i for i in (e.rel.rsplit(".", 1)[0] for e in entries) if i in found)
                                for side, entries in sides.items()} for k, sides in parsed.items()}
        on_disk = {d.name for d in os.scandir(video_dir) if d.is_dir()}
        extra = sorted(on_disk - set(classes))
        if extra:
            notes.append(f"class folder(s) on disk but not in classInd.txt (ignored): {extra[:10]}")
        absent = sorted(set(classes) - on_disk)
        if absent:
            notes.append(f"{len(absent)} classInd class(es) have no folder under {video_dir.name}/: {absent[:10]}")
        missing = [s for s in skipped if not s.reason.startswith("refused:")]
        if missing:
            notes.append(f"{len(missing)} listed file(s) missing under {video_dir}")
        notes.extend(refused_notes(skipped))
        return Manifest("ucf101", root, samples, classes, splits, expected=len(first), skipped=skipped, notes=notes)

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / "ucfTrainTestlist" / "classInd.txt").is_file()

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        from avbench.synth.video_fixtures import write_ucf101

        given = {k: v for k, v in (("n_classes", n_classes), ("clips_per_group", per_class)) if v is not None}
        return write_ucf101(out, seed=seed, **given, **{k: v for k, v in options.items() if v is not None})

    def write_synthetic(self, out: Path) -> Path:
        # >= 20 training videos per split, so retrieval at R@20 has enough neighbours
        return self.write_fixture(out, n_classes=6, groups=3, per_class=2, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_ucf101

        return inject_ucf101(root, corpus, names, **options)

