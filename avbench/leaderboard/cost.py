"""Compute cost of a record: wall-clock seconds per second of media it processed.

media seconds = clips decoded x clip length: for frozen-feature protocols the rows of every extracted view
(``record.features``: ``train`` / ``test``, or ``train_video`` / ``test_audio`` ... for fusion) times the clip
length of its modality (audio ``seconds``; video ``frames / fps``); for finetuning (no stored features)
``n_train_samples x train.clips x epochs + n_test_samples x test.clips`` per run. A record whose features were
partly read from the feature cache has no comparable wall time: its cost is None.
"""
from __future__ import annotations

from typing import Any

from avbench.results import ResultRecord

__all__ = ["media_seconds", "cost_per_media_second"]


def _clip_seconds(card: dict[str, Any], modality: str) -> float | None:
    if modality == "audio" and card.get("audio"):
        return float(card["audio"]["seconds"])
    if modality == "video" and card.get("video"):
        v = card["video"]
        return float(v["frames"]) / float(v["fps"])
    return None


def media_seconds(record: ResultRecord) -> float | None:
    """Seconds of media the run decoded and encoded (see the module docstring); None when unknown or when
    features came from the cache."""
    card = record.task.card or {}
    total = 0.0
    if record.features:
        default = str(card.get("modality", "audio"))
        for views in record.features.values():
            if not isinstance(views, dict):
                continue
            for name, view in views.items():
                if not isinstance(view, dict) or "rows" not in view:
                    continue
                if int(view.get("shards_reused", 0) or 0) > 0:
                    return None
                modality = name.split("_", 1)[1] if "_" in name else default
                clip = _clip_seconds(card, modality)
                if clip is None:
                    return None
                total += int(view["rows"]) * clip
        return total or None
    clf = card.get("classifier") or {}
    if clf.get("type") != "finetune":
        return None
    clip = _clip_seconds(card, "video")
    if clip is None:
        return None
    for run in record.runs:
        total += (run.n_train_samples * int(card["train"]["clips"]) * int(clf.get("epochs", 1))
                  + run.n_test_samples * int(card["test"]["clips"])) * clip
    return total or None


def cost_per_media_second(records: list[ResultRecord]) -> float | None:
    """Summed wall seconds over summed media seconds of ``records`` (one entry's cell); None if any is unknown."""
    wall, media = 0.0, 0.0
    for r in records:
        m = media_seconds(r)
        if m is None:
            return None
        wall += r.provenance.wall_seconds
        media += m
    return wall / media if media else None
