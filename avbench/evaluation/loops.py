"""The evaluation loops, one per kind of run: features extracted once per view and classified per split (one
modality, probed layers as column ranges; or two modalities fused), or an encoder trained per split and seed.

A protocol that trains on a fresh view every epoch (:meth:`~avbench.protocols.base.Protocol.epoch_views` > 0, e.g.
the linear head with ``train_views: per_epoch``) gets one training view per epoch: seeded with
``derive_seed(seed, "epoch", e)``, each extracted through the same feature store under its own key (so an
interrupted run resumes at its first unfinished shard), handed to ``classify`` as ``epoch_train``.

Every loop writes into the same :class:`~avbench.evaluation.record.Results` and
:class:`~avbench.features.skips.SkipLog`; the plan (:mod:`.plan`) holds everything they read.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from typing import Any

from avbench.datasets import DatasetError, Sample
from avbench.evaluation.plan import Plan
from avbench.evaluation.record import Results, ids_sha
from avbench.features.clips import columns, fuse, select
from avbench.features.extract import ExtractedView, extract_view, view_summary
from avbench.features.skips import SkipLog
from avbench.features.spec import ExtractionSpec
from avbench.media.seeding import derive_seed
from avbench.protocols.base import ClipFeatures

__all__ = ["extract_views", "frozen_loop", "fusion_loop", "training_loop"]

Extracted = tuple[ExtractedView, ExtractionSpec]
#: (seed, modality) -> (train view, test view, per-epoch training views: empty for a one-view protocol)
Views = dict[tuple[int, str], tuple[Extracted, Extracted, list[Extracted]]]


def _extract(plan: Plan, opts: Any, side: str, samples: list[Sample], sampling: Any, seed: int,
             modality: str, epoch: int | None = None) -> Extracted:
    """One view (side x modality x seed, or a training epoch's own view) through the feature store: reused shards
    read, missing ones computed."""
    view = ExtractionSpec(side=side, modality=modality, clip=plan.clips[modality], sampling=sampling,
                          features=plan.feats[modality], layer=plan.layers[modality], seed=None,
                          limits=plan.card.dataset.limits)
    if view.random:
        view = ExtractionSpec(**{**view.__dict__, "seed": seed if epoch is None else derive_seed(seed, "epoch", epoch)})
    entry = plan.store.entry({**plan.base_key, "view": view.cache_fields(), "samples": ids_sha([s.id for s in samples])})
    what = f"{side} {modality} features" if len(plan.mods) == 2 else f"{side} features"
    label = f"{what} (seed {seed})" if view.random else what
    label += "" if epoch is None else f" epoch {epoch + 1}"
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
    """Train and test views of every (seed, modality), in that order; a per-epoch protocol's training views are
    its epochs' own (the first is also the train view)."""
    card = plan.card
    n_epochs = plan.protocol.epoch_views(card.classifier)
    out: Views = {}
    for seed in plan.seeds:
        for m in plan.mods:
            epochs = [_extract(plan, opts, "train", plan.train_samples, card.train, seed, m, epoch=e)
                      for e in range(n_epochs)]
            train = epochs[0] if epochs else _extract(plan, opts, "train", plan.train_samples, card.train, seed, m)
            out[(seed, m)] = (train, _extract(plan, opts, "test", plan.test_samples, card.test, seed, m), epochs)
    return out


def _classify(plan: Plan, train: ClipFeatures, test: ClipFeatures, seed: int,
              epoch_train: list[ClipFeatures] | None = None) -> tuple[Any, float]:
    t0 = time.perf_counter()
    extra = {"epoch_train": epoch_train} if epoch_train else {}
    result = plan.protocol.classify(plan.card.classifier, train, test, seed=seed, device=str(plan.device),
                                    n_classes=plan.n_classes, **extra)
    return result, time.perf_counter() - t0


def _empty_side(split: str, train: ClipFeatures, test: ClipFeatures, skips: SkipLog) -> None:
    if train.n_samples == 0 or test.n_samples == 0:
        raise DatasetError(f"split {split}: no usable {'training' if train.n_samples == 0 else 'test'} samples "
                           f"(skipped: {len(skips.skipped)}); see the data report with `avbench data verify`")


def frozen_loop(plan: Plan, opts: Any, views: Views, results: Results, skips: SkipLog) -> dict[str, Any]:
    """One modality: per seed and split, the protocol on each probed layer's columns. Returns the feature info.
    Every view's skips are known before the first classifier runs: the coverage gate is checked then."""
    info: dict[str, Any] = {}
    by_id = plan.by_id
    for seed in plan.seeds:
        (train_view, tv), (test_view, sv), epochs = views[(seed, plan.mods[0])]
        info[f"seed{seed}"] = {"train": view_summary(train_view), "test": view_summary(test_view),
                               "train_seeded": tv.seed is not None, "test_seeded": sv.seed is not None}
        info[f"seed{seed}"].update({f"train_epoch{e}": view_summary(v) for e, (v, _) in enumerate(epochs[1:], 2)})
        for v in (train_view, test_view, *(v for v, _ in epochs[1:])):
            skips.merge_view(v)
    cov = plan.check_coverage(None, "after extraction (files that did not decode are skipped)", skips.skipped)
    for seed in plan.seeds:
        (train_view, _), (test_view, _), epochs = views[(seed, plan.mods[0])]
        for split_name, split in plan.manifest.splits.items():
            train = select(train_view, plan.train_samples, [i for i in split["train"] if i in by_id])
            test = select(test_view, plan.test_samples, [i for i in split["test"] if i in by_id])
            per_epoch = [select(v, plan.train_samples, train.sample_ids) for v, _ in epochs]
            _empty_side(split_name, train, test, skips)
            for layer_name, (c0, c1) in plan.spans.items():
                tr, te = (train, test) if len(plan.spans) == 1 else (columns(train, c0, c1), columns(test, c0, c1))
                ep = per_epoch if len(plan.spans) == 1 else [columns(v, c0, c1) for v in per_epoch]
                opts.log(f"{split_name} seed {seed}{'' if layer_name == plan.layer else ' ' + layer_name}: "
                         f"{plan.card.classifier.type} on {tr.n_rows} x {tr.dim} train rows"
                         f"{f' (a fresh view each of {len(ep)} epochs)' if ep else ''}, {te.n_samples} test samples")
                result, seconds = _classify(plan, tr, te, seed, ep)
                results.add(split_name, seed, layer_name, tr, te, result, seconds, missing=cov.missing(split_name))
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
            for ev, _ in (*per_mod[m][:2], *per_mod[m][2][1:]):
                skips.merge_view(ev, prefix=f"{m}: ")
    cov = plan.check_coverage(None, "after extraction (a sample needs both streams)", skips.skipped)
    for seed in plan.seeds:
        per_mod = {m: views[(seed, m)] for m in plan.mods}
        for split_name, split in plan.manifest.splits.items():
            sides = _fusion_sides(plan, per_mod, split, skips)
            if any(sides[sd][m].n_samples == 0 for sd in ("train", "test") for m in plan.mods):
                raise DatasetError(f"split {split_name}: no sample has both streams usable (skipped: {len(skips.skipped)})")
            single: dict[str, float] = {}
            for m in plan.mods:
                result, seconds = _classify(plan, sides["train"][m], sides["test"][m], seed, sides["epochs"][m])
                run = results.add(split_name, seed, m, sides["train"][m], sides["test"][m], result, seconds,
                                  suffix=f"@{m}", missing=cov.missing(split_name))
                single[m] = run.metrics[f"{main}@{m}"]
            tr_av, te_av = (fuse(sides[sd]["audio"], sides[sd]["video"]) for sd in ("train", "test"))
            ep_av = [fuse(a, v) for a, v in zip(sides["epochs"]["audio"], sides["epochs"]["video"])]
            opts.log(f"{split_name} seed {seed}: {plan.card.classifier.type} on {tr_av.n_rows} x {tr_av.dim} fused rows")
            result, seconds = _classify(plan, tr_av, te_av, seed, ep_av)
            results.add(split_name, seed, "audio+video", tr_av, te_av, result, seconds, suffix="",
                        missing=cov.missing(split_name))
            results.add_gain(split_name, main, max(single, key=single.get))  # the better single modality
    return info


def _fusion_sides(plan: Plan, per_mod: dict, split: dict, skips: SkipLog) -> dict[str, dict[str, ClipFeatures]]:
    """``{side: {modality: ClipFeatures}}`` of the split's samples usable in BOTH streams; under ``"epochs"``, per
    modality, the per-epoch training views of the same samples (empty lists for a one-view protocol)."""
    by_id, sides = plan.by_id, {}
    for i, (side, samples) in enumerate((("train", plan.train_samples), ("test", plan.test_samples))):
        ids = [x for x in split[side] if x in by_id and x not in skips.skipped]
        sides[side] = {m: select(per_mod[m][i][0], samples, ids) for m in plan.mods}
    sides["epochs"] = {m: [select(v, plan.train_samples, sides["train"][m].sample_ids) for v, _ in per_mod[m][2]]
                       for m in plan.mods}
    return sides


def training_loop(plan: Plan, opts: Any, results: Results, skips: SkipLog) -> bool:
    """A training protocol (finetuning) per seed and split; every rank trains, rank 0 scores and records.
    Returns False on the other ranks (they write nothing). The coverage gate was checked before decoding (files
    missing from the listing); files that did not decode are known after training: the gate is checked again
    then, before the record is written, and missing test samples count as wrong in the headline."""
    by_id = plan.by_id
    pending: list[tuple[Any, ...]] = []
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
                encoder=plan.encoder, card=plan.run_card, layer=plan.layer, train=tr_s, test=te_s,
                n_classes=plan.n_classes, seed=seed, device=plan.device, dtype=opts.dtype, workers=opts.num_workers,
                checkpoint_dir=ckpt, log=opts.log)
            skips.merge_log(log)
            if result is not None:  # rank 0 (the only one that scores the test set)
                pending.append((split_name, seed, plan.layer, tr, te, result, time.perf_counter() - t0))
    if plan.rank != 0:
        return False
    usable = {sp: {side: [] for side in ("train", "test")} for sp in plan.manifest.splits}
    for split_name, _, _, tr, te, *_ in pending:
        usable[split_name] = {"train": list(tr.sample_ids), "test": list(te.sample_ids)}
    cov = plan.check_coverage(usable, "after training (files that did not decode are skipped)")
    for split_name, *rest in pending:
        results.add(split_name, *rest, missing=cov.missing(split_name))
    return True
