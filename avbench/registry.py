"""Encoders by name: the ``avbench.encoders`` entry-point group, model-zoo strings (``torchvision:NAME``,
``timm:NAME``, ``hear:MODULE``; see :mod:`avbench.zoo`), ``"pkg.module:factory"`` strings, and a decorator.

A factory is any callable ``factory(weights: str | None = None, init_seed: int = 0, **options) -> Encoder``.
Entry points and module strings are resolved lazily, so start-up stays fast and optional dependencies
stay optional. The reference baselines register through the same entry-point group a third party uses
(see ``[project.entry-points."avbench.encoders"]`` in pyproject.toml).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from avbench.encoder import Encoder

ENTRY_POINT_GROUP = "avbench.encoders"
Factory = Callable[..., Encoder]

_DECORATED: dict[str, Factory] = {}


class UnknownEncoderError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class EncoderEntry:
    name: str
    source: str  # "decorator", "entry-point <dist>", or the "module:factory" string
    load: Callable[[], Factory]


def register_encoder(name: str) -> Callable[[Factory], Factory]:
    """Decorator for notebooks and plugins: ``@register_encoder("mymodel") def build(weights=None, **kw): ...``."""

    def deco(factory: Factory) -> Factory:
        _DECORATED[name] = factory
        return factory

    return deco


def _import_factory(spec: str) -> Factory:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UnknownEncoderError(f"encoder spec {spec!r} is not of the form 'pkg.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownEncoderError(f"cannot import {module_name!r} for encoder {spec!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownEncoderError(f"{module_name!r} has no attribute {attr!r} (encoder {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UnknownEncoderError(f"encoder factory {spec!r} is not callable")
    return obj


def encoder_entries() -> dict[str, EncoderEntry]:
    """All named encoders: entry points first, then decorated factories (which override)."""
    out: dict[str, EncoderEntry] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        out[ep.name] = EncoderEntry(ep.name, f"entry-point {dist} ({ep.value})", ep.load)
    for name, factory in _DECORATED.items():
        out[name] = EncoderEntry(name, "decorator", lambda f=factory: f)
    return out


def zoo_prefixes() -> dict[str, str]:
    """Model-zoo prefixes (``torchvision:``, ``timm:``, ``hear:``) -> one-line description (avbench.zoo)."""
    from avbench.zoo import PREFIXES

    return {prefix: text for prefix, (_, text) in PREFIXES.items()}


def resolve_factory(name_or_spec: str) -> tuple[Factory, str]:
    """Name, zoo string (``torchvision:NAME``, ``timm:NAME``, ``hear:MODULE``) or ``"pkg.module:factory"``
    -> (factory, source)."""
    entries = encoder_entries()
    if name_or_spec in entries:
        entry = entries[name_or_spec]
        return entry.load(), entry.source
    if ":" in name_or_spec:
        from avbench.zoo import zoo_factory  # zoo prefixes first: "timm:x" is not module timm's attribute x

        zoo = zoo_factory(name_or_spec)
        if zoo is not None:
            return zoo, f"zoo {name_or_spec}"
        return _import_factory(name_or_spec), name_or_spec
    raise UnknownEncoderError(
        f"unknown encoder {name_or_spec!r}; registered: {', '.join(sorted(entries)) or '(none)'}; "
        f"or a zoo model ({', '.join(p + ':NAME' for p in zoo_prefixes())}); or pass 'pkg.module:factory'")


def build_encoder(name_or_spec: str, *, weights: str | None = None, init_seed: int = 0, **options: Any) -> Encoder:
    """Instantiate an encoder by registered name or ``"pkg.module:factory"``; returns it in eval mode."""
    factory, _ = resolve_factory(name_or_spec)
    encoder = factory(weights=weights, init_seed=init_seed, **options)
    if not isinstance(encoder, Encoder):
        raise TypeError(f"factory for {name_or_spec!r} returned {type(encoder).__name__}, not an avbench Encoder")
    return encoder.eval()
