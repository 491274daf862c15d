"""The one-vs-rest squared-hinge problem of :mod:`avbench.protocols.svm_torch`: the rows streamed in chunks on the
solver device (:class:`RowStream`), the objective with its gradient and Hessian products (:class:`SquaredHingeProblem`)
and the exact loss change along a step (:func:`loss_change`).

Rows stream from ``ClipFeatures.blocks``: each block is cut into row chunks that are moved to the solver
device and dtype in turn (or kept there when they fit, see ``resident``), so large problems need not fit on the
device at once. ``X~`` is the rows with the constant ``intercept_scaling`` column appended.
"""
from __future__ import annotations

from typing import Iterator

import torch

from avbench.protocols.base import ClipFeatures

__all__ = ["RowStream", "SquaredHingeProblem", "loss_change"]


# ----------------------------------------------------------------------------------------------- data stream


class RowStream:
    """Row chunks of a ClipFeatures on the solver device and dtype, plus the ``[n, K]`` +-1 targets per chunk.

    Chunks are views of the blocks (``chunk_rows`` rows each, cache-friendly on CPU). When ``resident`` the
    converted chunks are kept (copied once); otherwise each pass converts/moves them again.
    """

    def __init__(self, features: ClipFeatures, n_classes: int, device: torch.device, dtype: torch.dtype,
                 chunk_rows: int, resident: bool | None) -> None:
        self.device, self.dtype = device, dtype
        self.dim = features.dim
        self.n = features.n_rows
        nbytes = self.n * self.dim * torch.finfo(dtype).bits // 8
        if resident is None:
            resident = _fits(nbytes, device)
        self.resident = resident
        row_labels = features.row_labels
        self._chunks: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []  # [n_c, K] +-1 per chunk, always on device
        for start, block in features.iter_blocks():
            for off in range(0, int(block.shape[0]), chunk_rows):
                x = block[off:off + chunk_rows]
                if x.shape[0] == 0:
                    continue
                if resident:
                    x = x.to(device=device, dtype=dtype).contiguous()
                self._chunks.append(x)
                lab = row_labels[start + off:start + off + x.shape[0]].to(device)
                y = torch.full((x.shape[0], n_classes), -1.0, dtype=dtype, device=device)
                y.scatter_(1, lab[:, None], 1.0)
                self.targets.append(y)

    def __len__(self) -> int:
        return len(self._chunks)

    def chunks(self) -> Iterator[tuple[int, torch.Tensor]]:
        for c, x in enumerate(self._chunks):
            if not self.resident:
                x = x.to(device=self.device, dtype=self.dtype, non_blocking=True)
            yield c, x


def _fits(nbytes: int, device: torch.device) -> bool:
    """Keep converted chunks when they take under half the free device memory (CPU: under 8 GiB)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= free // 2
    return nbytes <= 8 << 30


# ------------------------------------------------------------------------------------------- the objective


class SquaredHingeProblem:
    """The batched OvR squared-hinge problem on a subset of class columns.

    Parameter-space tensors (``w~``, gradients, CG vectors, ``[D + 1, k]``) are float64 whatever the data dtype:
    they are tiny next to the rows, and float32 CG recurrences on these ill-conditioned Hessians (eigenvalues
    from 1 to ~2C n ||mean x||^2) lose the Newton direction; only the GEMMs over the rows run in the data dtype.
    """

    def __init__(self, stream: RowStream, scale: float) -> None:
        self.s = stream
        self.scale = scale  # intercept_scaling
        self.passes = 0  # GEMMs over the whole data set, for diagnostics

    def xw(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``X~ w`` for one chunk: ``[n_c, k]`` in the data dtype (``w`` is cast to it)."""
        w = w.to(x.dtype)
        return torch.addmm(w[-1:].mul(self.scale), x, w[:-1])

    def xtr_add(self, out: torch.Tensor, x: torch.Tensor, r: torch.Tensor) -> None:
        """``out += X~^T r`` for one chunk (``out`` float64, the GEMM in the data dtype)."""
        out[:-1] += (x.T @ r).to(out.dtype)
        out[-1] += r.sum(0, dtype=out.dtype) * self.scale

    def gradient(self, w: torch.Tensor, cols: torch.Tensor, C: float
                 ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Fresh ``z = X~ w`` per chunk, the objective ``f [k]``, the gradient ``[D + 1, k]`` and the active masks
        (``[n_c, k]``, 1 where ``y z < 1``). ``cols`` selects the class columns of the targets."""
        g = torch.zeros_like(w)
        loss = torch.zeros(w.shape[1], dtype=w.dtype, device=w.device)
        zs, masks = [], []
        for c, x in self.s.chunks():
            y = self.s.targets[c][:, cols]
            z = self.xw(x, w)
            m = (y * z < 1).to(x.dtype)
            r = (z - y) * m  # d/dz of the squared hinge is 2 (z - y) on the active set
            loss += (r * r).sum(0, dtype=loss.dtype)
            self.xtr_add(g, x, r)
            zs.append(z)
            masks.append(m)
        self.passes += 2
        g.mul_(2 * C).add_(w)
        f = 0.5 * (w * w).sum(0) + C * loss
        return f, g, zs, masks

    def hess_vec(self, d: torch.Tensor, masks: list[torch.Tensor], C: float
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``H d = d + 2C X~_I^T (X~_I d)`` for every column at once (two GEMMs per chunk), and ``X~ d`` per chunk."""
        out = torch.zeros_like(d)
        xds = []
        for c, x in self.s.chunks():
            xd = self.xw(x, d)
            xds.append(xd)
            self.xtr_add(out, x, xd * masks[c])
        self.passes += 2
        return out.mul_(2 * C).add_(d), xds


def loss_change(zs: list[torch.Tensor], us: list[torch.Tensor], ys: list[torch.Tensor], t: torch.Tensor) -> torch.Tensor:
    """``sum_i [max(0, 1 - y (z + t u))^2 - max(0, 1 - y z)^2]`` per column ``[k]`` (float64), for per-column step
    sizes ``t [k]`` (float64). Evaluated in float64 (the ``[n, k]`` tensors are small next to the rows), with
    differences formed per element before summing: in float32, ``z + t u`` rounds away a short step's effect and
    the sum's rounding hides a decrease far below the objective's resolution, so the line search stalled short
    of liblinear's stopping rule (measured: a class left at a gradient ratio 1.6e-5 against a 1e-5 threshold)."""
    total = torch.zeros(t.shape[0], dtype=torch.float64, device=t.device)
    for z, u, y in zip(zs, us, ys):
        z, u, y = z.double(), u.double(), y.double()
        h0 = torch.clamp_min(1 - y * z, 0)
        h1 = torch.clamp_min(1 - y * (z + t * u), 0)
        total += ((h1 - h0) * (h1 + h0)).sum(0)
    return total
