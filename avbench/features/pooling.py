"""Protocol-owned pooling of encoder feature maps into fixed-length vectors.

The map is first permuted to the canonical axis order of its modality (audio ``[B, C, freq, time]``,
video ``[B, C, time, height, width]``), so a kernel ``(1, 3)`` always means (freq 1, time 3) whatever order
the encoder returns. Then the task card's pooling and normalisation apply, and the result is flattened
in (channel, *axes) order.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from avbench.encoder import POOLED, FeatureMap
from avbench.taskcard import Features, Pooling

_POOL_FNS = {
    ("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
    ("avg", 2): F.avg_pool2d, ("avg", 3): F.avg_pool3d,
    ("adaptive_max", 2): F.adaptive_max_pool2d, ("adaptive_max", 3): F.adaptive_max_pool3d,
    ("adaptive_avg", 2): F.adaptive_avg_pool2d, ("adaptive_avg", 3): F.adaptive_avg_pool3d,
}


def pool_map(x: torch.Tensor, pool: Pooling) -> torch.Tensor:
    """``[B, C, *S]`` -> ``[B, C, *S']`` by the card's pooling (S = 2 or 3 spatial-temporal axes)."""
    n_axes = x.dim() - 2
    if pool.type == "flatten":
        return x
    size = pool.output if pool.type.startswith("adaptive") else pool.kernel
    assert size is not None
    if len(size) != n_axes:
        raise ValueError(f"pool {pool.type} size {tuple(size)} has {len(size)} axes but the map has {n_axes}")
    fn = _POOL_FNS[(pool.type, n_axes)]
    if pool.type.startswith("adaptive"):
        return fn(x, tuple(size))
    for k, s in zip(size, x.shape[2:]):
        if k > s:
            raise ValueError(f"pool kernel {tuple(size)} is larger than the map {tuple(x.shape[2:])}")
    return fn(x, kernel_size=tuple(size), stride=tuple(pool.stride) if pool.stride else None)


def pooled_dim(channels: int, map_shape: tuple[int, ...], pool: Pooling) -> int:
    """Feature dimension produced by :func:`pool_map` for a ``[C, *map_shape]`` map (computed, not guessed)."""
    probe = torch.zeros(1, channels, *map_shape, device="meta")
    return int(pool_map(probe, pool)[0].numel())


def features_from_output(output: dict[str, FeatureMap | torch.Tensor], modality: str, spec: Features) -> torch.Tensor:
    """Encoder output -> ``[B, D]`` float32 features as the card asks.

    ``output`` holds the card's layer as a FeatureMap, or only ``"pooled"`` (``[B, D]``) for encoders without
    feature maps: that fallback is used as is (pooling does not apply; "l2" still does).
    """
    if spec.layer in output:
        fm = output[spec.layer]
        if not isinstance(fm, FeatureMap):
            raise TypeError(f"layer {spec.layer!r} must be a FeatureMap with named axes, got {type(fm).__name__}")
        x = pool_map(fm.canonical(modality).data.float(), spec.pool)
        if spec.normalize == "last_axis_l2":
            x = F.normalize(x, dim=-1)
        x = x.flatten(1)
    elif POOLED in output:
        x = output[POOLED].float()
        if x.dim() != 2:
            raise ValueError(f"'pooled' output must be [B, D], got {tuple(x.shape)}")
        if spec.normalize == "last_axis_l2":
            raise ValueError("normalize=last_axis_l2 needs a feature map; this encoder only gives a pooled vector")
    else:
        raise KeyError(f"encoder returned neither layer {spec.layer!r} nor {POOLED!r}: got {sorted(output)}")
    if spec.normalize == "l2":
        x = F.normalize(x, dim=1)
    return x


def probe_features(output: dict[str, FeatureMap | torch.Tensor], modality: str, spec: Features) -> torch.Tensor:
    """``[B, D_main + sum D_probe]``: the card's layer as :func:`features_from_output` gives it, then each of
    ``spec.probe_layers`` pooled by its own pooling (normalisation as the card says), in the card's order."""
    parts = [features_from_output(output, modality, spec)]
    for name, pool in spec.probe_layers.items():
        parts.append(features_from_output(output, modality, Features(layer=name, pool=pool, normalize=spec.normalize)))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]


def requested_layers(layer: str, spec: Features) -> list[str]:
    """The layers one forward pass must return: the main one and every probed one."""
    return [layer, *(name for name in spec.probe_layers if name != layer)]


def resolve_layer(available: tuple[str, ...], wanted: str) -> tuple[str, str | None]:
    """(layer to request, fallback note or None). Encoders without ``wanted`` fall back to "pooled"."""
    if wanted in available:
        return wanted, None
    if POOLED in available:
        return POOLED, f"encoder has no layer {wanted!r}; used its pooled vector (pooling spec not applied)"
    raise ValueError(f"encoder offers layers {available}, neither {wanted!r} nor {POOLED!r}")
