"""``avbench eval`` as a function: task card + encoder + data root -> result record on disk.

    card ─┐
          ├─ adapter -> manifest -> views (train / test) -> feature store -> classifier per split -> record
    encoder ┘
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from avbench._version import __version__
from avbench.config import resolve_cache_dir, resolve_data_root
from avbench.datasets import Manifest, Sample, get_dataset
from avbench.encoder import Encoder, GeometryError, check_geometry, encoder_fingerprint
from avbench.features.extract import ExtractedView, View, extract_view, view_summary
from avbench.media.audio_decode import decoder_version
from avbench.metrics import correct_at_k
from avbench.features.pooling import features_from_output, requested_layers, resolve_layer
from avbench.protocols.base import ClassifierResult, ClipFeatures
from avbench.leaderboard.stats import bootstrap_ci as _bootstrap_ci
from avbench.registry import build_encoder, resolve_factory
from avbench.provenance import code_fingerprint, code_sha256
from avbench.results import (
    BOOTSTRAP_SEED,
    CacheInfo,
    DataInfo,
    DeterminismInfo,
    EncoderInfo,
    MetricSummary,
    Provenance,
    ResultRecord,
    SplitRun,
    TaskInfo,
    device_description,
    git_sha,
    packages,
    peak_rss_bytes,
    record_path,
    safe_name,
    write_record,
    write_sidecar,
)
from avbench.features.store import FeatureStore
from avbench.synth.defaults import synthetic_root
from avbench.taskcard import (
    Features,
    FCClassifier,
    FinetuneClassifier,
    KNNClassifier,
    RetrievalClassifier,
    SVMClassifier,
    TaskCard,
    load_card,
)

SELECTION_NOTES = {
    "paper": "hyper-parameter (C or epoch) chosen on the TEST split, as the papers did; not a clean estimate",
    "clean": "hyper-parameter chosen by grouped cross-validation / held-out part of the training data only",
    "none": "no hyper-parameter is selected (retrieval / nearest-neighbour protocol)",
}


@dataclass
class RunOptions:
    """How (not what) to run: devices, caches, output, parallelism. None of these change a metric."""

    device: str | None = None
    dtype: str = "float32"
    cache_dir: str | Path | None = None
    out_dir: str | Path = "avbench-results"
    batch_size: int | None = None
    num_workers: int = 0
    shard_size: int | None = None  # samples per feature shard (resume granularity); None: AVBENCH_SHARD_SIZE or 32
    command: str | None = None
    #: feature cache: "use" (reuse finished shards), "refresh" (recompute every shard of the run's entries),
    #: "off" (a temporary store and finetuning checkpoints, removed after the run)
    cache: str = "use"
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    progress: Callable[[str, int], Callable[[int], None]] | None = None  # (description, total) -> advance(n)


def shard_size(value: int | None = None) -> int:
    """Samples per feature shard: ``value``, else ``AVBENCH_SHARD_SIZE``, else 32. A shard is the unit a killed
    extraction loses and the unit the processes of a ``torchrun`` share out; it changes no feature, and a cache
    entry keeps the size it was started with (``plan.json``)."""
    if value is None:
        text = os.environ.get("AVBENCH_SHARD_SIZE", "32")
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"AVBENCH_SHARD_SIZE={text!r}: expected a whole number of samples >= 1")
        value = int(text)
    if value < 1:
        raise ValueError(f"shard_size must be >= 1, got {value}")
    return int(value)


def _seeds(card: TaskCard, seeds: int | Sequence[int] | None) -> list[int]:
    if seeds is None:
        return list(card.seeds)
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError("seeds must be >= 1")
        return list(range(seeds))
    return [int(s) for s in seeds]


def _ids_sha(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _clip_features(view: ExtractedView, view_samples: list[Sample], ids: list[str]) -> ClipFeatures:
    """The rows of ``ids`` (those that produced features) as ClipFeatures indexed 0..S-1 in ``ids`` order."""
    pos_of = {s.id: i for i, s in enumerate(view_samples)}
    wanted = torch.full((len(view_samples),), -1, dtype=torch.long)
    present = set(view_samples[int(p)].id for p in torch.unique(view.sample).tolist())
    kept = [i for i in ids if i in present]
    for local, sid in enumerate(kept):
        wanted[pos_of[sid]] = local
    local_index = wanted[view.sample]
    keep = local_index >= 0
    blocks, start = [], 0
    for b in view.features:
        m = keep[start:start + b.shape[0]]
        if bool(m.all()):
            blocks.append(b)  # the (memory-mapped) shard block itself: nothing is copied or loaded here
        elif bool(m.any()):
            blocks.append(b[m])
        start += b.shape[0]
    by_id = {s.id: s for s in view_samples}
    return ClipFeatures(blocks=blocks, sample_index=local_index[keep],
                        labels=torch.tensor([by_id[i].label for i in kept], dtype=torch.long),
                        groups=[by_id[i].group for i in kept], sample_ids=kept)


def _classify(card: TaskCard, train: ClipFeatures, test: ClipFeatures, seed: int, device: torch.device,
              n_classes: int) -> ClassifierResult:
    clf = card.classifier
    if isinstance(clf, SVMClassifier):
        from avbench.protocols.svm import run_svm

        if clf.aggregate == "video_mean_std":
            from avbench.protocols.aggregate import to_video_level

            train, test = to_video_level(train, test, clip_norm="none", standardize=True)
        return run_svm(train, test, costs=list(clf.costs), backend=clf.backend, selection=clf.selection,
                       cv_folds=clf.cv_folds, device=str(device), max_iter=clf.max_iter, tol=clf.tol, seed=seed,
                       n_classes=n_classes)
    if isinstance(clf, RetrievalClassifier):
        from avbench.protocols.retrieval import run_retrieval

        return run_retrieval(train, test, ks=tuple(clf.ks), metric=clf.metric, clip_norm=clf.clip_norm,
                             standardize=clf.standardize, device=str(device), n_classes=n_classes,
                             class_scores=clf.match == "class")
    if isinstance(clf, KNNClassifier):
        from avbench.protocols.knn import run_knn

        return run_knn(train, test, k=clf.k, standardize=clf.standardize, clip_norm=clf.clip_norm,
                       metric=clf.metric, device=str(device), n_classes=n_classes)
    assert isinstance(clf, FCClassifier)
    from avbench.protocols.linear import train_linear_head

    return train_linear_head(train, test, epochs=clf.epochs, lr=clf.lr, weight_decay=clf.weight_decay,
                             batch_size=clf.batch_size, dropout=clf.dropout, l2_normalize=clf.l2_normalize,
                             batchnorm=clf.batchnorm, milestones=tuple(clf.milestones), gamma=clf.gamma,
                             selection=clf.selection, holdout_fraction=clf.holdout_fraction, seed=seed,
                             device=str(device), n_classes=n_classes)


def column_spans(enc: Encoder, card: TaskCard, layer: str, device: torch.device) -> dict[str, tuple[int, int]]:
    """Feature columns of each probed layer: {layer: (first, end)}, the card's layer first. Without
    ``features.probe_layers`` the single span is left open-ended; otherwise one blank clip is run through the
    encoder to measure each layer's pooled dimension (a missing layer fails here, before any extraction)."""
    if not card.features.probe_layers:
        return {layer: (0, -1)}
    missing = [n for n in card.features.probe_layers if n not in enc.layers(card.modality)]
    if missing:
        raise GeometryError(f"encoder {enc.meta.name!r} has no layer(s) {missing} to probe; it offers "
                            f"{enc.layers(card.modality)}")
    with torch.inference_mode():
        if card.modality == "video":
            clip = card.video
            x = enc.video_preprocess(torch.zeros(1, 3, clip.frames, clip.size, clip.size, dtype=torch.uint8, device=device))
            out = enc.encode_video(x, requested_layers(layer, card.features))
        else:
            sr = enc.meta.audio.sample_rate
            x = enc.audio_frontend(torch.zeros(1, int(round(card.audio.seconds * sr)), device=device))
            out = enc.encode_audio(x, requested_layers(layer, card.features))
        dims = {layer: features_from_output(out, card.modality, card.features).shape[1]}
        for name, pool in card.features.probe_layers.items():
            spec = Features(layer=name, pool=pool, normalize=card.features.normalize)
            dims[name] = features_from_output(out, card.modality, spec).shape[1]
    spans, start = {}, 0
    for name, dim in dims.items():
        spans[name] = (start, start + int(dim))
        start += int(dim)
    return spans


