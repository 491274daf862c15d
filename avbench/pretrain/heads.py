"""MLP heads of the pretrainers: ``fc-bn-relu`` blocks, the last layer ``fc`` (+ ``bn`` when asked)."""
from __future__ import annotations

from typing import Sequence

from torch import nn


def mlp(dims: Sequence[int], *, bn_last: bool) -> nn.Sequential:
    """``dims = [in, h1, ..., out]`` -> Linear-BN-ReLU for each hidden layer, then Linear (and BN if ``bn_last``).

    CrissCross projector (Table S7): ``mlp([512, 2048, 2048, 2048], bn_last=True)``; predictor (Table S8):
    ``mlp([2048, 512, 2048], bn_last=False)``. Temporal-SSL projector: ``mlp([D, 1024, 1024, 256], bn_last=True)``.
    """
    if len(dims) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {list(dims)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b))
        if not last or bn_last:
            layers.append(nn.BatchNorm1d(b))
        if not last:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
