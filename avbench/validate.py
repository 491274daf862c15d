"""Check an encoder against the contract before anyone spends GPU hours on it (cf. HEAR's validator).

Runs small synthetic inputs through each declared modality and checks: output keys and named axes,
``"pooled"`` shape against ``meta.embedding_dims``, float dtype, finite values, determinism (same input
twice), batch invariance (one clip alone vs. in a batch of three) and that the encoder is in eval mode.
"""
from __future__ import annotations

from typing import Iterator

import torch

from .encoder import CANONICAL_AXES, POOLED, Encoder, FeatureMap
from .registry import build_encoder


def _check_outputs(enc: Encoder, modality: str, out: dict, batch: int) -> Iterator[tuple[str, bool]]:
    for layer in enc.layers(modality):
        if layer not in out:
            yield f"{modality}: declared layer {layer!r} missing from the output", False
            continue
        value = out[layer]
        if layer == POOLED:
            dim = enc.meta.embedding_dims.get(modality)
            good = isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == batch and (dim is None or value.shape[1] == dim)
            yield f"{modality}: pooled is [B, D] = {tuple(value.shape)} (meta says D={dim})", bool(good)
        else:
            good = isinstance(value, FeatureMap) and set(value.axes) == set(CANONICAL_AXES[modality])
            yield f"{modality}: layer {layer} has axes {getattr(value, 'axes', None)}", bool(good)
            value = value.data if isinstance(value, FeatureMap) else value
        if isinstance(value, torch.Tensor):
            yield f"{modality}: layer {layer} is floating point and finite", bool(value.is_floating_point() and torch.isfinite(value).all())


def _run(enc: Encoder, modality: str, x: torch.Tensor) -> dict:
    with torch.inference_mode():
        if modality == "audio":
            return enc.encode_audio(enc.audio_frontend(x), layers=enc.layers("audio"))
        return enc.encode_video(enc.video_preprocess(x), layers=enc.layers("video"))


def _first_tensor(out: dict) -> torch.Tensor:
    v = out.get(POOLED, next(iter(out.values())))
    return v.data if isinstance(v, FeatureMap) else v


def validate_encoder(name_or_encoder: str | Encoder, weights: str | None = None) -> list[tuple[str, bool]]:
    """Return (check description, passed) for every check."""
    enc = build_encoder(name_or_encoder, weights=weights) if isinstance(name_or_encoder, str) else name_or_encoder.eval()
    results: list[tuple[str, bool]] = [(f"built {enc.meta.name} v{enc.meta.version} ({'+'.join(enc.meta.modalities)})", True),
                                       ("encoder is in eval mode", not enc.training)]
    g = torch.Generator().manual_seed(0)
    for modality in enc.meta.modalities:
        if modality == "audio":
            spec = enc.meta.audio
            seconds = max(spec.min_seconds, min(2.0, spec.max_seconds))
            x = (torch.rand(3, int(seconds * spec.sample_rate), generator=g) * 2 - 1) * 0.3
        else:
            spec_v = enc.meta.video
            frames = spec_v.frames[0] if spec_v.frames else 8
            size = max(spec_v.min_size, min(112, spec_v.max_size))
            x = torch.randint(0, 256, (3, 3, frames, size, size), generator=g, dtype=torch.uint8)
        try:
            out = _run(enc, modality, x)
        except Exception as exc:
            results.append((f"{modality}: forward failed: {type(exc).__name__}: {exc}", False))
            continue
        results.extend(_check_outputs(enc, modality, out, 3))
        again = _first_tensor(_run(enc, modality, x))
        results.append((f"{modality}: deterministic (same input twice gives the same output)", bool(torch.equal(again, _first_tensor(out)))))
        alone = _first_tensor(_run(enc, modality, x[:1]))
        diff = float((alone - _first_tensor(out)[:1]).abs().max())
        results.append((f"{modality}: batch invariant (max |B=1 - B=3| = {diff:.2e})", diff <= 1e-4 * max(1.0, float(alone.abs().max()))))
    return results
