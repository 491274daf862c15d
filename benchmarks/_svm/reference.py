"""The correctness side of the SVM sweep: each backend's summed primal objective per C, and a reference solved
tightly (sklearn ``LinearSVC(dual=False, tol=1e-6, max_iter=100 000)``: liblinear's Newton method stopped at a
gradient norm 1e-6 of the initial one, far below the 1e-4 default) to compare it with.
"""
from __future__ import annotations

import math
import time
from typing import Sequence


from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_sklearn import fit_linear_svc
from avbench.protocols.svm_torch import LinearModel, primal_objective

REFERENCE_TOL = 1e-6
REFERENCE_MAX_ITER = 100_000


def objective(model: LinearModel, train: ClipFeatures) -> float:
    """The OvR objective summed over the classes (float64), on the training rows; finite or a ValueError."""
    f = float(primal_objective(model, train.dense(), train.row_labels, model.C).sum())
    if not math.isfinite(f):
        raise ValueError(f"non-finite objective for C={model.C:g} ({model.backend})")
    return f


def reference_objectives(train: ClipFeatures, costs: Sequence[float], n_classes: int) -> dict[float, dict]:
    """Per C: the tightly solved reference's summed objective, its fit seconds and whether it converged."""
    out = {}
    for C in costs:
        t0 = time.perf_counter()
        (model,) = fit_linear_svc(train, [C], n_classes=n_classes, tol=REFERENCE_TOL, max_iter=REFERENCE_MAX_ITER)
        out[C] = {"objective": objective(model, train), "seconds": time.perf_counter() - t0,
                  "converged": model.converged}
    return out


def relative_gaps(models: dict[float, float], reference: dict[float, dict]) -> dict[float, float]:
    """``(f - f_ref) / f_ref`` per C present in both (negative: below the reference, i.e. the reference is the
    looser of the two)."""
    return {C: (f - reference[C]["objective"]) / reference[C]["objective"] for C, f in models.items() if C in reference}
