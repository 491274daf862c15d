"""Video-level features: clip rows averaged per sample, optionally L2-normalised per clip and standardised.

Two published recipes meet here:

* SeLaVi / GDT retrieval (``facebookresearch/selavi`` ``retrieval_utils.py``): every clip feature is
  L2-normalised, then the clips of a video are averaged; the average is *not* re-normalised
  (``clip_norm="l2"``).
* Jenni et al. (temporal SSL, AAAI 2023), "Implementation Details": features for linear probes and
  nearest-neighbour retrieval are averaged over crops and standardised with training-set statistics
  (``clip_norm="none"``, ``standardize=True``).

CrissCross E.3 retrieval averages raw clip features (``clip_norm="none"``, no standardisation).

Averaging streams over ``ClipFeatures.blocks``: only one block (moved to ``device`` and upcast) and the
``[S, D]`` accumulator are held at a time, so memory-mapped feature stores never need to be concatenated.
"""
from __future__ import annotations

from typing import Literal

import torch

from avbench.protocols.base import ClipFeatures

__all__ = ["CLIP_NORMS", "ClipNorm", "video_features", "fit_standardizer", "apply_standardizer", "to_video_level"]

ClipNorm = Literal["none", "l2"]
CLIP_NORMS = ("none", "l2")
STD_EPS = 1e-8


def _check_clip_norm(clip_norm: str) -> None:
    if clip_norm not in CLIP_NORMS:
        raise ValueError(f"clip_norm must be one of {CLIP_NORMS}; got {clip_norm!r}")


def video_features(features: ClipFeatures, *, clip_norm: ClipNorm = "none",
                   standardize: tuple[torch.Tensor, torch.Tensor] | None = None,
                   dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-sample mean of the clip rows: ``[S, D]`` in ``dtype`` on ``device`` (same units as the features).

    clip_norm: ``"none"`` averages the raw rows; ``"l2"`` divides every clip row by its L2 norm first
      (``max(norm, 1e-12)``, so all-zero rows stay zero) and does not re-normalise the average (SeLaVi).
    standardize: optional ``(mean [D], std [D])`` from :func:`fit_standardizer` applied to the averages as
      ``(x - mean) / std``.
    Sums accumulate in float64 whatever ``dtype``; rows are streamed one block at a time.
    Every sample must have at least one clip row.
    """
    _check_clip_norm(clip_norm)
    dev = torch.device(device)
    S, D = features.n_samples, features.dim
    acc = torch.zeros(S, D, dtype=torch.float64, device=dev)
    index = features.sample_index.long()
    for start, block in features.iter_blocks():
        rows = block.to(device=dev, dtype=torch.float64)
        if clip_norm == "l2":
            rows = torch.nn.functional.normalize(rows, p=2.0, dim=1, eps=1e-12)
        acc.index_add_(0, index[start:start + rows.shape[0]].to(dev), rows)
        del rows
    counts = torch.bincount(index, minlength=S).to(dev)
    if bool((counts == 0).any()):
        raise ValueError(f"{int((counts == 0).sum())} of {S} samples have no clip rows")
    acc /= counts[:, None].to(torch.float64)
    if standardize is not None:
        acc = apply_standardizer(acc, standardize)
    return acc.to(dtype)


def fit_standardizer(x: torch.Tensor, eps: float = STD_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension ``(mean [D], std [D])`` of ``x [S, D]`` (float64, on ``x``'s device).

    std is the population standard deviation (``ddof=0``, as ``sklearn.preprocessing.StandardScaler``).
    Dimensions whose std is below ``eps`` (zero variance, up to rounding) get std 1, so they are centred but not
    blown up; every returned std is therefore at least ``eps``.
    """
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"fit_standardizer needs a non-empty [S, D] matrix; got {tuple(x.shape)}")
    x = x.double()
    mean = x.mean(0)
    std = (x - mean).pow(2).mean(0).sqrt()
    std = torch.where(std < eps, torch.ones_like(std), std)
    return mean, std


def apply_standardizer(x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``(x - mean) / std`` for ``x [S, D]`` with ``stats = (mean [D], std [D])``; returns ``x``'s dtype."""
    mean, std = stats
    if mean.shape != (x.shape[1],) or std.shape != (x.shape[1],):
        raise ValueError(f"standardiser is for dimension {tuple(mean.shape)}, features have {x.shape[1]}")
    out = (x.double() - mean.to(x.device, torch.float64)) / std.to(x.device, torch.float64)
    return out.to(x.dtype)


def _as_rows(features: ClipFeatures, x: torch.Tensor) -> ClipFeatures:
    return ClipFeatures(blocks=[x], sample_index=torch.arange(features.n_samples), labels=features.labels,
                        groups=list(features.groups), sample_ids=list(features.sample_ids))


def to_video_level(train: ClipFeatures, test: ClipFeatures, *, clip_norm: ClipNorm = "none",
                   standardize: bool = True, dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "cpu") -> tuple[ClipFeatures, ClipFeatures]:
    """One feature row per sample for both sides of a split (the temporal-SSL linear-probe variant).

    Each side's clip rows are averaged per sample (:func:`video_features`); with ``standardize`` both sides are
    standardised with the mean/std of the **train** averages only (test statistics are never used).
    Returns ``(train, test)`` as ``ClipFeatures`` with a single ``[S, D]`` block in ``dtype`` on the CPU and
    ``sample_index = arange(S)``; labels, groups and ids are carried over.
    """
    x_train = video_features(train, clip_norm=clip_norm, device=device)
    x_test = video_features(test, clip_norm=clip_norm, device=device)
    if standardize:
        stats = fit_standardizer(x_train)
        x_train, x_test = apply_standardizer(x_train, stats), apply_standardizer(x_test, stats)
    return (_as_rows(train, x_train.to("cpu", dtype).contiguous()),
            _as_rows(test, x_test.to("cpu", dtype).contiguous()))
