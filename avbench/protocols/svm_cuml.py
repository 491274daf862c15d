"""GPU backend: RAPIDS cuML ``cuml.svm.LinearSVC`` called directly (not through ``cuml.accel``).

Written against cuML's documented API (26.x): ``LinearSVC(penalty, loss, C, fit_intercept, penalized_intercept,
class_weight, tol, max_iter, linesearch_max_iter, lbfgs_memory, multi_class, output_type)``; attributes ``coef_``
``[K, D]`` (``[1, D]`` for two classes), ``intercept_``, ``classes_``, ``n_iter_``. ``penalized_intercept=True``
appends a constant-1 column, which is liblinear's (and ``svm_torch``'s) objective with ``intercept_scaling=1``.
cuML minimises it with its quasi-Newton (L-BFGS) solver, so ``tol`` is that solver's tolerance, not liblinear's
gradient-ratio rule: solutions agree to solver accuracy, not bit for bit.

The rows are moved to the GPU once as one float32 matrix (cuML takes no row stream). cuML is imported lazily;
without it ``BackendUnavailable`` says how to install it. There is no fallback to another backend.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_torch import LinearModel

__all__ = ["BackendUnavailable", "fit_cuml_linear_svc", "INSTALL_HINT", "BACKEND"]

BACKEND = "cuml"
INSTALL_HINT = ("install the GPU extra: pip install 'avbench[gpu]' (this installs cuml-cu13, for CUDA 13 drivers "
                ">= 580; on CUDA 12 use pip install cuml-cu12 instead). Note `pip install cuml` is an unrelated "
                "placeholder package.")
ABSENT_CLASS_BIAS = -1.0


class BackendUnavailable(RuntimeError):
    """The requested classifier backend cannot run here (a missing package or device); nothing else is tried."""


def _import_cuml() -> tuple[Any, Any]:
    try:
        import cupy  # noqa: F401
        from cuml.svm import LinearSVC
    except ImportError as exc:  # ModuleNotFoundError included
        raise BackendUnavailable(f"backend='cuml' needs RAPIDS cuML, which is not importable ({exc}); "
                                 + INSTALL_HINT) from exc
    import cupy
    return cupy, LinearSVC


def fit_cuml_linear_svc(features: ClipFeatures, costs: Sequence[float], *, n_classes: int,
                        device: str | torch.device = "cuda", tol: float = 1e-4, max_iter: int = 1000,
                        linesearch_max_iter: int = 100, lbfgs_memory: int = 5) -> list[LinearModel]:
    """Fit ``cuml.svm.LinearSVC`` (l2, squared hinge, ovr, penalised intercept) for every C (returned in order).

    device: a CUDA device (the rows are copied there as float32). Returns ``LinearModel``s on CPU (float32);
    two-class fits become the ``[-f, f]`` column pair; a class with no rows gets zero weights and bias
    ``ABSENT_CLASS_BIAS``. Raises ``BackendUnavailable`` when cuML/cupy or CUDA is missing.
    """
    cupy, LinearSVC = _import_cuml()
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        raise BackendUnavailable(f"backend='cuml' runs on a CUDA GPU; got device={device!r} "
                                 f"(torch.cuda.is_available()={torch.cuda.is_available()})")
    X = torch.cat([b.to(dev, torch.float32) for b in features.blocks]).contiguous()
    y = features.row_labels.to(dev, torch.float32)
    X_cp, y_cp = cupy.from_dlpack(X), cupy.from_dlpack(y)
    models = []
    for C in costs:
        clf = LinearSVC(penalty="l2", loss="squared_hinge", C=float(C), fit_intercept=True, penalized_intercept=True,
                        tol=tol, max_iter=max_iter, linesearch_max_iter=linesearch_max_iter,
                        lbfgs_memory=lbfgs_memory, multi_class="ovr", output_type="cupy")
        torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        clf.fit(X_cp, y_cp)
        cupy.cuda.runtime.deviceSynchronize()
        seconds = time.perf_counter() - t0
        coef = torch.from_dlpack(cupy.ascontiguousarray(cupy.asarray(clf.coef_))).double().cpu()
        intercept = torch.from_dlpack(cupy.ascontiguousarray(cupy.asarray(clf.intercept_)).reshape(-1)).double().cpu()
        classes = torch.from_dlpack(cupy.asarray(clf.classes_)).cpu().long()
        if coef.shape[0] == 1:
            coef, intercept = torch.cat([-coef, coef]), torch.cat([-intercept, intercept])
        weights = torch.zeros(X.shape[1], n_classes, dtype=torch.float32)
        bias = torch.full((n_classes,), ABSENT_CLASS_BIAS, dtype=torch.float32)
        weights[:, classes] = coef.T.float()
        bias[classes] = intercept.float()
        n_iter = int(clf.n_iter_)
        models.append(LinearModel(weights=weights, bias=bias, C=float(C), intercept_scaling=1.0, iterations=n_iter,
                                  converged=n_iter < max_iter, backend=BACKEND,
                                  info={"seconds": seconds, "tol": tol, "solver": "qn",
                                        "absent_classes": sorted(set(range(n_classes)) - set(classes.tolist()))}))
    return models
