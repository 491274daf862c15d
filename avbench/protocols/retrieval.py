"""Nearest-neighbour video retrieval (Recall@k) on frozen features.

Protocol (CrissCross supplementary E.3, after SeLaVi / Xu et al. 2019): the clip features of every video are
averaged into one video feature; each **test** video is a query against the **training** videos as the gallery;
a query is a hit at k when *any* of its k nearest gallery videos has the query's class (SeLaVi ``Recall@k``);
R@k is the mean over queries (the runner reports it in percent).

Variants, all through arguments:

* CrissCross E.3 (default): raw clip features averaged, cosine similarity (``sklearn NearestNeighbors`` with
  ``metric="cosine"``).
* SeLaVi / GDT: ``clip_norm="l2"`` (clips L2-normalised, averages not re-normalised), ``metric="euclidean"``
  (``NearestNeighbors`` default).
* Temporal SSL (Jenni et al.): ``standardize=True``: averages standardised with training-set statistics.

Neighbours are computed with torch in blocks of queries; within a block the ranking is by similarity
(descending), ties broken by the lower gallery position, so results are deterministic and equal to a stable
sort. Similarities are computed in float64. For ``"cosine"`` the similarity is the cosine (both sides
L2-normalised with eps 1e-12, so a zero vector has similarity 0 to everything, as sklearn's cosine distance 1);
for ``"euclidean"`` it is the negative Euclidean distance.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Sequence

import torch

from avbench.protocols.base import ClassifierResult, ClipFeatures, Protocol, ProtocolSettings
from avbench.protocols.aggregate import ClipNorm, apply_standardizer, fit_standardizer, video_features

__all__ = ["RetrievalSettings", "RetrievalProtocol", "METRICS", "Metric", "Neighbours", "search",
           "gallery_and_queries", "class_ranks", "resolve_n_classes", "run_retrieval"]


class RetrievalSettings(ProtocolSettings):
    """The card's ``classifier: {type: retrieval, ...}`` block. Test videos query training videos (CrissCross
    supplementary E.3): clip features averaged per video, nearest neighbours by ``metric``, R@k = a neighbour
    among the first k shares the query's class. SeLaVi's variant: ``clip_norm: l2`` (L2 per clip before
    averaging) with ``metric: euclidean``."""

    type: Literal["retrieval"]
    ks: tuple[int, ...] = (1, 5, 20)
    metric: Literal["cosine", "euclidean"] = "cosine"
    clip_norm: Literal["none", "l2"] = "none"
    standardize: bool = False
    #: "class": a hit is a neighbour of the query's class (UCF101/HMDB51); "instance": every gallery video is
    #: its own class and a hit is the query's own source (AugVGG fingerprinting; no per-class score table).
    match: Literal["class", "instance"] = "class"
    selection: Literal["none"] = "none"


class RetrievalProtocol(Protocol):
    """Recall@k of test videos against training videos (module docstring)."""

    name: ClassVar[str] = "retrieval"
    Settings = RetrievalSettings
    audiovisual: ClassVar[bool] = True

    def check_card(self, card: Any) -> None:
        wanted = {f"recall{k}" for k in card.classifier.ks}
        if not set(card.metrics) <= wanted:
            raise ValueError(f"a retrieval card reports recall@k for its ks; metrics {list(card.metrics)} "
                             f"must be among {sorted(wanted)}")

    def classify(self, settings: RetrievalSettings, train: ClipFeatures, test: ClipFeatures, *, seed: int,
                 device: str, n_classes: int) -> ClassifierResult:
        return run_retrieval(train, test, ks=tuple(settings.ks), metric=settings.metric, clip_norm=settings.clip_norm,
                             standardize=settings.standardize, device=device, n_classes=n_classes,
                             class_scores=settings.match == "class")

Metric = Literal["cosine", "euclidean"]
METRICS = ("cosine", "euclidean")
# Upper bound on query-block x gallery elements held at once (float64 similarities plus int64 scratch).
_MAX_BLOCK_ELEMENTS = 1 << 26


@dataclass
class Neighbours:
    """Result of :func:`search` for Q queries against a gallery of G items with K classes.

    index: ``[Q, k]`` int64 gallery positions of the k nearest items, nearest first (ties: lower position first).
    similarity: ``[Q, k]`` float64 similarity of those items (cosine, or negative Euclidean distance).
    class_best: ``[Q, K]`` float64 highest similarity to any gallery item of each class (``-inf`` for a class
      with no gallery item).
    class_first: ``[Q, K]`` int64 gallery position of the item achieving ``class_best`` (the lowest such
      position under ties; ``G`` for a class with no gallery item). ``(-class_best, class_first)`` orders the
      classes exactly as their first appearance in the full neighbour ranking.
    block_size: the query block size actually used.
    """

    index: torch.Tensor
    similarity: torch.Tensor
    class_best: torch.Tensor
    class_first: torch.Tensor
    block_size: int


def _similarity(q: torch.Tensor, g: torch.Tensor, g_sqnorm: torch.Tensor | None, metric: str) -> torch.Tensor:
    """``[B, G]`` float64 similarities of query rows ``q [B, D]`` to gallery rows ``g [G, D]`` (both already
    L2-normalised for cosine)."""
    if metric == "cosine":
        return q @ g.T
    assert g_sqnorm is not None
    d2 = (q * q).sum(1, keepdim=True) + g_sqnorm[None, :] - 2.0 * (q @ g.T)
    return -d2.clamp_min_(0.0).sqrt_()


def _stable_topk(sim: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of every row of ``sim [B, G]``, descending, ties broken by the lower column: ``(values, index)``.

    ``torch.topk`` picks an arbitrary member of a tied group, so rows whose k-th value is tied with an item
    outside the top-k are re-ranked with a full stable sort; other rows only need their k items reordered."""
    vals, idx = sim.topk(k, dim=1, largest=True, sorted=True)
    n_at_least = (sim >= vals[:, -1:]).sum(1)
    # the selected set is exact for rows without boundary ties; order it by (value desc, column asc)
    idx, order = idx.sort(dim=1)
    vals = vals.gather(1, order)
    vals, order = vals.sort(dim=1, descending=True, stable=True)
    idx = idx.gather(1, order)
    tied = (n_at_least > k).nonzero().flatten()
    if tied.numel():
        tv, ti = sim[tied].sort(dim=1, descending=True, stable=True)
        vals[tied], idx[tied] = tv[:, :k], ti[:, :k]
    return vals, idx


