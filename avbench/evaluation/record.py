"""From protocol results to the result record on disk: per-run metrics and per-sample hits (:class:`Results`),
the summary over splits and seeds, the record's name, the two sidecars and the record itself."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from avbench._version import __version__
from avbench.encoder import Encoder
from avbench.evaluation.plan import Plan
from avbench.features.skips import SkipLog
from avbench.media.audio_decode import decoder_version
from avbench.metrics import bootstrap_ci, correct_at_k
from avbench.protocols.base import ClipFeatures, ProtocolResult
from avbench.provenance import code_sha256
from avbench.results import (BOOTSTRAP_SEED, CacheInfo, DataInfo, DeterminismInfo, EncoderInfo, MetricSummary,
                             Provenance, ResultRecord, SplitRun, TaskInfo, device_description, git_sha, packages,
                             peak_rss_bytes, record_path, safe_name, write_record, write_sidecar)
from avbench.taskcard import TaskCard, load_card

__all__ = ["Results", "SELECTION_NOTES", "card_track", "ids_sha", "per_sample_hits", "summarise", "write"]

SELECTION_NOTES = {
    "paper": "hyper-parameter (C or epoch) chosen on the TEST split, as the papers did; not a clean estimate",
    "clean": "hyper-parameter chosen by grouped cross-validation / held-out part of the training data only",
    "none": "no hyper-parameter is selected (retrieval / nearest-neighbour protocol)",
}


def ids_sha(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def card_track(card: TaskCard, task: str) -> str:
    """"standard" when ``card`` is the card ``task`` names exactly as written, else "override" (a flagged track)."""
    return "standard" if card.sha256() == load_card(task).sha256() else "override"


def per_sample_hits(metric: str, result: ProtocolResult, labels: torch.Tensor) -> np.ndarray:
    """``[S]`` per-test-sample value of ``metric`` in percent (0 or 100): the protocol's own hits (R@k),
    or top-k over its scores (ties count against the true class, as :func:`avbench.metrics.topk_accuracy`)."""
    if result.hits is not None and metric in result.hits:
        return result.hits[metric].double().numpy() * 100.0
    if not metric.startswith("top"):
        raise ValueError(f"protocol returned no per-sample hits for metric {metric!r}")
    return correct_at_k(result.scores, labels, int(metric.removeprefix("top"))).double().numpy() * 100.0


@dataclass
class Results:
    """Everything scored so far: one :class:`SplitRun` per classifier run, the sidecar rows, and per metric
    name (``top1``, ``top1@conv4x``, ``top1@audio``, ``fusion_gain``) and split the per-sample hits of each run."""

    metrics: tuple[str, ...]
    layer: str
    runs: list[SplitRun] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    correct: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    evaluated_test: set[str] = field(default_factory=set)
    evaluated_train: set[str] = field(default_factory=set)
    ids_by_split: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.correct = {m: {} for m in self.metrics}

    def add(self, split: str, seed: int, layer: str, train: ClipFeatures, test: ClipFeatures, result: ProtocolResult,
            seconds: float, suffix: str | None = None) -> SplitRun:
        """Record one run; ``suffix`` (default ``@<layer>`` for a probed layer) names its metrics."""
        suffix = ("" if layer == self.layer else f"@{layer}") if suffix is None else suffix
        hits = {m + suffix: per_sample_hits(m, result, test.labels) for m in self.metrics}
        run = SplitRun(split=split, seed=seed, layer=layer, metrics={m: float(h.mean()) for m, h in hits.items()},
                       selected=result.selected, sweep=result.sweep, backend=result.backend,
                       n_train_samples=train.n_samples, n_train_rows=train.n_rows, n_test_samples=test.n_samples,
                       n_test_rows=test.n_rows, info={**result.info, "classifier_seconds": round(seconds, 3)})
        self.runs.append(run)
        for m, h in hits.items():
            self.correct.setdefault(m, {}).setdefault(split, []).append(h)
        self._rows(split, seed, layer, suffix, test, result)
        self.evaluated_test.update(test.sample_ids)
        self.evaluated_train.update(train.sample_ids)
        self.ids_by_split.setdefault(split, {"train": train.sample_ids, "test": test.sample_ids})
        return run

    def _rows(self, split: str, seed: int, layer: str, suffix: str, test: ClipFeatures, result: ProtocolResult) -> None:
        with_scores = result.scores.shape[1] > 0  # instance retrieval has no class scores, only neighbours
        pred = result.scores.argmax(1) if with_scores else None
        for i, sid in enumerate(test.sample_ids):
            row: dict[str, Any] = {"split": split, "seed": seed, "id": sid, "label": int(test.labels[i])}
            if pred is not None:
                row.update(pred=int(pred[i]), scores=[round(float(x), 6) for x in result.scores[i]])
            if suffix:
                row["layer"] = layer
            if result.sample_info is not None:
                row.update(result.sample_info[i])
            self.rows.append(row)

    def add_gain(self, split: str, main: str, best: str) -> None:
        """The fusion gain of the last run: its per-sample ``main`` hits minus those of the better single modality."""
        gain = self.correct[main][split][-1] - self.correct[f"{main}@{best}"][split][-1]
        self.correct.setdefault("fusion_gain", {}).setdefault(split, []).append(gain)
        self.runs[-1].metrics["fusion_gain"] = float(gain.mean())
        self.runs[-1].info["fusion_gain_vs"] = best


def summarise(results: Results, splits: Sequence[str], seeds: Sequence[int]) -> dict[str, MetricSummary]:
    """Per metric: per-split means (over seeds), per-seed means (over splits), mean and sample std over splits, and
    the bootstrap interval over test samples (:func:`avbench.metrics.bootstrap_ci`)."""
    out: dict[str, MetricSummary] = {}
    for name in results.correct:  # the card's metrics, then "<metric>@<layer>" for probed layers
        def mean_of(pick: Callable[[SplitRun], bool]) -> float:
            return float(np.mean([r.metrics[name] for r in results.runs if pick(r) and name in r.metrics]))

        per_split = {sp: mean_of(lambda r, sp=sp: r.split == sp) for sp in splits}
        per_seed = {str(sd): mean_of(lambda r, sd=sd: r.seed == sd) for sd in seeds}
        values = np.array(list(per_split.values()))
        ci = bootstrap_ci({sp: np.mean(v, axis=0) for sp, v in results.correct[name].items()}, seed=BOOTSTRAP_SEED)
        out[name] = MetricSummary(mean=float(values.mean()), std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                  ci95=ci, per_split=per_split, per_seed=per_seed)
    return out


def _view_stats(feature_info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{seed}/{side}": v for seed, sides in feature_info.items() if isinstance(sides, dict)
            for side, v in sides.items() if isinstance(v, dict)}


def _determinism(feature_info: dict[str, Any]) -> DeterminismInfo:
    """One verdict from the determinism probes of every view (:func:`avbench.features.extract.extract_view`)."""
    views = {name: v["determinism"] for name, v in _view_stats(feature_info).items() if "determinism" in v}
    checked = [v for v in views.values() if v.get("checked")]
    return DeterminismInfo(checked=bool(checked),
                           deterministic=all(v["deterministic"] for v in checked) if checked else None,
                           max_abs_diff=max(v["max_abs_diff"] for v in checked) if checked else None, views=views)


def _cache_info(mode: str, feature_info: dict[str, Any]) -> CacheInfo:
    views = {name: v for name, v in _view_stats(feature_info).items() if "key" in v}
    return CacheInfo(mode=mode, shards_reused=sum(v["shards_reused"] for v in views.values()),
                     shards_computed=sum(v["shards_computed"] for v in views.values()),
                     keys={name: v["key"] for name, v in views.items()})


def _target(out_dir: Path, enc: Encoder, state_sha256: str, card: TaskCard, protocol: str, run_id: str,
            log: Callable[[str], None]) -> Path:
    """Where this run's record goes: ``<out>/<encoder>/<task>/<protocol>-<encoder>-<weights_ | state_><hash>-
    card_<hash>-run_<id>.json``, every part made path-safe and checked to stay inside ``out_dir``. The same run
    (same run id) replaces its earlier record and says so; any other record found under that name is kept and
    this one gets a numbered suffix, also said."""
    ident = f"weights_{enc.meta.weights_sha256[:12]}" if enc.meta.weights_sha256 else f"state_{state_sha256[:12]}"
    stem = f"{protocol}-{safe_name(enc.meta.name, 40)}-{ident}-card_{card.sha256()[:8]}-run_{run_id[:8]}"
    path = record_path(out_dir, enc.meta.name, card.name, stem)
    n = 1
    while path.exists():
        try:
            earlier = json.loads(path.read_text()).get("provenance", {}).get("run_id")
        except (OSError, ValueError):
            earlier = None
        if earlier == run_id:
            log(f"note: replacing the earlier record of the same run: {path}")
            return path
        n += 1
        log(f"note: {path} holds another run's record; this one is written as -{n}")
        path = record_path(out_dir, enc.meta.name, card.name, f"{stem}-{n}")
    return path


def _provenance(plan: Plan, opts: Any, run_id: str, t_start: float) -> Provenance:
    dev = plan.device
    return Provenance(avbench_version=__version__, git_sha=git_sha(), python=sys.version.split()[0],
                      platform=f"{sys.platform}-{platform.machine()}", packages=packages(), ffmpeg=decoder_version(),
                      device=device_description(dev), compute_dtype=opts.dtype, seeds=plan.seeds,
                      wall_seconds=round(time.perf_counter() - t_start, 3), peak_rss_bytes=peak_rss_bytes(),
                      peak_cuda_bytes=int(torch.cuda.max_memory_allocated(dev)) if dev.type == "cuda" else None,
                      created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      command=opts.command, run_id=run_id)


def write(plan: Plan, results: Results, skips: SkipLog, feature_info: dict[str, Any], opts: Any,
          t_start: float) -> tuple[ResultRecord, Path]:
    """Name, build and write the record and its two sidecars (nothing half-written stays behind)."""
    card, enc, fp = plan.card, plan.encoder, plan.fingerprint
    protocol = f"{card.classifier.type}-{card.classifier.selection}"
    run_id = hashlib.sha256(json.dumps([enc.meta.name, plan.source, enc.meta.weights_sha256, fp["state_sha256"],
                                        code_sha256(plan.code), card.sha256(), plan.seeds,
                                        str(plan.root.resolve()), plan.manifest.content_hash(),
                                        opts.dtype]).encode()).hexdigest()
    path = _target(Path(opts.out_dir), enc, fp["state_sha256"], card, protocol, run_id, opts.log)
    stem = path.name.removesuffix(".json")
    sidecar = write_sidecar(path.with_name(f"{stem}.predictions.jsonl.gz"), results.rows)
    ids_file = write_sidecar(path.with_name(f"{stem}.ids.jsonl.gz"),
                             [{"split": sp, "side": side, "ids": ids[side]} for sp, ids in results.ids_by_split.items()
                              for side in ("train", "test")])
    m = plan.manifest
    record = ResultRecord(
        encoder=EncoderInfo(name=enc.meta.name, version=enc.meta.version, source=plan.source, weights=plan.weights,
                            weights_sha256=enc.meta.weights_sha256, state_sha256=fp["state_sha256"],
                            init_seed=enc.meta.init_seed, meta=enc.meta.to_dict(), code=plan.code),
        task=TaskInfo(name=card.name, version=card.version, card_sha256=card.sha256(), card=card.to_dict(),
                      layer_used=plan.layer, layer_fallback=plan.fallback, track=card_track(card, plan.task),
                      overrides=plan.overrides),
        protocol=protocol, selection=card.classifier.selection,
        selection_note=SELECTION_NOTES[card.classifier.selection],
        metrics=summarise(results, list(m.splits), plan.seeds), runs=results.runs, features=feature_info,
        data=DataInfo(dataset=card.dataset.name, root=str(plan.root), synthetic=plan.synthetic,
                      manifest_sha256=m.content_hash(), found=m.found, expected=m.expected,
                      coverage=round(m.found / m.expected, 6) if m.expected else 0.0,
                      evaluated_test_ids_sha256=ids_sha(sorted(results.evaluated_test)),
                      evaluated_train_ids_sha256=ids_sha(sorted(results.evaluated_train)), ids_sidecar=ids_file,
                      skipped=sorted(skips.skipped.values(), key=lambda s: s["id"]),
                      damaged=sorted(skips.damaged.values(), key=lambda s: s["id"]), padded=len(skips.padded),
                      notes=list(m.notes)),
        sidecar=sidecar, provenance=_provenance(plan, opts, run_id, t_start),
        determinism=_determinism(feature_info), cache=_cache_info(opts.cache, feature_info))
    try:
        write_record(path, record)
    except Exception:
        for side in (sidecar, ids_file):
            path.with_name(side.path).unlink(missing_ok=True)
        raise
    return record, path
