"""Spatial multi-crop test views (issue 19, item 5): the temporal-SSL paper averages the trunk output over
temporal AND spatial crops; ``spatial_crops: 3`` gives each unaugmented clip three crops along the long side."""
from __future__ import annotations

import pytest
import torch

from avbench.media.multicrop import three_crops
from avbench.media.video_augment import draw_clip_params, transform_clip
from avbench.taskcard import TaskCardError, load_card


def test_three_crops_are_start_centre_end_of_the_long_side():
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (4, 60, 80, 3), generator=g, dtype=torch.uint8)  # landscape 80 x 60
    crops = three_crops(frames, 32, 36)  # short side 60 -> 36, long side 80 -> 48
    assert crops.shape == (3, 3, 4, 32, 32)
    centre = transform_clip(frames, draw_clip_params(None, g, 60, 80, 32), 32, 36)
    assert torch.equal(crops[1], centre)  # the middle crop is the single-crop test view
    assert not torch.equal(crops[0], crops[2])
    ramp = torch.arange(80, dtype=torch.uint8).view(1, 1, 80, 1).expand(1, 60, 80, 3).contiguous()
    r = three_crops(ramp, 32, 36)  # a horizontal ramp: the left crop starts darker, the right one ends brighter
    assert r[0, 0, 0, 0, 0] < r[1, 0, 0, 0, 0] < r[2, 0, 0, 0, 0]
    portrait = three_crops(frames.transpose(1, 2).contiguous(), 32, 36)  # 60 x 80 portrait: crops along height
    assert portrait.shape == (3, 3, 4, 32, 32)


def test_cards():
    knn = load_card("ucf101-knn")
    assert knn.train.spatial_crops == knn.test.spatial_crops == 3 and knn.video.frames == 16
    probe = load_card("ucf101-linear-tssl")
    assert (probe.video.frames, probe.video.size, probe.classifier.aggregate) == (16, 112, "video_mean_std")
    assert "spatial_crops" not in load_card("ucf101-linear").to_dict()["test"]  # default omitted: hash kept
    with pytest.raises(TaskCardError, match="test-time view of unaugmented clips"):
        load_card("ucf101-linear", {"train": {"spatial_crops": 3}})
    with pytest.raises(TaskCardError, match="video-card option"):
        load_card("esc50", {"test": {"spatial_crops": 3}})
