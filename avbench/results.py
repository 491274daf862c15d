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
import os
import platform
import resource
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


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


class ResultRecord(_Rec):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
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


def write_sidecar(path: Path, rows: list[dict[str, Any]]) -> SidecarInfo:
    """Write per-sample predictions as gzip JSON lines (deterministic bytes); return its path and sha256."""
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


def write_record(path: Path, record: ResultRecord) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(record.model_dump_json(indent=1) + "\n")
    os.replace(tmp, path)
    return path


if __name__ == "__main__":  # regenerate the shipped schema
    print(json.dumps(json_schema(), indent=1, sort_keys=True))
