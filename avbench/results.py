"""The result record: one JSON per (encoder, task, protocol), schema-versioned, self-contained.

The pydantic models below ARE the schema; ``avbench/schema/result.schema.json`` is generated from them
(``python -m avbench.results > avbench/schema/result.schema.json``) and a test keeps the two equal.
Per-sample scores go to a gzip JSON sidecar whose sha256 is in the record, so metrics can be recomputed
and models compared pairwise without re-running anything.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

#: 1.1 (avbench 0.5): encoder.code (the code fingerprint), determinism, cache, provenance.run_id; record file
#: names carry the weights / state hash, card hash and selection. 1.0 records still validate (new fields absent).
SCHEMA_VERSION = "1.1"


class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricSummary(_Rec):
    """One metric (percent): mean and sample std over splits (seeds averaged first), a bootstrap 95% interval
    over test samples, and every per-split and per-seed value."""

    mean: float
    std: float
    ci95: tuple[float, float]
    per_split: dict[str, float]
    per_seed: dict[str, float]


class SplitRun(_Rec):
    """One (split, seed) classifier run."""

    split: str
    seed: int
    layer: str  # the feature layer classified (probed layers report metrics as "<metric>@<layer>")
    metrics: dict[str, float]
    selected: dict[str, Any]
    sweep: list[dict[str, Any]]
    backend: str
    n_train_samples: int
    n_train_rows: int
    n_test_samples: int
    n_test_rows: int
    info: dict[str, Any] = Field(default_factory=dict)


class EncoderInfo(_Rec):
    name: str
    version: str
    source: str
    weights: str | None
    weights_sha256: str | None
    state_sha256: str
    init_seed: int | None
    meta: dict[str, Any]
    #: what code computed the features (:func:`avbench.provenance.code_fingerprint`); part of the cache key
    code: dict[str, Any] | None = None


class TaskInfo(_Rec):
    name: str
    version: int
    card_sha256: str
    card: dict[str, Any]
    layer_used: str
    layer_fallback: str | None
    #: "standard": the card exactly as shipped (or a user's own card file); "override": ``--set`` / keyword
    #: overrides changed it (e.g. the released code's per-pretraining-set finetune recipes): leaderboards show
    #: such records as a separate, flagged track
    track: Literal["standard", "override"] = "standard"
    overrides: dict[str, Any] = Field(default_factory=dict)


class SidecarInfo(_Rec):
    path: str
    sha256: str
    rows: int


class DataInfo(_Rec):
    dataset: str
    root: str
    synthetic: bool
    manifest_sha256: str
    found: int
    expected: int
    coverage: float
    evaluated_test_ids_sha256: str
    evaluated_train_ids_sha256: str
    ids_sidecar: SidecarInfo  # gzip JSON lines: one row per (split, side) with the exact evaluated ids
    skipped: list[dict[str, str]]
    damaged: list[dict[str, str]]
    padded: int
    notes: list[str]


#: seed of the bootstrap behind every ``MetricSummary.ci95`` (test samples resampled within each split).
BOOTSTRAP_SEED = 0


class Provenance(_Rec):
    """Versions, device, timing and seeds of a run.

    Every seed a run uses is in the record: ``encoder.init_seed`` (a random initialisation), ``seeds`` (the run
    seeds: each one seeds clip sampling and augmentation, as ``derive_seed(seed, side, sample id, clip, stage)``,
    and the classifier: SVM cross-validation, linear-head initialisation / shuffling / dropout, finetuning) and
    ``bootstrap_seed``. Fields that differ between two identical runs: ``wall_seconds``, ``peak_rss_bytes``,
    ``peak_cuda_bytes``, ``created_utc``, ``command`` (and, elsewhere, per-run and per-view timings).
    """

    avbench_version: str
    git_sha: str | None
    python: str
    platform: str
    packages: dict[str, str | None]
    ffmpeg: str
    device: str
    compute_dtype: str
    seeds: list[int]
    bootstrap_seed: int = BOOTSTRAP_SEED
    wall_seconds: float
    peak_rss_bytes: int
    peak_cuda_bytes: int | None
    created_utc: str
    command: str | None
    #: hash of what makes this run this run (encoder identity and code, card, seeds, data); in the record's name
    run_id: str | None = None


class DeterminismInfo(_Rec):
    """The determinism probe of the extraction: the first computed batch of each feature view forwarded twice.

    checked: at least one view was probed (a run that reused every shard reads the verdict stored with them);
    deterministic: every probed view gave the same features within ``1e-5`` of the largest feature magnitude;
    max_abs_diff: the largest absolute difference seen; views: per view ``{checked, max_abs_diff, ...}``."""

    checked: bool
    deterministic: bool | None
    max_abs_diff: float | None
    views: dict[str, dict[str, Any]] = Field(default_factory=dict)


class CacheInfo(_Rec):
    """How the feature cache served the run: mode ``use`` (reuse finished shards), ``refresh`` (recompute every
    shard) or ``off`` (a temporary store, removed afterwards); shard counts over every view; the entry keys."""

    mode: Literal["use", "refresh", "off"]
    shards_reused: int
    shards_computed: int
    keys: dict[str, str] = Field(default_factory=dict)


class ResultRecord(_Rec):
    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    encoder: EncoderInfo
    task: TaskInfo
    protocol: str
    selection: Literal["paper", "clean", "none"]
    selection_note: str
    metrics: dict[str, MetricSummary]
    runs: list[SplitRun]
    features: dict[str, Any]
    data: DataInfo
    sidecar: SidecarInfo
    provenance: Provenance
    determinism: DeterminismInfo | None = None
    cache: CacheInfo | None = None


def json_schema() -> dict[str, Any]:
    schema = ResultRecord.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://avbench.dev/schema/result-{SCHEMA_VERSION}.json"
    return schema


def shipped_schema_path() -> Path:
    return Path(__file__).parent / "schema" / "result.schema.json"


# ---------------------------------------------------------------------------------------------------
def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_sha() -> str | None:
    """The avbench checkout's commit (None for an installed wheel)."""
    here = Path(__file__).resolve().parent.parent
    if not (here / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip() or None
    return f"{sha}+dirty" if sha and dirty.stdout.strip() else sha


def peak_rss_bytes() -> int:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kb if sys.platform == "darwin" else kb * 1024)


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        idx = device.index or 0
        return f"cuda:{idx} {torch.cuda.get_device_name(idx)} (cuDNN {torch.backends.cudnn.version()}, CUDA {torch.version.cuda})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def packages() -> dict[str, str | None]:
    return {n: _pkg(n) for n in ("avbench", "torch", "torchvision", "torchaudio", "av", "numpy", "scikit-learn",
                                 "safetensors", "cuml-cu13")}


