"""Pretraining checkpoints: ``OUT/checkpoints/step-<N>/{model,optimizer}.safetensors + state.json``, the last
:data:`KEEP_CHECKPOINTS` kept, ``LATEST`` naming the newest. Each is written to a fresh folder and only then named in
``LATEST`` (an atomic rename), so a kill at any point leaves the previous one usable. No pickles: model and
optimizer tensors are safetensors, the optimizer's structure is JSON metadata."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from avbench.runtime import faults
from avbench.pretrain.optim import flatten_state, unflatten_state

KEEP_CHECKPOINTS = 2


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(out: Path, model: nn.Module, optimizer: Any, state: dict[str, Any]) -> Path:
    """Write ``checkpoints/step-<N>`` (model + optimizer safetensors, state.json), then point ``LATEST`` at it."""
    from safetensors.torch import save_file

    ckpts = out / "checkpoints"
    final = ckpts / f"step-{state['step']:08d}"
    tmp = ckpts / f".step-{state['step']:08d}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model_state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(model_state, str(tmp / "model.safetensors"))
    tensors, meta = flatten_state(optimizer.state_dict())
    save_file(tensors, str(tmp / "optimizer.safetensors"), metadata={"optimizer": meta})
    (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
    faults.point("pretrain-checkpoint")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_text(ckpts / "LATEST", final.name + "\n")
    for old in sorted(p for p in ckpts.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer: Any) -> dict[str, Any]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    with safe_open(str(path / "optimizer.safetensors"), framework="pt") as fh:
        meta = (fh.metadata() or {})["optimizer"]
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    optimizer.load_state_dict(unflatten_state(tensors, meta))
    return json.loads((path / "state.json").read_text())
