"""The rules judged on an encoder's declaration and on its outputs: ``meta`` (:func:`meta_problems`) and
``shapes`` / ``axes`` / ``dtype`` / ``finite`` over every successful forward (:func:`check_outputs`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from avbench.encoder import CANONICAL_AXES, POOLED, Encoder, FeatureMap
from avbench.validate.forward import Observation
from avbench.validate.report import Check


def meta_problems(enc: Encoder) -> list[str]:
    """What makes ``enc.meta`` unusable (empty: usable): layers, embedding_dims, rates, durations, sizes, mean/std."""
    meta, problems = enc.meta, []
    for m in meta.modalities:
        spec = getattr(meta, m)
        if not spec.layers:
            problems.append(f"{m}: no layers declared")
        if POOLED in spec.layers and not meta.embedding_dims.get(m):
            problems.append(f"{m}: offers 'pooled' but meta.embedding_dims has no {m!r} entry")
    if "audio" in meta.modalities:
        a = meta.audio
        if not isinstance(a.sample_rate, int) or a.sample_rate <= 0:
            problems.append(f"audio: sample_rate {a.sample_rate!r} is not a positive integer (Hz)")
        if not 0 < a.min_seconds <= a.max_seconds:
            problems.append(f"audio: need 0 < min_seconds <= max_seconds, got {a.min_seconds}, {a.max_seconds}")
    if "video" in meta.modalities:
        v = meta.video
        if not v.fps > 0:
            problems.append(f"video: fps {v.fps!r} is not positive")
        if not 0 < v.min_size <= v.max_size:
            problems.append(f"video: need 0 < min_size <= max_size, got {v.min_size}, {v.max_size}")
        if len(v.mean) != 3 or len(v.std) != 3 or any(s <= 0 for s in v.std):
            problems.append(f"video: mean/std must be 3 values with std > 0, got {v.mean}, {v.std}")
        if any(int(f) <= 0 for f in v.frames):
            problems.append(f"video: frames {v.frames} must be positive")
    return problems


@dataclass
class _Findings:
    """What the output rules found wrong, one message per problem (the first two of each rule are reported)."""

    shape: list[str] = field(default_factory=list)
    axes: list[str] = field(default_factory=list)
    dtype: list[str] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)
    dims_seen: set[int] = field(default_factory=set)


def check_outputs(enc: Encoder, modality: str, observations: Sequence[Observation]) -> list[Check]:
    """shapes, axes, dtype and finite over every successful forward."""
    done = [o for o in observations if o.out is not None]
    if not done:
        return [Check(name=n, modality=modality, status="skip", detail="no forward succeeded")
                for n in ("shapes", "axes", "dtype", "finite")]
    found = _Findings()
    dim = enc.meta.embedding_dims.get(modality)
    for o in done:
        where = f"{o.geom.label} B={o.batch}"
        front = o.frontend
        if not isinstance(front, torch.Tensor) or front.dtype != torch.float32:
            what = "front end" if modality == "audio" else "video_preprocess"
            found.dtype.append(f"{what} gave {getattr(front, 'dtype', type(front).__name__)} ({where})")
        for layer in enc.layers(modality):
            if layer not in o.out:
                found.shape.append(f"declared layer {layer!r} missing ({where}; got {sorted(o.out)})")
                continue
            t = _layer_tensor(layer, o.out[layer], o.batch, modality, dim, where, found)
            if t is None:
                continue
            if t.dtype != torch.float32:
                found.dtype.append(f"layer {layer!r} is {t.dtype} ({where})")
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                n = int((~torch.isfinite(t.detach())).sum())
                found.nonfinite.append(f"layer {layer!r}: {n} of {t.numel()} values NaN/inf ({where})")
    if dim is None and len(found.dims_seen) > 1:
        found.shape.append(f"pooled dimension changes with the input: {sorted(found.dims_seen)}")
    return _verdicts(enc, modality, found, dim, len(done))


def _layer_tensor(layer: str, value: Any, batch: int, modality: str, dim: int | None, where: str,
                  found: _Findings) -> torch.Tensor | None:
    """Judge one layer output's shape (``pooled``: ``[B, D]``) or axes (feature maps) into ``found``; returns the
    tensor whose dtype and values are judged next, or None when there is none to judge."""
    if layer == POOLED:
        if not isinstance(value, torch.Tensor):
            found.shape.append(f"pooled is a {type(value).__name__}, not a [B, D] tensor ({where})")
            return None
        shape = tuple(value.shape)
        if value.dim() != 2 or shape[0] != batch or (dim is not None and shape[1] != dim):
            found.shape.append(f"pooled is {shape}, expected ({batch}, {dim if dim else 'D'}) ({where})")
        elif value.dim() == 2:
            found.dims_seen.add(shape[1])
        return value
    if not isinstance(value, FeatureMap):
        found.axes.append(f"layer {layer!r} is a {type(value).__name__}, not a FeatureMap with named axes")
        return value if isinstance(value, torch.Tensor) else None
    if set(value.axes) != set(CANONICAL_AXES[modality]):
        found.axes.append(f"layer {layer!r} axes {value.axes}; expected the names {CANONICAL_AXES[modality]} "
                          "in any order")
    elif value.data.shape[value.axes.index("batch")] != batch:
        found.axes.append(f"layer {layer!r}: its 'batch' axis has {value.data.shape[value.axes.index('batch')]} "
                          f"entries for B={batch} (axes mislabelled?) ({where})")
    return value.data


def _verdict(name: str, modality: str, bad: list[str], good: str) -> Check:
    """fail with the first two distinct problems (and how many more), or pass with ``good``."""
    if bad:
        more = f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""
        return Check(name=name, modality=modality, status="fail", detail="; ".join(dict.fromkeys(bad[:2])) + more)
    return Check(name=name, modality=modality, status="pass", detail=good)


def _verdicts(enc: Encoder, modality: str, found: _Findings, dim: int | None, n: int) -> list[Check]:
    """The shapes, axes, dtype and finite checks from what ``n`` forwards showed."""
    layers = [x for x in enc.layers(modality) if x != POOLED]
    return [
        _verdict("shapes", modality, found.shape, f"all {len(enc.layers(modality))} declared layer(s) on {n} input(s)"
                 + (f"; pooled [B, {dim}]" if POOLED in enc.layers(modality) else "")),
        _verdict("axes", modality, found.axes, f"{len(layers)} feature map(s) named {CANONICAL_AXES[modality]} "
                 "(any order)" if layers else "no feature maps declared (pooled only)"),
        _verdict("dtype", modality, found.dtype, "front end and every output float32"),
        _verdict("finite", modality, found.nonfinite, f"no NaN/inf in {n} forward(s)"),
    ]
