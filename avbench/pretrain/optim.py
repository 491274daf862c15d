"""Optimisers, LARC and the warm-up + cosine schedule of the pretrainers, and optimiser state <-> safetensors.

Schedule (per step, as the CrissCross ``lr_scheduler``): linear warm-up from 0 to the base rate over
``warmup_steps``, then cosine from the base rate to ``final_lr``. A parameter group whose ``schedule`` is
``"constant"`` keeps its rate (CrissCross's predictors, Table S10: 10x the base rate, fixed).
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import torch


def lr_factor(step: int, *, total_steps: int, warmup_steps: int, final_ratio: float) -> float:
    """Multiplier of the base rate at ``step`` (0-based): warm-up ramp, then cosine down to ``final_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every group's ``lr`` to ``base_lr * factor`` (``base_lr`` for ``schedule == "constant"`` groups)."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] if group.get("schedule") == "constant" else group["base_lr"] * factor


def build_optimizer(groups: list[dict[str, Any]], *, name: str, weight_decay: float,
                    betas: tuple[float, float] = (0.9, 0.999), momentum: float = 0.9) -> torch.optim.Optimizer:
    """Adam / AdamW / SGD over ``groups`` (each: ``params``, ``base_lr``, optional ``schedule``, ``name``)."""
    for g in groups:
        g["lr"] = g["base_lr"]
        g.setdefault("weight_decay", weight_decay)
    if name == "adam":
        return torch.optim.Adam(groups, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(groups, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; known: adam, adamw, sgd")


class LARC:
    """Layer-wise adaptive rate clipping around any optimiser (You et al. 2017; NVIDIA apex ``LARC``, which the
    CrissCross supplementary G.1 uses with Adam at batch 2048).

    For each parameter with a gradient: ``local = trust * ||w|| / (||g|| + wd * ||w|| + eps)``; with ``clip`` the
    factor is ``min(local / lr, 1)``; weight decay is folded into the gradient (``g += wd * w``) and the gradient
    scaled by the factor, then the wrapped optimiser steps with its own weight decay switched off.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, trust_coefficient: float = 1e-3, clip: bool = True,
                 eps: float = 1e-8) -> None:
        self.optim, self.trust, self.clip, self.eps = optimizer, trust_coefficient, clip, eps

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optim.param_groups

    @property
    def state(self) -> Any:
        return self.optim.state

    def state_dict(self) -> dict[str, Any]:
        return self.optim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optim.load_state_dict(state)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optim.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self) -> None:
        decays = []
        for group in self.optim.param_groups:
            wd = group.get("weight_decay", 0.0)
            decays.append(wd)
            group["weight_decay"] = 0.0
            for p in group["params"]:
                if p.grad is None:
                    continue
                w_norm, g_norm = torch.norm(p), torch.norm(p.grad)
                if w_norm == 0 or g_norm == 0:
                    continue
                local = self.trust * w_norm / (g_norm + w_norm * wd + self.eps)
                if self.clip:
                    local = torch.clamp(local / group["lr"], max=1.0)
                p.grad.add_(p, alpha=wd).mul_(local)
        try:
            self.optim.step()
        finally:
            for group, wd in zip(self.optim.param_groups, decays):
                group["weight_decay"] = wd


# ---- optimiser state <-> flat tensors (for safetensors) ---------------------------------------------------------
def flatten_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """``optimizer.state_dict()`` -> ({"state.<param>.<key>": tensor}, JSON of everything that is not a tensor)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"state.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, json.dumps({"groups": groups, "scalars": scalars})


def unflatten_state(tensors: dict[str, torch.Tensor], meta: str) -> dict[str, Any]:
    """Inverse of :func:`flatten_state`."""
    info = json.loads(meta)
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, entry in info["scalars"].items():
        state.setdefault(int(pid), {}).update(entry)
    return {"state": state, "param_groups": info["groups"]}


def parameters_of(groups: Iterable[dict[str, Any]]) -> list[torch.nn.Parameter]:
    return [p for g in groups for p in g["params"]]
