"""Task families of the leaderboard: which protocols share a table, which metric columns each shows.

A column is one ``(protocol, metric)`` pair; protocol ids are task-card names (``tasks/*.yaml``) or the
descriptive ids declared in ``leaderboards/reported.yaml``. Metrics are percentages as in the result records
(``top1``; ``top1@audio`` = the audio-only run of a fusion card; ``recall5`` = R@5; ``fusion_gain`` = a+v
minus the better single modality, in points).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Column", "Family", "FAMILIES", "family_of", "columns_for", "metric_label", "task_dataset_kind"]


@dataclass(frozen=True)
class Column:
    """One table column: a metric of a protocol."""

    protocol: str
    metric: str
    fused: bool = False  # an audio-visual protocol: its plain metric is the a+v one

    @property
    def label(self) -> str:
        return f"{self.protocol} {metric_label(self.metric, fused=self.fused)}"


@dataclass(frozen=True)
class Family:
    """A table of the leaderboard. ``tasks`` maps each shipped protocol id to the metrics shown for it."""

    id: str
    title: str
    tasks: tuple[tuple[str, tuple[str, ...]], ...]


_FUSION = ("top1", "top1@audio", "top1@video", "fusion_gain")
_FINGERPRINT = ("recall1", "recall1@audio", "recall1@video")
_RETRIEVAL = ("recall1", "recall5", "recall20")

FAMILIES: tuple[Family, ...] = (
    Family("sound", "Sound classification (frozen audio features)",
           (("esc50", ("top1",)), ("esc50-5s", ("top1",)), ("esc50-released", ("top1",)),
            ("esc50-5s-released", ("top1",)), ("dcase", ("top1",)))),
    Family("linear", "Action recognition, frozen video trunk (linear classifier)",
           (("ucf101-linear", ("top1",)), ("hmdb51-linear", ("top1",)), ("ucf101-linear-32f", ("top1",)),
            ("hmdb51-linear-32f", ("top1",)), ("kinetics400-linear", ("top1",)),
            ("kinetics400-linear-layers", ("top1",)), ("ucf101-linear-tssl", ("top1",)),
            ("hmdb51-linear-tssl", ("top1",)))),
    Family("finetune", "Action recognition, full finetuning",
           (("ucf101-finetune", ("top1",)), ("hmdb51-finetune", ("top1",)), ("ucf101-finetune-32f", ("top1",)),
            ("hmdb51-finetune-32f", ("top1",)), ("ucf101-finetune-audioset", ("top1",)),
            ("hmdb51-finetune-audioset", ("top1",)), ("hmdb51-finetune-32f-audioset", ("top1",)))),
    Family("retrieval", "Video retrieval and nearest-neighbour classification (frozen, split 1)",
           (("ucf101-retrieval", _RETRIEVAL), ("hmdb51-retrieval", _RETRIEVAL), ("ucf101-knn", ("top1",)),
            ("hmdb51-knn", ("top1",)), ("ucf101-retrieval-selavi", _RETRIEVAL),
            ("hmdb51-retrieval-selavi", _RETRIEVAL))),
    Family("fusion", "Audio-visual late fusion (frozen features, linear SVM)",
           (("ksounds-fusion", _FUSION), ("vggsound-fusion", _FUSION))),
    Family("fingerprint", "Video fingerprinting on AugVGG (avbench v1; not comparable with the paper's figure)",
           (("augvgg-ip", _FINGERPRINT), ("augvgg-s", _FINGERPRINT), ("augvgg-t", _FINGERPRINT),
            ("augvgg-c", _FINGERPRINT))),
    Family("avcl", "AVCL's own sets: supervised finetuning on Kinetics-Sounds32 (34 classes) and -100 (kept apart)", ()),
    Family("other", "Other task cards", ()),
)
_BY_ID = {f.id: f for f in FAMILIES}
_TASK_FAMILY = {task: f.id for f in FAMILIES for task, _ in f.tasks}
_TASK_METRICS = {task: metrics for f in FAMILIES for task, metrics in f.tasks}

_LABELS = {"top1": "top-1", "top5": "top-5", "fusion_gain": "gain"}


def metric_label(metric: str, *, fused: bool = False) -> str:
    """Short header text: ``top1`` -> ``top-1``, ``recall5`` -> ``R@5``, ``top1@audio`` -> ``top-1 (audio)``;
    with ``fused`` (an audio-visual protocol) the plain metric reads ``top-1 (a+v)``."""
    base, _, layer = metric.partition("@")
    text = _LABELS.get(base) or (f"R@{base[6:]}" if base.startswith("recall") else base)
    if not layer and fused and base != "fusion_gain":
        layer = "a+v"
    return f"{text} ({layer})" if layer else text


def family_of(protocol: str, card: dict[str, Any] | None = None) -> str:
    """Family id of a shipped protocol; an unknown card (a user's own YAML) goes by its classifier and modality."""
    if protocol in _TASK_FAMILY:
        return _TASK_FAMILY[protocol]
    if card:
        kind = (card.get("classifier") or {}).get("type")
        if kind == "finetune":
            return "finetune"
        if kind in ("retrieval", "knn"):
            return "fingerprint" if str((card.get("dataset") or {}).get("name", "")).startswith("augvgg") else "retrieval"
        if card.get("modality") == "audiovisual":
            return "fusion"
        if card.get("modality") == "audio":
            return "sound"
        if card.get("modality") == "video":
            return "linear"
    return "other"


def columns_for(protocol: str, card: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Metrics shown for ``protocol``: the family's list for a shipped card, else the card's first metric."""
    if protocol in _TASK_METRICS:
        return _TASK_METRICS[protocol]
    metrics = (card or {}).get("metrics") or ["top1"]
    return (str(metrics[0]),)


def task_dataset_kind(protocol: str) -> tuple[str, str]:
    """(data set, protocol kind) of a shipped protocol id, used to find the same method quoted differently:
    ``ucf101-finetune-32f`` -> ("ucf101", "finetune"), ``esc50-5s`` -> ("esc50", "linear")."""
    dataset, _, rest = protocol.partition("-")
    family = _TASK_FAMILY.get(protocol, "other")
    kind = {"sound": "linear", "linear": "linear", "finetune": "finetune", "fusion": "fusion",
            "fingerprint": "fingerprint"}.get(family)
    if kind is None:
        kind = "knn" if rest.startswith("knn") else "retrieval" if family == "retrieval" else rest
    if protocol.startswith("augvgg"):
        dataset = protocol
    return dataset, kind


def family(family_id: str) -> Family:
    return _BY_ID[family_id]
