"""The evaluation plan: everything a run decides before any work, resolved once.

A malformed card, an unknown encoder, a geometry the encoder cannot take, a missing layer or a missing annotation
file all fail here, before any decoding. The loops (:mod:`.loops`) and the record (:mod:`.record`) only read it.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from avbench.config import resolve_cache_dir
from avbench.datasets import Manifest, Sample, get_dataset
from avbench.evaluation.rate import resolve_video_rate
from avbench.datasets.checksums import MediaCheck, check_media
from avbench.datasets.identity import Identity, identify
from avbench.encoder import POOLED, Encoder, GeometryError, check_geometry, encoder_fingerprint
from avbench.evaluation.coverage import Coverage, measure
from avbench.features.pooling import requested_layers
from avbench.features.probe import card_layers, check_augmentation, check_pooling, pooled_dims
from avbench.features.store import FeatureStore
from avbench.media.audio_decode import decoder_version
from avbench.protocols import get_protocol
from avbench.protocols.base import Protocol
from avbench.provenance import code_fingerprint
from avbench.datasets.roots import data_root as resolve_root
from avbench.runtime.distributed import dist_context, local_device, rank0_first
from avbench.submission.loader import resolve_encoder
from avbench.taskcard import Features, TaskCard, load_card

__all__ = ["Plan", "make_plan", "column_spans"]


@dataclass
class Plan:
    """One run, resolved. ``mods``: the modalities extracted (video first for an audio-visual card); ``clips`` /
    ``feats`` / ``layers``: per modality, the card's clip geometry, feature spec and the layer actually requested;
    ``spans``: feature columns per probed layer ``{layer: (first, end)}`` (``end`` -1 = to the last column);
    ``identity``: official / custom / synthetic data (:mod:`avbench.datasets.identity`); ``media``: the media files
    against ``--checksums`` (:mod:`avbench.datasets.checksums`), None without."""

    card: TaskCard
    task: str
    overrides: dict[str, Any]
    protocol: Protocol
    seeds: list[int]
    encoder: Encoder
    source: str
    model_ref: str
    weights: str | None
    fingerprint: dict[str, Any]
    code: dict[str, Any]
    device: torch.device
    rank: int
    world: int
    mods: tuple[str, ...]
    clips: dict[str, Any]
    feats: dict[str, Features]
    layers: dict[str, str]
    fallback: str | None
    root: Path
    synthetic: bool
    manifest: Manifest
    train_samples: list[Sample]
    test_samples: list[Sample]
    store: FeatureStore
    work_dir: Path
    base_key: dict[str, Any]
    batch: int
    shard: int
    video_rate: dict[str, Any] | None = None
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    scratch: tempfile.TemporaryDirectory | None = None
    identity: Identity | None = None
    media: MediaCheck | None = None
    #: the coverage gate and where it comes from; the last measured coverage (:mod:`.coverage`)
    min_coverage: float = 1.0
    coverage_source: str = ""
    coverage: Coverage | None = None

    def check_coverage(self, usable: dict[str, dict[str, list[str]]] | None, stage: str,
                       skipped: Any = ()) -> Coverage:
        """Measure coverage of ``usable`` (split -> side -> ids; default: every usable sample of the manifest not
        in ``skipped``) and stop the run below the gate (:class:`~avbench.evaluation.coverage.CoverageError`)."""
        if usable is None:
            by_id = self.manifest.by_id()
            usable = {sp: {side: [i for i in ids if i in by_id and i not in skipped] for side, ids in v.items()}
                      for sp, v in self.manifest.splits.items()}
        # a --limit run evaluates a subset on purpose: its usable samples are its expected ones
        official = None if self.card.limit is not None else get_dataset(self.card.dataset.name).official
        self.coverage = measure(self.manifest, official, usable,
                                gate=self.min_coverage, gate_source=self.coverage_source,
                                per_class=getattr(self.card.classifier, "match", "class") != "instance", stage=stage)
        return self.coverage

    @property
    def layer(self) -> str:
        """The layer of the card's (first) modality, as requested."""
        return self.layers[self.mods[0]]

    @property
    def run_card(self) -> TaskCard:
        """The card with the video geometry the run samples (the encoder's native rate, when it applies)."""
        return self.card if self.video_rate is None else self.card.model_copy(update={"video": self.clips["video"]})

    @property
    def n_classes(self) -> int:
        return len(self.manifest.classes)

    @property
    def by_id(self) -> dict[str, Sample]:
        return self.manifest.by_id()


def _seeds(card: TaskCard, seeds: int | Sequence[int] | None) -> list[int]:
    if seeds is None:
        return list(card.seeds)
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError("seeds must be >= 1")
        return list(range(seeds))
    return [int(s) for s in seeds]