class NonFiniteValueError(ValueError):
    """A value about to be written into a result record or its sidecar is NaN or +-inf. Nothing is written:
    pydantic would serialise NaN as ``null`` and a reader could take the record at face value."""


def first_non_finite(obj: Any, where: str = "") -> str | None:
    """The path (``metrics.top1.mean``, ``[3].scores[7]``) of the first NaN / inf float in a JSON-like ``obj``,
    or None when every number is finite."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "(value)")
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = first_non_finite(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = first_non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def write_sidecar(path: Path, rows: list[dict[str, Any]]) -> SidecarInfo:
    """Write per-sample predictions as gzip JSON lines (deterministic bytes); return its path and sha256.
    Raises :class:`NonFiniteValueError` (and writes nothing) if any row holds NaN or inf."""
    bad = first_non_finite(rows)
    if bad:
        raise NonFiniteValueError(f"{path.name}: non-finite value at row {bad}; the predictions are not written")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(payload)
    os.replace(tmp, path)
    return SidecarInfo(path=path.name, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), rows=len(rows))


def read_sidecar(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str, limit: int = 80) -> str:
    """``text`` as one safe path component: runs of characters outside ``[A-Za-z0-9._+-]`` become ``_``, leading
    dots are dropped and runs of dots become ``_`` (no ``..``, no hidden files), at most ``limit`` characters (the rest replaced by a hash)."""
    out = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", str(text)))).lstrip(".") or "_"
    if len(out) > limit:
        out = out[:limit - 9] + "-" + hashlib.sha256(out.encode()).hexdigest()[:8]
    return out


class RecordPathError(ValueError):
    """A record path would leave the output folder, or would overwrite the record of another run."""


def record_path(out_dir: Path, encoder: str, task: str, stem: str) -> Path:
    """``<out_dir>/<encoder>/<task>/<stem>.json`` with every component made safe (:func:`safe_name`); raises
    :class:`RecordPathError` if the resolved path is not inside ``out_dir`` (e.g. through a symlinked folder)."""
    path = Path(out_dir) / safe_name(encoder) / safe_name(task) / f"{safe_name(stem, 160)}.json"
    resolved = path.parent.resolve() / path.name  # symlinks of the existing part followed
    if not resolved.is_relative_to(Path(out_dir).resolve()):
        raise RecordPathError(f"{path}: the record would be written outside --out {out_dir} (resolved to {resolved})")
    return path


def write_record(path: Path, record: ResultRecord) -> Path:
    """Write ``record`` as JSON (atomic rename). Raises :class:`NonFiniteValueError`, writing nothing, when any
    number in it is NaN or inf."""
    bad = first_non_finite(record.model_dump(mode="python"))
    if bad:
        raise NonFiniteValueError(f"{path.name}: non-finite value at {bad}; the record is not written")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(record.model_dump_json(indent=1) + "\n")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":  # regenerate the shipped schema
    print(json.dumps(json_schema(), indent=1, sort_keys=True))
