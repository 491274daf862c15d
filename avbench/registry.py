"""ONE lazy registry type, and the encoder registry built on it.

A :class:`Registry` maps names to objects from three sources, later ones overriding earlier ones: built-in
``"module:attr"`` strings (imported only when asked for), an entry-point group (``[project.entry-points."<group>"]``
of any installed distribution) and a decorator. Encoders, datasets (:data:`avbench.datasets.DATASETS`), protocols
(:data:`avbench.protocols.PROTOCOLS`) and pretraining methods (:data:`avbench.pretrain.method.PRETRAINERS`) are
each one instance; none imports its members at import time, so start-up stays fast, optional dependencies stay
optional and no registry takes part in an import cycle.

Encoders are named through the ``avbench.encoders`` entry-point group, model-zoo strings (``torchvision:NAME``,
``timm:NAME``, ``hear:MODULE``; see :mod:`avbench.zoo`), ``"pkg.module:factory"`` strings, and the decorator. A
factory is any callable ``factory(weights: str | None = None, init_seed: int = 0, **options) -> Encoder``. The
reference baselines register through the same entry-point group a third party uses (see
``[project.entry-points."avbench.encoders"]`` in pyproject.toml).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Mapping, TypeVar

from avbench.encoder import Encoder, UnknownEncoderError

__all__ = ["Entry", "Registry", "UnknownNameError", "ENCODERS", "ENTRY_POINT_GROUP", "UnknownEncoderError",
           "build_encoder", "encoder_entries", "register_encoder", "resolve_factory", "zoo_prefixes"]

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name no registry entry has (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    """One registered name: where it comes from (``"built-in (mod:attr)"``, ``"entry-point <dist> (value)"``,
    ``"decorator"``) and how to load it (imports happen in ``load()``)."""

    name: str
    source: str
    load: Callable[[], Any]


def import_attr(spec: str, error: type[Exception] = UnknownNameError, what: str = "object") -> Any:
    """The object named by ``"pkg.module:attr.sub"``; ``error`` naming ``what`` when it cannot be imported."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise error(f"{what} spec {spec!r} is not of the form 'pkg.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"cannot import {module_name!r} for {what} {spec!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise error(f"{module_name!r} has no attribute {attr!r} ({what} {spec!r})")
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names -> objects of one kind (module docstring). ``kind`` names them in errors; ``group`` is the entry-point
    group read on every lookup (cheap: metadata only); ``builtin`` maps names to ``"module:attr"`` strings."""

    def __init__(self, kind: str, *, group: str | None = None, builtin: Mapping[str, str] | None = None,
                 error: type[KeyError] = UnknownNameError) -> None:
        self.kind, self.group, self.error = kind, group, error
        self._builtin: dict[str, str] = dict(builtin or {})
        self._decorated: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("name")`` on a factory or class (overrides other sources)."""

        def deco(obj: T) -> T:
            self._decorated[name] = obj
            return obj

        return deco

    def add(self, name: str, spec: str) -> None:
        """Register ``name`` lazily as the ``"module:attr"`` string ``spec``."""
        self._builtin[name] = spec

    def entries(self) -> dict[str, Entry]:
        """Every name: built-ins, then entry points, then decorated objects (later sources override)."""
        out = {name: Entry(name, f"built-in ({spec})", lambda s=spec: import_attr(s, self.error, self.kind))
               for name, spec in self._builtin.items()}
        if self.group:
            for ep in entry_points(group=self.group):
                dist = ep.dist.name if ep.dist is not None else "?"
                out[ep.name] = Entry(ep.name, f"entry-point {dist} ({ep.value})", ep.load)
        for name, obj in self._decorated.items():
            out[name] = Entry(name, "decorator", lambda o=obj: o)
        return out

    def names(self) -> list[str]:
        return sorted(self.entries())

    def __contains__(self, name: object) -> bool:
        return name in self.entries()

    def load(self, name: str) -> T:
        """The object registered as ``name``; :attr:`error` listing the known names when there is none."""
        entries = self.entries()
        if name not in entries:
            raise self.error(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(entries)) or '(none)'}")
        return entries[name].load()


ENTRY_POINT_GROUP = "avbench.encoders"
Factory = Callable[..., Encoder]

#: the encoder registry (names only; zoo strings and ``"module:factory"`` are resolved by :func:`resolve_factory`)
ENCODERS: Registry[Factory] = Registry("encoder", group=ENTRY_POINT_GROUP, error=UnknownEncoderError)

#: kept for one release: the old name of :class:`Entry`
EncoderEntry = Entry


def register_encoder(name: str) -> Callable[[Factory], Factory]:
    """Decorator for notebooks and plugins: ``@register_encoder("mymodel") def build(weights=None, **kw): ...``."""
    return ENCODERS.register(name)


def _import_factory(spec: str) -> Factory:
    obj = import_attr(spec, UnknownEncoderError, "encoder")
    if not callable(obj):
        raise UnknownEncoderError(f"encoder factory {spec!r} is not callable")
    return obj


def encoder_entries() -> dict[str, Entry]:
    """All named encoders: entry points first, then decorated factories (which override)."""
    return ENCODERS.entries()


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
