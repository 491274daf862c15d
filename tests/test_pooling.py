"""Pooling: the paper's feature dimensions, axis-order independence, normalisation options, pooled fallback."""
import pytest
import torch

from avbench.encoder import FeatureMap
from avbench.pooling import features_from_output, pooled_dim, resolve_layer
from avbench.taskcard import Features, Pooling

ESC_POOL = Pooling(type="max", kernel=(1, 3), stride=(1, 2))


@pytest.mark.parametrize("time_frames, dim", [(7, 4608), (16, 10752), (4, 1536)])
def test_crisscross_audio_dims(time_frames, dim):
    # conv5x is 512 x 3 x T' for 2 s (T'=7), 5 s (16) and 1 s (4): supplementary E.1 / released configs
    assert pooled_dim(512, (3, time_frames), ESC_POOL) == dim


def test_video_pool_readings():
    adaptive = Pooling(type="adaptive_max", output=(1, 4, 4))
    kernel = Pooling(type="max", kernel=(1, 4, 4))
    assert pooled_dim(512, (1, 7, 7), adaptive) == 8192  # AVID's reading at 224^2
    assert pooled_dim(512, (1, 7, 7), kernel) == 512  # a kernel keeps one window only
    assert pooled_dim(512, (2, 2, 2), Pooling(type="adaptive_max", output=(1, 2, 2))) == 2048


def test_axis_order_does_not_change_features():
    x = torch.randn(2, 8, 3, 7)  # batch, channel, freq, time
    freq_time = {"conv5x": FeatureMap(x, ("batch", "channel", "freq", "time"))}
    time_freq = {"conv5x": FeatureMap(x.transpose(2, 3).contiguous(), ("batch", "channel", "time", "freq"))}
    spec = Features(layer="conv5x", pool=ESC_POOL)
    a = features_from_output(freq_time, "audio", spec)
    b = features_from_output(time_freq, "audio", spec)
    assert a.shape == (2, 8 * 3 * 3) and torch.equal(a, b)


def test_normalisations():
    x = torch.rand(2, 4, 3, 7) + 0.1
    out = {"conv5x": FeatureMap(x, ("batch", "channel", "freq", "time"))}
    whole = features_from_output(out, "audio", Features(layer="conv5x", pool=ESC_POOL, normalize="l2"))
    assert torch.allclose(whole.norm(dim=1), torch.ones(2))
    axis = features_from_output(out, "audio", Features(layer="conv5x", pool=ESC_POOL, normalize="last_axis_l2"))
    per_row = axis.view(2, 4, 3, 3).norm(dim=-1)  # the released code normalises along time before flattening
    assert torch.allclose(per_row, torch.ones(2, 4, 3))
    assert not torch.allclose(axis.norm(dim=1), torch.ones(2))


def test_pooled_fallback_and_errors():
    assert resolve_layer(("conv5x", "pooled"), "conv5x") == ("conv5x", None)
    layer, note = resolve_layer(("pooled",), "conv5x")
    assert layer == "pooled" and "conv5x" in note
    with pytest.raises(ValueError):
        resolve_layer(("conv4x",), "conv5x")
    v = torch.randn(3, 16)
    got = features_from_output({"pooled": v}, "audio", Features(layer="conv5x", pool=ESC_POOL))
    assert torch.equal(got, v)
    with pytest.raises(ValueError, match="larger than the map"):
        features_from_output({"conv5x": FeatureMap(torch.randn(1, 2, 1, 2), ("batch", "channel", "freq", "time"))},
                             "audio", Features(layer="conv5x", pool=ESC_POOL))
