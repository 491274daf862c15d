"""The one coverage policy of every protocol (SVM, linear head, k-NN, retrieval, fusion, finetuning).

For each evaluated split and side (train, test):

* **expected** is the count the data set's official release gives for that split and side when the adapter states it
  (:class:`~avbench.datasets.base.OfficialFacts`) and the copy has the official class count, else the count its
  annotation lists (:meth:`~avbench.datasets.base.Manifest.expected_count`: missing files, refused paths and
  undecodable files included; HMDB51 entries marked 0 never count); ``basis`` says which;
* **usable** counts the samples that reached the protocol (padded and damaged ones included);
* **coverage** = usable / expected.

The run stops with a :class:`CoverageError` naming the split, the side and the class when a class has no usable
training or test sample (instance retrieval, whose "classes" are gallery items, excepted), and when the lowest
coverage is below the gate: ``avbench eval --min-coverage`` or the card's ``dataset.min_coverage`` (whose reason is
``dataset.coverage_reason``). It is checked twice: before any decoding (files missing from the listing) and, for
frozen-feature protocols, after extraction and before classification (files that did not decode); finetuning
checks the second time after training, before its record is written. Above the gate, each missing test sample
counts as wrong in the headline metric; the metric over the usable test samples alone is recorded beside it
(``MetricSummary.usable_only``, ``SplitRun.metrics_usable_only``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from avbench.datasets.base import DatasetError, Manifest

__all__ = ["CoverageError", "Coverage", "measure"]


class CoverageError(DatasetError):
    """The data a run would classify does not cover the task: a class without usable samples in a split, or a
    coverage below the gate. Raised before classification; the message names the split, side and class."""


@dataclass
class Coverage:
    """Per split and side ``{"expected", "usable", "coverage", "basis"}``; ``lowest``: the smallest coverage;
    ``gate``: the minimum asked for and where it comes from."""

    sides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    gate: float = 1.0
    gate_source: str = ""

    @property
    def lowest(self) -> float:
        values = [s["coverage"] for sides in self.sides.values() for s in sides.values()]
        return min(values) if values else 1.0

    @property
    def basis(self) -> str:
        return ", ".join(sorted({s["basis"] for sides in self.sides.values() for s in sides.values()}))

    def missing(self, split: str, side: str = "test") -> int:
        """Listed samples of ``split`` / ``side`` that did not reach the protocol."""
        s = self.sides.get(split, {}).get(side)
        return max(0, int(s["expected"]) - int(s["usable"])) if s else 0

    def to_dict(self) -> dict[str, Any]:
        return {"lowest": round(self.lowest, 6), "basis": self.basis, "min_coverage": self.gate,
                "min_coverage_source": self.gate_source, "by_split": self.sides}


def _expected(manifest: Manifest, official: Any, split: str, side: str) -> tuple[int, str]:
    stated = getattr(official, "splits", {}).get(split, {}).get(side) if official is not None else None
    n_classes = getattr(official, "n_classes", None)
    if stated is not None and n_classes in (None, len(manifest.classes)):
        return int(stated), "official"
    listed = manifest.expected_count(split, side)
    if listed is not None:
        return listed, "annotation"
    return len(manifest.splits[split][side]), "found (the adapter states no expected count)"


def measure(manifest: Manifest, official: Any, usable: dict[str, dict[str, Iterable[str]]], *, gate: float,
            gate_source: str, per_class: bool, stage: str) -> Coverage:
    """Coverage of ``usable`` (split -> side -> usable ids) against ``manifest``'s expected counts; raises
    :class:`CoverageError` (module docstring). ``stage`` says when ("before decoding", "after extraction")."""
    cov = Coverage(gate=gate, gate_source=gate_source)
    labels = {s.id: s.label for s in manifest.samples}
    skipped = {s.id: s.reason for s in manifest.skipped}
    for split, sides in usable.items():
        cov.sides[split] = {}
        for side, ids in sides.items():
            ids = list(ids)
            expected, basis = _expected(manifest, official, split, side)
            expected = max(expected, len(ids))
            cov.sides[split][side] = {"expected": expected, "usable": len(ids), "basis": basis,
                                      "coverage": round(len(ids) / expected, 6) if expected else 1.0}
            if per_class:
                present = {labels[i] for i in ids if i in labels}
                absent = [c for k, c in enumerate(manifest.classes) if k not in present]
                if absent:
                    what = "training" if side == "train" else "test"
                    raise CoverageError(
                        f"{manifest.dataset} split {split}: class {absent[0]!r} has no usable {what} sample "
                        f"{stage}" + (f" (and {len(absent) - 1} more class(es): {absent[1:6]})" if len(absent) > 1 else "")
                        + f"; {len(skipped)} listed sample(s) are skipped (see `avbench data verify`); the run stops "
                          "before classification")
    if cov.lowest < gate:
        split, side = min(((sp, sd) for sp, v in cov.sides.items() for sd in v), key=lambda k: cov.sides[k[0]][k[1]]["coverage"])
        s = cov.sides[split][side]
        raise CoverageError(
            f"{manifest.dataset} split {split} {side}: coverage {s['coverage']:.4f} ({s['usable']} usable of "
            f"{s['expected']} expected, {s['basis']}) {stage} is below the gate {gate:g} ({gate_source}); the run "
            "stops before classification. Restore the missing files (`avbench data verify` lists them) or, to "
            "accept the loss (missing test samples then count as wrong), pass --min-coverage "
            f"{max(0.0, s['coverage'] - 5e-5):.4f}")
    return cov
