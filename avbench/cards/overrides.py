"""Override keys (``--set a.b=c``, ``evaluate(**overrides)``) checked against the task-card schema before they are
merged, so a typo is named as the user's, with a did-you-mean, instead of being blamed on the shipped card.

The schema is the pydantic models of :mod:`avbench.taskcard`; the ``classifier:`` block is checked against the
settings model of the protocol the merged card names (its ``type``), so key paths read as the user writes them
(``classifier.selection``), never with an internal discriminator. Free-form blocks (``dataset.options``,
``train.augment``) are not checked here: their owners validate them.
"""
from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from avbench.registry import did_you_mean

__all__ = ["flatten_keys", "unknown_override_keys"]


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the pydantic model ``annotation`` holds, whether it is the value type of a ``dict[str, Model]``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model, is_map = _model_in(arg)
            if model is not None:
                return model, is_map
        return None, False
    if origin is dict:
        args = typing.get_args(annotation)
        model, _ = _model_in(args[1]) if len(args) == 2 else (None, False)
        return model, model is not None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def flatten_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted leaf paths of a nested override dict: ``{"a": {"b": 1}}`` -> ``["a.b"]``."""
    out: list[str] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out += flatten_keys(value, path + ".") if isinstance(value, dict) and value else [path]
    return out


def _walk(model: type[BaseModel], tree: dict[str, Any], prefix: str, source: str, merged: dict[str, Any],
          error: type[Exception]) -> None:
    fields = model.model_fields
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if key not in fields:
            typed = f"{path}.{flatten_keys(value)[0]}" if isinstance(value, dict) and value else path
            hint = did_you_mean(key, fields) or f"; keys of {repr(prefix[:-1]) if prefix else 'a task card'}: " \
                f"{', '.join(fields)}"
            raise error(f"{source} {typed}: unknown key {key!r}{hint}")
        if not isinstance(value, dict):
            continue
        if prefix == "" and key == "classifier":
            _walk_protocol(value, source, merged, error)
            continue
        sub, is_map = _model_in(fields[key].annotation)
        if sub is None:
            continue  # a free-form block (its owner validates it)
        if is_map:
            for name, item in value.items():
                if isinstance(item, dict):
                    _walk(sub, item, f"{path}.{name}.", source, merged, error)
        else:
            _walk(sub, value, f"{path}.", source, merged, error)


def _walk_protocol(tree: dict[str, Any], source: str, merged: dict[str, Any], error: type[Exception]) -> None:
    from avbench.protocols import PROTOCOLS

    block = merged.get("classifier")
    name = block.get("type") if isinstance(block, dict) else getattr(block, "type", None)
    try:
        settings = PROTOCOLS.load(str(name)).Settings
    except KeyError:
        return  # an unknown protocol type is reported by the card's own validation
    _walk(settings, tree, "classifier.", source, merged, error)


def unknown_override_keys(card_model: type[BaseModel], overrides: dict[str, Any], merged: dict[str, Any],
                          source: str = "override", error: type[Exception] = ValueError) -> None:
    """Raise ``error`` for the first key of ``overrides`` that ``card_model`` (the TaskCard model) lacks:
    ``"--set classifer.selection: unknown key 'classifer'; did you mean 'classifier'?"``.

    merged: the raw card with the overrides merged in (it names the protocol whose keys ``classifier.*`` are).
    """
    _walk(card_model, overrides, "", source, merged, error)
