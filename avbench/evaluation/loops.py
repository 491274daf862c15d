"""The evaluation loops, one per kind of run: features extracted once per view and classified per split (one
modality, probed layers as column ranges; or two modalities fused), or an encoder trained per split and seed.

Every loop writes into the same :class:`~avbench.evaluation.record.Results` and
:class:`~avbench.features.skips.SkipLog`; the plan (:mod:`.plan`) holds everything they read.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from typing import Any

from avbench.datasets import Sample
from avbench.evaluation.plan import Plan
from avbench.evaluation.record import Results, ids_sha
from avbench.features.clips import columns, fuse, select
from avbench.features.extract import ExtractedView, extract_view, view_summary
from avbench.features.skips import SkipLog
from avbench.features.spec import ExtractionSpec
from avbench.protocols.base import ClipFeatures

__all__ = ["extract_views", "frozen_loop", "fusion_loop", "training_loop"]

Views = dict[tuple[int, str], tuple[tuple[ExtractedView, ExtractionSpec], tuple[ExtractedView, ExtractionSpec]]]


def _extract(plan: Plan, opts: Any, side: str, samples: list[Sample], sampling: Any, seed: int,
             modality: str) -> tuple[ExtractedView, ExtractionSpec]:
    """One view (side x modality x seed) through the feature store: reused shards read, missing ones computed."""
    view = ExtractionSpec(side=side, modality=modality, clip=plan.clips[modality], sampling=sampling,
                features=plan.feats[modality], layer=plan.layers[modality], seed=None)
    if view.random:
        view = ExtractionSpec(**{**view.__dict__, "seed": seed})
    entry = plan.store.entry({**plan.base_key, "view": view.cache_fields(), "samples": ids_sha([s.id for s in samples])})
    what = f"{side} {modality} features" if len(plan.mods) == 2 else f"{side} features"
    label = f"{what} (seed {seed})" if view.random else what
    advance = opts.progress(label, len(samples)) if opts.progress else None
    out = extract_view(plan.encoder, samples, view, entry, device=plan.device, dtype=opts.dtype,
                       batch_size=plan.batch, num_workers=opts.num_workers, shard_size=plan.shard, rank=plan.rank,
                       world_size=plan.world, progress=advance, refresh=opts.cache == "refresh",
                       model_ref=plan.model_ref)
    if plan.rank == 0:
        st = out.stats
        opts.log(f"{label}: cache {opts.cache}, key {entry.key[:16]}: {st['shards_reused']} of {st['shards']} "
                 f"shard(s) reused, {st['shards_computed']} computed")
    return out, view


def extract_views(plan: Plan, opts: Any) -> Views:
    """Train and test views of every (seed, modality), in that order."""
    card = plan.card
    return {(seed, m): (_extract(plan, opts, "train", plan.train_samples, card.train, seed, m),
                        _extract(plan, opts, "test", plan.test_samples, card.test, seed, m))
            for seed in plan.seeds for m in plan.mods}


def _classify(plan: Plan, train: ClipFeatures, test: ClipFeatures, seed: int) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = plan.protocol.classify(plan.card.classifier, train, test, seed=seed, device=str(plan.device),
                                    n_classes=plan.n_classes)
    return result, time.perf_counter() - t0


def _empty_side(split: str, train: ClipFeatures, test: ClipFeatures, skips: SkipLog) -> None:
    if train.n_samples == 0 or test.n_samples == 0:
        raise RuntimeError(f"split {split}: no usable {'training' if train.n_samples == 0 else 'test'} samples "
                           f"(skipped: {len(skips.skipped)}); see the data report with `avbench data verify`")


def frozen_loop(plan: Plan, opts: Any, views: Views, results: Results, skips: SkipLog) -> dict[str, Any]:
    """One modality: per seed and split, the protocol on each probed layer's columns. Returns the feature info."""
    info: dict[str, Any] = {}
    by_id = plan.by_id
    for seed in plan.seeds:
        (train_view, tv), (test_view, sv) = views[(seed, plan.mods[0])]
        info[f"seed{seed}"] = {"train": view_summary(train_view), "test": view_summary(test_view),
                               "train_seeded": tv.seed is not None, "test_seeded": sv.seed is not None}
        for v in (train_view, test_view):
            skips.merge_view(v)
        for split_name, split in plan.manifest.splits.items():
            train = select(train_view, plan.train_samples, [i for i in split["train"] if i in by_id])
            test = select(test_view, plan.test_samples, [i for i in split["test"] if i in by_id])
            _empty_side(split_name, train, test, skips)
            for layer_name, (c0, c1) in plan.spans.items():
                tr, te = (train, test) if len(plan.spans) == 1 else (columns(train, c0, c1), columns(test, c0, c1))
                opts.log(f"{split_name} seed {seed}{'' if layer_name == plan.layer else ' ' + layer_name}: "
                         f"{plan.card.classifier.type} on {tr.n_rows} x {tr.dim} train rows, {te.n_samples} test samples")
                result, seconds = _classify(plan, tr, te, seed)
                results.add(split_name, seed, layer_name, tr, te, result, seconds)
    return info


