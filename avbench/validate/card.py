"""``avbench validate MODEL --task CARD``: the card's requests run on the encoder's own outputs, before any data is
decoded: the layer the card pools (or the encoder's ``layer_map`` entry for it), the card's pooling on that layer's
output for one blank clip of the card's geometry, and, for a card that augments spectrograms, the augmentation on the
audio front end's output. Each failure names its fix (``--set train.augment=null``, a ``layer_map``, ...);
``avbench eval`` refuses the same cards before any decoding (:mod:`avbench.evaluation.plan`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["CardCheck", "check_card"]


@dataclass
class CardCheck:
    """The verdict for one (encoder, card): ``problems`` (each with its fix) and ``notes`` (layer mappings)."""

    task: str
    encoder: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "encoder": self.encoder, "ok": self.ok, "problems": self.problems,
                "notes": self.notes}


def check_card(encoder: Any, task: str, device: str | torch.device = "cpu") -> CardCheck:
    """Check task card ``task`` (a shipped name or a path) against ``encoder`` (an :class:`avbench.encoder.Encoder`)."""
    from avbench.encoder import GeometryError, check_geometry
    from avbench.features.probe import card_layers, check_augmentation, check_pooling
    from avbench.taskcard import load_card

    card = load_card(task)
    out = CardCheck(task=card.name, encoder=encoder.meta.name)
    mods = ("video", "audio") if card.modality == "audiovisual" else (card.modality,)
    try:
        for m in mods:
            clip = card.video if m == "video" else card.audio
            check_geometry(encoder.meta, m, seconds=getattr(clip, "seconds", None), frames=getattr(clip, "frames", None),
                           size=getattr(clip, "size", None), fps=getattr(clip, "fps", None))
        layers, out.notes = card_layers(encoder, card)
    except GeometryError as exc:
        out.problems.append(str(exc))
        return out
    for m in mods:
        feats = card.features_audio if (m == "audio" and len(mods) == 2) else card.features
        problem = check_pooling(encoder, m, card.video if m == "video" else card.audio, feats, layers[m], device)
        if problem:
            out.problems.append(problem)
    problem = check_augmentation(encoder, card, device)
    if problem:
        out.problems.append(problem)
    return out
