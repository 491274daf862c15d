"""Loading and hashing weight files: safetensors, torch pickles (weights_only), and the zipped CrissCross releases.

Every error is a :class:`WeightsError` that names the file. Torch pickles are always read with
``weights_only=True``: a checkpoint that needs arbitrary code to unpickle is refused, not executed.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

#: Suffixes read by :func:`load_state_dict_file` (checked longest first).
TORCH_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar", ".ckpt", ".bin")
SHOW = 10  # keys listed per category in a mismatch report


class WeightsError(ValueError):
    """A weights file is missing, unreadable, unsafe, or does not fit the model."""


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _torch_load(source: Any, name: str) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{name}: refusing to load: the pickle needs more than tensors and plain containers to unpickle "
            f"(torch.load weights_only=True failed). Re-save it as a bare state_dict or as .safetensors. "
            f"Detail: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise WeightsError(f"{name}: not a readable torch checkpoint: {type(exc).__name__}: {exc}") from exc


def _read_zip(path: Path) -> Any:
    """The one torch checkpoint inside a zip (the released ``*.pth.tar.zip``), read in memory."""
    try:
        with zipfile.ZipFile(path) as zf:
            files = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            members = [i for i in files if i.filename.endswith(TORCH_SUFFIXES)] or files
            if len(members) != 1:
                listed = ", ".join(i.filename for i in zf.infolist()[:SHOW]) or "(empty)"
                raise WeightsError(f"{path}: expected exactly one checkpoint (.pth.tar, .pth, .pt) in the zip, "
                                   f"found {len(members)} (members: {listed})")
            data = zf.read(members[0])
    except zipfile.BadZipFile as exc:
        raise WeightsError(f"{path}: not a valid zip file: {exc}") from exc
    return _torch_load(io.BytesIO(data), f"{path}!{members[0].filename}")


def _as_state_dict(obj: Any, name: str) -> dict[str, torch.Tensor]:
    """Unwrap ``{"state_dict": ...}`` / ``{"model": ...}``, strip a ``module.`` prefix, check all values are tensors."""
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{name}: expected a state_dict (a mapping of names to tensors), got {type(obj).__name__}")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{name}: entry {key!r} is a {type(value).__name__}, not a tensor; "
                               "expected a bare state_dict")
        state[key[len("module."):] if str(key).startswith("module.") else str(key)] = value
    return state


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict (on CPU) from ``.safetensors``, ``.pth``/``.pth.tar``/``.pt`` or a zip holding one of those.

    A ``state_dict``/``model`` wrapper is unwrapped and a ``module.`` (DataParallel) prefix stripped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    name = path.name.lower()
    if name.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return _as_state_dict(load_file(str(path), device="cpu"), str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path}: not a readable safetensors file: {exc}") from exc
    if name.endswith(".zip"):
        return _as_state_dict(_read_zip(path), str(path))
    if name.endswith(TORCH_SUFFIXES):
        return _as_state_dict(_torch_load(path, str(path)), str(path))
    raise WeightsError(f"{path}: unknown weights format; expected .safetensors, .pth, .pth.tar, .pt or .pth.tar.zip")


def _listing(title: str, items: list[str]) -> str:
    more = f" (+{len(items) - SHOW} more)" if len(items) > SHOW else ""
    return f"  {title} ({len(items)}): " + ", ".join(items[:SHOW]) + more


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``module`` strictly; on any name or shape mismatch raise :class:`WeightsError`.

    The message names ``source`` and lists (first 10 of) the missing, unexpected and mis-shaped keys.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or misshaped:
        lines = [f"{source}: weights do not fit {type(module).__name__} "
                 f"({len(state)} keys in the file, {len(expected)} in the model)"]
        if missing:
            lines.append(_listing("missing from the file", missing))
        if unexpected:
            lines.append(_listing("unexpected in the file", unexpected))
        if misshaped:
            lines.append(_listing("shape file != model", misshaped))
        raise WeightsError("\n".join(lines))
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        raise WeightsError(f"{source}: {exc}") from exc
