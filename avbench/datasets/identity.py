"""Which data a run evaluated: the official release, a custom set in an official layout, or avbench's synthetic data.

:func:`identify` compares what a copy's annotation lists (:class:`~avbench.datasets.base.Listed`, reported by its
adapter) with the release's :class:`~avbench.datasets.base.OfficialFacts`:

* ``synthetic``: the built-in synthetic set, or a root that avbench's fixture writers marked
  (``avbench_fixture.json`` with ``"synthetic": true``);
* ``official``: class names (or count, where the names come from the user's file), total and per-split counts and
  the per-class counts the release fixes all match, and the listed media present reach the release's coverage
  (``min_coverage``);
* ``custom``: anything else the adapter could read (an official layout with other classes or counts); the
  differences are listed.

Only the splits a task card evaluates are compared (``ucf101-retrieval`` reads split 1). ``official`` says the
annotation is the release's; whether the media are the release's is ``data.media_verified``
(:mod:`avbench.datasets.checksums`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avbench.datasets.base import Listed, Manifest, OfficialFacts

__all__ = ["Identity", "identify", "synthetic_marker"]

#: at most this many class names are listed per difference (the record keeps the counts)
_SHOW = 10


@dataclass
class Identity:
    """The verdict on one manifest. kind: ``official`` | ``custom`` | ``synthetic``; differences: one line each
    (empty for ``official``); classes: ``{"found": n, "official": n | None, "names": [the listed classes],
    "missing": [official, not listed], "not_official": [listed, not official]}``; counts: ``{what: {"found": n, "official": n}}`` for every count compared; coverage: listed media
    present / listed (the share checked against ``min_coverage``); source: where the official facts come from."""

    kind: str
    differences: list[str] = field(default_factory=list)
    classes: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, dict[str, int | None]] = field(default_factory=dict)
    coverage: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "differences": list(self.differences), "classes": dict(self.classes),
                "counts": {k: dict(v) for k, v in self.counts.items()}, "coverage": self.coverage,
                "source": self.source}


def synthetic_marker(root: Path) -> bool:
    """Whether ``root`` was written by avbench's fixture writers (its ``avbench_fixture.json`` says synthetic)."""
    try:
        info = json.loads((Path(root) / "avbench_fixture.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("synthetic") is True


def _count(out: Identity, what: str, found: int, official: int | None, accepted: tuple[int, ...] = ()) -> None:
    if official is None:
        return
    out.counts[what] = {"found": found, "official": official}
    if found != official and found not in accepted:
        also = "".join(f" or {a}" for a in accepted)
        out.differences.append(f"{what}: {found} listed, the release has {official}{also}")


def _classes(out: Identity, listed: Listed, facts: OfficialFacts) -> None:
    names = list(listed.classes)
    out.classes = {"found": len(names), "official": facts.n_classes, "names": names}
    _count(out, "classes", len(names), facts.n_classes, facts.n_classes_accepted)
    if facts.class_names is not None:
        official, mine = set(facts.class_names), set(names)
        missing = [c for c in facts.class_names if c not in mine]
        extra = [c for c in names if c not in official]
        out.classes.update(missing=missing, not_official=extra)
        if missing:
            out.differences.append(f"{len(missing)} official class(es) not listed: {missing[:_SHOW]}")
        if extra:
            out.differences.append(f"{len(extra)} listed class(es) not in the release: {extra[:_SHOW]}")


def _range(out: Identity, side: str, counts: dict[str, int], bounds: tuple[int | None, int | None]) -> None:
    lo, hi = bounds
    bad = {c: n for c, n in counts.items() if (lo is not None and n < lo) or (hi is not None and n > hi)}
    out.counts[f"classes outside {lo}-{hi} {side} rows"] = {"found": len(bad), "official": 0}
    if bad:
        first = dict(sorted(bad.items())[:_SHOW])
        out.differences.append(f"{len(bad)} class(es) with {side} rows outside the release's "
                               f"{lo if lo is not None else 0}-{hi if hi is not None else 'any'} per class: {first}")


def _splits(out: Identity, listed: Listed, facts: OfficialFacts, evaluated: list[str]) -> None:
    for split in evaluated:
        if facts.splits and split not in facts.splits:
            out.differences.append(f"split {split!r} is not an official split ({sorted(facts.splits)})")
            continue
        for side in ("train", "test"):
            mine = (listed.splits.get(split) or {}).get(side, 0)
            _count(out, f"{split} {side}", mine, (facts.splits.get(split) or {}).get(side))
            want = facts.per_class_splits.get(side)
            if want is not None:
                per = (listed.per_class_splits.get(split) or {}).get(side) or {}
                off = {c: per.get(c, 0) for c in listed.classes if per.get(c, 0) != want}
                out.counts[f"{split} classes without {want} {side}"] = {"found": len(off), "official": 0}
                if off:
                    out.differences.append(f"{split}: {len(off)} class(es) without the release's {want} {side} "
                                           f"samples each: {dict(sorted(off.items())[:_SHOW])}")


def _compare(out: Identity, manifest: Manifest, listed: Listed, facts: OfficialFacts) -> None:
    _classes(out, listed, facts)
    _count(out, "rows", listed.rows, facts.n_samples)
    if facts.per_class is not None:
        off = {c: n for c, n in listed.per_class.items() if n != facts.per_class}
        out.counts[f"classes without {facts.per_class} rows"] = {"found": len(off), "official": 0}
        if off:
            out.differences.append(f"{len(off)} class(es) without the release's {facts.per_class} samples each: "
                                   f"{dict(sorted(off.items())[:_SHOW])}")
    for side, bounds in facts.per_class_range.items():
        if side == "all":
            _range(out, "listed", dict(listed.per_class), bounds)
        else:
            per: dict[str, int] = {}
            for sides in listed.per_class_splits.values():
                for c, n in (sides.get(side) or {}).items():
                    per[c] = max(per.get(c, 0), n)
            _range(out, side, {c: per.get(c, 0) for c in listed.classes}, bounds)
    for key, want in facts.extra.items():
        _count(out, key.replace("_", " "), int(listed.extra.get(key, 0)), want)
    _splits(out, listed, facts, list(manifest.splits))
    rows = max(listed.rows, manifest.expected)
    out.coverage = round(manifest.found / rows, 6) if rows else 0.0
    if out.coverage < facts.min_coverage:
        out.differences.append(f"{manifest.found} of {rows} listed media files present (coverage {out.coverage:.4f}, "
                               f"below the {facts.min_coverage:.2f} the release needs)")


def identify(manifest: Manifest, facts: OfficialFacts | None, *, synthetic: bool = False) -> Identity:
    """The data identity of ``manifest`` (restricted to the card's splits) against ``facts`` (module docstring).
    ``synthetic``: the run uses the built-in synthetic set (a marked root is detected here as well)."""
    marked = synthetic or synthetic_marker(manifest.root)
    out = Identity(kind="synthetic" if marked else "custom", source=facts.source if facts else "")
    if facts is None:
        out.differences.append(f"{manifest.dataset}: avbench has no facts of an official release to compare with")
        return out
    if manifest.listed is None:
        out.differences.append(f"{manifest.dataset}: the adapter does not report what its annotation lists")
        return out
    _compare(out, manifest, manifest.listed, facts)
    if marked:
        out.differences.insert(0, "avbench's synthetic data (avbench_fixture.json): says nothing about the benchmark")
    elif not out.differences:
        out.kind = "official"
    return out
