"""Reference backend: scikit-learn ``LinearSVC`` (liblinear), one fit per C, same objective as ``svm_torch``.

liblinear copies the rows to float64 and solves one class at a time on one core; ``dual="auto"`` picks the primal
(trust-region/Newton) solver when there are more rows than features and the dual coordinate descent otherwise,
as sklearn's own default does.
"""
from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
import torch

from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_torch import LinearModel
from avbench.runtime.progress import tick

__all__ = ["fit_linear_svc", "BACKEND"]

BACKEND = "sklearn-liblinear"

# The score a class never seen in training gets (all-zero weights): a confident "no".
ABSENT_CLASS_BIAS = -1.0


def fit_linear_svc(features: ClipFeatures, costs: Sequence[float], *, n_classes: int, tol: float = 1e-4,
                   max_iter: int = 1000, intercept_scaling: float = 1.0, dual: bool | str = "auto",
                   random_state: int | None = None) -> list[LinearModel]:
    """Fit ``sklearn.svm.LinearSVC(penalty="l2", loss="squared_hinge", multi_class="ovr", fit_intercept=True)`` for
    every C in ``costs`` (returned in that order).

    features: training rows (every clip row is one example labelled with its sample's label).
    Returns ``LinearModel``s with float64 ``weights [D, K]`` and ``bias [K]``; with two classes liblinear fits one
    classifier ``f`` and the columns are ``[-f, f]`` (exactly the one-vs-rest pair, which is symmetric). A class
    with no training rows gets zero weights and bias ``ABSENT_CLASS_BIAS`` (listed in ``info["absent_classes"]``).
    dual: ``"auto"`` (module docstring), True (liblinear's dual coordinate descent: the released CrissCross code's
    solver, scikit-learn 0.24's default) or False. random_state: seeds the dual solver's coordinate order.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    X = features.dense().numpy().astype(np.float64, copy=False)
    y = features.row_labels.numpy()
    present = np.unique(y)
    if present.size < 2:
        raise ValueError("LinearSVC needs at least two classes in the training rows")
    absent = sorted(set(range(n_classes)) - set(present.tolist()))
    if dual == "auto":  # sklearn's rule for l2 + squared_hinge, where both solvers exist: dual iff n < D
        dual = bool(X.shape[0] < X.shape[1])
    models = []
    for C in costs:
        clf = LinearSVC(penalty="l2", loss="squared_hinge", dual=dual, tol=tol, C=float(C), multi_class="ovr",
                        fit_intercept=True, intercept_scaling=intercept_scaling, max_iter=max_iter,
                        random_state=random_state)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X, y)
        seconds = time.perf_counter() - t0
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        coef = np.asarray(clf.coef_, dtype=np.float64)
        intercept = np.asarray(clf.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: liblinear's single classifier is the positive class of classes_[1]
            coef = np.concatenate([-coef, coef])
            intercept = np.concatenate([-intercept, intercept])
        weights = np.zeros((X.shape[1], n_classes))
        bias = np.full(n_classes, ABSENT_CLASS_BIAS)
        weights[:, clf.classes_] = coef.T
        bias[clf.classes_] = intercept
        models.append(LinearModel(
            weights=torch.from_numpy(weights), bias=torch.from_numpy(bias), C=float(C),
            intercept_scaling=float(intercept_scaling), iterations=int(clf.n_iter_), converged=converged,
            backend=BACKEND,
            info={"seconds": seconds, "dual": dual, "random_state": random_state,
                  "absent_classes": absent, "tol": tol}))
        tick()  # one C done (a progress bar when the run shows them)
    return models
