"""Batch normalisation over the GLOBAL batch of a multi-process run, on any device.

``torch.nn.SyncBatchNorm`` runs only on GPUs (its forward refuses CPU tensors), so a CPU run under ``torchrun``
with the gloo backend, which is how avbench's DDP path is tested, needs its own. :class:`GlobalBatchNorm`
all-reduces the per-channel sum, sum of squares and count with the differentiable
``torch.distributed.nn.functional.all_reduce``: the forward normalises with the global mean and (biased)
variance and the backward carries every rank's gradient through the shared statistics, so a step of a DDP
run equals a one-process step on the concatenated batch (up to floating-point summation order). Running
statistics use the unbiased global variance, as BatchNorm does.

:func:`sync_batchnorm` picks torch's ``SyncBatchNorm`` on CUDA (fused kernels) and :class:`GlobalBatchNorm`
elsewhere.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over ``[B, C, ...]`` whose training statistics span every process of the default group."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input [B, C, ...], got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        total = all_reduce(local)
        c = x.shape[1]
        n = total[-1]
        mean = total[:c] / n
        var = total[c:2 * c] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp(min=1), alpha=m)
                self.num_batches_tracked.add_(1)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm of ``module`` by one that normalises over the global batch (in place; returns it).
    Parameters, buffers and their values are kept, so a state_dict loads either way."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.to(next(iter(child.state_dict().values())).device if child.state_dict() else device)
            setattr(module, name, new)
        else:
            sync_batchnorm(child, device)
    return module