def fuse(audio: ClipFeatures, video: ClipFeatures) -> ClipFeatures:
    """Late fusion: each clip's audio and video features concatenated ``[n, D_a + D_v]`` (audio first), block by
    block. Both must hold the same samples with the same clip rows in the same order (the extraction writes rows
    by (sample, clip) in shard order, and synced sampling gives each clip one start time in both streams)."""
    if audio.sample_ids != video.sample_ids or not torch.equal(audio.sample_index, video.sample_index):
        raise RuntimeError("audio and video clip rows do not line up; cannot fuse")
    blocks_a, blocks_v = audio.blocks, video.blocks
    if [b.shape[0] for b in blocks_a] != [b.shape[0] for b in blocks_v]:
        blocks_a, blocks_v = [audio.dense()], [video.dense()]
    return ClipFeatures(blocks=[torch.cat([a, v], dim=1) for a, v in zip(blocks_a, blocks_v)],
                        sample_index=audio.sample_index, labels=audio.labels, groups=audio.groups,
                        sample_ids=audio.sample_ids)


def _columns(features: ClipFeatures, first: int, end: int) -> ClipFeatures:
    """The same rows restricted to feature columns ``[first, end)``."""
    return ClipFeatures(blocks=[b[:, first:end] for b in features.blocks], sample_index=features.sample_index,
                        labels=features.labels, groups=features.groups, sample_ids=features.sample_ids)


