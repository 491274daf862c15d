"""k-nearest-neighbour classification on frozen video-level features (Jenni et al., temporal SSL, AAAI 2023).

The clip features of every video are averaged, standardised with the **training** videos' mean/std (paper,
"Implementation Details": features "obtained by averaging multiple crops and standardizing the resulting
features using the training set statistics"), and each test video takes the class of its nearest training
video (k = 1) or the majority class of its k nearest; among classes tied on votes the one whose nearest
member ranks first wins. Neighbours come from :func:`avbench.protocols.retrieval.search` (float64, ties in
similarity broken by the lower gallery position).
"""
from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from avbench.protocols.base import ClassifierResult, ClipFeatures, Protocol, ProtocolSettings
from avbench.protocols.retrieval import METRICS, Metric, class_ranks, gallery_and_queries, resolve_n_classes, search
from avbench.protocols.aggregate import ClipNorm

__all__ = ["KNNSettings", "KNNProtocol", "run_knn", "knn_scores"]


class KNNSettings(ProtocolSettings):
    """The card's ``classifier: {type: knn, ...}`` block: k-nearest-neighbour classification on per-video mean
    features standardised with training statistics (temporal-SSL paper, Table 1 and "Implementation Details")."""

    type: Literal["knn"]
    k: int = Field(default=1, gt=0)
    metric: Literal["cosine", "euclidean"] = "cosine"
    clip_norm: Literal["none", "l2"] = "none"
    standardize: bool = True
    selection: Literal["none"] = "none"


class KNNProtocol(Protocol):
    """k-NN classification of test videos by training videos (module docstring)."""

    name: ClassVar[str] = "knn"
    Settings = KNNSettings

    def classify(self, settings: KNNSettings, train: ClipFeatures, test: ClipFeatures, *, seed: int, device: str,
                 n_classes: int) -> ClassifierResult:
        return run_knn(train, test, k=settings.k, standardize=settings.standardize, clip_norm=settings.clip_norm,
                       metric=settings.metric, device=device, n_classes=n_classes)


def knn_scores(neighbour_labels: torch.Tensor, ranks: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """``[Q, K]`` float32 vote scores whose arg-max is the k-NN prediction.

    neighbour_labels: ``[Q, k]`` classes of the k nearest gallery items. ranks: ``[Q, K]`` class ranks by nearest
    member (:func:`avbench.protocols.retrieval.class_ranks`). present: ``[Q, K]`` bool, the class has gallery items.
    score = votes + (K - rank) / (2K + 2) for present classes (the bonus lies in (0, 1/2), so it never
    outweighs one vote and orders classes tied on votes by their nearest member), 0 for absent classes.
    Distinct ranks make the arg-max unique, so top-1 over the scores is the prediction exactly.
    """
    Q, K = ranks.shape
    votes = torch.zeros(Q, K, dtype=torch.float64)
    votes.scatter_add_(1, neighbour_labels.long(), torch.ones(neighbour_labels.shape, dtype=torch.float64))
    bonus = (K - ranks).double() / (2 * K + 2)
    return (votes + torch.where(present, bonus, 0.0)).float()


def run_knn(train: ClipFeatures, test: ClipFeatures, *, k: int = 1, standardize: bool = True,
            clip_norm: ClipNorm = "none", metric: Metric = "cosine", device: str | torch.device = "cpu",
            n_classes: int | None = None, block_size: int = 4096) -> ClassifierResult:
    """k-NN classification of test videos by training videos (module docstring).

    train/test: clip-level features (averaged per video; ``clip_norm="l2"`` normalises clips first).
    standardize: standardise the video features with the train mean/std (test statistics are never used).
    metric: ``"cosine"`` or ``"euclidean"``. n_classes: K (default: one more than the largest label).
    Returns a ``ClassifierResult`` with ``scores [S_test, K]`` from :func:`knn_scores` (vote counts plus a
    nearest-member tie-break below half a vote, so ``scores.argmax(1)`` is the prediction and top-5 ranks the
    remaining classes by their nearest member), ``selected={"k": k}``, ``selection="none"``, ``sweep=[]``,
    ``backend="torch-<device type>"`` and per-sample ``{"neighbours": [gallery sample ids], "neighbour_labels": [...]}`` (k each).
    """
    t0 = time.perf_counter()
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    dev = torch.device(device)
    gallery, queries = gallery_and_queries(train, test, clip_norm=clip_norm, standardize=standardize, device=dev)
    G = int(gallery.shape[0])
    if k > G:
        raise ValueError(f"k={k} is larger than the gallery ({G} training videos)")
    K = resolve_n_classes(train, test, n_classes)
    nb = search(queries, gallery, train.labels, k=k, metric=metric, n_classes=K, block_size=block_size)
    neighbour_labels = train.labels.long()[nb.index]
    scores = knn_scores(neighbour_labels, class_ranks(nb), torch.isfinite(nb.class_best))
    pred = scores.argmax(1)
    ids = train.sample_ids
    sample_info = [{"neighbours": [ids[j] for j in row], "neighbour_labels": labs}
                   for row, labs in zip(nb.index.tolist(), neighbour_labels.tolist())]
    info: dict[str, Any] = {"k": k, "metric": metric, "clip_norm": clip_norm, "standardize": standardize,
                            "gallery_size": G, "n_queries": int(queries.shape[0]), "n_classes": K,
                            "dim": int(gallery.shape[1]), "block_size": nb.block_size,
                            "test_top1": float((pred == test.labels.long()).double().mean()) * 100.0,
                            "seconds": time.perf_counter() - t0}
    return ClassifierResult(scores=scores, selected={"k": k}, selection="none", sweep=[], backend=f"torch-{dev.type}",
                            info=info, sample_info=sample_info)
