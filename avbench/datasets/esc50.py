"""ESC-50 (Piczak 2015): 2000 5-s clips, 50 classes, 5 official folds.

Folder source (the official layout)::

    root/meta/esc50.csv    filename,fold,target,category,esc10,src_file,take
    root/audio/<filename>  {fold}-{src_file}-{take}-{target}.wav

Labels are ``target``; class names are the categories ordered by target (the released CrissCross code uses
``np.unique(category)``, which is alphabetical and does not match the targets). Sample id = file stem,
group = ``fold<k>``; split ``fold<k>`` tests on fold k and trains on the other four. A CSV row whose file is
missing is a recorded :class:`Skip` (``expected`` counts every row); one whose filename climbs out of ``audio/``
(``../../etc/passwd``) is a refused Skip, never opened. A malformed CSV raises
:class:`DatasetError` naming the file and line before anything else happens.

Hugging Face source (``source="hf"``, optional ``datasets`` package): ``hf_dataset`` is a directory written
by ``Dataset.save_to_disk`` (or any local dataset directory) or a hub name such as ``ashraq/esc50``; its
rows are written ONCE under ``root`` in the official layout (wav files plus a regenerated
``meta/esc50.csv``) and then loaded as the folder source. With ``HF_DATASETS_OFFLINE`` or
``HF_HUB_OFFLINE`` set, the network is never tried.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

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

HEADER = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
REQUIRED = ("filename", "fold", "target", "category")
FOLDS = (1, 2, 3, 4, 5)
_HF_MARKER = "avbench_hf_source.json"
_ESC10 = frozenset({"dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby", "sneezing", "clock_tick",
                    "helicopter", "chainsaw"})


@dataclass(frozen=True)
class _Row:
    line: int
    filename: str
    fold: int
    target: int
    category: str


def parse_csv(text: str, where: str) -> list[_Row]:
    """Parse and validate an ESC-50 metadata CSV; every error names ``where`` and the line (header = line 1)."""
    if not text.strip():
        raise DatasetError(f"{where}:1: empty file (expected the header {','.join(HEADER)})")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    lacking = [c for c in REQUIRED if c not in header]
    if lacking:
        raise DatasetError(f"{where}:1: header lacks column(s) {lacking}; expected {','.join(HEADER)}")
    col = {c: header.index(c) for c in REQUIRED}
    rows: list[_Row] = []
    seen_file: dict[str, int] = {}
    seen_stem: dict[str, int] = {}
    target_cat: dict[int, tuple[str, int]] = {}
    cat_target: dict[str, tuple[int, int]] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise DatasetError(f"{where}:{line}: {len(fields)} fields, the header has {len(header)}")
        filename, fold_s, target_s, category = (fields[col[c]].strip() for c in REQUIRED)
        nested = "/" in filename or "\\" in filename
        climbs = nested and escapes(Path("audio"), filename.replace("\\", "/"))
        if not filename or filename in (".", "..") or (nested and not climbs):
            raise DatasetError(f"{where}:{line}: bad filename {filename!r} (a bare file name under audio/ is expected)")
        # a name that climbs out of audio/ (e.g. ../../etc/passwd) is kept here and refused as a skip on loading
        try:
            fold = int(fold_s)
        except ValueError:
            raise DatasetError(f"{where}:{line}: fold {fold_s!r} is not an integer") from None
        if fold not in FOLDS:
            raise DatasetError(f"{where}:{line}: fold {fold} outside 1..5")
        try:
            target = int(target_s)
        except ValueError:
            raise DatasetError(f"{where}:{line}: target {target_s!r} is not an integer") from None
        if target < 0:
            raise DatasetError(f"{where}:{line}: negative target {target}")
        if not category:
            raise DatasetError(f"{where}:{line}: empty category")
        if filename in seen_file:
            raise DatasetError(f"{where}:{line}: duplicate filename {filename!r} (first on line {seen_file[filename]})")
        stem = Path(filename).stem
        if stem in seen_stem:
            raise DatasetError(f"{where}:{line}: file stem {stem!r} repeats line {seen_stem[stem]} (ids must be unique)")
        if target in target_cat and target_cat[target][0] != category:
            first_cat, first_line = target_cat[target]
            raise DatasetError(f"{where}:{line}: target {target} is {category!r} here but {first_cat!r} on line {first_line}")
        if category in cat_target and cat_target[category][0] != target:
            first_t, first_line = cat_target[category]
            raise DatasetError(f"{where}:{line}: category {category!r} has target {target} here but {first_t} on line {first_line}")
        seen_file[filename], seen_stem[stem] = line, line
        target_cat.setdefault(target, (category, line))
        cat_target.setdefault(category, (target, line))
        rows.append(_Row(line, filename, fold, target, category))
    if not rows:
        raise DatasetError(f"{where}: no data rows after the header")
    return rows


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
               for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


class ESC50(DatasetAdapter):
    """ESC-50 adapter: ``load(root, source="folder"|"hf", hf_dataset=None, hf_split="train", min_rows=None)``."""

    name = "esc50"
    modality = "audio"

    def load(self, root: Path, *, source: str = "folder", hf_dataset: str | None = None, hf_split: str = "train",
             min_rows: int | None = None) -> Manifest:
        """Read the data set under ``root`` (see the module docstring).

        min_rows: fail (DatasetError) when the annotations list fewer rows, e.g. 2000 to catch a partial copy.
        """
        root = Path(root).expanduser().resolve()
        if source == "folder":
            return self._load_folder(root, min_rows=min_rows)
        if source == "hf":
            if not hf_dataset:
                raise DatasetError("esc50: source='hf' needs hf_dataset (a save_to_disk directory or a hub name such as 'ashraq/esc50')")
            skipped = _materialise_hf(root, str(hf_dataset), hf_split, min_rows)
            manifest = self._load_folder(root, min_rows=min_rows)
            reasons = {s["filename"]: s["reason"] for s in skipped}
            manifest.skipped = [Skip(s.id, s.path, reasons.get(Path(s.path).name, s.reason)) for s in manifest.skipped]
            manifest.notes.insert(0, f"materialised from Hugging Face dataset {hf_dataset!r} (split {hf_split!r}) under {root}")
            return manifest
        raise DatasetError(f"esc50: unknown source {source!r} (folder or hf)")

    def _load_folder(self, root: Path, *, min_rows: int | None) -> Manifest:
        csv_path = root / "meta" / "esc50.csv"
        if not csv_path.is_file():
            raise DatasetError(f"esc50: annotation file {csv_path} not found (expected the official layout: "
                               "ROOT/meta/esc50.csv and ROOT/audio/*.wav)")
        try:
            text = csv_path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{csv_path}: not a UTF-8 text file ({exc})") from None
        rows = parse_csv(text, str(csv_path))
        if min_rows is not None and len(rows) < min_rows:
            raise DatasetError(f"{csv_path}: {len(rows)} rows, fewer than min_rows={min_rows} (a partial copy?)")
        audio_dir = root / "audio"
        if not audio_dir.is_dir():
            raise DatasetError(f"esc50: audio folder {audio_dir} not found (expected ROOT/audio/*.wav)")
        targets = sorted({r.target for r in rows})
        names = {r.target: r.category for r in rows}
        classes = [names[t] for t in targets]
        label_of = {t: i for i, t in enumerate(targets)}
        notes = [f"ESC-50 folder layout at {root}: {len(rows)} rows in meta/esc50.csv"]
        if targets != list(range(len(targets))):
            notes.append(f"targets {targets} are not 0..{len(targets) - 1}: labels are their ranks (classes in target order)")
        samples: list[Sample] = []
        skipped: list[Skip] = []
        fold_of: dict[str, int] = {}
        for r in rows:
            sid = Path(r.filename).stem
            try:  # a bare file name (checked by parse_csv), or one that escapes audio/ and is refused
                path = safe_join(audio_dir, r.filename.replace("\\", "/"), what=f"{csv_path}:{r.line}")
            except PathOutsideRoot as exc:
                skipped.append(refused(r.filename, exc))
                continue
            if path.is_file():
                samples.append(Sample(sid, path, label_of[r.target], f"fold{r.fold}"))
                fold_of[sid] = r.fold
            else:
                skipped.append(Skip(sid, str(path), "missing file"))
        splits = {f"fold{k}": {"train": [s.id for s in samples if fold_of[s.id] != k],
                               "test": [s.id for s in samples if fold_of[s.id] == k]} for k in FOLDS}
        empty = [k for k, v in splits.items() if not v["test"]]
        if empty:
            notes.append(f"no usable test samples in {empty}")
        missing = [s for s in skipped if not s.reason.startswith("refused:")]
        if missing:
            notes.append(f"{len(missing)} listed file(s) missing under {audio_dir}")
        notes.extend(refused_notes(skipped))
        return Manifest("esc50", root, samples, classes, splits, expected=len(rows), skipped=skipped, notes=notes)


# ---- Hugging Face -> official layout ---------------------------------------------------------------------

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (Path(root) / "meta" / "esc50.csv").is_file()

    def write_fixture(self, out: Path, *, seed: int = 0, n_classes: int | None = None, per_class: int | None = None,
                      **options: Any) -> Path:
        from avbench.synth.audio_fixtures import write_esc50

        return write_esc50(out, n_classes=n_classes or 10, clips_per_class=per_class or 10, seed=seed, **options)

    def inject_corrupt(self, root: Path, corpus: dict[str, Path], names: tuple[str, ...], **options: Any) -> list[Any]:
        from avbench.synth.corrupt import inject_esc50

        return inject_esc50(root, corpus, names, **options)

def _open_hf(hf_dataset: str, split: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise DatasetError("esc50: source='hf' needs the optional 'datasets' package "
                           "(pip install 'avbench[hf]' or pip install datasets)") from None
    local = Path(hf_dataset).expanduser()
    offline = _offline()
    try:
        if local.exists():
            if (local / "state.json").is_file() or (local / "dataset_dict.json").is_file():
                ds = datasets.load_from_disk(str(local))
            else:
                ds = datasets.load_dataset(str(local), split=split)
        else:
            old = getattr(datasets.config, "HF_HUB_OFFLINE", None)
            try:
                if offline:  # honour the variables even when they were set after `datasets` was imported
                    datasets.config.HF_HUB_OFFLINE = True
                ds = datasets.load_dataset(hf_dataset, split=split)
            finally:
                if offline and old is not None:
                    datasets.config.HF_HUB_OFFLINE = old
    except Exception as exc:  # datasets raises many types (ConnectionError, FileNotFoundError, ValueError, ...)
        how = (f"point hf_dataset at a local copy: a directory written by Dataset.save_to_disk (on a machine with "
               f"network: datasets.load_dataset({hf_dataset!r}, split={split!r}).save_to_disk(DIR)), or use "
               f"source='folder' with the official ESC-50 layout")
        mode = " in offline mode (HF_DATASETS_OFFLINE / HF_HUB_OFFLINE is set)" if offline and not local.exists() else ""
        raise DatasetError(f"esc50: could not load Hugging Face dataset {hf_dataset!r}{mode}: "
                           f"{type(exc).__name__}: {exc}. To fix, {how}.") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DatasetError(f"esc50: Hugging Face dataset {hf_dataset!r} has no split {split!r}; it has {sorted(ds)}")
        ds = ds[split]
    return ds


def _audio_column(ds: Any) -> str:
    for name in ("audio", "wav", "sound"):
        if name in ds.column_names:
            return name
    raise DatasetError(f"esc50: the Hugging Face dataset has no audio column (columns: {ds.column_names})")


def _undecoded(ds: Any, column: str) -> Any:
    """Turn an ``Audio`` feature into raw {bytes, path} rows (no torchcodec needed, original bytes kept)."""
    import datasets

    feature = ds.features.get(column)
    if isinstance(feature, datasets.Audio) and feature.decode:
        ds = ds.cast_column(column, datasets.Audio(decode=False))
    return ds


def _meta_rows(ds: Any) -> Iterable[tuple[int, dict[str, Any]]]:
    cols = [c for c in ds.column_names if c in HEADER]
    for c in ("fold", "target", "category"):
        if c not in ds.column_names:
            raise DatasetError(f"esc50: the Hugging Face dataset lacks the column {c!r} (columns: {ds.column_names})")
    table = ds.select_columns(cols).to_dict()
    for i in range(len(ds)):
        yield i, {c: table[c][i] for c in cols}


def _filename(i: int, row: dict[str, Any]) -> str:
    name = row.get("filename")
    if name:
        stem = Path(str(name)).stem
    elif row.get("src_file") not in (None, "") and row.get("take") not in (None, ""):
        stem = f"{row['fold']}-{row['src_file']}-{row['take']}-{row['target']}"
    else:
        stem = f"hf{i:05d}-{row['target']}"
    return f"{stem}.wav"


def _materialise_hf(root: Path, hf_dataset: str, split: str, min_rows: int | None) -> list[dict[str, str]]:
    """Write the HF rows under ``root`` in the official layout once; returns the rows skipped (no audio)."""
    marker_path = root / "meta" / _HF_MARKER
    source_id = str(Path(hf_dataset).expanduser().resolve()) if Path(hf_dataset).expanduser().exists() else hf_dataset
    if marker_path.is_file():
        marker = json.loads(marker_path.read_text())
        if marker.get("source") != source_id or marker.get("split") != split:
            raise DatasetError(f"esc50: {root} already holds ESC-50 materialised from {marker.get('source')!r} "
                               f"(split {marker.get('split')!r}); use another root for {hf_dataset!r} ({split!r})")
        if marker.get("complete"):
            return list(marker.get("skipped", []))
    elif (root / "meta" / "esc50.csv").exists():
        raise DatasetError(f"esc50: {root} already holds an ESC-50 folder copy (meta/esc50.csv) not written from "
                           f"Hugging Face; load it with source='folder' or pass another root")

    ds = _open_hf(hf_dataset, split)
    if min_rows is not None and len(ds) < min_rows:
        raise DatasetError(f"esc50: Hugging Face dataset {hf_dataset!r} ({split}) has {len(ds)} rows, fewer than min_rows={min_rows}")
    column = _audio_column(ds)
    meta = list(_meta_rows(ds))
    lines = [",".join(HEADER)]
    for i, row in meta:
        category = str(row["category"])
        esc10 = row.get("esc10")
        values = {"filename": _filename(i, row), "fold": row["fold"], "target": row["target"], "category": category,
                  "esc10": str(esc10 if esc10 is not None else category in _ESC10),
                  "src_file": row.get("src_file", "") or "", "take": row.get("take", "") or ""}
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([values[h] for h in HEADER])
        lines.append(buf.getvalue())
    csv_text = "\n".join(lines) + "\n"
    rows = parse_csv(csv_text, f"{root / 'meta' / 'esc50.csv'} (regenerated from {hf_dataset!r}; line n is row n-2)")

    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    _atomic_write(marker_path, json.dumps({"source": source_id, "split": split, "complete": False}))
    audio = _undecoded(ds, column)
    skipped: list[dict[str, str]] = []
    for r, item in zip(rows, audio.select_columns([column])):
        reason = _write_audio(root / "audio" / r.filename, item[column])
        if reason:
            skipped.append({"filename": r.filename, "reason": reason})
    _atomic_write(root / "meta" / "esc50.csv", csv_text)
    _atomic_write(marker_path, json.dumps({"source": source_id, "split": split, "complete": True, "rows": len(rows),
                                           "skipped": skipped}, indent=1))
    return skipped


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _write_audio(dest: Path, value: Any) -> str | None:
    """Write one row's audio as ``dest`` (wav); returns a skip reason, or None when written."""
    from avbench.synth.audio_fixtures import write_wav

    if value is None:
        return "no audio in the Hugging Face row"
    if isinstance(value, dict) and value.get("array") is not None:
        arr = np.asarray(value["array"])
        sr = value.get("sampling_rate")
        if arr.size == 0 or not sr:
            return "empty audio array in the Hugging Face row" if arr.size == 0 else "audio array without sampling_rate"
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.float64) / float(2 ** (8 * arr.dtype.itemsize - 1))
        if arr.ndim == 2 and arr.shape[0] > arr.shape[1]:  # [samples, channels] -> [channels, samples]
            arr = arr.T
        write_wav(dest, arr if arr.ndim > 1 else arr[None], int(sr), "f32")  # float wav keeps the values exactly
        return None
    data: bytes | None = None
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, dict):
        if value.get("bytes") is not None and len(value["bytes"]) == 0:
            return "empty audio in the Hugging Face row"
        if value.get("bytes"):
            data = bytes(value["bytes"])
        elif value.get("path") and Path(value["path"]).is_file():
            data = Path(value["path"]).read_bytes()
        elif value.get("path"):
            return f"audio path {value['path']!r} of the Hugging Face row not found"
    elif isinstance(value, str) and Path(value).is_file():
        data = Path(value).read_bytes()
    if not data:
        return "empty audio in the Hugging Face row"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        dest.write_bytes(data)
        return None
    return _transcode(data, dest)


def _transcode(data: bytes, dest: Path) -> str | None:
    """Non-wav bytes (flac, mp3, ...) -> a 16-bit wav at the source rate, decoded with avbench's decoder."""
    from avbench.media.audio_decode import load_audio, probe_audio
    from avbench.media.errors import MediaError
    from avbench.synth.audio_fixtures import write_wav

    with tempfile.NamedTemporaryFile(suffix=".bin", dir=dest.parent, delete=False) as tmp:
        tmp.write(data)
    try:
        info = probe_audio(tmp.name)
        wave = load_audio(tmp.name, info.sample_rate).wave.numpy()
        write_wav(dest, wave[None], info.sample_rate, "s16")
        return None
    except MediaError as exc:
        return f"undecodable audio in the Hugging Face row: {exc.reason}"
    finally:
        os.unlink(tmp.name)