def card_track(card: TaskCard, task: str) -> str:
    """"standard" when ``card`` is the card ``task`` names exactly as written, else "override" (a flagged track)."""
    return "standard" if card.sha256() == load_card(task).sha256() else "override"


def per_sample_hits(metric: str, result: ClassifierResult, labels: torch.Tensor) -> np.ndarray:
    """``[S]`` per-test-sample value of ``metric`` in percent (0 or 100): the protocol's own hits (R@k),
    or top-k over its scores (ties count against the true class, as :func:`avbench.metrics.topk_accuracy`)."""
    if result.hits is not None and metric in result.hits:
        return result.hits[metric].double().numpy() * 100.0
    if not metric.startswith("top"):
        raise ValueError(f"protocol returned no per-sample hits for metric {metric!r}")
    return correct_at_k(result.scores, labels, int(metric.removeprefix("top"))).double().numpy() * 100.0


def dist_context() -> tuple[int, int]:
    """(rank, world size). Under ``torchrun`` (WORLD_SIZE > 1) the process group is initialised here:
    NCCL when CUDA is available, else gloo. ``AVBENCH_DIST_TIMEOUT`` (seconds, default 3600) bounds how long a
    rank waits for the others at a collective, e.g. rank 0 for the slowest rank's last feature shard."""
    import datetime

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    dist = torch.distributed
    if not dist.is_initialized():
        text = os.environ.get("AVBENCH_DIST_TIMEOUT", "3600")
        try:
            timeout = datetime.timedelta(seconds=float(text))
        except ValueError:
            raise ValueError(f"AVBENCH_DIST_TIMEOUT={text!r}: expected seconds") from None
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo", timeout=timeout)
    return dist.get_rank(), dist.get_world_size()


def _synthetic_root(dataset: str, cache_dir: Path, world: int, log: Callable[[str], None]) -> Path:
    """The built-in synthetic set; under ``torchrun`` rank 0 writes it while the other ranks wait."""
    if world > 1 and torch.distributed.get_rank() != 0:
        torch.distributed.barrier()
        return synthetic_root(dataset, cache_dir, log=lambda _m: None)
    root = synthetic_root(dataset, cache_dir, log=log)
    if world > 1:
        torch.distributed.barrier()
    return root


def _resolve_encoder(encoder: str | Encoder, weights: str | None, init_seed: int) -> tuple[Encoder, str, str | None]:
    """(encoder in eval mode, its source for the record, the module of its factory or None)."""
    if isinstance(encoder, Encoder):
        return encoder.eval(), f"python object {type(encoder).__module__}.{type(encoder).__qualname__}", None
    factory, source = resolve_factory(encoder)
    return (build_encoder(encoder, weights=weights, init_seed=init_seed), source,
            getattr(factory, "__module__", None))


