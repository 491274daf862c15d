"""VGG-Sound (Chen et al. 2020): about 200k 10-s YouTube clips of 309/310 sound classes, in its release layout.

Annotations: ``vggsound.csv`` (option ``csv``; default ``root/vggsound.csv``) has NO header; every row is
``YouTube id, start seconds, label, split`` with split ``train`` or ``test``. Labels containing commas are
quoted (``"male speech, man speaking"``), so the file is read with the :mod:`csv` module. Blank lines are
skipped; a row with another number of fields, a start that is not a whole non-negative number of seconds, a
bad id or an unknown split raises :class:`DatasetError` naming ``file:line``. A first line that is a header
(``# YouTube ID,...`` or ``youtube_id,...``, as some re-distributions add) is skipped with a note. A clip listed
twice keeps its first row (noted).

Videos: ``<ytid>_<start:06d>.{mp4,avi,mkv,webm}`` anywhere under the root: flat, in ``video/`` (the release
tarballs), ``train/`` + ``test/``, or ``<split>/<label>/`` class folders. File stems are indexed once,
recursively, so every layout works; AugVGG query folders under the root (``augvgg/<variant>/``, holding altered
copies with the same names) are not indexed. VGG-Sound copies always lack some videos (deleted from YouTube): a
missing video is a :class:`Skip` ("missing file", path ``<split>/**/<id>.*``) counted in ``expected``.

Sample id = ``<ytid>_<start:06d>``; group = ytid; one split, ``official`` (train rows / test rows).
Classes = the sorted unique labels of all rows (before ``id_list``), so label indices do not depend on the subset.
``id_list``: a text file of ids (as :func:`avbench.datasets.kinetics.read_id_list` reads them) that pins the
evaluated subset: rows not in it are dropped and NOT counted in ``expected``; listed ids without a video are skips.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from avbench.datasets.base import DatasetAdapter, DatasetError, Manifest, Sample, Skip, read_utf8, whole_seconds
from avbench.datasets.kinetics import VIDEO_EXTS, first_of_each_id, index_videos, load_id_list, pin_to_id_list

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("train", "test")
_HEADER_FIRST = {"# youtube id", "#youtube id", "youtube id", "youtube_id", "ytid", "# ytid", "id"}


@dataclass(frozen=True)
class Row:
    """One annotated clip: ``where`` = "file:line"; ``start`` in whole seconds; ``split`` "train" or "test"."""

    where: str
    ytid: str
    start: int
    label: str
    split: str

    @property
    def id(self) -> str:
        return f"{self.ytid}_{self.start:06d}"


def parse_csv(path: Path) -> tuple[list[Row], list[str]]:
    """(rows, notes) of a headerless ``vggsound.csv``; malformed rows raise DatasetError naming ``path:line``."""
    text = read_utf8(path)
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    rows: list[Row] = []
    notes: list[str] = []
    first = True
    for fields in reader:
        where = f"{path}:{reader.line_num}"
        if not fields or all(not f.strip() for f in fields):
            continue
        if first:
            first = False
            if fields[0].strip().lower() in _HEADER_FIRST:
                notes.append(f"{where}: header line skipped (vggsound.csv normally has none)")
                continue
        if len(fields) != 4:
            raise DatasetError(f"{where}: {len(fields)} field(s), expected 4 (youtube id, start seconds, label, "
                               f"split); quote labels that contain commas")
        ytid, start_raw, label, split_raw = (f.strip() for f in fields)
        if not ytid or any(ch in ytid for ch in "/\\ \t") or ytid in (".", ".."):
            raise DatasetError(f"{where}: bad youtube id {ytid!r}")
        start = whole_seconds(start_raw, where, "start")
        if not label:
            raise DatasetError(f"{where}: empty label")
        split = split_raw.lower()
        if split not in SPLITS:
            raise DatasetError(f"{where}: split {split_raw!r} is not train or test")
        rows.append(Row(where, ytid, start, label, split))
    if not rows:
        raise DatasetError(f"{path}: no rows (expected lines 'youtube id,start,label,train|test')")
    return rows, notes


def _pick(paths: list[Path], row: Row) -> Path:
    """The file to use when several share a clip's stem: one in its split's or label's folder, then by extension
    preference (:data:`VIDEO_EXTS`), then by path."""
    folders = {row.split, row.label, row.label.replace(" ", "_")}
    return min(paths, key=lambda p: (p.parent.name not in folders, VIDEO_EXTS.index(p.suffix.lower()), str(p)))


def _resolve(root: Path, value: PathLike) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def is_query_folder(path: Path) -> bool:
    """Whether ``path`` is an AugVGG query folder (``avbench data augvgg`` output: ``manifest.jsonl`` or its
    ``.part`` journal, whose query files are named ``<id>.mp4`` like the clean videos they alter)."""
    for name in ("manifest.jsonl", "manifest.jsonl.part"):
        try:
            with open(path / name, encoding="utf-8") as f:
                first = f.readline()
        except OSError:
            continue
        try:
            line = json.loads(first) if first.strip() else {}
        except json.JSONDecodeError:
            continue
        if isinstance(line, dict) and (not line or "output" in line):  # an empty journal, or query lines
            return True
    return False


def load_vggsound(root: Path, *, csv_path: PathLike | None = None, id_list: PathLike | None = None) -> Manifest:
    """Manifest of the VGG-Sound copy under ``root`` (module docstring)."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"vggsound: data root {root} is not a folder")
    ann = _resolve(root, csv_path) if csv_path is not None else root / "vggsound.csv"
    if not ann.is_file():
        raise DatasetError(f"vggsound: annotation file {ann} not found (pass csv=PATH)")
    parsed, notes = parse_csv(ann)
    notes.insert(0, f"vggsound at {root}: annotations {ann}")
    rows = first_of_each_id(parsed, notes)
    names = sorted({r.label for r in rows})
    label = {n: i for i, n in enumerate(names)}
    if id_list is not None:
        rows = pin_to_id_list(rows, load_id_list("vggsound", root, id_list), id_list, notes)
        if not rows:
            raise DatasetError(f"vggsound: no annotated clip is in id_list {id_list}")
    queries: list[Path] = []  # AugVGG query folders under the root hold ALTERED copies named like the clean videos

    def skip_queries(path: Path) -> bool:
        if is_query_folder(path):
            queries.append(path)
            return True
        return False

    index = index_videos([root], skip_dir=skip_queries)
    if queries:
        notes.append(f"AugVGG query folder(s) not indexed as VGG-Sound videos: {sorted(str(q) for q in queries)}")
    samples: list[Sample] = []
    skipped: list[Skip] = []
    split_of: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r.id):
        paths = index.get(r.id)
        if not paths:
            skipped.append(Skip(r.id, f"{r.split}/**/{r.id}.*", "missing file"))
            continue
        samples.append(Sample(r.id, _pick(paths, r), label[r.label], r.ytid))
        split_of[r.id] = r.split
    if skipped:
        notes.append(f"{len(skipped)} of {len(rows)} annotated clip(s) have no video (normal for VGG-Sound copies)")
    splits = {"official": {p: [s.id for s in samples if split_of[s.id] == p] for p in SPLITS}}
    return Manifest("vggsound", root, samples, names, splits, expected=len(rows), skipped=skipped, notes=notes)


class VGGSound(DatasetAdapter):
    """VGG-Sound adapter: ``load(root, csv=None, id_list=None)``."""

    name = "vggsound"
    modality = "audiovisual"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / "vggsound.csv").is_file()

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        """``per_class`` training videos per class (test gets half); ``layout``: video, flat, split or class_folders."""
        from avbench.synth.vggsound_fixtures import write_vggsound

        per: dict[str, Any] = {} if per_class is None else {"train_per_class": per_class,
                                                            "test_per_class": max(1, per_class // 2)}
        if n_classes is not None:
            per["n_classes"] = n_classes
        options = {k: v for k, v in options.items() if v is not None}
        return write_vggsound(out, seed=seed, **{"layout": "video", **options}, **per)

    def write_synthetic(self, out: Path) -> Path:
        from avbench.synth.vggsound_fixtures import write_vggsound

        return write_vggsound(out, n_classes=6, train_per_class=6, test_per_class=3, missing=2, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_vggsound

        return inject_vggsound(root, corpus, names, **options)

    def load(self, root: Path, *, csv: PathLike | None = None, id_list: PathLike | None = None) -> Manifest:
        """See the module docstring."""
        return load_vggsound(root, csv_path=csv, id_list=id_list)
