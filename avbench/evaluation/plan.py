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
from avbench.encoder import Encoder, check_geometry, encoder_fingerprint
from avbench.features.pooling import requested_layers, resolve_layer
from avbench.features.probe import pooled_dims
from avbench.features.store import FeatureStore
from avbench.media.audio_decode import decoder_version
from avbench.protocols import get_protocol
from avbench.protocols.base import Protocol
from avbench.provenance import code_fingerprint
from avbench.datasets.roots import data_root as resolve_root
from avbench.runtime.distributed import dist_context, local_device
from avbench.submission.loader import resolve_encoder
from avbench.taskcard import Features, TaskCard, load_card

__all__ = ["Plan", "make_plan", "column_spans"]


@dataclass
class Plan:
    """One run, resolved. ``mods``: the modalities extracted (video first for an audio-visual card); ``clips`` /
    ``feats`` / ``layers``: per modality, the card's clip geometry, feature spec and the layer actually requested;
    ``spans``: feature columns per probed layer ``{layer: (first, end)}`` (``end`` -1 = to the last column)."""

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
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    scratch: tempfile.TemporaryDirectory | None = None

    @property
    def layer(self) -> str:
        """The layer of the card's (first) modality, as requested."""
        return self.layers[self.mods[0]]

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


def _layers(card: TaskCard, enc: Encoder, log: Callable[[str], None]) -> tuple[tuple[str, ...], dict, dict, dict, str | None]:
    """(modalities, clip geometry, feature spec and requested layer per modality, the fallback note). Checks the
    encoder takes each geometry (GeometryError before any work)."""
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
            log(f"note: {fallbacks[-1]}")
    return mods, clips, feats, layers, "; ".join(fallbacks) or None


def _data(card: TaskCard, explicit: str | Path | None, cache_dir: Path, world: int, rank: int,
          log: Callable[[str], None]) -> tuple[Path, bool, Manifest]:
    """(data root, whether it is the built-in synthetic set, the manifest restricted to the card's splits)."""
    root, synthetic = resolve_root(card.dataset.name, explicit, cache_dir=cache_dir, log=log, world=world, rank=rank)
    manifest = get_dataset(card.dataset.name).load(Path(root), **card.dataset.options).restrict(list(card.splits))
    log(f"{card.dataset.name}: {manifest.found} of {manifest.expected} samples found under {root}"
        + (f"; {len(manifest.skipped)} listed but unusable" if manifest.skipped else ""))
    return root, synthetic, manifest


def column_spans(enc: Encoder, card: TaskCard, layer: str, device: torch.device) -> dict[str, tuple[int, int]]:
    """Feature columns of each probed layer: {layer: (first, end)}, the card's layer first. Without
    ``features.probe_layers`` the single span is left open-ended; otherwise one blank clip measures each layer's
    pooled dimension (:mod:`avbench.features.probe`; a missing layer fails here, before any extraction)."""
    from avbench.encoder import GeometryError

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
    card = load_card(task, overrides)  # malformed cards fail here, before any work
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
    mods, clips, feats, layers, fallback = _layers(card, enc, opts.log)
    cache_dir = resolve_cache_dir(opts.cache_dir)
    root, synthetic, manifest = _data(card, data_root, cache_dir, world, rank, opts.log)
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
                mods=mods, clips=clips, feats=feats, layers=layers, fallback=fallback, root=root,
                synthetic=synthetic, manifest=manifest,
                train_samples=[s for s in manifest.samples if s.id in train_ids],
                test_samples=[s for s in manifest.samples if s.id in test_ids],
                store=FeatureStore(work_dir), work_dir=work_dir,
                base_key={"format": 1, "encoder": fingerprint, "code": code, "dtype": opts.dtype,
                          "decoder": decoder_version(), "manifest": manifest.content_hash(), "task": card.name,
                          "task_version": card.version},
                batch=opts.batch_size or card.batch_size, shard=shard, scratch=scratch)
    if protocol.kind == "frozen":
        plan.spans = column_spans(enc, card, plan.layer, device)
    return plan