def _determinism(feature_info: dict[str, Any]) -> DeterminismInfo:
    """One verdict from the determinism probes of every view (:func:`avbench.features.extract.extract_view`)."""
    views = {f"{seed}/{side}": v["determinism"] for seed, sides in feature_info.items() if isinstance(sides, dict)
             for side, v in sides.items() if isinstance(v, dict) and "determinism" in v}
    checked = [v for v in views.values() if v.get("checked")]
    return DeterminismInfo(checked=bool(checked),
                           deterministic=all(v["deterministic"] for v in checked) if checked else None,
                           max_abs_diff=max(v["max_abs_diff"] for v in checked) if checked else None, views=views)


def _cache_info(mode: str, feature_info: dict[str, Any]) -> CacheInfo:
    views = {f"{seed}/{side}": v for seed, sides in feature_info.items() if isinstance(sides, dict)
             for side, v in sides.items() if isinstance(v, dict) and "key" in v}
    return CacheInfo(mode=mode, shards_reused=sum(v["shards_reused"] for v in views.values()),
                     shards_computed=sum(v["shards_computed"] for v in views.values()),
                     keys={name: v["key"] for name, v in views.items()})


def run(encoder: str | Encoder, task: str, *, data_root: str | Path | None = None,
        overrides: dict[str, Any] | None = None, seeds: int | Sequence[int] | None = None,
        weights: str | None = None, init_seed: int = 0, options: RunOptions | None = None) -> tuple[ResultRecord, Path]:
    """Evaluate and write the record; returns (record, record path). See :func:`evaluate` for the arguments.

    Under ``torchrun`` every rank extracts its share of the feature shards; only rank 0 classifies, writes
    the record and returns it (other ranks return ``(None, None)``).
    """
    opts = options or RunOptions()
    t_start = time.perf_counter()
    card = load_card(task, overrides)  # malformed cards fail here, before any work
    seed_list = _seeds(card, seeds)
    shard = shard_size(opts.shard_size)
    rank, world = dist_context()
    local = int(os.environ.get("LOCAL_RANK", rank))  # the process's index on its own node
    default_device = f"cuda:{local % max(1, torch.cuda.device_count())}" if torch.cuda.is_available() else "cpu"
    device = torch.device(opts.device or default_device)
    if device.type == "cuda":
        torch.cuda.init()  # the allocator's stats answer "Invalid device argument" before CUDA is initialised
        torch.cuda.reset_peak_memory_stats(device)
    if opts.cache not in ("use", "refresh", "off"):
        raise ValueError(f"cache mode {opts.cache!r}: expected use, refresh or off")
    enc, source, factory_module = _resolve_encoder(encoder, weights, init_seed)
    enc = enc.to(device)
    model_ref = encoder if isinstance(encoder, str) else enc.meta.name
    # one modality, or both for an audiovisual card (video first: its `features`, then audio's `features_audio`)
    mods = ("video", "audio") if card.modality == "audiovisual" else (card.modality,)
    clips = {m: card.video if m == "video" else card.audio for m in mods}
    feats = {m: card.features_audio if (m == "audio" and len(mods) == 2) else card.features for m in mods}
    layers: dict[str, str] = {}
    fallbacks: list[str] = []
    for m in mods:
        c = clips[m]
        check_geometry(enc.meta, m, seconds=getattr(c, "seconds", None), frames=getattr(c, "frames", None),
                       size=getattr(c, "size", None), fps=getattr(c, "fps", None))
        layers[m], fb = resolve_layer(enc.layers(m), feats[m].layer)
        if fb:
            fallbacks.append(f"{m}: {fb}" if len(mods) == 2 else fb)
            opts.log(f"note: {fallbacks[-1]}")
    layer = layers[mods[0]]
    fallback = "; ".join(fallbacks) or None

    cache_dir = resolve_cache_dir(opts.cache_dir)
    root = resolve_data_root(card.dataset.name, data_root) if str(data_root) != "synthetic" else None
    synthetic = root is None
    if synthetic:
        root = _synthetic_root(card.dataset.name, cache_dir, world, opts.log)
    manifest: Manifest = get_dataset(card.dataset.name).load(Path(root), **card.dataset.options).restrict(list(card.splits))
    opts.log(f"{card.dataset.name}: {manifest.found} of {manifest.expected} samples found under {root}"
             + (f"; {len(manifest.skipped)} listed but unusable" if manifest.skipped else ""))
    by_id = manifest.by_id()
    train_ids = {i for sp in manifest.splits.values() for i in sp["train"] if i in by_id}
    test_ids = {i for sp in manifest.splits.values() for i in sp["test"] if i in by_id}
    train_samples = [s for s in manifest.samples if s.id in train_ids]
    test_samples = [s for s in manifest.samples if s.id in test_ids]

    fingerprint = encoder_fingerprint(enc)
    code = code_fingerprint(enc, factory_module)
    scratch = tempfile.TemporaryDirectory(prefix="avbench-nocache-") if opts.cache == "off" else None
    work_dir = Path(scratch.name) if scratch else cache_dir  # features and finetuning checkpoints
    store = FeatureStore(work_dir)
    base_key = {"format": 1, "encoder": fingerprint, "code": code, "dtype": opts.dtype, "decoder": decoder_version(),
                "manifest": manifest.content_hash(), "task": card.name, "task_version": card.version}
    batch = opts.batch_size or card.batch_size

    def extract(side: str, samples: list[Sample], sampling: Any, seed: int,
                modality: str | None = None) -> tuple[ExtractedView, View]:
        m = modality or mods[0]
        view = View(side=side, modality=m, clip=clips[m], sampling=sampling, features=feats[m], layer=layers[m],
                    seed=None)
        if view.random:
            view = View(**{**view.__dict__, "seed": seed})
        entry = store.entry({**base_key, "view": view.cache_fields(), "samples": _ids_sha([s.id for s in samples])})
        what = f"{side} {m} features" if len(mods) == 2 else f"{side} features"
        advance = opts.progress(f"{what} (seed {seed})" if view.random else what, len(samples)) if opts.progress else None
        out = extract_view(enc, samples, view, entry, device=device, dtype=opts.dtype, batch_size=batch,
                           num_workers=opts.num_workers, shard_size=shard, rank=rank, world_size=world,
                           progress=advance, refresh=opts.cache == "refresh", model_ref=model_ref)
        if rank == 0:
            st = out.stats
            opts.log(f"{what}{f' (seed {seed})' if view.random else ''}: cache {opts.cache}, key {entry.key[:16]}: "
                     f"{st['shards_reused']} of {st['shards']} shard(s) reused, {st['shards_computed']} computed")
        return out, view

    runs: list[SplitRun] = []
    sidecar_rows: list[dict[str, Any]] = []
    feature_info: dict[str, Any] = {}
    correct: dict[str, dict[str, list[np.ndarray]]] = {m: {} for m in card.metrics}
    spans = {} if isinstance(card.classifier, FinetuneClassifier) else column_spans(enc, card, layer, device)
    skipped: dict[str, dict[str, str]] = {s.id: {"id": s.id, "path": s.path, "reason": s.reason} for s in manifest.skipped}
    padded: set[str] = set()
    damaged: dict[str, dict[str, str]] = {}
    evaluated_test: set[str] = set()
    evaluated_train: set[str] = set()
    ids_by_split: dict[str, dict[str, list[str]]] = {}
    finetune = isinstance(card.classifier, FinetuneClassifier)
    fusion = len(mods) == 2
    views = {} if finetune else {
        (seed, m): (extract("train", train_samples, card.train, seed, m), extract("test", test_samples, card.test, seed, m))
        for seed in seed_list for m in mods}
    if rank != 0 and not finetune:  # other ranks only extract their shards; rank 0 classifies and writes the record
        return None, None  # type: ignore[return-value]

    def record_result(split_name: str, seed: int, layer_name: str, tr: ClipFeatures, te: ClipFeatures,
                      result: ClassifierResult, seconds: float, suffix: str | None = None) -> None:
        suffix = ("" if layer_name == layer else f"@{layer_name}") if suffix is None else suffix
        hits = {m + suffix: per_sample_hits(m, result, te.labels) for m in card.metrics}
        runs.append(SplitRun(split=split_name, seed=seed, layer=layer_name,
                             metrics={m: float(h.mean()) for m, h in hits.items()}, selected=result.selected,
                             sweep=result.sweep, backend=result.backend, n_train_samples=tr.n_samples,
                             n_train_rows=tr.n_rows, n_test_samples=te.n_samples, n_test_rows=te.n_rows,
                             info={**result.info, "classifier_seconds": round(seconds, 3)}))
        for m, h in hits.items():
            correct.setdefault(m, {}).setdefault(split_name, []).append(h)
        with_scores = result.scores.shape[1] > 0  # instance retrieval has no class scores, only neighbours
        pred = result.scores.argmax(1) if with_scores else None
        for i, sid in enumerate(te.sample_ids):
            row: dict[str, Any] = {"split": split_name, "seed": seed, "id": sid, "label": int(te.labels[i])}
            if pred is not None:
                row.update(pred=int(pred[i]), scores=[round(float(x), 6) for x in result.scores[i]])
            if suffix:
                row["layer"] = layer_name
            if result.sample_info is not None:
                row.update(result.sample_info[i])
            sidecar_rows.append(row)
        evaluated_test.update(te.sample_ids)
        evaluated_train.update(tr.sample_ids)
        ids_by_split.setdefault(split_name, {"train": tr.sample_ids, "test": te.sample_ids})

    for seed in seed_list if finetune else ():
        from avbench.protocols.finetune.run import finetune_split

        for split_name, split in manifest.splits.items():
            tr_s = [by_id[i] for i in split["train"] if i in by_id]
            te_s = [by_id[i] for i in split["test"] if i in by_id]
            ckpt = work_dir / "finetune" / hashlib.sha256(json.dumps(
                [base_key, card.sha256(), split_name, seed], sort_keys=True, default=str).encode()).hexdigest()[:32]
            if opts.cache == "refresh" and rank == 0:
                shutil.rmtree(ckpt, ignore_errors=True)
            t0 = time.perf_counter()
            result, tr, te, skips = finetune_split(enc, card, layer, tr_s, te_s, n_classes=len(manifest.classes),
                                                   seed=seed, device=device, dtype=opts.dtype,
                                                   workers=opts.num_workers, checkpoint_dir=ckpt, log=opts.log)
            for s in skips.skipped.values():
                skipped.setdefault(s["id"], s)
            padded.update(skips.padded)
            for s in skips.damaged.values():
                damaged.setdefault(s["id"], s)
            if result is not None:  # rank 0 (the only one that scores the test set)
                record_result(split_name, seed, layer, tr, te, result, time.perf_counter() - t0)
    if rank != 0:  # DDP finetuning: the other ranks have trained; rank 0 writes the record
        return None, None  # type: ignore[return-value]
    for seed in seed_list if fusion else ():
        per_mod = {m: views[(seed, m)] for m in mods}
        feature_info[f"seed{seed}"] = {f"{side}_{m}": view_summary(per_mod[m][i][0]) for m in mods
                                       for i, side in enumerate(("train", "test"))}
        for m in mods:
            for ev, _ in per_mod[m]:
                for s in ev.skipped:
                    skipped.setdefault(s["id"], {**s, "reason": f"{m}: {s['reason']}"})
                for s in ev.damaged:
                    damaged.setdefault(s["id"], s)
                padded.update(ev.padded)
        for split_name, split in manifest.splits.items():
            sides = {}
            for i, (side, samples_) in enumerate((("train", train_samples), ("test", test_samples))):
                ids = [x for x in split[side] if x in by_id and x not in skipped]
                sides[side] = {m: _clip_features(per_mod[m][i][0], samples_, ids) for m in mods}
            if any(sides[sd][m].n_samples == 0 for sd in sides for m in mods):
                raise RuntimeError(f"split {split_name}: no sample has both streams usable (skipped: {len(skipped)})")
            single: dict[str, float] = {}
            for m in mods:
                t0 = time.perf_counter()
                result = _classify(card, sides["train"][m], sides["test"][m], seed, device, len(manifest.classes))
                record_result(split_name, seed, m, sides["train"][m], sides["test"][m], result,
                              time.perf_counter() - t0, suffix=f"@{m}")
                single[m] = runs[-1].metrics[f"{card.metrics[0]}@{m}"]
            tr_av, te_av = (fuse(sides[sd]["audio"], sides[sd]["video"]) for sd in ("train", "test"))
            opts.log(f"{split_name} seed {seed}: {card.classifier.type} on {tr_av.n_rows} x {tr_av.dim} fused rows")
            t0 = time.perf_counter()
            result = _classify(card, tr_av, te_av, seed, device, len(manifest.classes))
            record_result(split_name, seed, "audio+video", tr_av, te_av, result, time.perf_counter() - t0, suffix="")
            best = max(single, key=single.get)  # the better single modality on this split
            gain = correct[card.metrics[0]][split_name][-1] - correct[f"{card.metrics[0]}@{best}"][split_name][-1]
            correct.setdefault("fusion_gain", {}).setdefault(split_name, []).append(gain)
            runs[-1].metrics["fusion_gain"] = float(gain.mean())
            runs[-1].info["fusion_gain_vs"] = best
    for seed in () if (finetune or fusion) else seed_list:
        (train_view, tv), (test_view, sv) = views[(seed, mods[0])]
        feature_info[f"seed{seed}"] = {"train": view_summary(train_view), "test": view_summary(test_view),
                                       "train_seeded": tv.seed is not None, "test_seeded": sv.seed is not None}
        for v in (train_view, test_view):
            for s in v.skipped:
                skipped.setdefault(s["id"], s)
            for s in v.damaged:
                damaged.setdefault(s["id"], s)
            padded.update(v.padded)
        for split_name, split in manifest.splits.items():
            train = _clip_features(train_view, train_samples, [i for i in split["train"] if i in by_id])
            test = _clip_features(test_view, test_samples, [i for i in split["test"] if i in by_id])
            if train.n_samples == 0 or test.n_samples == 0:
                raise RuntimeError(f"split {split_name}: no usable {'training' if train.n_samples == 0 else 'test'} samples "
                                   f"(skipped: {len(skipped)}); see the data report with `avbench data verify`")
            for layer_name, (c0, c1) in spans.items():
                tr, te = (train, test) if len(spans) == 1 else (_columns(train, c0, c1), _columns(test, c0, c1))
                opts.log(f"{split_name} seed {seed}{'' if layer_name == layer else ' ' + layer_name}: "
                         f"{card.classifier.type} on {tr.n_rows} x {tr.dim} train rows, {te.n_samples} test samples")
                t0 = time.perf_counter()
                result = _classify(card, tr, te, seed, device, len(manifest.classes))
                record_result(split_name, seed, layer_name, tr, te, result, time.perf_counter() - t0)

    # ---- aggregate -----------------------------------------------------------------------------------
    metrics: dict[str, MetricSummary] = {}
    for name in correct:  # the card's metrics, then "<metric>@<layer>" for probed layers
        per_split = {sp: float(np.mean([r.metrics[name] for r in runs if r.split == sp and name in r.metrics]))
                     for sp in manifest.splits}
        per_seed = {str(sd): float(np.mean([r.metrics[name] for r in runs if r.seed == sd and name in r.metrics]))
                    for sd in seed_list}
        values = np.array(list(per_split.values()))
        ci = _bootstrap_ci({sp: np.mean(v, axis=0) for sp, v in correct[name].items()}, seed=BOOTSTRAP_SEED)
        metrics[name] = MetricSummary(mean=float(values.mean()), std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                      ci95=ci, per_split=per_split, per_seed=per_seed)
    protocol = f"{card.classifier.type}-{card.classifier.selection}"
    run_id = hashlib.sha256(json.dumps([enc.meta.name, source, enc.meta.weights_sha256, fingerprint["state_sha256"],
                                        code_sha256(code), card.sha256(), seed_list, str(Path(root).resolve()),
                                        manifest.content_hash(), opts.dtype]).encode()).hexdigest()
    path = _record_target(Path(opts.out_dir), enc, fingerprint["state_sha256"], card, protocol, run_id, opts.log)
    stem = path.name.removesuffix(".json")
    sidecar = write_sidecar(path.with_name(f"{stem}.predictions.jsonl.gz"), sidecar_rows)
    ids_file = write_sidecar(path.with_name(f"{stem}.ids.jsonl.gz"),
                             [{"split": sp, "side": side, "ids": ids[side]} for sp, ids in ids_by_split.items()
                              for side in ("train", "test")])
    record = ResultRecord(
        encoder=EncoderInfo(name=enc.meta.name, version=enc.meta.version, source=source, weights=weights,
                            weights_sha256=enc.meta.weights_sha256, state_sha256=fingerprint["state_sha256"],
                            init_seed=enc.meta.init_seed, meta=enc.meta.to_dict(), code=code),
        task=TaskInfo(name=card.name, version=card.version, card_sha256=card.sha256(), card=card.to_dict(),
                      layer_used=layer, layer_fallback=fallback,
                      track=card_track(card, task),
                      overrides=overrides or {}),
        protocol=protocol, selection=card.classifier.selection, selection_note=SELECTION_NOTES[card.classifier.selection],
        metrics=metrics, runs=runs, features=feature_info,
        data=DataInfo(dataset=card.dataset.name, root=str(root), synthetic=synthetic, manifest_sha256=manifest.content_hash(),
                      found=manifest.found, expected=manifest.expected,
                      coverage=round(manifest.found / manifest.expected, 6) if manifest.expected else 0.0,
                      evaluated_test_ids_sha256=_ids_sha(sorted(evaluated_test)),
                      evaluated_train_ids_sha256=_ids_sha(sorted(evaluated_train)), ids_sidecar=ids_file, skipped=sorted(skipped.values(), key=lambda s: s["id"]),
                      damaged=sorted(damaged.values(), key=lambda s: s["id"]), padded=len(padded), notes=list(manifest.notes)),
        sidecar=sidecar,
        provenance=Provenance(avbench_version=__version__, git_sha=git_sha(), python=sys.version.split()[0],
                              platform=f"{sys.platform}-{__import__('platform').machine()}", packages=packages(),
                              ffmpeg=decoder_version(), device=device_description(device), compute_dtype=opts.dtype,
                              seeds=seed_list, wall_seconds=round(time.perf_counter() - t_start, 3),
                              peak_rss_bytes=peak_rss_bytes(),
                              peak_cuda_bytes=int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None,
                              created_utc=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              command=opts.command, run_id=run_id),
        determinism=_determinism(feature_info), cache=_cache_info(opts.cache, feature_info))
    try:
        write_record(path, record)
    except Exception:  # nothing half-written stays behind: the sidecars go with the record
        for side in (sidecar, ids_file):
            path.with_name(side.path).unlink(missing_ok=True)
        raise
    if scratch is not None:
        scratch.cleanup()
    return record, path


