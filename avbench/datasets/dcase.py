"""DCASE 2013 Task 1 acoustic scene classification, as the CrissCross code uses it.

The CrissCross paper text says "DCASE2014", but its released code and README use the IEEE AASP DCASE
**2013** scene set (``scenes_stereo`` / ``scenes_stereo_testset``, linked from dcase.community/challenge2013);
avbench follows the code.

Layout: 10 classes x 10 stereo 44.1-kHz 30-s recordings in each of the development ("train") and the
separately released test set, named ``<class>NN.wav``. The CrissCross code reads::

    root/set1/scenes_stereo/scenes_stereo/*.wav                  (train)
    root/set1/scenes_stereo_testset/scenes_stereo_testset/*.wav  (test)

The unzipped official folders directly under ``root`` are accepted too (``root/scenes_stereo/`` and
``root/scenes_stereo_testset/``, with or without the doubled inner folder); the manifest notes which layout
was found. There are no annotation files: the label is the file name minus its last 6 characters
(``bus01.wav`` -> ``bus``), classes are sorted (over both sets; the released code sorts each set on its
own). Ids are ``train/<stem>`` and ``test/<stem>`` (the two sets reuse names); each recording is its own
group; one split, ``official``. ``expected`` is 10 per class per set for the 10 official classes (200),
or what an ``avbench_fixture.json`` of a synthetic fixture says.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from avbench.datasets.base import DatasetAdapter, DatasetError, Manifest, Sample

CLASSES = ("bus", "busystreet", "office", "openairmarket", "park", "quietstreet", "restaurant", "supermarket",
           "tube", "tubestation")
PER_CLASS = 10
_SETS = {"train": "scenes_stereo", "test": "scenes_stereo_testset"}
_NAME = re.compile(r"^(?P<cls>[a-z]+)(?P<nn>\d{2})\.wav$", re.IGNORECASE)


def _candidates(root: Path, folder: str) -> list[tuple[str, Path]]:
    return [("crisscross (set1/X/X)", root / "set1" / folder / folder), ("set1/X", root / "set1" / folder),
            ("official unzipped, doubled (X/X)", root / folder / folder), ("official unzipped (X)", root / folder)]


def _find(root: Path, side: str) -> tuple[str, Path, list[Path]]:
    folder = _SETS[side]
    tried = []
    for layout, d in _candidates(root, folder):
        tried.append(str(d))
        if d.is_dir():
            wavs = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() == ".wav")
            if wavs:
                return layout, d, wavs
    raise DatasetError(f"dcase2013: no {side} set found: no .wav files in any of {tried}")


def _label(path: Path) -> str:
    m = _NAME.match(path.name)
    cls = path.name[:-6]
    if not m or cls not in CLASSES:
        raise DatasetError(f"dcase2013: cannot parse a class from file name {str(path)!r}: expected <class>NN.wav "
                           f"with class one of {list(CLASSES)}")
    return cls


class DCASE2013(DatasetAdapter):
    """DCASE 2013 scene classification adapter: ``load(root, expected_per_class=None)``."""

    name = "dcase2013"
    modality = "audio"

    def load(self, root: Path, *, expected_per_class: int | None = None) -> Manifest:
        """Find both sets under ``root`` (see the module docstring).

        expected_per_class: recordings per class per set the copy should hold (default 10, the official set, or
        the count in a synthetic fixture's ``avbench_fixture.json``).
        """
        root = Path(root).expanduser().resolve()
        found = {side: _find(root, side) for side in _SETS}
        notes = [f"{side} set: {d} (layout: {layout})" for side, (layout, d, _) in found.items()]
        if len({layout for layout, _, _ in found.values()}) > 1:
            notes.append("train and test sets were found in different layouts")
        labelled = {side: [(p, _label(p)) for p in wavs] for side, (_, _, wavs) in found.items()}
        classes = sorted({c for items in labelled.values() for _, c in items})
        index = {c: i for i, c in enumerate(classes)}
        samples: list[Sample] = []
        ids: dict[str, list[str]] = {}
        for side, items in labelled.items():
            ids[side] = []
            for p, c in items:
                sid = f"{side}/{p.stem}"
                samples.append(Sample(sid, p, index[c], sid))
                ids[side].append(sid)
            missing = sorted(set(classes) - {c for _, c in items})
            if missing:
                notes.append(f"{side} set has no recordings of {missing}")
        n_classes = len(CLASSES)
        fixture = root / "avbench_fixture.json"
        if expected_per_class is None and fixture.is_file():
            info = json.loads(fixture.read_text())
            if info.get("dataset") == "dcase2013":
                expected_per_class, n_classes = int(info["per_class"]), int(info["n_classes"])
                notes.append(f"synthetic fixture ({fixture.name}): {n_classes} classes x {expected_per_class} per set expected")
        per_class = PER_CLASS if expected_per_class is None else expected_per_class
        expected = max(2 * per_class * n_classes, len(samples))
        if len(samples) != expected:
            notes.append(f"found {len(samples)} recordings, the set has {expected} "
                         f"({n_classes} classes x {per_class} x train/test)")
        return Manifest("dcase2013", root, samples, classes, {"official": ids}, expected=expected, notes=notes)

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any((Path(root) / d).is_dir() for d in ("set1/scenes_stereo", "scenes_stereo"))

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        from avbench.synth.audio_fixtures import write_dcase2013

        return write_dcase2013(out, n_classes=n_classes or 10, per_class=per_class or 10, seed=seed, **options)

    def write_synthetic(self, out: Path) -> Path:
        return self.write_fixture(out, n_classes=10, per_class=4, seed=0)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_dcase

        return inject_dcase(root, corpus, names, **options)

