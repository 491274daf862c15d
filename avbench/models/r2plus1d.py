"""The AVID-variant R(2+1)D-18 video trunk used by AVID-CMA and CrissCross.

Differences from torchvision's ``r2plus1d_18`` (VMZ): the stem is one full 3D convolution
``Conv3d(3, 64, (3, 7, 7), stride (1, 2, 2))`` followed by a ``(1, 3, 3)`` max pool, and the (2+1)D blocks do
not widen the channels between the spatial and the temporal convolution (``mid = out``). The module and
parameter names are those of ``crisscross/*/models/backbones/{video,network_blocks}.py`` in pritamqu/CrissCross,
so the released ``vid_crisscross_*.pth.tar`` state_dicts load strictly. Initialisation is PyTorch's default
(the CrissCross video backbone has no custom init).

Shapes (input ``[B, 3, T, H, W]``), e.g. 8x112²: conv1 64x8x28x28, conv2x 64x8x28x28, conv3x 128x4x14x14,
conv4x 256x2x7x7, conv5x 512x1x4x4; 8x224² -> conv5x 512x1x7x7; 32x224² -> conv5x 512x4x7x7.
"""
from __future__ import annotations

from typing import Collection

import torch
from torch import nn

#: Output names of :meth:`R2Plus1D.forward`, in network order.
VIDEO_STAGES = ("conv1", "conv2x", "conv3x", "conv4x", "conv5x", "pool")


class BasicR2P1DBlock(nn.Module):
    """(2+1)D residual block: [spatial (1,3,3) -> BN -> ReLU -> temporal (3,1,1) -> BN -> ReLU] x 2, residual sum.

    ``[B, in, t, h, w] -> [B, out, t/s_t, h/s, w/s]``. The second temporal conv has no BN of its own: the sum
    ``main + residual`` goes through ``out_bn`` then ReLU. The residual is a bias-free 1x1x1 conv with the full
    stride (no BN) when channels or stride change, else the identity.
    """

    def __init__(self, in_planes: int, out_planes: int, stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        s_t, s_h, s_w = stride
        self.spt_conv1 = nn.Conv3d(in_planes, out_planes, (1, 3, 3), stride=(1, s_h, s_w), padding=(0, 1, 1), bias=False)
        self.spt_bn1 = nn.BatchNorm3d(out_planes)
        self.tmp_conv1 = nn.Conv3d(out_planes, out_planes, (3, 1, 1), stride=(s_t, 1, 1), padding=(1, 0, 0), bias=False)
        self.tmp_bn1 = nn.BatchNorm3d(out_planes)
        self.spt_conv2 = nn.Conv3d(out_planes, out_planes, (1, 3, 3), stride=1, padding=(0, 1, 1), bias=False)
        self.spt_bn2 = nn.BatchNorm3d(out_planes)
        self.tmp_conv2 = nn.Conv3d(out_planes, out_planes, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False)
        self.out_bn = nn.BatchNorm3d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.res = in_planes != out_planes or any(s != 1 for s in stride)
        if self.res:
            self.res_conv = nn.Conv3d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.spt_bn1(self.spt_conv1(x)))
        y = self.relu(self.tmp_bn1(self.tmp_conv1(y)))
        y = self.relu(self.spt_bn2(self.spt_conv2(y)))
        y = self.tmp_conv2(y)
        shortcut = self.res_conv(x) if self.res else x
        return self.relu(self.out_bn(y + shortcut))


def _stage(in_planes: int, out_planes: int, blocks: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(BasicR2P1DBlock(in_planes, out_planes, stride),
                         *[BasicR2P1DBlock(out_planes, out_planes) for _ in range(blocks - 1)])


class R2Plus1D(nn.Module):
    """R(2+1)D-18 (AVID variant). ``forward([B, 3, T, H, W])`` -> dict of feature maps ``[B, C, t, h, w]``.

    State-dict keys match CrissCross ``R2Plus1D(depth=18)``: ``conv1.{0,1}.*``, ``conv{2..5}x.{0,1}.<block>.*``.
    ``output_dim`` is ``8 * width`` (512 for the paper's width 64).

    depth: 18 (two blocks per stage, the paper) or 10 (one block per stage: AVCL's "no repetitions in conv2-5").
    width: channels of conv1/conv2x (64 in the papers); the stages have width, 2x, 4x, 8x. Smaller widths are
    the width-reduced configurations that pretrain on a CPU (e.g. 16: 0.97M parameters instead of 15.4M).
    """

    #: blocks per stage for each supported depth
    DEPTHS = {10: 1, 18: 2}

    def __init__(self, depth: int = 18, width: int = 64) -> None:
        super().__init__()
        if depth not in self.DEPTHS:
            raise ValueError(f"R(2+1)D depth must be one of {sorted(self.DEPTHS)}, got depth={depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        n, w = self.DEPTHS[depth], width
        self.output_dim = 8 * w
        self.conv1 = nn.Sequential(
            nn.Conv3d(3, w, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(w),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        self.conv2x = _stage(w, w, n, (1, 1, 1))
        self.conv3x = _stage(w, 2 * w, n, (2, 2, 2))
        self.conv4x = _stage(2 * w, 4 * w, n, (2, 2, 2))
        self.conv5x = _stage(4 * w, 8 * w, n, (2, 2, 2))
        self.pool = nn.AdaptiveAvgPool3d(1)  # CrissCross; AVID-CMA used AdaptiveMaxPool3d

    def forward(self, x: torch.Tensor, layers: Collection[str] | None = None) -> dict[str, torch.Tensor]:
        """``x [B, 3, T, H, W]`` float (normalised RGB) -> {name: tensor}.

        Names: conv1 ``[B, 64, T, H/4, W/4]``, conv2x ``[B, 64, ...]``, conv3x ``[B, 128, ...]``,
        conv4x ``[B, 256, ...]``, conv5x ``[B, 512, t, h, w]``, pool ``[B, 512]`` (global average of conv5x).
        ``layers`` (default: all) picks the outputs; the network stops after the deepest one asked for.
        """
        wanted = set(VIDEO_STAGES if layers is None else layers)
        unknown = wanted - set(VIDEO_STAGES)
        if unknown:
            raise ValueError(f"R2Plus1D has no output {sorted(unknown)}; outputs are {VIDEO_STAGES}")
        last = max((VIDEO_STAGES.index(n) for n in wanted), default=-1)
        out: dict[str, torch.Tensor] = {}
        for i, name in enumerate(VIDEO_STAGES[: last + 1]):
            x = self.pool(x).flatten(1) if name == "pool" else getattr(self, name)(x)
            if name in wanted:
                out[name] = x
        return out
