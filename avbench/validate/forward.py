"""One forward of an encoder under validation: :func:`run_forward` feeds a batch (audio ``[B, N]`` float32 or video
``[B, 3, T, S, S]`` uint8) through the front end / preprocessing and the encoder under ``torch.no_grad()``, times it
(seconds of wall time, CUDA synchronised) and records what it did to the module state in a :class:`Watch`; and the
comparisons of outputs (:func:`max_diff`, :func:`value_scale`) the determinism and batch checks use."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from avbench.encoder import Encoder, FeatureMap
from avbench.validate.inputs import Geometry


@dataclass
class Observation:
    """One forward: its geometry, batch size, front-end output and layer outputs (None when it raised)."""

    geom: Geometry
    batch: int
    frontend: torch.Tensor | None = None
    out: dict[str, Any] | None = None
    error: str | None = None
    wall: float = 0.0


@dataclass
class Watch:
    """State violations seen after each forward (eval_mode, no_grad)."""

    train_after: list[str] = field(default_factory=list)
    grad_after: list[str] = field(default_factory=list)
    grad_outputs: list[str] = field(default_factory=list)


def training_modules(enc: torch.nn.Module) -> list[str]:
    """Names of the submodules in train mode (the class name for the root)."""
    return [name or type(enc).__name__ for name, m in enc.named_modules() if m.training]


def params_with_grad(enc: torch.nn.Module) -> list[str]:
    """Names of the parameters that hold a ``.grad``."""
    return [name for name, p in enc.named_parameters() if p.grad is not None]


def layer_tensors(out: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """(layer, tensor) of every tensor output (a FeatureMap gives its ``data``)."""
    items = []
    for layer, value in out.items():
        t = value.data if isinstance(value, FeatureMap) else value
        if isinstance(t, torch.Tensor):
            items.append((layer, t))
    return items


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_forward(enc: Encoder, modality: str, x: torch.Tensor, device: torch.device, watch: Watch,
                geom: Geometry) -> Observation:
    """One forward of ``x`` (a copy on ``device``) under ``torch.no_grad()``, timed; an exception of the encoder's
    code becomes ``Observation.error``; train-mode modules, ``.grad`` and outputs requiring grad go to ``watch``."""
    obs = Observation(geom, int(x.shape[0]))
    x = x.to(device, copy=True)  # a copy: an encoder writing into its input must not change later runs' inputs
    try:
        with torch.no_grad():
            _sync(device)
            t0 = time.perf_counter()
            if modality == "audio":
                z = enc.audio_frontend(x)
                out = enc.encode_audio(z, layers=enc.layers("audio"))
            else:
                z = enc.video_preprocess(x)
                out = enc.encode_video(z, layers=enc.layers("video"))
            _sync(device)
            obs.wall = time.perf_counter() - t0
        if not isinstance(out, dict):
            raise TypeError(f"encode_{modality} returned {type(out).__name__}, not a dict of layer outputs")
        obs.frontend, obs.out = z, out
    except Exception as exc:  # any failure of the encoder's code is a finding, not a crash of the validator
        obs.error = f"{geom.label}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    where = f"{modality} {geom.label} B={obs.batch}"
    if trained := training_modules(enc):
        watch.train_after.append(f"after {where}: {', '.join(trained[:3])}")
    if grads := params_with_grad(enc):
        watch.grad_after.append(f"after {where}: {len(grads)} parameter(s) ({', '.join(grads[:3])})")
    if obs.out is not None:
        req = [layer for layer, t in layer_tensors(obs.out) if t.requires_grad]
        if isinstance(obs.frontend, torch.Tensor) and obs.frontend.requires_grad:
            req.insert(0, "front end")
        if req:
            watch.grad_outputs.append(f"{where}: {', '.join(req)}")
    return obs


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| where equal values (NaN with NaN, inf with inf) count as 0; shape mismatch = inf."""
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    if a.shape != b.shape:
        return math.inf
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    d = torch.where(same, torch.zeros_like(a), (a - b).abs())
    d = torch.nan_to_num(d, nan=math.inf)
    return float(d.max()) if d.numel() else 0.0


def value_scale(t: torch.Tensor) -> float:
    """max(1, max |finite values|): the scale a relative tolerance is taken of."""
    t = t.detach().float()
    finite = t[torch.isfinite(t)]
    return max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
