"""The linear-SVM protocol (CrissCross ESC-50 / AVID-style): a C sweep, multi-clip score averaging, C selection.

Every clip row is a training example labelled with its sample's label. Test decision values are averaged over
each sample's clips (scores, not features) and the sample is assigned the arg-max class.

C selection:
* ``"paper"``: the C with the best test top-1 (first best in the order of ``costs``), as the released code and
  the papers did; the number is optimistic because C is tuned on the test split.
* ``"clean"``: grouped K-fold cross-validation inside train only (sklearn ``GroupKFold`` over samples with their
  ``groups`` as groups, so all clips of a sample and all samples of a group, e.g. an ESC-50 fold or a UCF101
  gXX, stay on one side; ``min(cv_folds, n_groups)`` folds, shuffled with ``seed``). C maximises the mean CV
  sample-level top-1; the model refit on all of train at that C is then scored on test. Test labels are used
  only to report metrics.

Backends are explicit: ``"torch"`` (``svm_torch``, CPU or CUDA), ``"sklearn"`` (liblinear, CPU), ``"cuml"`` (GPU).
A backend that cannot run raises; nothing falls back to another backend.
"""
from __future__ import annotations

import time
from typing import Any, ClassVar, Literal, Sequence

import torch
from pydantic import Field, field_validator

from avbench.metrics import sample_mean, topk_accuracy
from avbench.protocols.base import ClassifierResult, ClipFeatures, Protocol, ProtocolSettings
from avbench.protocols.svm_cuml import BackendUnavailable, fit_cuml_linear_svc
from avbench.protocols.svm_sklearn import fit_linear_svc
from avbench.protocols.svm_torch import LinearModel, decision_function, device_label, fit_squared_hinge_ovr

__all__ = ["SVMSettings", "SVMProtocol", "run_svm", "fit_backend", "sample_scores", "DEFAULT_COSTS", "ESC50_COSTS",
           "BACKENDS", "BackendUnavailable"]

#: THE default C sweep: CrissCross supplementary E.1 ("we sweep the cost values between {0.00001, ..., 1}"), as in
#: the released configs/downstream/esc50; every shipped SVM card uses it
DEFAULT_COSTS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1.0)
ESC50_COSTS = DEFAULT_COSTS  # the name before the redesign
BACKENDS = ("torch", "sklearn", "cuml")
SELECTIONS = ("paper", "clean")


class SVMSettings(ProtocolSettings):
    """The card's ``classifier: {type: svm, ...}`` block."""

    type: Literal["svm"]
    backend: Literal["torch", "sklearn", "cuml"] = "torch"
    costs: tuple[float, ...] = DEFAULT_COSTS
    selection: Literal["paper", "clean"] = "paper"
    cv_folds: int = Field(default=5, ge=2)
    #: "clips": every clip is a training row and test scores are averaged per sample (CrissCross, AVID);
    #: "video_mean_std": clip features averaged per video and standardised with training statistics before the
    #: SVM (the temporal-SSL paper's linear probe, "Implementation Details").
    aggregate: Literal["clips", "video_mean_std"] = "clips"
    max_iter: int = Field(default=1000, gt=0)
    tol: float = Field(default=1e-4, gt=0)

    @field_validator("costs")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(c <= 0 for c in v):
            raise ValueError("costs must be a non-empty list of positive numbers")
        return v


class SVMProtocol(Protocol):
    """One-vs-rest linear SVM over a C sweep (module docstring)."""

    name: ClassVar[str] = "svm"
    Settings = SVMSettings
    audiovisual: ClassVar[bool] = True

    def classify(self, settings: SVMSettings, train: ClipFeatures, test: ClipFeatures, *, seed: int, device: str,
                 n_classes: int) -> ClassifierResult:
        if settings.aggregate == "video_mean_std":
            from avbench.protocols.aggregate import to_video_level

            train, test = to_video_level(train, test, clip_norm="none", standardize=True)
        return run_svm(train, test, costs=list(settings.costs), backend=settings.backend, selection=settings.selection,
                       cv_folds=settings.cv_folds, device=device, max_iter=settings.max_iter, tol=settings.tol,
                       seed=seed, n_classes=n_classes)


def fit_backend(backend: str, train: ClipFeatures, costs: Sequence[float], *, n_classes: int,
                device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, tol: float = 1e-4,
                max_iter: int = 1000) -> tuple[list[LinearModel], str]:
    """Fit one model per C with the named backend; returns the models (in ``costs`` order) and the backend label
    (e.g. ``"torch-cpu-float32"``, ``"sklearn-liblinear"``, ``"cuml"``)."""
    if backend == "torch":
        models = fit_squared_hinge_ovr(train, costs, n_classes=n_classes, device=device, dtype=dtype, tol=tol,
                                       max_iter=max_iter)
        return models, device_label(device, dtype)
    if backend == "sklearn":
        if torch.device(device).type != "cpu":
            raise ValueError(f"backend='sklearn' runs on the CPU only; device={device!r} was asked")
        return fit_linear_svc(train, costs, n_classes=n_classes, tol=tol, max_iter=max_iter), "sklearn-liblinear"
    if backend == "cuml":
        return fit_cuml_linear_svc(train, costs, n_classes=n_classes, device=device, tol=tol,
                                   max_iter=max_iter), "cuml"
    raise ValueError(f"unknown SVM backend {backend!r}; choose one of {BACKENDS}")