def _layers(card: TaskCard, enc: Encoder, device: torch.device, log: Callable[[str], None], model_ref: str = ""
            ) -> tuple[tuple[str, ...], dict, dict, dict, str | None, dict | None]:
    """(modalities, clip geometry, feature spec and requested layer per modality, the fallback note, the video rate
    entry of :func:`~avbench.evaluation.rate.resolve_video_rate`). Checks the encoder takes each geometry, offers
    the card's layers (or maps them: ``layer_map``) and, for a card that augments spectrograms, that its audio front
    end returns ``[B, C, F, T]``, and that the card's pooling runs on the requested layer's output for one blank clip
    of each geometry (:func:`~avbench.features.probe.check_pooling`): GeometryError before any work."""
    mods = ("video", "audio") if card.modality == "audiovisual" else (card.modality,)
    clips = {m: card.video if m == "video" else card.audio for m in mods}
    feats = {m: card.features_audio if (m == "audio" and len(mods) == 2) else card.features for m in mods}
    video_rate = None
    if "video" in mods:
        clips["video"], video_rate = resolve_video_rate(card.video, enc)
        if video_rate:
            log(f"note: video at {video_rate['fps']:g} fps, {video_rate['frames']} frames ({video_rate['why']}; "
                f"the card asks {card.video.frames} at {card.video.fps:g} fps)")
    for m in mods:
        c = clips[m]
        check_geometry(enc.meta, m, seconds=getattr(c, "seconds", None), frames=getattr(c, "frames", None),
                       size=getattr(c, "size", None), fps=getattr(c, "fps", None))
    layers, notes = card_layers(enc, card)
    for m in mods:  # a layer_map entry: the card's pooling runs on the encoder's own map of that name
        problem = check_pooling(enc, m, clips[m], feats[m], layers[m], device)
        if problem:  # a pooling the map cannot take fails here, not after the first batch is decoded
            raise GeometryError(f"{problem}; check the encoder against the card with `avbench validate "
                                f"{model_ref or enc.meta.name} --task {card.name}`")
        if layers[m] not in (feats[m].layer, POOLED):
            feats[m] = feats[m].model_copy(update={"layer": layers[m]})
    for note in notes:
        log(f"note: {note}")
    problem = check_augmentation(enc, card, device)
    if problem:
        raise GeometryError(problem)
    return mods, clips, feats, layers, "; ".join(notes) or None, video_rate


def _data(card: TaskCard, explicit: str | Path | None, cache_dir: Path, world: int, rank: int,
          opts: Any) -> tuple[Path, Manifest, Identity]:
    """(data root, the manifest restricted to the card's splits (and ``limit``) with every sample's content
    identity established (:meth:`~avbench.datasets.base.Manifest.identify`), the data set's identity: official /
    custom / synthetic (:func:`~avbench.datasets.identity.identify`), the last also for the built-in set)."""
    log = opts.log
    root, synthetic = resolve_root(card.dataset.name, explicit, cache_dir=cache_dir, log=log, world=world, rank=rank)
    manifest = load_manifest(card, Path(root)).restrict(list(card.splits))
    # the identity of the data set itself: a --limit subset of the official set is still the official data
    identity = identify(manifest, get_dataset(card.dataset.name).official, synthetic=synthetic)
    if card.limit is not None:
        from avbench.datasets.limit import limit_per_class

        manifest = limit_per_class(manifest, card.limit)
        log(f"limit: at most {card.limit} sample(s) per class on each side of each split (a smoke run; override "
            "track; no coverage gate)")
    # rank 0 hashes and keeps the memo; the other ranks then find every file in it (stat only)
    loaded = manifest
    memo = None if opts.cache == "off" else cache_dir  # --no-cache keeps nothing, the identity memo included
    manifest = rank0_first(lambda: loaded.identify(cache_dir=memo, mode=opts.verify_data,
                                                   follow_symlinks=opts.follow_symlinks), world)
    ident = manifest.identity or {}
    log(f"{card.dataset.name}: {manifest.found} of {manifest.expected} samples found under {root}"
        + (f"; {len(manifest.skipped)} listed but unusable" if manifest.skipped else "")
        + f"; content identity ({ident.get('mode')}): {ident.get('hashed')} file(s) hashed, {ident.get('memo_hits')} "
          f"unchanged since last time, {ident.get('seconds')} s")
    if ident.get("outside_root"):
        log(f"note: {len(ident['outside_root'])} sample(s) are symlinks leading out of the data root (recorded in "
            "data.outside_root; --no-follow-symlinks refuses them)")
    log(f"{card.dataset.name}: {identity.kind} data" + (f" ({len(identity.differences)} difference(s) from the "
                                                         f"release; first: {identity.differences[0]})"
                                                         if identity.differences else ""))
    return root, manifest, identity


def load_manifest(card: TaskCard, root: Path) -> Manifest:
    """The card's data set under ``root`` with the card's ``dataset.options`` (an unknown option name is a
    DatasetError naming the card, before any file is read)."""
    return get_dataset(card.dataset.name).load_checked(root, card.dataset.options, f"task card {card.name!r}")


