"""The finetuning protocol: its settings block and its registration (the loop is :mod:`.loop`, the batches
:mod:`.data`, the wiring from a card :mod:`.run`)."""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from avbench.protocols.base import Protocol, ProtocolSettings


class FinetuneSettings(ProtocolSettings):
    """The card's ``classifier: {type: finetune, ...}`` block: full finetuning of the video trunk (CrissCross
    supplementary E.2, Table S11): the card's layer and pooling (adaptive max-pool 1x1x1), dropout, a new linear
    layer; SGD with momentum, MultiStepLR over epochs; ``train.clips`` fresh random clips per video per epoch;
    softmax averaged over ``test.clips`` test clips. selection "paper": best test epoch (flagged); "clean": the
    last epoch."""

    type: Literal["finetune"]
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    milestones: tuple[int, ...] = ()
    gamma: float = Field(default=0.1, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    selection: Literal["paper", "clean"] = "paper"
    buffer_videos: int = Field(default=8, gt=0)  # videos whose clips are shuffled together into batches


class FinetuneProtocol(Protocol):
    """Trains the encoder's video trunk on decoded clips (``kind = "training"``): the evaluation core hands it each
    split's samples through :func:`avbench.protocols.finetune.run.finetune_split`."""

    name: ClassVar[str] = "finetune"
    Settings = FinetuneSettings
    kind: ClassVar[str] = "training"

    def check_card(self, card: Any) -> None:
        super().check_card(card)
        if card.modality != "video":
            raise ValueError("classifier.type finetune trains a video trunk: the card's modality must be video")

    def run_split(self, **kwargs: Any) -> Any:
        """One (split, seed): :func:`avbench.protocols.finetune.run.finetune_split` with these arguments."""
        from avbench.protocols.finetune.run import finetune_split

        return finetune_split(**kwargs)
