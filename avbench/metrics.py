"""Classification metrics shared by the protocols: top-k accuracy, per-sample clip averaging, fold statistics.

All accuracies are in percent (0-100).
"""
from __future__ import annotations

import math
from typing import Sequence

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


def bootstrap_ci(folds: Sequence[tuple[torch.Tensor, torch.Tensor]], *, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (percent) of the mean-over-folds top-1 accuracy.

    folds: ``(scores [S_f, K], labels [S_f])`` per fold/split. Each replicate resamples the test samples of every
    fold with replacement (within the fold, keeping its size), recomputes each fold's top-1 and averages over
    folds. Returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the ``n_boot`` replicates.
    """
    if not folds:
        raise ValueError("bootstrap_ci needs at least one fold")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(n_boot, dtype=torch.float64)
    for scores, labels in folds:
        correct = correct_at_k(scores.cpu(), labels.cpu(), 1).double()
        n = correct.numel()
        if n == 0:
            raise ValueError("a fold has no test samples")
        draws = torch.randint(0, n, (n_boot, n), generator=gen)
        total += correct[draws].mean(1)
    reps = total / len(folds) * 100.0
    alpha = (1 - level) / 2
    lo, hi = torch.quantile(reps, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)).tolist()
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