def column_spans(enc: Encoder, card: TaskCard, layer: str, device: torch.device) -> dict[str, tuple[int, int]]:
    """Feature columns of each probed layer: {layer: (first, end)}, the card's layer first. Without
    ``features.probe_layers`` the single span is left open-ended; otherwise one blank clip measures each layer's
    pooled dimension (:mod:`avbench.features.probe`; a missing layer fails here, before any extraction)."""
    if not card.features.probe_layers:
        return {layer: (0, -1)}
    missing = [n for n in card.features.probe_layers if n not in enc.layers(card.modality)]
    if missing:
        raise GeometryError(f"encoder {enc.meta.name!r} has no layer(s) {missing} to probe; it offers "
                            f"{enc.layers(card.modality)}")
    specs = {layer: card.features, **{name: Features(layer=name, pool=pool, normalize=card.features.normalize)
                                      for name, pool in card.features.probe_layers.items()}}
    dims = pooled_dims(enc, card.modality, card.video if card.modality == "video" else card.audio, specs,
                       requested_layers(layer, card.features), device)
    spans, start = {}, 0
    for name, dim in dims.items():
        spans[name] = (start, start + dim)
        start += dim
    return spans


def make_plan(encoder: str | Encoder, task: str, *, data_root: str | Path | None, overrides: dict[str, Any] | None,
              seeds: int | Sequence[int] | None, weights: str | None, init_seed: int, opts: Any) -> Plan:
    """Resolve card, encoder, data, splits, seeds and the feature store of one run (module docstring).
    ``opts``: :class:`avbench.evaluation.runner.RunOptions`."""
    card = load_card(task, overrides, source=opts.override_source)  # malformed cards fail here, before any work
    seed_list = _seeds(card, seeds)
    shard = opts.shard_count()
    rank, world = dist_context()
    device = local_device(opts.device, rank)
    if opts.cache not in ("use", "refresh", "off"):
        raise ValueError(f"cache mode {opts.cache!r}: expected use, refresh or off")
    found = resolve_encoder(encoder, weights, init_seed)
    if not isinstance(found.obj, Encoder):
        raise TypeError(f"factory for {encoder!r} returned {type(found.obj).__name__}, not an avbench Encoder")
    enc = found.obj.eval().to(device)
    ref = encoder if isinstance(encoder, str) else enc.meta.name
    mods, clips, feats, layers, fallback, video_rate = _layers(card, enc, device, opts.log, ref)
    cache_dir = resolve_cache_dir(opts.cache_dir)
    root, manifest, identity = _data(card, data_root, cache_dir, world, rank, opts)
    media = check_media(manifest, Path(opts.checksums)) if opts.checksums and rank == 0 else None
    splits = manifest.splits.values()
    train_ids = {i for sp in splits for i in sp["train"]}
    test_ids = {i for sp in splits for i in sp["test"]}
    fingerprint, code = encoder_fingerprint(enc), code_fingerprint(enc, found.factory_module)
    scratch = tempfile.TemporaryDirectory(prefix="avbench-nocache-") if opts.cache == "off" else None
    work_dir = Path(scratch.name) if scratch else cache_dir  # features and finetuning checkpoints
    protocol = get_protocol(card.classifier.type)
    plan = Plan(card=card, task=task, overrides=overrides or {}, protocol=protocol, seeds=seed_list, encoder=enc,
                source=found.source, model_ref=encoder if isinstance(encoder, str) else enc.meta.name,
                weights=weights, fingerprint=fingerprint, code=code, device=device, rank=rank, world=world,
                mods=mods, clips=clips, feats=feats, layers=layers, fallback=fallback, video_rate=video_rate, root=root,
                synthetic=identity.kind == "synthetic", manifest=manifest, identity=identity, media=media,
                train_samples=[s for s in manifest.samples if s.id in train_ids],
                test_samples=[s for s in manifest.samples if s.id in test_ids],
                store=FeatureStore(work_dir), work_dir=work_dir,
                base_key={"format": 1, "encoder": fingerprint, "code": code, "dtype": opts.dtype,
                          "decoder": decoder_version(), "manifest": manifest.content_hash(), "task": card.name,
                          "task_version": card.version,
                          **({"data_full": manifest.identity["full_sha256"]}
                             if manifest.identity and manifest.identity.get("full_sha256") else {})},
                batch=opts.batch_size or card.batch_size, shard=shard, scratch=scratch)
    if card.limit is not None:
        plan.min_coverage, plan.coverage_source = 0.0, "--limit: a smoke run on a subset, no coverage gate"
    elif opts.min_coverage is not None:
        plan.min_coverage, plan.coverage_source = float(opts.min_coverage), "--min-coverage"
    else:
        plan.min_coverage = card.dataset.min_coverage
        plan.coverage_source = f"card {card.name}: {card.dataset.coverage_reason or 'the default'}"
    plan.check_coverage(None, "before decoding")  # files missing from the listing: stop before any work
    if protocol.kind == "frozen":
        plan.spans = column_spans(enc, plan.run_card, plan.layer, device)
    return plan
