"""Recompute a record's metrics from its per-sample predictions sidecar and check them against the record.

Sidecar rows (``*.predictions.jsonl.gz``, written by :mod:`avbench.evaluation.runner`) carry ``split``, ``seed``, ``id``,
``label`` and, per protocol, ``scores`` (``[K]`` class scores, rounded to 6 decimals), ``neighbour_labels``
(retrieval / k-NN, nearest first) and ``layer`` (a probed layer, or ``audio`` / ``video`` for the single-
modality runs of a fusion card; absent for the card's main run). A metric name is ``<base>[@<layer>]``:

* ``top<k>``: the true class is among the k best scores; ties count AGAINST it (as the runner scores them);
* ``recall<k>``: the true label is among the first k ``neighbour_labels``;
* ``fusion_gain``: per sample, the a+v hit of the card's first metric minus the hit of the better single
  modality of that (split, seed) (the first of the single-modality runs with the highest mean on ties).

Rounding scores to 6 decimals can turn a near-tie into an exact tie, so each per-sample hit is computed as an
interval (ties against / ties for); almost always both ends agree. A stored per-run value must equal the
recomputed one (within :data:`TOL`), or lie inside the interval when some samples tie after rounding. Means,
stds, per-split and per-seed values are then re-derived from the per-run values, and the bootstrap interval
from the per-sample hits (only where no sample ties; otherwise the record's own interval is kept and the
number of tied samples reported).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from avbench.results import ResultRecord
from avbench.leaderboard.stats import bootstrap_ci

__all__ = ["TOL", "RecomputeError", "RunSamples", "MetricResult", "recompute", "aggregate"]

#: absolute tolerance (percentage points) between a stored and a recomputed value
TOL = 1e-6

RunKey = tuple[str, int]  # (split, seed)


class RecomputeError(ValueError):
    """The sidecar does not reproduce the record (or cannot be read as predictions)."""


@dataclass(frozen=True)
class RunSamples:
    """Per-sample values (percent) of one metric in one (split, seed) run: ``lo`` counts ties against the true
    class, ``hi`` for it; ``ids[i]`` is the sample of ``lo[i]`` / ``hi[i]``."""

    ids: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray

    @property
    def n_tied(self) -> int:
        return int(np.count_nonzero(self.lo != self.hi))


@dataclass
class MetricResult:
    """One metric of an entry, re-derived from sidecars: the board's numbers.

    per_run: ``{(split, seed): value}``; per_split / per_seed: means over seeds / splits; mean, std: over
    splits (std with ddof 1, 0 for one split); ci95: bootstrap interval; ci_source: "recomputed" or "record"
    (kept from the record because ``n_tied`` samples tie after rounding); samples: per-run per-sample values.
    """

    per_run: dict[RunKey, float]
    per_split: dict[str, float]
    per_seed: dict[str, float]
    mean: float
    std: float
    ci95: tuple[float, float]
    ci_source: str
    n_tied: int
    samples: dict[RunKey, RunSamples] = field(repr=False, default_factory=dict)

    def per_sample(self) -> dict[str, dict[str, float]]:
        """``{split: {sample id: value}}``, seeds averaged (ties counted against), for paired comparisons."""
        acc: dict[str, dict[str, list[float]]] = {}
        for (split, _), s in self.samples.items():
            d = acc.setdefault(split, {})
            for i, v in zip(s.ids, s.lo.tolist()):
                d.setdefault(i, []).append(v)
        return {sp: {i: float(np.mean(v)) for i, v in d.items()} for sp, d in acc.items()}


# ------------------------------------------------------------------------------------------------- hits
def _group(rows: list[dict[str, Any]]) -> dict[tuple[str, int, str | None], list[dict[str, Any]]]:
    groups: dict[tuple[str, int, str | None], list[dict[str, Any]]] = {}
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecomputeError(f"sidecar row {n}: not a JSON object")
        missing = [k for k in ("split", "seed", "id", "label") if k not in row]
        if missing:
            raise RecomputeError(f"sidecar row {n}: lacks {', '.join(missing)}")
        layer = row.get("layer")
        groups.setdefault((str(row["split"]), int(row["seed"]), None if layer is None else str(layer)), []).append(row)
    return groups


def _hits(base: str, rows: list[dict[str, Any]], where: str) -> tuple[np.ndarray, np.ndarray]:
    """``([S], [S])`` per-sample hit bounds (percent) of ``top<k>`` / ``recall<k>`` over ``rows``."""
    labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    if base.startswith("top") and base[3:].isdigit():
        k = int(base[3:])
        if any("scores" not in r for r in rows):
            raise RecomputeError(f"{where}: {base} needs per-class 'scores' in every sidecar row")
        widths = {len(r["scores"]) for r in rows}
        if len(widths) != 1:
            raise RecomputeError(f"{where}: sidecar rows have score vectors of different lengths {sorted(widths)}")
        try:
            scores = np.array([r["scores"] for r in rows], dtype=np.float64).reshape(len(rows), -1)
        except (TypeError, ValueError) as exc:
            raise RecomputeError(f"{where}: sidecar scores are not numbers ({exc})") from None
        finite = np.isfinite(scores).all(1)
        if not finite.all():  # a NaN loses every comparison below and would count as a hit: never score it
            first = rows[int(np.flatnonzero(~finite)[0])]
            raise RecomputeError(f"{where}: {int((~finite).sum())} sidecar row(s) hold non-finite scores (NaN or "
                                 f"inf; first: sample {first.get('id')!r}); a record with non-finite predictions "
                                 "is rejected")
        if scores.shape[1] == 0 or labels.min(initial=0) < 0 or labels.max(initial=0) >= scores.shape[1]:
            raise RecomputeError(f"{where}: labels outside the {scores.shape[1]} scored classes")
        true = scores[np.arange(len(rows)), labels][:, None]
        greater = (scores > true).sum(1)
        equal = (scores == true).sum(1) - 1
        return (greater + equal < k) * 100.0, (greater < k) * 100.0
    if base.startswith("recall") and base[6:].isdigit():
        k = int(base[6:])
        out = np.zeros(len(rows))
        for i, r in enumerate(rows):
            nl = r.get("neighbour_labels")
            if not isinstance(nl, list) or len(nl) < k:
                raise RecomputeError(f"{where}: {base} needs at least {k} 'neighbour_labels' per sidecar row")
            out[i] = 100.0 if int(r["label"]) in [int(x) for x in nl[:k]] else 0.0
        return out, out.copy()
    raise RecomputeError(f"{where}: metric {base!r} cannot be recomputed from a predictions sidecar")


def _samples_for(name: str, groups: Mapping[tuple[str, int, str | None], list[dict[str, Any]]],
                 main_metric: str) -> dict[RunKey, RunSamples]:
    base, _, layer = name.partition("@")
    out: dict[RunKey, RunSamples] = {}
    if base == "fusion_gain":
        if layer:
            raise RecomputeError(f"metric {name!r} cannot be recomputed")
        for (split, seed, lay), rows in groups.items():
            if lay is not None:
                continue
            singles = [(key[2], g) for key, g in groups.items() if key[:2] == (split, seed) and key[2] is not None]
            if not singles:
                raise RecomputeError(f"fusion_gain at {split} seed {seed}: no single-modality rows in the sidecar")
            where = f"fusion_gain at {split} seed {seed}"
            av_lo, av_hi = _hits(main_metric, rows, where)
            means = [(lay_, float(_hits(main_metric, g, where)[0].mean()), g) for lay_, g in singles]
            best = max(means, key=lambda t: t[1])  # the first maximum, as the runner's max() over a dict
            pos = {str(r["id"]): i for i, r in enumerate(best[2])}
            ids = [str(r["id"]) for r in rows]
            if set(pos) != set(ids):
                raise RecomputeError(f"{where}: the a+v and {best[0]} runs scored different samples")
            b_lo, b_hi = _hits(main_metric, best[2], where)
            order = np.array([pos[i] for i in ids])
            out[(split, seed)] = RunSamples(tuple(ids), av_lo - b_hi[order], av_hi - b_lo[order])
        return out
    for (split, seed, lay), rows in groups.items():
        if lay == (layer or None):
            lo, hi = _hits(base, rows, f"{name} at {split} seed {seed}")
            out[(split, seed)] = RunSamples(tuple(str(r["id"]) for r in rows), lo, hi)
    return out


# ------------------------------------------------------------------------------------------------- aggregate
def aggregate(per_run: Mapping[RunKey, float], samples: Mapping[RunKey, RunSamples], *,
              record_ci: tuple[float, float] | None = None, bootstrap_seed: int = 0) -> MetricResult:
    """Means over seeds / splits of ``per_run`` values, and the bootstrap interval of ``samples``.

    Splits and seeds keep their order of first appearance in ``samples`` (the runner's order). The interval is
    recomputed (seeded with ``bootstrap_seed``, the record's ``provenance.bootstrap_seed``) when no sample ties
    (``ci_source="recomputed"``); otherwise ``record_ci`` is kept (``"record"``).
    """
    keys = list(samples) or list(per_run)
    splits = list(dict.fromkeys(sp for sp, _ in keys))
    seeds = list(dict.fromkeys(sd for _, sd in keys))
    per_split = {sp: float(np.mean([v for (s, _), v in per_run.items() if s == sp])) for sp in splits}
    per_seed = {str(sd): float(np.mean([v for (_, d), v in per_run.items() if d == sd])) for sd in seeds}
    values = np.array(list(per_split.values()))
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    n_tied = sum(s.n_tied for s in samples.values())
    if n_tied == 0 and samples:
        per_split_samples: dict[str, np.ndarray] = {}
        for sp in splits:
            runs = [s for (s_, _), s in samples.items() if s_ == sp]
            first = runs[0].ids
            aligned = []
            for r in runs:
                if set(r.ids) != set(first):
                    raise RecomputeError(f"split {sp}: seeds scored different test samples")
                pos = {i: n for n, i in enumerate(r.ids)}
                aligned.append(r.lo[[pos[i] for i in first]])
            per_split_samples[sp] = np.mean(aligned, axis=0)
        ci, source = bootstrap_ci(per_split_samples, seed=bootstrap_seed), "recomputed"
    else:
        ci, source = (record_ci if record_ci is not None else (float("nan"), float("nan"))), "record"
    return MetricResult(per_run=dict(per_run), per_split=per_split, per_seed=per_seed, mean=float(values.mean()),
                        std=std, ci95=(float(ci[0]), float(ci[1])), ci_source=source, n_tied=n_tied,
                        samples=dict(samples))


def _close(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= TOL


def recompute(record: ResultRecord, rows: list[dict[str, Any]]) -> dict[str, MetricResult]:
    """Every metric of ``record`` re-derived from its sidecar ``rows``; raises :class:`RecomputeError` naming
    the metric, split and seed where the record and its sidecar disagree."""
    groups = _group(rows)
    metrics = list((record.task.card or {}).get("metrics") or [])
    main_metric = str(metrics[0]) if metrics else "top1"
    out: dict[str, MetricResult] = {}
    for name, stored in record.metrics.items():
        values = [stored.mean, stored.std, *stored.ci95, *stored.per_split.values(), *stored.per_seed.values(),
                  *(r.metrics[name] for r in record.runs if name in r.metrics)]
        if not np.isfinite(np.array(values, dtype=np.float64)).all():
            raise RecomputeError(f"{name}: the record holds a non-finite value (NaN or inf)")
        samples = _samples_for(name, groups, main_metric)
        runs = {(r.split, r.seed): r for r in record.runs if name in r.metrics}
        if set(runs) != set(samples):
            only_rec = sorted(set(runs) - set(samples))
            only_side = sorted(set(samples) - set(runs))
            raise RecomputeError(f"{name}: runs in the record {only_rec or '-'} have no sidecar rows, sidecar runs "
                                 f"{only_side or '-'} have no record entry")
        per_run: dict[RunKey, float] = {}
        for key, s in samples.items():
            run, where = runs[key], f"{name} at {key[0]} seed {key[1]}"
            if len(s.ids) != run.n_test_samples:
                raise RecomputeError(f"{where}: record says {run.n_test_samples} test samples, sidecar has {len(s.ids)}")
            lo, hi, value = float(s.lo.mean()), float(s.hi.mean()), float(run.metrics[name])
            if s.n_tied == 0 and not _close(value, lo):
                raise RecomputeError(f"{where}: record says {value!r}, the sidecar gives {lo!r}")
            if s.n_tied and not (lo - TOL <= value <= hi + TOL):
                raise RecomputeError(f"{where}: record says {value!r}, the sidecar allows {lo!r}..{hi!r}")
            per_run[key] = value if s.n_tied else lo
        res = aggregate(per_run, samples, record_ci=tuple(stored.ci95),  # type: ignore[arg-type]
                        bootstrap_seed=int(getattr(record.provenance, "bootstrap_seed", 0)))
        _compare(name, stored.per_split, res.per_split, "per_split")
        _compare(name, stored.per_seed, res.per_seed, "per_seed")
        for what, mine, theirs in (("mean", res.mean, stored.mean), ("std", res.std, stored.std),
                                   ("ci95 low", res.ci95[0], stored.ci95[0]), ("ci95 high", res.ci95[1], stored.ci95[1])):
            if not _close(mine, theirs):
                raise RecomputeError(f"{name}: record {what} is {theirs!r}, recomputed {mine!r}")
        out[name] = res
    return out


def _compare(name: str, stored: Mapping[str, float], mine: Mapping[str, float], what: str) -> None:
    if set(stored) != set(mine):
        raise RecomputeError(f"{name}: record {what} keys {sorted(stored)} differ from the sidecar's {sorted(mine)}")
    for k, v in stored.items():
        if not _close(v, mine[k]):
            raise RecomputeError(f"{name}: record {what}[{k}] is {v!r}, recomputed {mine[k]!r}")


def merge(results: Iterable[MetricResult], bootstrap_seed: int = 0) -> MetricResult:
    """One entry's metric over several records with disjoint seeds: runs and samples pooled, then re-aggregated."""
    per_run: dict[RunKey, float] = {}
    samples: dict[RunKey, RunSamples] = {}
    cis = []
    for r in results:
        per_run.update(r.per_run)
        samples.update(r.samples)
        cis.append(r.ci95)
    return aggregate(per_run, samples, record_ci=None if len(cis) > 1 else cis[0], bootstrap_seed=bootstrap_seed)
