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
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from avbench.datasets.sample_identity import file_problem as file_problem  # re-exported for the adapters


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
      UCF101 "split1".."split3", DCASE "official". Only usable samples.
    expected: how many samples the annotation files list (found + missing).
    skipped: samples the annotations name but that are not usable (missing files, ...).
    listed: what the annotation files list, media present or not (:class:`Listed`; None: the adapter does not say),
      compared with the release's :class:`OfficialFacts` to tell an official copy from a look-alike.
    expected_by_split: split name -> {"train": n, "test": n}: how many entries the annotation lists for that split
      and side, usable or not (HMDB51's entries marked 0 left out): the denominators of coverage
      (:mod:`avbench.evaluation.coverage`). None (an adapter that does not say): the usable counts stand in.
    identity: filled by :meth:`identify` (the content hash and the facts behind it); None until then.
    """

    dataset: str
    root: Path
    samples: list[Sample]
    classes: list[str]
    splits: dict[str, dict[str, list[str]]]
    expected: int
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    listed: Listed | None = None
    expected_by_split: dict[str, dict[str, int]] | None = None
    identity: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def found(self) -> int:
        return len(self.samples)

    def by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}

    def expected_count(self, split: str, side: str) -> int | None:
        """How many entries the annotation lists for ``split`` / ``side``, usable or not; None when the adapter does
        not say (:attr:`expected_by_split`)."""
        if self.expected_by_split is None or split not in self.expected_by_split:
            return None
        return int(self.expected_by_split[split][side])

    def restrict(self, split_names: list[str]) -> "Manifest":
        """Keep only the named splits (raises DatasetError on an unknown name)."""
        unknown = [s for s in split_names if s not in self.splits]
        if unknown:
            raise DatasetError(f"{self.dataset}: unknown split(s) {unknown}; known: {sorted(self.splits)}")
        counts = (None if self.expected_by_split is None
                  else {k: self.expected_by_split[k] for k in split_names if k in self.expected_by_split})
        return Manifest(self.dataset, self.root, self.samples, self.classes,
                        {k: self.splits[k] for k in split_names}, self.expected, self.skipped, self.notes,
                        listed=self.listed, expected_by_split=counts)

    def identify(self, *, cache_dir: Path | None = None, mode: str = "edges", follow_symlinks: bool = True,
                 workers: int | None = None) -> "Manifest":
        """This manifest with every sample's content identity established (:mod:`avbench.datasets.sample_identity`):
        samples whose path is not a regular file (missing, a FIFO, a directory, a device) become skips naming what
        they are; a symlink leading out of the data root is listed in ``identity["outside_root"]`` (or, with
        ``follow_symlinks=False``, refused as a skip); ``identity["sha256"]`` is the content hash. ``cache_dir``
        holds the local memo that spares re-hashing unchanged files; ``mode="full"`` also hashes whole files."""
        from avbench.datasets.sample_identity import IdentityMemo, identify_files

        found = identify_files([s.path for s in self.samples], self.root, mode=mode,
                               memo=IdentityMemo.for_root(cache_dir, self.root), workers=workers)
        keep: list[tuple[Sample, Any]] = []
        skipped, outside = list(self.skipped), []
        for s, f in zip(self.samples, found.facts):
            if f.outside is not None and not follow_symlinks and f.problem is None:
                skipped.append(Skip(s.id, str(s.path), f"refused: a symlink leads out of the data root to {f.outside} "
                                                        "(--no-follow-symlinks); never opened"))
            elif f.problem is not None:
                skipped.append(Skip(s.id, str(s.path), f.problem))
            else:
                keep.append((s, f))
                if f.outside is not None:
                    outside.append({"id": s.id, "path": str(s.path), "target": f.outside})
        usable = {s.id for s, _ in keep}
        splits = {k: {side: [i for i in ids if i in usable] for side, ids in v.items()} for k, v in self.splits.items()}
        out = Manifest(self.dataset, self.root, [s for s, _ in keep], self.classes, splits, self.expected, skipped,
                       self.notes,
                       listed=self.listed, expected_by_split=self.expected_by_split)
        out.identity = {"sha256": _content_sha256(out, [f for _, f in keep]), "mode": mode,
                        "full_sha256": (hashlib.sha256(json.dumps([[s.id, f.full] for s, f in keep]).encode()).hexdigest()
                                        if mode == "full" else None),
                        "outside_root": outside, "follow_symlinks": follow_symlinks, "files": len(keep),
                        "hashed": found.hashed, "memo_hits": found.memo_hits, "seconds": round(found.seconds, 3)}
        return out

    def content_hash(self) -> str:
        """sha256 over the identity scheme, the classes and splits, and (id, relative path, label, group, file size,
        sha256 of the file's first and last 64 KiB) of every sample (:meth:`identify` establishes it, once)."""
        if self.identity is None:
            self.identity = self.identify().identity
        return str(self.identity["sha256"])

    def summary(self) -> dict:
        return {"dataset": self.dataset, "root": str(self.root), "found": self.found, "expected": self.expected,
                "n_classes": len(self.classes), "splits": {k: {p: len(v) for p, v in d.items()} for k, d in self.splits.items()},
                "skipped": [asdict(s) for s in self.skipped], "notes": self.notes}


def _content_sha256(m: Manifest, facts: list[Any]) -> str:
    from avbench.datasets.sample_identity import IDENTITY_SCHEME

    h = hashlib.sha256(IDENTITY_SCHEME.encode())
    h.update(json.dumps(m.classes).encode())
    h.update(json.dumps(m.splits, sort_keys=True).encode())
    root = str(m.root)
    prefix = root if root.endswith(os.sep) else root + os.sep
    for s, f in zip(m.samples, facts):
        path = str(s.path)  # the string prefix is Path.relative_to's answer, without its parsing (13,320 files: 1 s)
        rel = (path[len(prefix):] if path.startswith(prefix)
               else str(s.path.relative_to(m.root)) if s.path.is_relative_to(m.root) else path)
        h.update(json.dumps([s.id, rel, s.label, s.group, f.size, f.edges]).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Listed:
    """What a copy's annotation files list, whether or not the media exist: the shape that
    :mod:`avbench.datasets.identity` compares with the :class:`OfficialFacts` of the release.

    rows: distinct samples the annotation lists (before an ``id_list`` pin narrows what is evaluated);
    classes: the class names as the annotation spells them, in label order;
    per_class: class -> listed samples (over every split);
    splits: split -> side (``train`` / ``test``) -> listed samples (rows marked unused, HMDB51's 0, left out);
    per_class_splits: split -> side -> class -> listed samples, where the release fixes them per class;
    extra: other counts an adapter reports (e.g. ``release_labels``: labels of the whole Kinetics annotation).
    """

    rows: int
    classes: tuple[str, ...]
    per_class: Mapping[str, int] = field(default_factory=dict)
    splits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    per_class_splits: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    extra: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OfficialFacts:
    """What the official release of a data set holds, so that an official copy can be told from a look-alike
    (:func:`avbench.datasets.identity.identify`). Every figure names its source in ``source``; None / empty =
    not checked.

    n_samples: rows of the official annotation; n_classes (and n_classes_accepted: other counts the release files
    are known to give, e.g. VGG-Sound's 310 label strings for the paper's 309 classes); class_names: the official
    names (None: taken from the user's official annotation file, never typed from memory); per_class: samples per
    class; splits: split -> {"train": n, "test": n}; per_class_splits: side -> samples per class in every split
    (HMDB51: 70 train, 30 test); per_class_range: side ("train", "test" or "all") -> (min, max) samples per class
    (None = unbounded); extra: further counts the adapter's :class:`Listed` ``extra`` must equal; min_coverage: the
    share of listed media that must be present (the policy of the integrity issue 17: 1.0 for fixed sets, less for
    YouTube-sourced ones, whose copies always lack videos); seconds: the recordings' length in seconds (reported by
    ``data verify``, not part of the verdict).
    """

    n_samples: int | None = None
    n_classes: int | None = None
    n_classes_accepted: tuple[int, ...] = ()
    class_names: tuple[str, ...] | None = None
    per_class: int | None = None
    splits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    per_class_splits: Mapping[str, int] = field(default_factory=dict)
    per_class_range: Mapping[str, tuple[int | None, int | None]] = field(default_factory=dict)
    extra: Mapping[str, int] = field(default_factory=dict)
    min_coverage: float = 1.0
    seconds: float | None = None
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

    def option_names(self) -> list[str] | None:
        """The options :meth:`load` takes (keyword names after ``root``), or None when it takes any (``**options``)."""
        import inspect

        params = list(inspect.signature(self.load).parameters.values())
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def load_checked(self, root: Path, options: Mapping[str, Any], where: str) -> Manifest:
        """:meth:`load` with ``options``, an unknown option name refused first: a :class:`DatasetError` naming
        ``where`` (e.g. the task card), the unknown names and the known ones."""
        known = self.option_names()
        unknown = sorted(set(options) - set(known)) if known is not None else []
        if unknown:
            raise DatasetError(f"{where}: dataset.options: unknown option(s) {unknown} for data set {self.name!r}; "
                               f"it takes {known or 'no options'}")
        return self.load(root, **options)

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


class csv_reader:
    """``csv.reader`` over ``text`` whose errors (a field over the csv module's 131,072-character limit, a NUL byte,
    an unclosed quote) are :class:`DatasetError` naming ``where`` and the line; ``line_num`` as the csv reader's."""

    def __init__(self, text: str, where: str, **kwargs: Any):
        import csv
        import io

        self._csv, self._reader, self.where = csv, csv.reader(io.StringIO(text), **kwargs), where

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> "csv_reader":
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self._reader)
        except self._csv.Error as exc:
            raise DatasetError(f"{self.where}:{max(1, self._reader.line_num)}: malformed CSV ({exc})") from None


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
