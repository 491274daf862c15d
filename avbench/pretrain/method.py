"""What a pretraining method is, and the registry of methods ``avbench pretrain METHOD`` knows.

A method is one :class:`Pretrainer` subclass (an ``nn.Module``) with:

* ``Config``: a pydantic model of ITS hyper-parameters, defaults = the paper's values (cite the table), with a
  ``train`` block (:class:`TrainConfig`) and an ``arch`` block (:class:`avbench.models.two_tower.TwoTowerArch`);
  values a paper leaves open get a documented default here, and the whole resolved config goes into the
  checkpoint card;
* ``PRESETS``: named overrides, at least ``"paper"`` (nothing changed) and ``"small"`` (a width-reduced recipe
  that pretrains on a CPU in minutes, for the synthetic world);
* ``sampler()``: a picklable callable ``(Decoded, torch.Generator) -> dict of tensors`` run in DataLoader workers
  (view cutting and augmentation);
* ``forward(batch) -> (loss, {name: float})``, ``param_groups()`` and ``after_step()``;
* ``encoder``: the :class:`~avbench.models.two_tower.TwoTowerEncoder` it trains, exported at the end.

Built-in methods are in :data:`METHODS` ("module:Class" strings, imported lazily); third-party packages add
theirs under the ``avbench.pretrainers`` entry-point group.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from avbench.models.two_tower import TwoTowerArch, TwoTowerEncoder
from avbench.registry import Registry
from avbench.pretrain.views import Decoded

class UnknownMethodError(ValueError, KeyError):
    """No pretraining method by that name (a ValueError, as before the registry, and a KeyError like the others)."""

    def __str__(self) -> str:
        return str(self.args[0])


METHODS = {
    "crisscross": "avbench_baselines.crisscross.pretrain:CrissCrossPretrainer",
    "avcl": "avbench_baselines.avcl.pretrain:AVCLPretrainer",
    "temporal-ssl": "avbench_baselines.temporal_ssl.pretrain:TemporalSSLPretrainer",
    "supervised": "avbench_baselines.supervised.pretrain:SupervisedPretrainer",
}


class TrainConfig(BaseModel):
    """The optimisation recipe. lr: base rate at the global ``batch_size``; warmup in epochs; final_lr: where the
    cosine ends; clips_per_video: dataset length multiplier (CrissCross ``clips_per_video: 5``); max_steps: stop
    early (the schedule still spans ``epochs``, so a stopped run is a prefix of the full run)."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(512, ge=2)
    lr: float = Field(2e-4, gt=0)
    final_lr: float = Field(0.0, ge=0)
    warmup_epochs: float = Field(2.0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    weight_decay: float = Field(1e-4, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    larc: bool = False
    larc_trust: float = 1e-3
    clips_per_video: int = Field(1, ge=1)
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    max_steps: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="steps between checkpoints; 0 = at the end of each epoch")


class MethodConfig(BaseModel):
    """Base of every method's config: ``train`` and ``arch`` blocks; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    train: TrainConfig = TrainConfig()
    arch: dict[str, Any] = Field(default_factory=dict, description="TwoTowerArch overrides, e.g. {video_width: 16}")

    def two_tower_arch(self, base: TwoTowerArch) -> TwoTowerArch:
        return TwoTowerArch.from_dict({**base.to_dict(), **self.arch})


class Pretrainer(nn.Module):
    """Base class of a pretraining method (module docstring)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}
    encoder: TwoTowerEncoder

    def __init__(self, cfg: MethodConfig, init_seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.init_seed = init_seed

    def sampler(self) -> Callable[[Decoded, torch.Generator], dict[str, torch.Tensor]]:
        raise NotImplementedError

    def param_groups(self) -> list[dict[str, Any]]:
        """Default: every parameter at the scheduled base rate."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "base_lr": self.cfg.train.lr,
                 "name": "all"}]

    def after_step(self, batch: dict[str, torch.Tensor]) -> None:
        """Hook after each optimiser step (e.g. memory queues)."""

    @classmethod
    def needs_labels(cls) -> bool:
        """True for methods that read the class labels (only the supervised ceiling)."""
        return False


#: the pretraining-method registry: built-ins from :data:`METHODS`, third parties from ``avbench.pretrainers``
PRETRAINERS: Registry[type[Pretrainer]] = Registry("pretraining method", group="avbench.pretrainers", builtin=METHODS,
                                                   error=UnknownMethodError)


def method_names() -> list[str]:
    return PRETRAINERS.names()


def get_method(name: str) -> type[Pretrainer]:
    """The Pretrainer class registered as ``name`` (built-in or entry point)."""
    return PRETRAINERS.load(name)


def resolve_config(cls: type[Pretrainer], preset: str, overrides: dict[str, Any] | None) -> MethodConfig:
    """``cls.Config`` from the paper defaults + preset + overrides (nested dicts, deep-merged; unknown keys fail)."""
    from avbench.taskcard import deep_merge

    if preset not in cls.PRESETS:
        raise ValueError(f"{cls.name}: unknown preset {preset!r}; known: {sorted(cls.PRESETS)}")
    merged = deep_merge(cls.PRESETS[preset], overrides or {})
    return cls.Config.model_validate(merged)
