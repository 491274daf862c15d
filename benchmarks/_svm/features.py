"""Feature sets for the SVM sweep: a generator with the properties of real encoder features, ``.npz`` loading, and
the statistics that compare the two.

Real features (measured on the shipped CrissCross encoder and a 1 024-D random-projection encoder, issue 21) are
unlike Gaussian ones: all values non-negative (ReLU), 6-22 % exact zeros, column standard deviations spread over
three orders of magnitude (some columns constant), column means about 2 standard deviations from zero, singular
values of the centred matrix falling 56-120x from the first to the 100th, and a numerically rank-deficient Gram
matrix. Each of these makes the SVM's Hessian ill-conditioned in its own way; :func:`realistic` reproduces all
of them (:func:`feature_stats` measures them, on generated and on loaded features alike).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avbench.protocols.base import ClipFeatures

#: the latent factors' standard deviations fall as ``j ** -SPECTRUM_EXPONENT`` (tuned: the centred 1st/100th
#: singular value ratio lands at 66-74 on the k10 shapes, inside the 56-120 measured on real features)
SPECTRUM_EXPONENT = 2.5
#: named problem shapes: (train samples, test samples, clips per sample, D, K, kind)
SHAPES = {
    # one ESC-50 fold: 1 600 train / 400 test recordings x 10 clips, conv5x max-pooled 4 608-D, 50 classes
    "esc50": (1600, 400, 10, 4608, 50, "conv"),
    # UCF101 at 8 192-D (conv5x 1x4x4) with 101 classes; 20 training and 5 test videos per class x 5 clips
    # (split 1 has 9 537 videos x 25 clips, out of reach of liblinear on two cores)
    "ucf101": (2020, 505, 5, 8192, 101, "conv"),
    # the measurements: fold 1 of a 400-clip, 10-class ESC-50 layout
    "k10": (320, 80, 10, 4608, 10, "conv"),
    "k10-1024": (320, 80, 10, 1024, 10, "projection"),
}


@dataclass
class Problem:
    """A train/test pair of clip features with a name saying where it came from."""

    name: str
    train: ClipFeatures
    test: ClipFeatures
    n_classes: int


def _clip_features(x: torch.Tensor, sample: torch.Tensor, labels: torch.Tensor) -> ClipFeatures:
    n = int(labels.numel())
    return ClipFeatures(blocks=[x.contiguous()], sample_index=sample, labels=labels,
                        groups=[f"g{i % 4}" for i in range(n)], sample_ids=[f"s{i}" for i in range(n)])


def realistic(shape: str = "esc50", *, seed: int = 0, kind: str | None = None, dim: int | None = None,
              n_classes: int | None = None, scale: float = 1.0) -> Problem:
    """Generate a realistic problem of a named :data:`SHAPES` entry (``dim``/``n_classes``/``kind`` override it;
    ``scale`` multiplies the sample counts). Returns float32 rows ``[samples x clips, D]``.

    Construction (all seeded): a latent of ``r = min(D, 768)`` factors whose standard deviations fall as
    ``j ** -SPECTRUM_EXPONENT`` holds a class centre, a per-recording offset and per-clip noise; a mixing matrix
    maps it to D pre-activations ``z`` (standardised with the training side's column statistics). ``conv`` columns
    come in groups of 9 positions of one channel (conv5x max-pooled 512 x 3 x 3: strongly correlated, one scale
    per channel), ``projection`` columns are independent mixtures. Each column is ``relu(1 + 0.25 z)``, set to
    zero where ``z`` falls below the column's own quantile (1-24 % per column; with the offset this gives column
    means 2.1-2.4 standard deviations from zero, as measured), then multiplied by a scale drawn log-uniformly over
    three decades; 1 % of the columns are dead (all zero), 0.5 % constant, and 2 % exact copies of others (a
    rank-deficient Gram matrix ``X~^T X~``). The overall scale makes the median squared row norm D / 3,
    like CrissCross's conv5x features (measured: 1 500-1 600 at 4 608-D).
    """
    n_tr, n_te, clips, d0, k0, kind0 = SHAPES[shape]
    D, K, kind = dim or d0, n_classes or k0, kind or kind0
    n_tr, n_te = max(K, int(n_tr * scale)), max(K, int(n_te * scale))
    g = torch.Generator().manual_seed(7919 * seed + 17)
    r = min(D, 768)
    spectrum = torch.arange(1, r + 1, dtype=torch.float64) ** -SPECTRUM_EXPONENT
    centres = torch.randn(K, r, generator=g, dtype=torch.float64)
    channels = -(-D // 9) if kind == "conv" else D
    mix = torch.randn(r, channels, generator=g, dtype=torch.float64) / math.sqrt(r)
    col_scale = 10 ** (3 * torch.rand(channels, generator=g, dtype=torch.float64) - 1.5)
    if kind == "conv":  # 9 pooled positions per channel: the channel's mixture plus a small per-position part
        mix = mix.repeat_interleave(9, 1)[:, :D] + 0.25 * torch.randn(r, D, generator=g, dtype=torch.float64) / math.sqrt(r)
        col_scale = col_scale.repeat_interleave(9)[:D]
    zero_frac = 0.01 + 0.23 * torch.rand(D, generator=g, dtype=torch.float64)
    gate_q = torch.distributions.Normal(0.0, 1.0).icdf(zero_frac)
    perm = torch.randperm(D, generator=g)
    dead, const, dup = perm[:D // 100], perm[D // 100:D // 100 + D // 200], perm[D // 100 + D // 200:][:D // 50]
    dup_src = perm[-(D // 50):] if D // 50 else dup

    stats: dict[str, torch.Tensor] = {}  # the training side's normalisation, reused for the test side

    def side(n_samples: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = torch.arange(n_samples) % K
        rec = 0.55 * centres[labels] + torch.randn(n_samples, r, generator=g, dtype=torch.float64)
        lat = rec.repeat_interleave(clips, 0) + 0.6 * torch.randn(n_samples * clips, r, generator=g, dtype=torch.float64)
        lat = lat * spectrum
        z = lat @ mix
        if not stats:
            stats.update(mean=z.mean(0), std=z.std(0).clamp_min(1e-12))
        z = (z - stats["mean"]) / stats["std"]
        x = torch.relu(1.0 + 0.25 * z) * (z >= gate_q) * col_scale  # zero below the column's own quantile
        x[:, dead] = 0.0
        x[:, const] = col_scale[const]
        x[:, dup] = x[:, dup_src]
        return x, torch.arange(n_samples).repeat_interleave(clips), labels

    x_tr, s_tr, y_tr = side(n_tr)
    x_te, s_te, y_te = side(n_te)
    norm = math.sqrt(D / 3 / float((x_tr * x_tr).sum(1).median()))
    x_tr, x_te = (x * norm for x in (x_tr, x_te))
    return Problem(f"realistic-{shape}-{kind}-{D}x{K}", _clip_features(x_tr.float(), s_tr, y_tr),
                   _clip_features(x_te.float(), s_te, y_te), K)


def gaussian(n_samples: int, n_test: int, clips: int, dim: int, n_classes: int, seed: int = 0) -> Problem:
    """The earlier synthetic features (``relu(0.3 + 0.11 centre + recording + clip noise) * 0.5``): learnable,
    non-negative, but with equal column scales and a flat spectrum, so much easier to solve than real ones."""
    centres = torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(1234 + seed))

    def side(n: int, s: int) -> ClipFeatures:
        g = torch.Generator().manual_seed(s)
        labels = torch.arange(n) % n_classes
        latent = 0.3 + 0.11 * centres[labels] + torch.randn(n, dim, generator=g)
        x = latent.repeat_interleave(clips, 0)
        x += torch.randn(x.shape, generator=g)
        x.clamp_(min=0).mul_(0.5)
        return _clip_features(x, torch.arange(n).repeat_interleave(clips), labels)

    return Problem(f"gaussian-{dim}x{n_classes}", side(n_samples, seed), side(n_test, seed + 1), n_classes)


def load_npz(path: str | Path) -> Problem:
    """A feature file with ``X_train [n, D]``, ``y_train [n]``, ``X_test [m, D]``, ``y_test [m]`` (row labels) and
    optionally ``sample_train`` / ``sample_test`` (row -> sample; without them every row is its own sample)."""
    with np.load(path) as data:
        missing = {"X_train", "y_train", "X_test", "y_test"} - set(data.files)
        if missing:
            raise ValueError(f"{path}: missing array(s) {sorted(missing)}")
        arrays = {k: data[k] for k in data.files}
    K = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
    sides = []
    for side in ("train", "test"):
        x = torch.from_numpy(np.ascontiguousarray(arrays[f"X_{side}"], dtype=np.float32))
        y = torch.from_numpy(arrays[f"y_{side}"].astype(np.int64))
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise ValueError(f"{path}: X_{side} must be [n, D] and y_{side} [n]")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{path}: X_{side} holds non-finite values")
        sample = arrays.get(f"sample_{side}")
        sample = torch.arange(x.shape[0]) if sample is None else torch.from_numpy(sample.astype(np.int64))
        _, sample = torch.unique(sample, return_inverse=True)
        labels = torch.zeros(int(sample.max()) + 1, dtype=torch.long).scatter_(0, sample, y)
        if not bool((labels[sample] == y).all()):
            raise ValueError(f"{path}: rows of one sample carry different labels ({side})")
        sides.append(_clip_features(x, sample, labels))
    return Problem(f"file:{Path(path).name}", sides[0], sides[1], K)


def feature_stats(features: ClipFeatures, max_rows: int = 8000) -> dict[str, float]:
    """The properties that make real features hard (module docstring), measured on the training rows (the first
    ``max_rows`` of them for the spectrum): minimum, percent exact zeros, constant columns, the 1st-99th percentile
    ratio of column standard deviations, the median column mean in standard deviations, the centred singular
    values' 1st/10th and 1st/100th ratios, the numerical rank of the Gram matrix ``X~^T X~`` (singular values of
    ``X~ = [X, 1]`` above ``1e-6 x`` the largest; its size is ``D + 1``) and the median squared row norm."""
    x = features.dense().double()
    sd, mu = x.std(0), x.mean(0)
    live = sd > 0
    q = torch.quantile(sd[live], torch.tensor([0.01, 0.99], dtype=torch.float64)) if bool(live.any()) else None
    xs = x[:max_rows]
    s = torch.linalg.svdvals(xs - xs.mean(0))
    s_all = torch.linalg.svdvals(torch.cat([xs, torch.ones(xs.shape[0], 1, dtype=x.dtype)], 1))
    pick = lambda i: float(s[0] / s[i]) if s.numel() > i and float(s[i]) > 0 else float("inf")  # noqa: E731
    return {"rows": int(x.shape[0]), "dim": int(x.shape[1]), "min": float(x.min()),
            "zeros_percent": float((x == 0).double().mean() * 100), "constant_columns": int((~live).sum()),
            "column_std_p99_over_p1": float(q[1] / q[0]) if q is not None else float("nan"),
            "column_mean_over_std_median": float((mu[live] / sd[live]).median()) if bool(live.any()) else float("nan"),
            "centred_sv1_over_sv10": pick(9), "centred_sv1_over_sv100": pick(99),
            "gram_numerical_rank": int((s_all > s_all[0] * 1e-6).sum()), "gram_size": int(x.shape[1] + 1),
            "row_norm2_median": float((x * x).sum(1).median())}
