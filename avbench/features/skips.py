"""The one log of samples a run could not use (skipped, with the reason), used despite damage, or padded.

Extraction views, finetuning's clip loaders and the evaluation core all write into a :class:`SkipLog`; merging
keeps the FIRST entry per sample id (the order in which views and ranks report), so a record lists each sample
once however many views or processes saw it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["SkipLog"]


@dataclass
class SkipLog:
    """``skipped``: id -> ``{"id", "path", "reason"}``; ``padded``: ids shorter than one clip, padded;
    ``damaged``: id -> ``{"id", "path", "reason"}`` for samples used despite damage (truncation, dropped packets)."""

    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    padded: set[str] = field(default_factory=set)
    damaged: dict[str, dict[str, str]] = field(default_factory=dict)
    padded_order: list[str] = field(default_factory=list, repr=False)  # padded ids in the order noted

    def note(self, sample: Any, item: Any) -> bool:
        """Record a decoded ``item``'s error, damage notes or padding for ``sample``; True when it is usable."""
        if item.error is not None:
            self.skipped.setdefault(sample.id, {"id": sample.id, "path": str(sample.path), "reason": item.error})
            return False
        if item.padded and sample.id not in self.padded:
            self.padded.add(sample.id)
            self.padded_order.append(sample.id)
        if item.notes:
            self.damaged.setdefault(sample.id, {"id": sample.id, "path": str(sample.path),
                                                "reason": "; ".join(item.notes)})
        return True

    def merge(self, skipped: Iterable[dict[str, str]] = (), padded: Iterable[str] = (),
              damaged: Iterable[dict[str, str]] = (), *, prefix: str = "") -> "SkipLog":
        """Add entries (the first per id wins); ``prefix`` goes before each skip reason (e.g. ``"audio: "``)."""
        for s in skipped:
            self.skipped.setdefault(s["id"], {**s, "reason": f"{prefix}{s['reason']}"} if prefix else s)
        self.padded.update(padded)
        for s in damaged:
            self.damaged.setdefault(s["id"], s)
        return self

    def merge_log(self, other: "SkipLog", *, prefix: str = "") -> "SkipLog":
        """Add another log's entries (:meth:`merge`)."""
        return self.merge(other.skipped.values(), other.padded, other.damaged.values(), prefix=prefix)

    def merge_view(self, view: Any, *, prefix: str = "") -> "SkipLog":
        """Add an extracted view's ``skipped`` / ``padded`` / ``damaged`` lists (:meth:`merge`)."""
        return self.merge(view.skipped, view.padded, view.damaged, prefix=prefix)

    def in_order(self) -> tuple[list[dict[str, str]], list[str], list[dict[str, str]]]:
        """(skipped, padded, damaged) as lists in the order they were noted (a shard's metadata)."""
        return list(self.skipped.values()), list(self.padded_order), list(self.damaged.values())

    def as_tuple(self) -> tuple[dict[str, dict[str, str]], list[str], dict[str, dict[str, str]]]:
        """A picklable form, for gathering the logs of several processes."""
        return self.skipped, sorted(self.padded), self.damaged
