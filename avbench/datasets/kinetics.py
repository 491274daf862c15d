"""Kinetics-400 (Kay et al. 2017) and its Kinetics-Sound subset, from the common YouTube-downloaded layout.

Annotations (CVDF release): CSVs with header ``label,youtube_id,time_start,time_end,split`` (a later ``is_cc``
column may follow; extra columns are ignored); split is train / val / test, and the test CSV has no labels
(test rows are ignored: Kinetics is evaluated on val). Default files, first pair found under ``root``:
``annotations/{train,val}.csv``, ``kinetics_400_{train,val}.csv``, ``kinetics400/{train,val}.csv``; option
``annotations`` names one or more CSVs instead (rows go where their ``split`` column says).

Videos: ``<ytid>_<start:06d>_<end:06d>.{mp4,avi,mkv,webm}``, in ``<split>/<label>/`` (spaces in the label
possibly replaced by ``_``) or flat in ``<split>/``. The video folders (option ``video_dirs``: one path, a list,
or ``{"train": ..., "val": ...}``; default: ``train/`` and ``val/`` (or ``validate/``, ``validation/``) under
``root``, ``root/videos`` or ``root/kinetics400``) are indexed by file stem once, recursively, so either
layout works. Copies differ between labs: a missing video is normal, a :class:`Skip` ("missing file", path
``<split>/**/<id>.*`` since no folder is known for it) counted in ``expected``. Sample id =
``<ytid>_<start:06d>_<end:06d>``; group = ytid; one split, ``official``: train = the train rows, test = the
val rows.

``id_list``: a text file of ids (one per line; ``class/<id>.avi`` lines as in published lists such as XKD's
are reduced to ``<id>``) that pins the evaluated subset: rows not in it are dropped and NOT counted in
``expected``; listed ids without a video are skips.

``kinetics400`` classes: the sorted unique labels of the train rows (as the CSV spells them).
``kinetics_sound``: the rows whose label, spaces replaced by ``_``, is in :data:`KINETICS_SOUND_CLASSES` (or the
``classes`` option: a list, or one comma-separated string); classes are those names (underscored, sorted) that
have train rows; val rows of a listed class without train rows are dropped (noted).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

from avbench.datasets.base import DatasetAdapter, DatasetError, Manifest, Sample, Skip, read_utf8, whole_seconds

#: The 32 Kinetics-Sound classes of CrissCross / XKD. Source: pritamqu/XKD
#: ``codes/eval/datasets/cache/kinetics_sound/train.txt`` (22,713 train files ``class/ytid_000012_000022.avi``).
KINETICS_SOUND_CLASSES = (
    "blowing_nose", "blowing_out_candles", "bowling", "chopping_wood", "dribbling_basketball", "laughing",
    "mowing_lawn", "playing_accordion", "playing_bagpipes", "playing_bass_guitar", "playing_clarinet",
    "playing_drums", "playing_guitar", "playing_harmonica", "playing_keyboard", "playing_organ", "playing_piano",
    "playing_saxophone", "playing_trombone", "playing_trumpet", "playing_violin", "playing_xylophone",
    "ripping_paper", "shoveling_snow", "shuffling_cards", "singing", "stomping_grapes", "strumming_guitar",
    "tap_dancing", "tapping_guitar", "tapping_pen", "tickling",
)
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm")
REQUIRED = ("youtube_id", "time_start", "time_end", "split")
DEFAULT_ANNOTATIONS = (("annotations/train.csv", "annotations/val.csv"),
                       ("kinetics_400_train.csv", "kinetics_400_val.csv"),
                       ("kinetics400/train.csv", "kinetics400/val.csv"))
PathLike = Union[str, "os.PathLike[str]"]
#: ``annotations`` option: one CSV or several (relative paths are under the root).
PathOption = Union[PathLike, Sequence[PathLike], None]
#: ``video_dirs`` option: one folder, several, or split name -> folder.
VideoDirsOption = Union[PathOption, Mapping[str, PathLike]]
_SPLIT_NAMES = {"train": "train", "val": "val", "validate": "val", "validation": "val", "test": "test"}
_VIDEO_PARENTS = (".", "videos", "kinetics400")
_DIR_NAMES = {"train": ("train",), "val": ("val", "validate", "validation")}


@dataclass(frozen=True)
class Row:
    """One annotated clip: ``where`` = "file:line"; ``split`` is "train" or "val"; times in seconds."""

    where: str
    label: str
    ytid: str
    start: int
    end: int
    split: str

    @property
    def id(self) -> str:
        return f"{self.ytid}_{self.start:06d}_{self.end:06d}"


def parse_csv(path: Path) -> tuple[list[Row], int]:
    """(train/val rows, number of test rows ignored) of one Kinetics CSV; errors name ``path:line``."""
    text = read_utf8(path)
    if not text.strip():
        raise DatasetError(f"{path}:1: empty file (expected the header label,youtube_id,time_start,time_end,split)")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    lacking = [c for c in REQUIRED if c not in header]
    if lacking:
        raise DatasetError(f"{path}:1: header lacks column(s) {lacking}; expected label,youtube_id,time_start,time_end,split")
    col = {c: header.index(c) for c in (*REQUIRED, "label") if c in header}
    rows: list[Row] = []
    tests = 0
    for fields in reader:
        where = f"{path}:{reader.line_num}"
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) < len(header):
            raise DatasetError(f"{where}: {len(fields)} fields, the header has {len(header)}")
        split_raw = fields[col["split"]].strip()
        split = _SPLIT_NAMES.get(split_raw)
        if split is None:
            raise DatasetError(f"{where}: split {split_raw!r} is not train, val or test")
        if split == "test":
            tests += 1
            continue
        label = fields[col["label"]].strip() if "label" in col else ""
        if not label:
            raise DatasetError(f"{where}: a {split} row without a label")
        ytid = fields[col["youtube_id"]].strip()
        if not ytid or any(ch in ytid for ch in "/\\ \t") or ytid in (".", ".."):
            raise DatasetError(f"{where}: bad youtube_id {ytid!r}")
        start = whole_seconds(fields[col["time_start"]].strip(), where, "time_start")
        end = whole_seconds(fields[col["time_end"]].strip(), where, "time_end")
        if end <= start:
            raise DatasetError(f"{where}: time_end {end} is not after time_start {start}")
        rows.append(Row(where, label, ytid, start, end, split))
    return rows, tests


def read_id_list(path: Path) -> set[str]:
    """Ids of a published list: one per line (blank lines and ``#`` comments skipped); the first field of a
    line, reduced to its file name without a video extension (``class/x_000012_000022.avi 3`` -> the id)."""
    ids: set[str] = set()
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name = text.split()[0].replace("\\", "/").rsplit("/", 1)[-1]
        stem, ext = os.path.splitext(name)
        ids.add(stem if ext.lower() in VIDEO_EXTS else name)
    return ids


def first_of_each_id(rows: Sequence[Any], notes: list[str]) -> list[Any]:
    """Rows (with ``.id`` and ``.where``) keeping the first of each id; a note counts the duplicates ignored."""
    first: dict[str, Any] = {}
    dups: list[str] = []
    for r in rows:
        if r.id in first:
            dups.append(f"{r.where} (first {first[r.id].where})")
            continue
        first[r.id] = r
    if dups:
        notes.append(f"{len(dups)} duplicate id(s) ignored, the first row kept; e.g. {dups[0]}")
    return list(first.values())


def load_id_list(dataset: str, root: Path, id_list: str | Path) -> set[str]:
    """:func:`read_id_list` of ``id_list`` (absolute, relative to the working directory, or to ``root``)."""
    list_path = Path(id_list).expanduser()
    if not list_path.is_absolute() and not list_path.is_file():
        list_path = root / list_path
    if not list_path.is_file():
        raise DatasetError(f"{dataset}: id_list {id_list} not found")
    return read_id_list(list_path)


def pin_to_id_list(rows: Sequence[Any], keep: set[str], id_list: str | Path, notes: list[str]) -> list[Any]:
    """The rows whose id is in ``keep``; rows outside the list are dropped (and not counted in ``expected``)."""
    before = len(rows)
    in_rows = {r.id for r in rows}
    kept = [r for r in rows if r.id in keep]
    notes.append(f"id_list {id_list}: {len(kept)} of {before} rows kept; {before - len(kept)} rows not in the "
                 f"list dropped (not counted in expected); {len(keep - in_rows)} listed id(s) are not in "
                 f"the annotations")
    return kept


def index_videos(dirs: Sequence[Path], skip_dir: Callable[[Path], bool] | None = None) -> dict[str, list[Path]]:
    """File stem -> paths of every video file (:data:`VIDEO_EXTS`) under ``dirs``, recursively (os.scandir);
    sub-folders for which ``skip_dir(path)`` is true are not entered."""
    index: dict[str, list[Path]] = {}
    stack = [str(d) for d in dirs]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir():
                    if skip_dir is None or not skip_dir(Path(e.path)):
                        stack.append(e.path)
                elif os.path.splitext(e.name)[1].lower() in VIDEO_EXTS:
                    index.setdefault(os.path.splitext(e.name)[0], []).append(Path(e.path))
    return index


def _pick(paths: list[Path], label: str) -> Path:
    """The copy of a clip to use when several files share its stem: one in its label's folder, then by
    extension preference (:data:`VIDEO_EXTS`), then by path."""
    folders = {label, label.replace(" ", "_")}
    return min(paths, key=lambda p: (p.parent.name not in folders, VIDEO_EXTS.index(p.suffix.lower()), str(p)))


def _resolve(root: Path, value: PathLike) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def _annotation_files(root: Path, annotations: PathOption) -> list[Path]:
    if annotations is None:
        for pair in DEFAULT_ANNOTATIONS:
            paths = [root / p for p in pair]
            if all(p.is_file() for p in paths):
                return paths
        raise DatasetError(f"kinetics: no annotation CSVs under {root}; looked for "
                           f"{[' + '.join(pair) for pair in DEFAULT_ANNOTATIONS]} (or pass annotations=PATH)")
    values = [annotations] if isinstance(annotations, (str, os.PathLike)) else list(annotations)
    paths = [_resolve(root, v) for v in values]
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"kinetics: annotation file {p} not found")
    return paths


def _video_dirs(root: Path, video_dirs: VideoDirsOption) -> tuple[list[Path], list[str]]:
    """(folders to index, notes)."""
    if video_dirs is not None:
        if isinstance(video_dirs, Mapping):
            values = list(video_dirs.values())
        elif isinstance(video_dirs, (str, os.PathLike)):
            values = [video_dirs]
        else:
            values = list(video_dirs)
        dirs = [_resolve(root, v) for v in values]
        for d in dirs:
            if not d.is_dir():
                raise DatasetError(f"kinetics: video folder {d} not found")
        return dirs, [f"videos indexed under {[str(d) for d in dirs]}"]
    dirs, notes = [], []
    for split, names in _DIR_NAMES.items():
        found = [root / parent / n for parent in _VIDEO_PARENTS for n in names if (root / parent / n).is_dir()]
        if found:
            dirs.append(found[0])
            notes.append(f"{split} videos: {found[0]}")
        else:
            notes.append(f"no {split} video folder found ({'/'.join(names)} under {root}, videos/, kinetics400/)")
    if not dirs:
        raise DatasetError(f"kinetics: no video folders under {root} (expected train/ and val/, or pass video_dirs)")
    return dirs, notes


def load_kinetics(dataset: str, root: Path, *, annotations: PathOption = None, video_dirs: VideoDirsOption = None,
                  id_list: PathLike | None = None,
                  classes: Sequence[str] | None = None) -> Manifest:
    """Shared loader. ``classes`` None: all labels (Kinetics-400); a list: keep rows whose label with spaces
    replaced by ``_`` is in it (Kinetics-Sound)."""
    root = Path(root).expanduser().resolve()
    csv_paths = _annotation_files(root, annotations)
    rows: list[Row] = []
    notes = [f"{dataset} at {root}: annotations {[str(p) for p in csv_paths]}",
             "evaluated on the val split: Kinetics test labels are unreleased (split 'official': train = train rows, "
             "test = val rows)"]
    for p in csv_paths:
        parsed, tests = parse_csv(p)
        rows.extend(parsed)
        if tests:
            notes.append(f"{p.name}: {tests} test row(s) ignored (no labels released)")
    keep_ids = load_id_list(dataset, root, id_list) if id_list is not None else None
    # ---- duplicates, class list, filters (no file system access yet) ----
    rows = first_of_each_id(rows, notes)
    if classes is not None:
        wanted = {c.replace(" ", "_") for c in classes}
        before = len(rows)
        rows = [r for r in rows if r.label.replace(" ", "_") in wanted]
        names = sorted({r.label.replace(" ", "_") for r in rows if r.split == "train"})
        notes.append(f"{len(rows)} of {before} rows are in the {len(wanted)}-class list")
        absent = sorted(wanted - set(names))
        if absent:
            notes.append(f"{len(absent)} listed class(es) have no train rows: {absent[:10]}")
        untrained = [r for r in rows if r.label.replace(" ", "_") not in names]
        if untrained:
            notes.append(f"{len(untrained)} val row(s) of classes without train rows dropped")
            rows = [r for r in rows if r.label.replace(" ", "_") in names]
        key = {r.label: r.label.replace(" ", "_") for r in rows}
    else:
        train_labels = {r.label for r in rows if r.split == "train"}
        if not train_labels:
            notes.append("no train rows: classes are the labels of all rows")
            train_labels = {r.label for r in rows}
        names = sorted(train_labels)
        for r in rows:
            if r.label not in train_labels:
                raise DatasetError(f"{r.where}: label {r.label!r} does not occur in the train rows")
        key = {lab: lab for lab in names}
    if keep_ids is not None:
        rows = pin_to_id_list(rows, keep_ids, id_list, notes)
    if not rows:
        raise DatasetError(f"{dataset}: no train/val rows left in {[str(p) for p in csv_paths]}")
    label = {n: i for i, n in enumerate(names)}
    # ---- files ----
    dirs, dir_notes = _video_dirs(root, video_dirs)
    notes.extend(dir_notes)
    index = index_videos(dirs)
    samples: list[Sample] = []
    skipped: list[Skip] = []
    multi = 0
    split_of: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r.id):
        paths = index.get(r.id)
        if not paths:
            skipped.append(Skip(r.id, f"{r.split}/**/{r.id}.*", "missing file"))
            continue
        multi += len(paths) > 1
        samples.append(Sample(r.id, _pick(paths, r.label), label[key[r.label]], r.ytid))
        split_of[r.id] = r.split
    if multi:
        notes.append(f"{multi} clip(s) have several files with the same stem; the one in the label's folder (then "
                     f"by extension {list(VIDEO_EXTS)}) is used")
    if skipped:
        notes.append(f"{len(skipped)} of {len(rows)} annotated clip(s) have no video (normal for YouTube-sourced copies)")
    splits = {"official": {"train": [s.id for s in samples if split_of[s.id] == "train"],
                           "test": [s.id for s in samples if split_of[s.id] == "val"]}}
    return Manifest(dataset, root, samples, names, splits, expected=len(rows), skipped=skipped, notes=notes)


class Kinetics400(DatasetAdapter):
    """Kinetics-400 adapter: ``load(root, annotations=None, video_dirs=None, id_list=None)``."""

    name = "kinetics400"
    modality = "audiovisual"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / "annotations").is_dir()

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        """``per_class`` training videos per class (validation gets half); ``layout``: class_folders or flat."""
        from avbench.synth.video_fixtures import write_kinetics400

        per: dict[str, Any] = {} if per_class is None else {"train_per_class": per_class,
                                                            "val_per_class": max(1, per_class // 2)}
        if n_classes is not None:
            per["n_classes"] = n_classes
        options = {k: v for k, v in options.items() if v is not None}
        return write_kinetics400(out, seed=seed, **{"layout": "class_folders", **options}, **per)

    def write_synthetic(self, out: Path) -> Path:
        from avbench.synth.video_fixtures import write_kinetics400

        return write_kinetics400(out, n_classes=6, train_per_class=6, val_per_class=3, missing=2, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_kinetics

        return inject_kinetics(root, corpus, names, **options)

    def load(self, root: Path, *, annotations: PathOption = None, video_dirs: VideoDirsOption = None,
             id_list: PathLike | None = None) -> Manifest:
        """See the module docstring."""
        return load_kinetics(self.name, root, annotations=annotations, video_dirs=video_dirs, id_list=id_list)


#: CSV labels (spaces, as Kinetics spells them) of the built-in synthetic Kinetics-Sound set: Kinetics-Sound classes.
KINETICS_SOUND_FIXTURE_LABELS = ("blowing out candles", "playing drums", "playing guitar", "ripping paper",
                                 "shoveling snow", "tap dancing")


class KineticsSound(Kinetics400):
    """Kinetics-Sound adapter over the Kinetics-400 layout:
    ``load(root, annotations=None, video_dirs=None, id_list=None, classes=None)``."""

    name = "kinetics_sound"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return False  # the Kinetics-400 layout: a folder is detected as kinetics400

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        """The first ``n_classes`` (default 4) Kinetics-Sound classes as CSV labels."""
        n = n_classes or 4
        if not 1 <= n <= len(KINETICS_SOUND_CLASSES):
            raise ValueError(f"--classes must be 1..{len(KINETICS_SOUND_CLASSES)} for kinetics_sound")
        names = [c.replace("_", " ") for c in KINETICS_SOUND_CLASSES[:n]]
        return super().write_fixture(out, seed=seed, per_class=per_class, class_names=names, **options)

    def write_synthetic(self, out: Path) -> Path:
        from avbench.synth.video_fixtures import write_kinetics400

        return write_kinetics400(out, class_names=KINETICS_SOUND_FIXTURE_LABELS, train_per_class=6, val_per_class=3,
                                 missing=2, seed=1)

    def load(self, root: Path, *, annotations: PathOption = None, video_dirs: VideoDirsOption = None,
             id_list: PathLike | None = None, classes: Sequence[str] | str | None = None) -> Manifest:
        """See the module docstring; ``classes`` overrides :data:`KINETICS_SOUND_CLASSES`."""
        if isinstance(classes, str):  # e.g. --set dataset.options.classes=a,b,c
            classes = [c.strip() for c in classes.split(",") if c.strip()]
        chosen = list(classes) if classes is not None else list(KINETICS_SOUND_CLASSES)
        if not chosen:
            raise DatasetError("kinetics_sound: the class list is empty")
        manifest = load_kinetics(self.name, root, annotations=annotations, video_dirs=video_dirs, id_list=id_list,
                                 classes=chosen)
        manifest.notes.insert(1, "Kinetics-Sound: the CrissCross/XKD 32-class list (pritamqu/XKD "
                                 "codes/eval/datasets/cache/kinetics_sound/train.txt)" if classes is None
                              else f"Kinetics-Sound with a custom class list of {len(chosen)}")
        return manifest