def _record_target(out_dir: Path, enc: Encoder, state_sha256: str, card: TaskCard, protocol: str, run_id: str,
                   log: Callable[[str], None]) -> Path:
    """Where this run's record goes: ``<out>/<encoder>/<task>/<protocol>-<encoder>-<w weights | s state hash>-
    c<card hash>-r<run id>.json``, every part made path-safe and checked to stay inside ``out_dir``. The same run
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


def evaluate(encoder: str | Encoder, task: str, *, data_root: str | Path | None = None,
             seeds: int | Sequence[int] | None = None, weights: str | None = None, init_seed: int = 0,
             device: str | None = None, dtype: str = "float32", cache_dir: str | Path | None = None,
             out_dir: str | Path = "avbench-results", batch_size: int | None = None, num_workers: int = 0,
             **overrides: Any) -> dict[str, Any]:
    """Evaluate ``encoder`` on ``task`` and return the result record as a dict (also written under ``out_dir``).

    encoder: registered name, ``"pkg.module:factory"``, or an :class:`~avbench.encoder.Encoder` instance.
    task: shipped card name (``avbench list tasks``) or a path to a YAML card.
    data_root: the data set's root; None uses ``AVBENCH_DATA_<DATASET>`` / the config file, else the built-in
      synthetic set; "synthetic" forces it.
    seeds: number of seeds (0..N-1) or an explicit list, for the stochastic parts (training crops and
      augmentations, classifier initialisation).
    **overrides: task-card keys to override, e.g. ``classifier={"selection": "clean"}``.
    """
    record, path = run(encoder, task, data_root=data_root, overrides=overrides or None, seeds=seeds, weights=weights,
                       init_seed=init_seed, options=RunOptions(device=device, dtype=dtype, cache_dir=cache_dir,
                                                               out_dir=out_dir, batch_size=batch_size,
                                                               num_workers=num_workers))
    out = record.model_dump(mode="json")
    out["_path"] = str(path)
    return out
