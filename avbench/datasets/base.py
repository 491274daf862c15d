"""The dataset-adapter contract, and what an adapter returns: samples, splits, and an honest account of what it
could not find.

Adapters know nothing of protocols, models or decoding beyond "does the file exist". One adapter is one short
file: a :class:`DatasetAdapter` subclass with ``name``, ``modality`` and ``load(root, **options) -> Manifest``,
which also names its layout detector (:meth:`~DatasetAdapter.detect`), its fixture writer
(:meth:`~DatasetAdapter.write_fixture`, :meth:`~DatasetAdapter.write_synthetic`), its fault-corpus injector and
the slot for the official release's facts (:attr:`~DatasetAdapter.official`); registered by name in
:data:`avbench.datasets.DATASETS`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping


class DatasetError(ValueError):
    """The data set's annotation files are malformed or missing: raised before any work starts."""


@dataclass(frozen=True)
class Sample:
    """One media file with its label.

    id: stable identifier, unique in the data set (used for seeds, caches and the per-sample sidecar).
    path: absolute path of the media file.
    label: class index into ``Manifest.classes``.
    group: recordings that must stay together in grouped cross-validation (ESC-50 fold, UCF101 gXX, ...).
    """

    id: str
    path: Path
    label: int
    group: str


@dataclass(frozen=True)
class Skip:
    """A sample that was not evaluated, and why (e.g. "missing file", "undecodable: ...")."""

    id: str
    path: str
    reason: str


@dataclass
class Manifest:
    """Everything an adapter found under a data root.

    samples: the samples whose files exist, in a deterministic order.
    classes: class names; ``Sample.label`` indexes this list.
    splits: split name -> {"train": [sample ids], "test": [sample ids]}; e.g. ESC-50 "fold1".."fold5",
      UCF101 "split1".."split3", DCASE "official".
    expected: how many samples the annotation files list (found + missing).
    skipped: samples the annotations name but that are not usable (missing files, ...).
    """

    dataset: str
    root: Path
    samples: list[Sample]
    classes: list[str]
    splits: dict[str, dict[str, list[str]]]
    expected: int
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.samples)

    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}

    def restrict(self, split_names: list[str]) -> "Manifest":
        """Keep only the named splits (raises DatasetError on an unknown name)."""
        unknown = [s for s in split_names if s not in self.splits]
        if unknown:
            raise DatasetError(f"{self.dataset}: unknown split(s) {unknown}; known: {sorted(self.splits)}")
        return Manifest(self.dataset, self.root, self.samples, self.classes,
                        {k: self.splits[k] for k in split_names}, self.expected, self.skipped, self.notes)

    def content_hash(self) -> str:
        """sha256 over (id, relative path, label, group, file size) of every sample, the classes and splits."""
        h = hashlib.sha256()
        h.update(json.dumps(self.classes).encode())
        h.update(json.dumps(self.splits, sort_keys=True).encode())
        for s in self.samples:
            try:
                size = s.path.stat().st_size
            except OSError:
                size = -1
            rel = str(s.path.relative_to(self.root)) if s.path.is_relative_to(self.root) else str(s.path)
            h.update(json.dumps([s.id, rel, s.label, s.group, size]).encode())
        return h.hexdigest()

    def summary(self) -> dict:
        return {"dataset": self.dataset, "root": str(self.root), "found": self.found, "expected": self.expected,
                "n_classes": len(self.classes), "splits": {k: {p: len(v) for p, v in d.items()} for k, d in self.splits.items()},
                "skipped": [asdict(s) for s in self.skipped], "notes": self.notes}


@dataclass(frozen=True)
class OfficialFacts:
    """What the official release of a data set holds, so that an official copy can be told from a look-alike.

    n_samples: rows of the official annotation; n_classes and class_names (None: read from the user's official
    annotation file, never typed from memory); splits: split -> {"train": n, "test": n}; source: where the
    figures come from. The data-identity work fills these per adapter; None = not stated yet."""

    n_samples: int | None = None
    n_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    splits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    source: str = ""


