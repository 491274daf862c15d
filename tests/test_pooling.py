"""Pooling: the paper's feature dimensions, axis-order independence, normalisation options, pooled fallback."""
import pytest
import torch

from avbench.encoder import FeatureMap
from avbench.features.pooling import features_from_output, pooled_dim, resolve_layer
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


def test_video_card_pooling_dimensions_follow_the_two_readings_of_1x4x4():
    """8x224^2 R(2+1)D-18 conv5x is 512x1x7x7: AVID's adaptive (1,4,4) gives 8192-D, a (1,4,4) kernel 512-D
    (one corner window, stride = kernel); 32 frames (4x7x7) still give 8192-D adaptively."""
    from avbench.taskcard import load_card

    card = load_card("ucf101-linear")
    assert card.features.pool.type == "adaptive_max" and pooled_dim(512, (1, 7, 7), card.features.pool) == 8192
    kernel = load_card("ucf101-linear", {"features": {"pool": {"type": "max", "kernel": [1, 4, 4]}}}).features.pool
    assert pooled_dim(512, (1, 7, 7), kernel) == 512
    assert pooled_dim(512, (4, 7, 7), load_card("ucf101-linear-32f").features.pool) == 8192
    assert pooled_dim(512, (1, 4, 4), load_card("ucf101-linear").features.pool) == 8192  # 8x112^2
    assert pooled_dim(512, (4, 4, 4), load_card("ucf101-retrieval").features.pool) == 512


def test_video_cards_follow_the_protocols():
    from avbench.taskcard import load_card

    lin = load_card("ucf101-linear")
    assert (lin.video.frames, lin.video.size, lin.video.test_resize) == (8, 224, 256)
    assert (lin.train.clips, lin.train.sampling, lin.test.clips, lin.test.augment) == (25, "random", 10, None)
    assert lin.train.augment["blur"] == 0.0 and lin.train.augment["cutout"] == 20  # Table S3: no blur in linear eval
    fc = load_card("hmdb51-linear-32f")
    assert fc.classifier.type == "fc" and fc.video.frames == 32 and fc.train.clips == 10
    assert (fc.classifier.lr, fc.classifier.epochs, fc.classifier.milestones, fc.classifier.batchnorm) == (1e-4, 12, (6, 9), True)
    k400 = load_card("kinetics400-linear")
    assert k400.train.clips == 1 and k400.splits == ("official",) and k400.classifier.batch_size == 128
    ret = load_card("hmdb51-retrieval")
    assert ret.classifier.type == "retrieval" and ret.metrics == ("recall1", "recall5", "recall20")
    assert ret.splits == ("split1",) and ret.video.frames == 32
    knn = load_card("ucf101-knn")
    assert knn.classifier.type == "knn" and knn.classifier.standardize and knn.metrics == ("top1",)
