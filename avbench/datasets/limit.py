"""``--limit N``: a smoke run's manifest, at most N samples per class on each side of each split."""
from __future__ import annotations

from dataclasses import replace

from avbench.datasets.base import Manifest

__all__ = ["limit_per_class"]


def limit_per_class(manifest: Manifest, n: int) -> Manifest:
    """``manifest`` with each split's ``train`` and ``test`` id lists cut to the first ``n`` ids of each class (in
    sorted id order, so the same ``n`` always keeps the same samples). The sample list, the found / expected
    counts and the skips stay those of the whole set (a run extracts only the samples its splits name)."""
    if n < 1:
        raise ValueError(f"limit must be >= 1 sample per class, got {n}")
    label = {s.id: s.label for s in manifest.samples}
    splits: dict[str, dict[str, list[str]]] = {}
    for name, sides in manifest.splits.items():
        splits[name] = {}
        for side, ids in sides.items():
            kept: list[str] = []
            per: dict[int, int] = {}
            for i in sorted(ids):
                c = label.get(i, -1)
                if per.get(c, 0) < n:
                    per[c] = per.get(c, 0) + 1
                    kept.append(i)
            splits[name][side] = [i for i in ids if i in set(kept)]
    # the subset's usable samples are its expected ones: no listed count stands as a coverage denominator
    return replace(manifest, splits=splits, expected_by_split=None, identity=None)
