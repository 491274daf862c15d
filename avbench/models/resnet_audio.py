"""ResNet-18 audio trunk of CrissCross, over a one-channel log-mel spectrogram.

torchvision ``BasicBlock`` stages; stem ``Conv2d(1, 64, 7, stride 2, pad 3)`` -> BN -> ReLU ->
``MaxPool2d(3, 2, 1)``; four stages of two blocks with strides 1, 2, 2, 2; ``AdaptiveAvgPool2d(1)``.
Module and parameter names follow ``crisscross/*/models/backbones/audio.py`` in pritamqu/CrissCross
(``conv1.{0,1}``, ``block1..block4``), so the released ``aud_crisscross_*.pth.tar`` state_dicts load strictly.
Initialisation as there: Kaiming-normal (fan_out, relu) convolutions, BN weight 1 / bias 0, no zero-init residual.

Shapes (input ``[B, 1, 80, T]``, axes channel x freq x time): T=200 (2 s) -> conv5x 512x3x7;
T=500 -> 512x3x16; T=100 -> 512x3x4. The released front end gives T=201 for 2 s, also 512x3x7.
"""
from __future__ import annotations

from typing import Collection

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

#: Output names of :meth:`ResNetAudio.forward` in network order, paired with the module that produces each.
AUDIO_STAGES = (("conv2x", "block1"), ("conv3x", "block2"), ("conv4x", "block3"), ("conv5x", "block4"), ("pool", "pool"))


def _stage(in_planes: int, planes: int, stride: int, blocks: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_planes != planes:
        downsample = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                                   nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(in_planes, planes, stride, downsample),
                         *[BasicBlock(planes, planes) for _ in range(blocks - 1)])


class ResNetAudio(nn.Module):
    """ResNet over ``[B, 1, F, T]`` spectrograms (CrissCross ``ResNet(depth=18)``). ``output_dim`` is ``8 * width``.

    depth: 18 (the CrissCross audio trunk), 34 (temporal-SSL's audio encoder) or 10 (one block per stage).
    width: channels of the stem and block1 (64 in the papers); smaller widths are width-reduced configurations.
    """

    #: blocks per stage for each supported depth (torchvision's BasicBlock layouts)
    DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

    def __init__(self, depth: int = 18, width: int = 64) -> None:
        super().__init__()
        if depth not in self.DEPTHS:
            raise ValueError(f"ResNet audio depth must be one of {sorted(self.DEPTHS)}, got depth={depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        n, w = self.DEPTHS[depth], width
        self.output_dim = 8 * w
        self.conv1 = nn.Sequential(
            nn.Conv2d(1, w, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.block1 = _stage(w, w, 1, n[0])
        self.block2 = _stage(w, 2 * w, 2, n[1])
        self.block3 = _stage(2 * w, 4 * w, 2, n[2])
        self.block4 = _stage(4 * w, 8 * w, 2, n[3])
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.0)

    def forward(self, x: torch.Tensor, layers: Collection[str] | None = None) -> dict[str, torch.Tensor]:
        """``x [B, 1, F, T]`` normalised log-mel -> {name: tensor}.

        Names: conv2x ``[B, 64, F/4, T/4]``, conv3x ``[B, 128, ...]``, conv4x ``[B, 256, ...]``,
        conv5x ``[B, 512, f, t]`` (freq, time; ceil-halving per stride), pool ``[B, 512]``.
        ``layers`` (default: all) picks the outputs; the network stops after the deepest one asked for.
        """
        names = [n for n, _ in AUDIO_STAGES]
        wanted = set(names if layers is None else layers)
        unknown = wanted - set(names)
        if unknown:
            raise ValueError(f"ResNetAudio has no output {sorted(unknown)}; outputs are {tuple(names)}")
        out: dict[str, torch.Tensor] = {}
        if not wanted:
            return out
        last = max(names.index(n) for n in wanted)
        x = self.conv1(x)
        for name, module in AUDIO_STAGES[: last + 1]:
            x = self.pool(x).flatten(1) if name == "pool" else getattr(self, module)(x)
            if name in wanted:
                out[name] = x
        return out
