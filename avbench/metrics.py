"""Classification metrics shared by the protocols: top-k accuracy, per-sample clip averaging, fold statistics.

All accuracies are in percent (0-100).
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = ["NonFiniteScoresError", "check_finite_scores", "correct_at_k", "topk_accuracy", "sample_mean",
           "bootstrap_ci", "mean_std"]


class NonFiniteScoresError(ValueError):
    """Class scores hold NaN or +-inf. No accuracy is computed from them: a NaN loses every comparison, so
    counting hits on it would score the sample as correct (a NaN-emitting encoder once scored 100 %)."""


def check_finite_scores(scores: torch.Tensor, what: str = "scores") -> None:
    """Raise :class:`NonFiniteScoresError` naming how many rows of ``scores [S, K]`` (and which first) hold a
    non-finite value."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        rows = bad.reshape(bad.shape[0], -1).any(1).nonzero().flatten().tolist() if bad.dim() else [0]
        kinds = sorted({k for k, m in (("NaN", torch.isnan(scores)), ("+inf", scores == float("inf")),
                                       ("-inf", scores == float("-inf"))) if bool(m.any())})
        raise NonFiniteScoresError(f"{what}: {len(rows)} of {scores.shape[0]} rows hold non-finite values "
                                   f"({', '.join(kinds)}; first row {rows[0]}); no metric is computed from them")


def correct_at_k(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """``[S]`` bool: the true class is among the k best. Ties count against it (a class scoring the same as the
    true one ranks above it), so degenerate constant scores give 0 %, never 100 %. Non-finite scores raise
    :class:`NonFiniteScoresError` (they are never counted, as hits or as misses)."""
    if scores.ndim != 2 or labels.ndim != 1 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be [S, K] and labels [S]; got {tuple(scores.shape)} and {tuple(labels.shape)}")
    if k < 1:
        raise ValueError("k must be >= 1")
    check_finite_scores(scores)
    labels = labels.long().to(scores.device)
    true = scores.gather(1, labels[:, None])
    ahead = (scores >= true).sum(1) - 1  # other classes scoring at least as high as the true one
    return ahead < k


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Top-k accuracy in percent of ``scores [S, K]`` (higher = more likely) against ``labels [S]`` (class indices).

    k larger than K counts every sample as correct. An empty set gives NaN.
    """
    if scores.shape[0] == 0:
        return float("nan")
    return float(correct_at_k(scores, labels, k).double().mean()) * 100.0


def sample_mean(clip_scores: torch.Tensor, sample_index: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Average clip-level rows ``[n, K]`` into sample-level rows ``[S, K]`` using ``sample_index [n]`` (row ->
    sample). Scores are averaged, not features, as in the CrissCross/BraVe multi-clip evaluation. Every sample
    must have at least one clip."""
    idx = sample_index.long().to(clip_scores.device)
    out = torch.zeros(n_samples, clip_scores.shape[1], dtype=clip_scores.dtype, device=clip_scores.device)
    out.index_add_(0, idx, clip_scores)
    counts = torch.bincount(idx, minlength=n_samples)
    if bool((counts == 0).any()):
        raise ValueError(f"{int((counts == 0).sum())} samples have no clip rows")
    return out / counts[:, None].to(out.dtype)


def bootstrap_ci(per_split: Mapping[str, np.ndarray] | Sequence[tuple[torch.Tensor, torch.Tensor]], *,
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """THE bootstrap of avbench (records, leaderboard): percentile interval (percent) of the mean over splits.

    per_split: ``{split: [S_split] per-sample values in percent}`` (e.g. 0/100 hits), or a sequence of
    ``(scores [S_f, K], labels [S_f])`` folds, turned into top-1 hits. Each replicate resamples every split's
    samples with replacement (within the split, keeping its size) and averages the split means. Draws:
    ``numpy.random.default_rng(seed)``, one ``[n_boot, S]`` index draw per split in insertion order, so the
    leaderboard reproduces a record's ``ci95`` exactly. Returns the ``(1 - level) / 2`` and ``(1 + level) / 2``
    quantiles.
    """
    if not isinstance(per_split, Mapping):
        per_split = {str(i): correct_at_k(s.cpu(), y.cpu(), 1).double().numpy() * 100.0
                     for i, (s, y) in enumerate(per_split)}
    if not per_split:
        raise ValueError("bootstrap_ci needs at least one split")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    if any(len(v) == 0 for v in per_split.values()):
        raise ValueError("a split has no test samples")
    rng = np.random.default_rng(seed)
    stats = np.zeros(n_boot)
    for values in per_split.values():
        values = np.asarray(values)
        idx = rng.integers(0, len(values), size=(n_boot, len(values)))
        stats += values[idx].mean(axis=1)
    stats /= len(per_split)
    tail = round(50.0 * (1.0 - level), 10)  # 2.5 exactly for 0.95 (the records' percentiles)
    lo, hi = np.percentile(stats, [tail, 100.0 - tail])
    return float(lo), float(hi)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and **sample** standard deviation (``ddof=1``, the spread one expects of another run over folds/splits)
    of ``values``; a single value has std 0.0."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std needs at least one value")
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var)