def sample_scores(model: LinearModel, features: ClipFeatures, device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-sample decision values ``[S, K]`` (float32, CPU): clip decision values averaged over each sample."""
    dev = torch.device(device) if model.backend.startswith("torch") else torch.device("cpu")
    clip = decision_function(model, features, device=dev).double()
    return sample_mean(clip, features.sample_index, features.n_samples).float()


def _cv_top1(train: ClipFeatures, costs: Sequence[float], *, n_classes: int, cv_folds: int, seed: int,
             fit_kw: dict[str, Any]) -> tuple[list[list[float]], list[dict[str, Any]]]:
    """Grouped K-fold CV top-1 (percent) per fold and C: ``[n_folds][len(costs)]``, plus fold diagnostics."""
    from sklearn.model_selection import GroupKFold

    group_names = sorted(set(train.groups))
    n_splits = min(cv_folds, len(group_names))
    if n_splits < 2:
        raise ValueError(f"selection='clean' needs at least 2 groups in train for grouped CV; got {len(group_names)}")
    gid = torch.tensor([group_names.index(g) for g in train.groups]).numpy()
    positions = torch.arange(train.n_samples).numpy()
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    per_fold, folds_info = [], []
    for fold, (fit_pos, val_pos) in enumerate(splitter.split(positions, groups=gid)):
        part, held = train.subset(fit_pos.tolist()), train.subset(val_pos.tolist())
        models, _ = fit_backend(n_classes=n_classes, train=part, costs=costs, **fit_kw)
        per_fold.append([topk_accuracy(sample_scores(m, held, fit_kw["device"]), held.labels, 1) for m in models])
        folds_info.append({"fold": fold, "n_train_samples": len(fit_pos), "n_val_samples": len(val_pos),
                           "val_groups": sorted({train.groups[i] for i in val_pos.tolist()}),
                           "train_groups": sorted({train.groups[i] for i in fit_pos.tolist()})})
    return per_fold, folds_info


def _first_best(values: Sequence[float]) -> int:
    best = max(values)
    return next(i for i, v in enumerate(values) if v == best)


def run_svm(train: ClipFeatures, test: ClipFeatures, *, costs: Sequence[float] = DEFAULT_COSTS,
            backend: str = "torch", selection: str = "paper", cv_folds: int = 5,
            device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, max_iter: int = 1000,
            tol: float = 1e-4, seed: int = 0, n_classes: int | None = None) -> ClassifierResult:
    """Run the OvR squared-hinge linear SVM protocol on one train/test split.

    train/test: clip-level features; test decision values are averaged per test sample.
    costs: the C sweep (CrissCross ESC-50's by default). selection: ``"paper"`` or ``"clean"`` (module docstring).
    n_classes: K (default: one more than the largest label in train or test).
    Returns a ``ClassifierResult`` with ``scores [S_test, K]`` at the selected C, ``selected={"C": ...}`` and one
    ``sweep`` entry per C with ``test_top1``/``test_top5`` (percent), solver iterations/convergence and, for
    ``"clean"``, ``cv_top1`` (mean over folds) and ``cv_top1_folds``.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}; got {selection!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown SVM backend {backend!r}; choose one of {BACKENDS}")
    costs = [float(c) for c in costs]
    if not costs:
        raise ValueError("costs is empty")
    if n_classes is None:
        n_classes = int(max(int(train.labels.max()), int(test.labels.max()))) + 1
    fit_kw = {"backend": backend, "device": device, "dtype": dtype, "tol": tol, "max_iter": max_iter}

    t0 = time.perf_counter()
    models, label = fit_backend(train=train, costs=costs, n_classes=n_classes, **fit_kw)
    fit_seconds = time.perf_counter() - t0
    test_scores = [sample_scores(m, test, device) for m in models]
    sweep: list[dict[str, Any]] = []
    for m, s in zip(models, test_scores):
        sweep.append({"C": m.C, "test_top1": topk_accuracy(s, test.labels, 1),
                      "test_top5": topk_accuracy(s, test.labels, 5), "iterations": m.iterations,
                      "converged": m.converged, "fit_seconds": m.info.get("seconds")})
    info: dict[str, Any] = {"fit_seconds": fit_seconds, "n_classes": n_classes, "n_train_rows": train.n_rows,
                            "n_test_rows": test.n_rows, "dim": train.dim, "tol": tol, "max_iter": max_iter}

    if selection == "paper":
        best = _first_best([e["test_top1"] for e in sweep])
    else:
        t1 = time.perf_counter()
        per_fold, folds_info = _cv_top1(train, costs, n_classes=n_classes, cv_folds=cv_folds, seed=seed,
                                        fit_kw=fit_kw)
        for j, entry in enumerate(sweep):
            fold_vals = [f[j] for f in per_fold]
            entry["cv_top1"] = sum(fold_vals) / len(fold_vals)
            entry["cv_top1_folds"] = fold_vals
        best = _first_best([e["cv_top1"] for e in sweep])
        info.update(cv_folds=len(per_fold), cv_seconds=time.perf_counter() - t1, cv=folds_info, seed=seed)
    return ClassifierResult(scores=test_scores[best], selected={"C": costs[best]}, selection=selection, sweep=sweep,
                            backend=label, info=info)
