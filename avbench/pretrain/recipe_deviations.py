"""What a pretraining card's recipe changes from its method's preset, and which of those changes the method's config
documents as NOT the paper (its field description says so), so that a checkpoint made with such options is never
presented as the paper's method (``avbench demo``'s header)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

#: the phrase a method config's field description carries when a value of that field departs from the paper
NOT_PAPER = "NOT the paper"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config dict -> {dotted key: leaf value}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def preset_deviations(card: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (preset value, card value)} for every config value of an ``avbench pretrain`` card that differs
    from its method's ``preset`` with no overrides. Keys only today's config has (a card written by an older
    avbench) are left out; {} for a card without method, preset or config."""
    from avbench.pretrain.method import get_method, resolve_config

    if not all(k in card for k in ("method", "preset", "config")):
        return {}
    cls = get_method(card["method"])
    preset = _flatten(resolve_config(cls, card["preset"], None).model_dump(mode="json"))
    used = _flatten(card["config"])
    # a key only the preset has: a field added after the card was written; a key only the card has: an entry the
    # run added to a free-form block (e.g. arch), reported with preset value None
    return {k: (preset.get(k), v) for k, v in used.items() if k not in preset or v != preset[k]}


def _description(model: type[BaseModel], dotted: str) -> str:
    """The field description of ``dotted`` in ``model`` (nested models followed), "" when there is none."""
    head, _, rest = dotted.partition(".")
    field = model.model_fields.get(head)
    if field is None:
        return ""
    if rest:
        sub = field.annotation
        return _description(sub, rest) if isinstance(sub, type) and issubclass(sub, BaseModel) else ""
    return field.description or ""


def not_the_paper(card: dict[str, Any], deviations: dict[str, tuple[Any, Any]] | None = None) -> list[str]:
    """The keys of :func:`preset_deviations` (pass them as ``deviations`` when already computed) whose field
    description in the card's method config says :data:`NOT_PAPER`."""
    from avbench.pretrain.method import get_method

    deviations = preset_deviations(card) if deviations is None else deviations
    if not deviations:
        return []
    config = get_method(card["method"]).Config
    return [k for k in deviations if NOT_PAPER in _description(config, k)]
