"""Statistics of the leaderboard: the records' bootstrap interval, and paired comparisons of two entries.

Per-sample values are percentages (a top-k or R@k hit is 0 or 100; with several seeds the seeds' values of a
sample are averaged first; ``fusion_gain`` is the a+v hit minus the better modality's hit, -100..100).
Splits (folds) are kept apart: statistics are means over splits of per-split means, and the bootstrap resamples
test samples WITHIN each split, as :mod:`avbench.evaluation.runner` does when it writes ``ci95``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from avbench.metrics import bootstrap_ci

__all__ = ["bootstrap_ci", "PairedComparison", "paired_comparison"]


@dataclass(frozen=True)
class PairedComparison:
    """A minus B on the test samples both were scored on.

    diff: mean over splits of the per-split mean difference (percentage points); ci95: paired bootstrap
    interval of ``diff``; p_value: two-sided sign-flip permutation test of "no difference"; n_common: samples
    compared (summed over splits); n_splits: splits with common samples.
    """

    diff: float
    ci95: tuple[float, float]
    p_value: float
    n_common: int
    n_splits: int


def paired_comparison(a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]], *,
                      n_boot: int = 1000, n_perm: int = 9999, seed: int = 0) -> PairedComparison | None:
    """Compare two entries on their common ``(split, sample id)`` pairs; None when they share no sample.

    a, b: ``{split: {sample id: value (percent)}}``. The bootstrap resamples common samples within each split
    (seeded, ``n_boot`` replicates); the permutation test flips the sign of each sample's difference at random
    (``n_perm`` draws) and reports ``(1 + #{|stat| >= |observed|}) / (1 + n_perm)``.
    """
    diffs: dict[str, np.ndarray] = {}
    for split in a:
        if split not in b:
            continue
        common = sorted(set(a[split]) & set(b[split]))
        if common:
            diffs[split] = np.array([a[split][i] - b[split][i] for i in common], dtype=np.float64)
    if not diffs:
        return None
    observed = float(np.mean([d.mean() for d in diffs.values()]))
    lo, hi = bootstrap_ci(diffs, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed + 1)
    perm = np.zeros(n_perm)
    for d in diffs.values():
        step = max(1, 2_000_000 // d.size)  # bounded memory: [step, S] signs at a time
        for start in range(0, n_perm, step):
            stop = min(n_perm, start + step)
            signs = rng.integers(0, 2, size=(stop - start, d.size), dtype=np.int8) * 2 - 1
            perm[start:stop] += (signs * d).mean(axis=1)
    perm /= len(diffs)
    extreme = int(np.sum(np.abs(perm) >= abs(observed) - 1e-12))
    return PairedComparison(diff=observed, ci95=(lo, hi), p_value=(1 + extreme) / (1 + n_perm),
                            n_common=int(sum(d.size for d in diffs.values())), n_splits=len(diffs))