def search(queries: torch.Tensor, gallery: torch.Tensor, gallery_labels: torch.Tensor, *, k: int, metric: Metric,
           n_classes: int, block_size: int = 4096, class_scores: bool = True) -> Neighbours:
    """Exact k-nearest-neighbour search of ``queries [Q, D]`` in ``gallery [G, D]`` (same device; computed in
    float64), plus per-class best similarities.

    gallery_labels: ``[G]`` int64 class of each gallery item, in ``0..n_classes-1``.
    block_size: queries per block; lowered so that one block holds at most 2**26 query x gallery entries.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    Q, G = int(queries.shape[0]), int(gallery.shape[0])
    if G == 0 or Q == 0:
        raise ValueError(f"search needs a non-empty gallery and query set; got {G} gallery and {Q} query items")
    if not 1 <= k <= G:
        raise ValueError(f"k={k} is larger than the gallery ({G} items)" if k > G else f"k must be >= 1; got {k}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1; got {block_size}")
    dev = gallery.device
    g = gallery.to(torch.float64)
    q_all = queries.to(dev, torch.float64)
    g_sqnorm = None
    if metric == "cosine":
        g = torch.nn.functional.normalize(g, dim=1, eps=1e-12)
        q_all = torch.nn.functional.normalize(q_all, dim=1, eps=1e-12)
    else:
        g_sqnorm = (g * g).sum(1)
    labels = gallery_labels.to(dev, torch.long)
    positions = torch.arange(G, device=dev)
    block = max(1, min(int(block_size), _MAX_BLOCK_ELEMENTS // G))

    index, similarity, class_best, class_first = [], [], [], []
    for start in range(0, Q, block):
        sim = _similarity(q_all[start:start + block], g, g_sqnorm, metric)
        B = sim.shape[0]
        vals, idx = _stable_topk(sim, k)
        index.append(idx.cpu())
        similarity.append(vals.cpu())
        if not class_scores:  # instance retrieval (one class per gallery item): no [Q, K] class tables
            continue
        lab = labels[None, :].expand(B, G)
        best = torch.full((B, n_classes), -math.inf, dtype=torch.float64, device=dev)
        best.scatter_reduce_(1, lab, sim, reduce="amax", include_self=True)
        at_best = torch.where(sim == best.gather(1, lab), positions[None, :], G)
        first = torch.full((B, n_classes), G, dtype=torch.long, device=dev)
        first.scatter_reduce_(1, lab, at_best, reduce="amin", include_self=True)
        del sim, at_best
        class_best.append(best.cpu())
        class_first.append(first.cpu())
    empty = torch.zeros(Q, 0)
    return Neighbours(index=torch.cat(index), similarity=torch.cat(similarity),
                      class_best=torch.cat(class_best) if class_scores else empty,
                      class_first=torch.cat(class_first) if class_scores else empty.long(), block_size=block)


def class_ranks(nb: Neighbours) -> torch.Tensor:
    """``[Q, K]`` int64 rank of every class by its nearest gallery item (0 = the class of the 1-NN), i.e. by
    ``(-class_best, class_first)``: the order in which classes first appear in the neighbour ranking. Classes
    with no gallery item come last."""
    order = nb.class_first.argsort(dim=1, stable=True)
    order = order.gather(1, (-nb.class_best.gather(1, order)).argsort(dim=1, stable=True))
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1]).expand_as(order).contiguous())
    return ranks


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} features contain NaN or infinite values")


def gallery_and_queries(train: ClipFeatures, test: ClipFeatures, *, clip_norm: ClipNorm, standardize: bool,
                        device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Video-level ``(gallery [S_train, D], queries [S_test, D])`` float64 on ``device``: clip rows averaged per
    sample (after per-clip L2 normalisation when ``clip_norm="l2"``), standardised with the **train** averages'
    mean/std when ``standardize``. Raises on an empty side, a dimension mismatch or non-finite features."""
    if train.n_samples == 0 or train.n_rows == 0:
        raise ValueError("the gallery (train split) is empty")
    if test.n_samples == 0 or test.n_rows == 0:
        raise ValueError("the query set (test split) is empty")
    if train.dim != test.dim:
        raise ValueError(f"train features have dimension {train.dim} but test features {test.dim}")
    gallery = video_features(train, clip_norm=clip_norm, device=device)
    queries = video_features(test, clip_norm=clip_norm, device=device)
    _check_finite(gallery, "train")
    _check_finite(queries, "test")
    if standardize:
        stats = fit_standardizer(gallery)
        gallery, queries = apply_standardizer(gallery, stats), apply_standardizer(queries, stats)
    return gallery, queries


