"""Result records with chosen per-sample scores, assembled the way :func:`avbench.evaluation.runner.run` assembles them.

Per-sample hits come from the runner's own :func:`~avbench.evaluation.runner.per_sample_hits`, the interval from its
``_bootstrap_ci``, the sidecars from :func:`~avbench.results.write_sidecar`: the leaderboard's recomputation
(:mod:`avbench.leaderboard.recompute`) is checked against the producer's code, not against itself.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from avbench.protocols.base import ClassifierResult
from avbench.results import (DataInfo, EncoderInfo, MetricSummary, Provenance, ResultRecord, SplitRun, TaskInfo,
                             write_record, write_sidecar)
from avbench.evaluation.runner import _bootstrap_ci, per_sample_hits
from avbench.taskcard import load_card


@dataclass
class Group:
    """One classifier run: its (split, seed, layer) and per-sample ids, labels and ``[S, K]`` scores.
    layer None = the card's main run; "audio" / "video" = a fusion card's single-modality runs."""

    split: str
    seed: int
    ids: list[str]
    labels: list[int]
    scores: list[list[float]]
    layer: str | None = None


def scores_for(labels: Sequence[int], correct: Sequence[bool], k: int) -> list[list[float]]:
    """Scores over ``k`` classes: the true class scores highest where ``correct``, else the next class does."""
    out = []
    for y, ok in zip(labels, correct):
        row = [0.1 * ((j * 7 + y) % 5) for j in range(k)]  # distinct low scores
        row[y] = 2.0 if ok else 1.5
        if not ok:
            row[(y + 1) % k] = 2.0
        out.append(row)
    return out


def make_record(out_dir: Path, *, model: str, task: str, groups: list[Group], weights_sha256: str | None,
                selection: str = "paper", synthetic: bool = False, created: str = "2025-01-01T00:00:00+00:00",
                wall_seconds: float = 10.0, init_seed: int | None = None, pretraining: str = "Kinetics-400",
                stem: str | None = None) -> Path:
    """Write ``<out_dir>/<model>/<task>/<stem>.json`` and its two sidecars; returns the record path."""
    card = load_card(task)
    metrics_list = list(card.metrics)
    fusion = card.modality == "audiovisual"
    runs: list[SplitRun] = []
    rows: list[dict] = []
    correct: dict[str, dict[str, list[np.ndarray]]] = {}
    singles: dict[tuple[str, int], dict[str, float]] = {}
    for g in groups:
        labels = torch.tensor(g.labels)
        result = ClassifierResult(scores=torch.tensor(g.scores, dtype=torch.float32), selected={"C": 1.0},
                                  selection=selection, sweep=[], backend="torch-cpu-float32")
        suffix = f"@{g.layer}" if g.layer else ""
        hits = {m + suffix: per_sample_hits(m, result, labels) for m in metrics_list}
        runs.append(SplitRun(split=g.split, seed=g.seed, layer=g.layer or "audio+video" if fusion else g.layer or "conv5x",
                             metrics={m: float(h.mean()) for m, h in hits.items()}, selected={"C": 1.0}, sweep=[],
                             backend="torch-cpu-float32", n_train_samples=8, n_train_rows=16,
                             n_test_samples=len(g.ids), n_test_rows=2 * len(g.ids)))
        for m, h in hits.items():
            correct.setdefault(m, {}).setdefault(g.split, []).append(h)
        if g.layer:
            singles.setdefault((g.split, g.seed), {})[g.layer] = runs[-1].metrics[f"{metrics_list[0]}@{g.layer}"]
        elif fusion:
            single = singles[(g.split, g.seed)]
            best = max(single, key=single.get)
            gain = correct[metrics_list[0]][g.split][-1] - correct[f"{metrics_list[0]}@{best}"][g.split][-1]
            correct.setdefault("fusion_gain", {}).setdefault(g.split, []).append(gain)
            runs[-1].metrics["fusion_gain"] = float(gain.mean())
        pred = result.scores.argmax(1)
        for i, sid in enumerate(g.ids):
            row = {"split": g.split, "seed": g.seed, "id": sid, "label": g.labels[i], "pred": int(pred[i]),
                   "scores": [round(float(x), 6) for x in result.scores[i]]}
            if suffix:
                row["layer"] = g.layer
            rows.append(row)
    splits = list(dict.fromkeys(g.split for g in groups))
    seeds = list(dict.fromkeys(g.seed for g in groups))
    summaries = {}
    for name in correct:
        per_split = {sp: float(np.mean([r.metrics[name] for r in runs if r.split == sp and name in r.metrics])) for sp in splits}
        per_seed = {str(sd): float(np.mean([r.metrics[name] for r in runs if r.seed == sd and name in r.metrics])) for sd in seeds}
        values = np.array(list(per_split.values()))
        ci = _bootstrap_ci({sp: np.mean(v, axis=0) for sp, v in correct[name].items()})
        summaries[name] = MetricSummary(mean=float(values.mean()), std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                        ci95=ci, per_split=per_split, per_seed=per_seed)
    stem = stem or f"svm-{selection}-{hashlib.sha256(repr((model, task, seeds, weights_sha256, selection)).encode()).hexdigest()[:10]}"
    rec_dir = Path(out_dir) / model / task
    sidecar = write_sidecar(rec_dir / f"{stem}.predictions.jsonl.gz", rows)
    test_ids = sorted({sid for g in groups for sid in g.ids})
    ids_file = write_sidecar(rec_dir / f"{stem}.ids.jsonl.gz",
                             [{"split": sp, "side": "test", "ids": sorted({i for g in groups if g.split == sp for i in g.ids})}
                              for sp in splits])
    n_params = {"audio": 1_200_000, "video": 3_300_000}
    features = {f"seed{sd}": ({f"{side}_{m}": {"rows": 20, "dim": 8, "shards_reused": 0} for side in ("train", "test")
                               for m in ("video", "audio")} if fusion else
                              {"train": {"rows": 40, "dim": 8, "shards_reused": 0},
                               "test": {"rows": 2 * len(test_ids), "dim": 8, "shards_reused": 0}}) for sd in seeds}
    sha = hashlib.sha256("\n".join(test_ids).encode()).hexdigest()
    record = ResultRecord(
        encoder=EncoderInfo(name=model, version="1", source="tests", weights="weights.safetensors" if weights_sha256 else None,
                            weights_sha256=weights_sha256, state_sha256="0" * 64, init_seed=init_seed,
                            meta={"name": model, "n_parameters": n_params, "pretraining_data": pretraining}),
        task=TaskInfo(name=card.name, version=card.version, card_sha256=card.sha256(), card=card.to_dict(),
                      layer_used="conv5x", layer_fallback=None, track="standard"),
        protocol=f"svm-{selection}", selection=selection, selection_note="test fixture",
        metrics=summaries, runs=runs, features=features,
        data=DataInfo(dataset=card.dataset.name, root="/data", synthetic=synthetic, manifest_sha256="1" * 64,
                      found=len(test_ids), expected=len(test_ids), coverage=1.0, evaluated_test_ids_sha256=sha,
                      evaluated_train_ids_sha256=sha, ids_sidecar=ids_file, skipped=[], damaged=[], padded=0, notes=[]),
        sidecar=sidecar,
        provenance=Provenance(avbench_version="0.1.0", git_sha=None, python="3.11", platform="linux", packages={},
                              ffmpeg="test", device="cpu", compute_dtype="float32", seeds=seeds,
                              wall_seconds=wall_seconds, peak_rss_bytes=1, peak_cuda_bytes=None, created_utc=created,
                              command=None))
    return write_record(rec_dir / f"{stem}.json", record)


def esc50_groups(seed: int, per_fold_correct: Sequence[int], n: int = 4, k: int = 5) -> list[Group]:
    """Five ESC-50 folds of ``n`` samples each; the first ``per_fold_correct[f]`` of fold f are right."""
    out = []
    for f, c in enumerate(per_fold_correct, start=1):
        ids = [f"{f}-{100 + i}-A-{i % k}" for i in range(n)]
        labels = [i % k for i in range(n)]
        out.append(Group(f"fold{f}", seed, ids, labels, scores_for(labels, [i < c for i in range(n)], k)))
    return out
