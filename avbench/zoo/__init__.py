"""Model-zoo adapters: encoders named ``torchvision:NAME``, ``timm:NAME`` or ``hear:MODULE``.

A zoo model string is ``PREFIX:NAME``, optionally followed by build options as ``?key=value&key=value``
(values read as YAML scalars), e.g. ``torchvision:r2plus1d_18?fps=16`` or ``timm:vit_tiny_patch16_224?img_size=112``.
The registry resolves these prefixes before its ``"pkg.module:factory"`` rule; the adapter modules (and their
optional dependencies: timm, a HEAR package) are imported only when a zoo model is built.

``AVBENCH_OFFLINE=1`` forbids downloads: torchvision weights must then already be in the torch hub cache
(timm follows ``HF_HUB_OFFLINE``).
"""
from __future__ import annotations

import functools
import importlib
import os
from typing import Any, Callable

from avbench.config import load_yaml
from avbench.encoder import UnknownEncoderError

#: prefix -> (adapter module, one-line description shown by ``avbench list models`` and in errors)
PREFIXES: dict[str, tuple[str, str]] = {
    "torchvision": ("avbench.zoo.torchvision_video",
                    "torchvision video classifiers as video encoders: torchvision:r2plus1d_18, r3d_18, mc3_18, s3d, "
                    "mvit_v1_b, mvit_v2_s, swin3d_t/s/b; --weights R2Plus1D_18_Weights.KINETICS400_V1 (or DEFAULT)"),
    "timm": ("avbench.zoo.timm_frames",
             "any timm image model as a per-frame video encoder, mean over time: timm:NAME; --weights timm "
             "(download) or a local .safetensors/.pth file"),
    "hear": ("avbench.zoo.hear_audio",
             "any importable HEAR 2021 audio module: hear:MODULE; --weights is passed to its load_model"),
}


def offline() -> bool:
    """True when ``AVBENCH_OFFLINE`` is set to a true value: never download weights."""
    return os.environ.get("AVBENCH_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]] | None:
    """``"timm:resnet10t?img_size=64"`` -> ("timm", "resnet10t", {"img_size": 64}); None if not a zoo prefix."""
    prefix, sep, rest = spec.partition(":")
    if not sep or prefix not in PREFIXES:
        return None
    name, _, query = rest.partition("?")
    if not name:
        raise UnknownEncoderError(f"model {spec!r}: name missing after '{prefix}:' ({PREFIXES[prefix][1]})")
    options: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UnknownEncoderError(f"model {spec!r}: option {part!r} is not key=value")
        options[key.strip()] = load_yaml(value, f"model {spec!r}: option {key.strip()}") if value.strip() else ""
    return prefix, name, options


def zoo_factory(spec: str) -> Callable[..., Any] | None:
    """The factory ``f(weights=None, init_seed=0, **options)`` for a zoo model string; None if ``spec`` has no zoo
    prefix. Options in the string are defaults that keyword options override."""
    parsed = parse_spec(spec)
    if parsed is None:
        return None
    prefix, name, options = parsed
    module = importlib.import_module(PREFIXES[prefix][0])
    return functools.partial(module.build, name, **options)
