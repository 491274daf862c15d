"""AVCL's attention-based multi-modal fusion module (AMFM, avcl-paper Section 2.2, Eq. 1-4)."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn


class AttentionFusion(nn.Module):
    """``(v [B, C], a [B, C]) -> (f_v, f_a)``, both ``[B, C]``.

    Eq. 1: ``Z_u = W_s [v, a] + b_s`` with ``c_u = (C_v + C_a) / 2`` (half the concatenated size);
    Eq. 2: ``E = W_e Z_u + b_e``, ``E in R^C``; Eq. 3-4: ``f_v = gate(E) * v``, ``f_a = gate(E) * a``.

    gate: the paper writes sigma(.) and then calls it "the ReLU function" (Section 2.2); ``"relu"`` follows the text
    (default), ``"sigmoid"`` is the squeeze-and-excitation reading. An OPEN VALUE, recorded in the card.
    """

    def __init__(self, channels: int, gate: Literal["relu", "sigmoid"] = "relu") -> None:
        super().__init__()
        self.squeeze = nn.Linear(2 * channels, channels)  # c_u = (C + C) / 2 = C
        self.excite = nn.Linear(channels, channels)
        self.gate = gate

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if v.shape != a.shape or v.dim() != 2:
            raise ValueError(f"AttentionFusion expects two [B, C] tensors of one shape, got {tuple(v.shape)}, "
                             f"{tuple(a.shape)}")
        e = self.excite(self.squeeze(torch.cat([v, a], dim=1)))
        g = torch.relu(e) if self.gate == "relu" else torch.sigmoid(e)
        return g * v, g * a
