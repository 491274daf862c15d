"""Training checkpoints without pickles: every tensor in one safetensors file, the rest as JSON in its header.

A checkpoint is a tree of dicts, lists, tuples, ``collections.Counter`` (MultiStepLR's milestones), numbers,
strings, None and tensors: a model's, an optimiser's and a scheduler's ``state_dict()``, RNG states, per-epoch
results. :func:`save_tree` writes the tensors under generated names and the tree (with ``{"__tensor__": name}``
in their place) as the ``tree`` metadata entry of ONE ``.safetensors`` file, atomically (temporary file, fsync,
rename), so a kill never leaves a half-written checkpoint. :func:`load_tree` reads it back; nothing is ever
unpickled, so a file planted in a shared cache cannot run code: at worst it fails to load, with a
:class:`CheckpointError` naming it.

Non-string dictionary keys (an optimiser's ``state`` is keyed by parameter index, per-epoch scores by epoch)
and tuples are tagged so they come back as they went in.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

__all__ = ["CheckpointError", "FORMAT", "save_tree", "load_tree", "rng_state", "set_rng_state"]

FORMAT = "avbench-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as an avbench checkpoint (damaged, foreign or planted)."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().to("cpu").contiguous().clone()  # clone: safetensors refuses shared storage
        return {"__tensor__": name}
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        kind = "Counter" if isinstance(obj, Counter) else "dict"
        return {"__dict__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()], "__kind__": kind}
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint (tensors, numbers, strings, lists, "
                    "tuples and dicts only)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__dict__" in obj:
        pairs = [(_decode(k, tensors), _decode(v, tensors)) for k, v in obj["__dict__"]]
        return Counter(dict(pairs)) if obj.get("__kind__") == "Counter" else dict(pairs)
    raise ValueError(f"unknown node {sorted(obj)[:3]}")


def save_tree(tree: Any, path: Path) -> Path:
    """Write ``tree`` to ``path`` (a ``.safetensors`` file) atomically; returns ``path``."""
    tensors: dict[str, torch.Tensor] = {}
    meta = {"format": FORMAT, "tree": json.dumps(_encode(tree, tensors))}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_tree(path: Path, device: torch.device | str = "cpu") -> Any:
    """The tree saved by :func:`save_tree`, tensors on ``device``; :class:`CheckpointError` naming ``path`` when
    the file is not such a checkpoint."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return _decode(json.loads(meta["tree"]), tensors)
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable avbench checkpoint ({type(exc).__name__}: {exc}); delete it "
                              "to start that training again") from None


def rng_state() -> dict[str, Any]:
    """The global RNG states (CPU, and every CUDA device when CUDA is initialised) as tensors."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`'s output (CUDA states only where this process has CUDA initialised)."""
    torch.set_rng_state(state["cpu"].to("cpu"))
    if "cuda" in state and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.set_rng_state_all([s.to("cpu") for s in state["cuda"]])