def resolve_n_classes(train: ClipFeatures, test: ClipFeatures, n_classes: int | None) -> int:
    """K: ``n_classes`` or one more than the largest label of either side; checks labels lie in ``0..K-1``."""
    top = int(max(int(train.labels.max()), int(test.labels.max())))
    low = int(min(int(train.labels.min()), int(test.labels.min())))
    K = top + 1 if n_classes is None else int(n_classes)
    if low < 0 or top >= K:
        raise ValueError(f"labels must lie in 0..{K - 1}; found {low}..{top}")
    return K


def _class_scores(nb: Neighbours, neighbour_labels: torch.Tensor) -> torch.Tensor:
    """``[Q, K]`` best similarity per class, the 1-NN class raised by one ulp where another class ties it."""
    best = nb.class_best.clone()
    present = torch.isfinite(best)
    floor = torch.where(present, best, math.inf).amin(1, keepdim=True) - 1.0
    scores = torch.where(present, best, floor).float()
    nn_class = neighbour_labels[:, :1]
    top = scores.gather(1, nn_class)
    tied = ((scores >= top).sum(1, keepdim=True) > 1)
    scores.scatter_(1, nn_class, torch.where(tied, torch.nextafter(top, torch.full_like(top, math.inf)), top))
    return scores


def run_retrieval(train: ClipFeatures, test: ClipFeatures, *, ks: Sequence[int] = (1, 5, 20),
                  metric: Metric = "cosine", clip_norm: ClipNorm = "none", standardize: bool = False,
                  block_size: int = 4096, device: str | torch.device = "cpu",
                  n_classes: int | None = None, class_scores: bool = True) -> ClassifierResult:
    """Recall@k of test videos (queries) against training videos (gallery).

    class_scores=False (instance retrieval, where every gallery video is its own class): ``scores`` is
    ``[S_test, 0]`` and no per-class table is built (it would be gallery x queries).

    train/test: clip-level features; clips are averaged per video (module docstring for the variants).
    ks: the recall cut-offs; every k must be at most the gallery size. metric: ``"cosine"`` or ``"euclidean"``.
    Returns a ``ClassifierResult`` with

    * ``hits``: ``{"recall{k}": [S_test] float32 in {0, 1}}``: 1 when any of the k nearest gallery videos has
      the query's class;
    * ``scores``: ``[S_test, K]`` float32, the highest similarity (cosine, or negative Euclidean distance) of
      the query to any gallery video of each class, so the arg-max class is the 1-NN's class; where another
      class ties with it exactly, the 1-NN class's score is raised by one float32 ulp, so top-1 over ``scores``
      equals ``recall1`` exactly. A class with no gallery video scores one below the row's lowest present
      score (finite, so the sidecar stays valid JSON);
    * ``sample_info``: per query ``{"neighbours": [gallery sample ids of the max(ks) nearest],
      "neighbour_labels": [...], "neighbour_similarity": [...]}``;
    * ``selected={}``, ``selection="none"``, ``sweep=[]``, ``backend="torch-<device type>"``.
    """
    t0 = time.perf_counter()
    ks = [int(k) for k in ks]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"ks must be a non-empty list of positive integers; got {ks}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    dev = torch.device(device)
    gallery, queries = gallery_and_queries(train, test, clip_norm=clip_norm, standardize=standardize, device=dev)
    G = int(gallery.shape[0])
    kmax = max(ks)
    if kmax > G:
        raise ValueError(f"k={kmax} is larger than the gallery ({G} training videos)")
    K = resolve_n_classes(train, test, n_classes)
    nb = search(queries, gallery, train.labels, k=kmax, metric=metric, n_classes=K, block_size=block_size,
                class_scores=class_scores)

    gallery_labels = train.labels.long()
    neighbour_labels = gallery_labels[nb.index]  # [S_test, kmax]
    match = neighbour_labels == test.labels.long()[:, None]
    hits = {f"recall{k}": match[:, :k].any(1).float() for k in ks}

    scores = _class_scores(nb, neighbour_labels) if class_scores else torch.zeros(queries.shape[0], 0)

    ids = train.sample_ids
    sample_info = [{"neighbours": [ids[j] for j in row], "neighbour_labels": labs,
                    "neighbour_similarity": [round(s, 6) for s in sims]}
                   for row, labs, sims in zip(nb.index.tolist(), neighbour_labels.tolist(), nb.similarity.tolist())]
    info: dict[str, Any] = {"metric": metric, "clip_norm": clip_norm, "standardize": standardize, "ks": ks,
                            "gallery_size": G, "n_queries": int(queries.shape[0]), "n_classes": K,
                            "dim": int(gallery.shape[1]), "block_size": nb.block_size,
                            "seconds": time.perf_counter() - t0}
    return ClassifierResult(scores=scores, selected={}, selection="none", sweep=[], backend=f"torch-{dev.type}",
                            info=info, hits=hits, sample_info=sample_info)