def fusion_loop(plan: Plan, opts: Any, views: Views, results: Results, skips: SkipLog) -> dict[str, Any]:
    """Audio and video: per seed and split, each modality alone, then both concatenated, and the fusion gain."""
    info: dict[str, Any] = {}
    main = plan.card.metrics[0]
    for seed in plan.seeds:
        per_mod = {m: views[(seed, m)] for m in plan.mods}
        info[f"seed{seed}"] = {f"{side}_{m}": view_summary(per_mod[m][i][0]) for m in plan.mods
                               for i, side in enumerate(("train", "test"))}
        for m in plan.mods:
            for ev, _ in per_mod[m]:
                skips.merge_view(ev, prefix=f"{m}: ")
        for split_name, split in plan.manifest.splits.items():
            sides = _fusion_sides(plan, per_mod, split, skips)
            if any(sides[sd][m].n_samples == 0 for sd in sides for m in plan.mods):
                raise RuntimeError(f"split {split_name}: no sample has both streams usable (skipped: {len(skips.skipped)})")
            single: dict[str, float] = {}
            for m in plan.mods:
                result, seconds = _classify(plan, sides["train"][m], sides["test"][m], seed)
                run = results.add(split_name, seed, m, sides["train"][m], sides["test"][m], result, seconds, suffix=f"@{m}")
                single[m] = run.metrics[f"{main}@{m}"]
            tr_av, te_av = (fuse(sides[sd]["audio"], sides[sd]["video"]) for sd in ("train", "test"))
            opts.log(f"{split_name} seed {seed}: {plan.card.classifier.type} on {tr_av.n_rows} x {tr_av.dim} fused rows")
            result, seconds = _classify(plan, tr_av, te_av, seed)
            results.add(split_name, seed, "audio+video", tr_av, te_av, result, seconds, suffix="")
            results.add_gain(split_name, main, max(single, key=single.get))  # the better single modality
    return info


def _fusion_sides(plan: Plan, per_mod: dict, split: dict, skips: SkipLog) -> dict[str, dict[str, ClipFeatures]]:
    """``{side: {modality: ClipFeatures}}`` of the split's samples usable in BOTH streams."""
    by_id, sides = plan.by_id, {}
    for i, (side, samples) in enumerate((("train", plan.train_samples), ("test", plan.test_samples))):
        ids = [x for x in split[side] if x in by_id and x not in skips.skipped]
        sides[side] = {m: select(per_mod[m][i][0], samples, ids) for m in plan.mods}
    return sides


def training_loop(plan: Plan, opts: Any, results: Results, skips: SkipLog) -> bool:
    """A training protocol (finetuning) per seed and split; every rank trains, rank 0 scores and records.
    Returns False on the other ranks (they write nothing)."""
    by_id = plan.by_id
    for seed in plan.seeds:
        for split_name, split in plan.manifest.splits.items():
            tr_s = [by_id[i] for i in split["train"] if i in by_id]
            te_s = [by_id[i] for i in split["test"] if i in by_id]
            ckpt = plan.work_dir / "finetune" / hashlib.sha256(json.dumps(
                [plan.base_key, plan.card.sha256(), split_name, seed], sort_keys=True, default=str).encode()).hexdigest()[:32]
            if opts.cache == "refresh" and plan.rank == 0:
                shutil.rmtree(ckpt, ignore_errors=True)
            t0 = time.perf_counter()
            result, tr, te, log = plan.protocol.run_split(
                encoder=plan.encoder, card=plan.card, layer=plan.layer, train=tr_s, test=te_s,
                n_classes=plan.n_classes, seed=seed, device=plan.device, dtype=opts.dtype, workers=opts.num_workers,
                checkpoint_dir=ckpt, log=opts.log)
            skips.merge_log(log)
            if result is not None:  # rank 0 (the only one that scores the test set)
                results.add(split_name, seed, plan.layer, tr, te, result, time.perf_counter() - t0)
    return plan.rank == 0
