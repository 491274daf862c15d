"""Spatial multi-crop test views (temporal-SSL "Implementation Details": the trunk output is averaged over temporal
AND spatial crops; issue 19, item 5).

:func:`three_crops`: the short side resized to ``resize`` px (bilinear, antialiased, as the single centre crop of
:func:`avbench.media.video_augment.transform_clip`), then three ``size x size`` crops along the LONG side: its start,
centre and end (the usual three-crop test; equal to the centre crop alone for a square frame, three times).
"""
from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from avbench.media.video_augment import default_resize

__all__ = ["three_crops"]


def three_crops(frames: torch.Tensor, size: int, resize: int | None = None) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 -> ``[3, 3, T, size, size]`` uint8 (crop, channel, time, height, width): start, centre
    and end of the long side after the short side is resized to ``resize`` (default ``round(size / 0.875)``)."""
    if frames.dim() != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
        raise ValueError(f"three_crops expects [T, H, W, 3] uint8 frames, got {tuple(frames.shape)} {frames.dtype}")
    r = default_resize(size) if resize is None else int(resize)
    if r < size:
        raise ValueError(f"resize ({r}) must be >= size ({size})")
    x = TF.resize(frames.permute(0, 3, 1, 2), [r], interpolation=InterpolationMode.BILINEAR, antialias=True)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    top_c, left_c = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    if w >= h:
        boxes = [(top_c, 0), (top_c, left_c), (top_c, w - size)]
    else:
        boxes = [(0, left_c), (top_c, left_c), (h - size, left_c)]
    crops = [x[..., t:t + size, s:s + size] for t, s in boxes]  # [T, 3, size, size] each
    return torch.stack([c.permute(1, 0, 2, 3) for c in crops]).contiguous()
