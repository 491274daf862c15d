"""Supervised ceiling for the pretraining evidence (``avbench pretrain supervised``; needs labelled videos).

The trunks of a reference encoder (``family``: crisscross, avcl or temporal-ssl, with the same ``arch`` overrides
as the SSL run it is compared to) trained with cross-entropy on the video's class, from one augmented clip per
modality (the CrissCross views with relaxation ``none``), a linear classifier on each pooled trunk feature. Its
linear-probe accuracy is the ceiling that "SSL beats random init" is measured against.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from avbench.pretrain.method import Pretrainer
from avbench_baselines.crisscross.pretrain import WORLD_PRESET, CrissCrossConfig, CrissCrossViews


def _family(name: str) -> tuple[Any, Any]:
    if name == "crisscross":
        from avbench_baselines.crisscross.encoder import ARCH, CrissCrossEncoder
        return CrissCrossEncoder, ARCH
    if name == "avcl":
        from avbench_baselines.avcl.encoder import ARCH, AVCLEncoder
        return AVCLEncoder, ARCH
    from avbench_baselines.temporal_ssl.encoder import ARCH, TemporalSSLEncoder
    return TemporalSSLEncoder, ARCH


class SupervisedConfig(CrissCrossConfig):
    """CrissCross view geometry and augmentation, plus the label count (filled in from the data) and the family."""

    family: Literal["crisscross", "avcl", "temporal-ssl"] = "crisscross"
    n_classes: int = Field(0, ge=0)
    relaxation: Literal["none"] = "none"


class SupervisedPretrainer(Pretrainer):
    """``forward(batch) -> (CE_video + CE_audio) / 2`` with linear heads on the pooled trunk features."""

    name: ClassVar[str] = "supervised"
    Config = SupervisedConfig
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"train": {"epochs": 30, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 1}},
        "small": {"arch": {"video_width": 16, "audio_width": 16},
                  "train": {"epochs": 30, "batch_size": 32, "lr": 1e-3, "final_lr": 0.0, "warmup_epochs": 1},
                  "crop": 64, "audio_seconds": 1.0},
        # the ceiling of the identity world: the CrissCross `world` preset's trunks, views and steps, with labels
        "world": {k: v for k, v in WORLD_PRESET.items() if k not in ("relaxation", "projector", "predictor_hidden")},
    }

    @classmethod
    def needs_labels(cls) -> bool:
        return True

    def __init__(self, cfg: SupervisedConfig, init_seed: int = 0) -> None:
        super().__init__(cfg, init_seed)
        if cfg.n_classes < 2:
            raise ValueError("supervised: n_classes must be >= 2 (it is filled in from the labelled data)")
        enc_cls, arch = _family(cfg.family)
        self.encoder = enc_cls(arch=cfg.two_tower_arch(arch), init_seed=init_seed)
        dims = self.encoder.meta.embedding_dims
        self.heads = torch.nn.ModuleDict({m: torch.nn.Linear(dims[m], cfg.n_classes) for m in ("video", "audio")})

    def sampler(self) -> CrissCrossViews:
        a = self.encoder.arch
        return CrissCrossViews(self.cfg, a.fps, a.mean, a.std, a.audio, n_views=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logs: dict[str, float] = {}
        total = 0.0
        for m, key in (("video", "v1"), ("audio", "a1")):
            logits = self.heads[m](self.encoder.trunk(m)(batch[key], ["pool"])["pool"]).float()
            loss = F.cross_entropy(logits, batch["label"])
            logs[f"ce_{m}"] = float(loss.detach())
            logs[f"acc_{m}"] = float((logits.argmax(1) == batch["label"]).float().mean())
            total = total + loss / 2
        return total, logs