class DatasetAdapter:
    """Base class of a dataset adapter (module docstring). ``modality``: what the media hold ("audio", or
    "audiovisual" for video files with sound, or "video"); ``synthetic_version``: bumped when the built-in synthetic
    set changes (its folder is ``<name>-synthetic-v<version>``)."""

    name: ClassVar[str]
    modality: ClassVar[str] = "video"
    official: ClassVar[OfficialFacts | None] = None
    synthetic_version: ClassVar[int] = 1

    def load(self, root: Path, **options: Any) -> Manifest:
        raise NotImplementedError

    @classmethod
    def detect(cls, root: Path) -> bool:
        """True when ``root`` holds this data set's official layout (its annotation files)."""
        return False

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        """A small synthetic copy in the official layout under ``out`` (None: the writer's own default)."""
        raise NotImplementedError(f"{self.name}: no fixture writer")

    def write_synthetic(self, out: Path) -> Path:
        """The built-in synthetic set that ``avbench eval`` uses when no data root is configured."""
        return self.write_fixture(out, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        """Copy the fault-corpus entries ``names`` into the fixture ``root`` and list them in its annotation files
        (:func:`avbench.synth.corrupt.inject_nasty`)."""
        raise NotImplementedError(f"{self.name}: no fault-corpus injector")


class PathOutsideRoot(DatasetError):
    """An annotation lists a path that escapes its folder (e.g. ``../../etc/passwd``): refused, never opened.

    ``listed``: the path exactly as the annotation gives it; ``root``: the folder it must stay in; ``where``:
    the annotation (``file`` or ``file:line``). Adapters turn it into a :func:`refused` skip of that one entry.
    """

    def __init__(self, listed: str, root: Path, where: str):
        self.listed, self.root, self.where = listed, Path(root), where
        super().__init__(f"{where}: path {listed!r} escapes the data root {root}; refused (never opened)")


def escapes(root: Path, relative: str) -> bool:
    """Whether ``root / relative`` leaves ``root`` lexically (an absolute path, or ``..`` climbing out)."""
    import os

    base = os.path.normpath(os.path.abspath(root))
    candidate = os.path.normpath(os.path.join(base, relative))
    return os.path.isabs(relative) or os.path.commonpath([base, candidate]) != base


def safe_join(root: Path, relative: str, *, what: str) -> Path:
    """``root / relative``, refusing paths that escape ``root`` (e.g. ``../../etc/passwd`` in a split file) with
    :class:`PathOutsideRoot` (a :class:`DatasetError`) naming ``what`` (the annotation) and the path.

    The check is lexical (``..`` and absolute paths), not through symlinks: data roots assembled from
    symlinks to other disks are common and allowed.
    """
    import os

    if escapes(root, relative):
        raise PathOutsideRoot(relative, root, what)
    return Path(os.path.normpath(os.path.join(os.path.abspath(root), relative)))


def refused(sample_id: str, exc: PathOutsideRoot) -> Skip:
    """The skip of an entry whose listed path escapes the data root: ``path`` is the path as listed (it is never
    resolved or opened), the reason names the annotation."""
    return Skip(sample_id, exc.listed, f"refused: the listed path escapes the data root {exc.root} ({exc.where}); "
                                       "never opened")


def refused_notes(skipped: list[Skip]) -> list[str]:
    """A manifest note counting the :func:`refused` entries of ``skipped`` (none when there are none)."""
    paths = [s.path for s in skipped if s.reason.startswith("refused:")]
    if not paths:
        return []
    return [f"{len(paths)} listed path(s) escape the data root and were refused, never opened: {paths[:5]}"]


def read_utf8(path: Path) -> str:
    """The text of an annotation file (UTF-8, a BOM tolerated); a DatasetError names the file otherwise."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None


def whole_seconds(value: str, where: str, column: str) -> int:
    """An annotation's whole, non-negative number of seconds (e.g. a YouTube clip start); errors name ``where``."""
    try:
        x = float(value)
    except ValueError:
        raise DatasetError(f"{where}: {column} {value!r} is not a number") from None
    if x < 0 or x != int(x):
        raise DatasetError(f"{where}: {column} {value!r} is not a whole, non-negative number of seconds")
    return int(x)
