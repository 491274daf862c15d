"""CrissCross trunks and encoder: parameter counts, shapes, released key names, geometry, axes, seeding."""
import pytest
import torch

from avbench.encoder import GeometryError, check_geometry
from avbench.models.r2plus1d import R2Plus1D
from avbench.models.resnet_audio import ResNetAudio
from avbench_baselines.crisscross import build
from avbench_baselines.crisscross.encoder import AUDIO_AXES, VIDEO_AXES, _released_modality

META = torch.device("meta")  # shape-only forward passes: no CPU time


def _n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts():
    n_video = _n_params(R2Plus1D())
    assert round(n_video / 1e6, 1) == 15.4  # the paper's "R(2+1)D-18 (15.4)"
    assert n_video == 15_379_136
    assert _n_params(ResNetAudio()) == 11_170_240  # torchvision ResNet-18 with a 1-channel stem and no fc


@pytest.mark.parametrize("frames,size,expected", [(8, 112, (512, 1, 4, 4)), (8, 224, (512, 1, 7, 7)),
                                                  (32, 224, (512, 4, 7, 7))])
def test_video_conv5x_shapes(frames, size, expected):
    with META:
        out = R2Plus1D()(torch.empty(2, 3, frames, size, size), ["conv1", "conv5x", "pool"])
    assert tuple(out["conv5x"].shape) == (2, *expected)
    assert tuple(out["conv1"].shape) == (2, 64, frames, size // 4, size // 4)
    assert tuple(out["pool"].shape) == (2, 512)


@pytest.mark.parametrize("t,expected", [(200, (512, 3, 7)), (201, (512, 3, 7)), (500, (512, 3, 16)), (100, (512, 3, 4))])
def test_audio_conv5x_shapes(t, expected):
    with META:
        out = ResNetAudio()(torch.empty(2, 1, 80, t))
    assert tuple(out["conv5x"].shape) == (2, *expected)
    assert tuple(out["pool"].shape) == (2, 512)


def _bn(prefix):
    return [f"{prefix}.{s}" for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def _expected_video_keys():
    """Enumerated from crisscross/*/models/backbones/{video,network_blocks}.py (R2Plus1D(18), BasicR2P1DBlock)."""
    keys = ["conv1.0.weight", *_bn("conv1.1")]
    for stage in ("conv2x", "conv3x", "conv4x", "conv5x"):
        for b in (0, 1):
            p = f"{stage}.{b}"
            keys += [f"{p}.spt_conv1.weight", *_bn(f"{p}.spt_bn1"), f"{p}.tmp_conv1.weight", *_bn(f"{p}.tmp_bn1"),
                     f"{p}.spt_conv2.weight", *_bn(f"{p}.spt_bn2"), f"{p}.tmp_conv2.weight", *_bn(f"{p}.out_bn")]
            if b == 0 and stage != "conv2x":
                keys.append(f"{p}.res_conv.weight")
    return keys


def _expected_audio_keys():
    """Enumerated from crisscross/*/models/backbones/audio.py (ResNet(18) over torchvision BasicBlock)."""
    keys = ["conv1.0.weight", *_bn("conv1.1")]
    for i in range(1, 5):
        for b in (0, 1):
            p = f"block{i}.{b}"
            keys += [f"{p}.conv1.weight", *_bn(f"{p}.bn1"), f"{p}.conv2.weight", *_bn(f"{p}.bn2")]
            if b == 0 and i > 1:
                keys += [f"{p}.downsample.0.weight", *_bn(f"{p}.downsample.1")]
    return keys


def test_state_dict_keys_equal_the_released_ones():
    video, audio = R2Plus1D().state_dict(), ResNetAudio().state_dict()
    assert list(video) == _expected_video_keys() and len(video) == 201
    assert list(audio) == _expected_audio_keys() and len(audio) == 120
    assert tuple(video["conv1.0.weight"].shape) == (64, 3, 3, 7, 7)
    assert tuple(video["conv3x.0.res_conv.weight"].shape) == (128, 64, 1, 1, 1)
    assert tuple(video["conv5x.1.tmp_conv2.weight"].shape) == (512, 512, 3, 1, 1)
    assert tuple(audio["conv1.0.weight"].shape) == (64, 1, 7, 7)
    assert tuple(audio["block4.0.downsample.0.weight"].shape) == (512, 256, 1, 1)


def test_released_file_names_give_modality_and_pretraining_set():
    from pathlib import Path

    assert _released_modality(Path("vid_crisscross_kinetics_sound.pth.tar.zip")) == ("video", "Kinetics-Sound")
    assert _released_modality(Path("aud_crisscross_kinetics_400.pth.tar")) == ("audio", "Kinetics-400")
    assert _released_modality(Path("aud_crisscross_kinetics400.pth.tar")) == ("audio", "Kinetics-400")
    assert _released_modality(Path("vid_crisscross_audioset.pth.tar")) == ("video", "AudioSet")
    assert _released_modality(Path("model.pth")) is None


@pytest.fixture(scope="module")
def encoder():
    return build(init_seed=0)


def test_meta(encoder):
    meta = encoder.meta
    assert meta.name == "crisscross" and meta.modalities == ("video", "audio")
    assert meta.n_parameters == {"video": 15_379_136, "audio": 11_170_240}
    assert meta.embedding_dims == {"video": 512, "audio": 512}
    assert meta.weights_sha256 is None and meta.init_seed == 0 and meta.pretraining_data == "random-init"
    assert meta.video.mean == (0.485, 0.456, 0.406) and meta.video.std == (0.229, 0.224, 0.225)
    assert meta.video.fps == 16 and meta.audio.sample_rate == 16000
    assert "n_mels=80" in meta.audio.frontend and "pad=reflect" in meta.audio.frontend
    assert not encoder.training


def test_geometry(encoder):
    check_geometry(encoder.meta, "audio", seconds=2.0)
    check_geometry(encoder.meta, "video", frames=8, size=224, fps=16)
    check_geometry(encoder.meta, "video", frames=32, size=112, fps=16)
    with pytest.raises(GeometryError):
        check_geometry(encoder.meta, "video", frames=8, size=32)
    with pytest.raises(GeometryError):
        check_geometry(encoder.meta, "audio", seconds=60.0)
    with pytest.raises(GeometryError):
        check_geometry(build(modalities="audio").meta, "video", frames=8)


def test_feature_maps_have_named_axes(encoder):
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 3, 4, 64, 64), generator=g, dtype=torch.uint8)
    with torch.inference_mode():
        v = encoder.encode_video(encoder.video_preprocess(frames), encoder.layers("video"))
        a = encoder.encode_audio(encoder.audio_frontend(torch.rand(2, 8000, generator=g) - 0.5), encoder.layers("audio"))
    assert set(v) == set(encoder.layers("video")) and set(a) == set(encoder.layers("audio"))
    for name in ("conv1", "conv2x", "conv3x", "conv4x", "conv5x"):
        assert v[name].axes == VIDEO_AXES == ("batch", "channel", "time", "height", "width")
    assert tuple(v["conv5x"].data.shape) == (2, 512, 1, 2, 2) and tuple(v["pooled"].shape) == (2, 512)
    for name in ("conv2x", "conv3x", "conv4x", "conv5x"):
        assert a[name].axes == AUDIO_AXES == ("batch", "channel", "freq", "time")
    assert tuple(a["conv5x"].data.shape) == (2, 512, 3, 2) and tuple(a["pooled"].shape) == (2, 512)
    # pooled is the trunk's global average of conv5x
    torch.testing.assert_close(a["pooled"], a["conv5x"].data.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="no layer"):
        encoder.encode_audio(torch.zeros(1, 1, 80, 50), ["conv1"])


def test_only_what_is_asked_is_computed(encoder):
    calls = []
    hooks = [encoder.trunk("video").register_forward_hook(lambda *a: calls.append("video")),
             encoder.trunk("audio").block4.register_forward_hook(lambda *a: calls.append("audio.block4"))]
    try:
        with torch.inference_mode():
            out = encoder.encode_audio(torch.zeros(1, 1, 80, 50), ["conv2x"])
    finally:
        for h in hooks:
            h.remove()
    assert list(out) == ["conv2x"] and calls == []
    audio_only = build(modalities="audio")
    assert audio_only.meta.modalities == ("audio",) and audio_only.video is None
    assert "video" not in audio_only.meta.n_parameters
    with pytest.raises(NotImplementedError):
        audio_only.trunk("video")


def test_random_init_is_reproducible_and_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    a, b, c = build(init_seed=0), build(init_seed=0), build(init_seed=1)
    assert torch.equal(before, torch.random.get_rng_state())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["video.conv1.0.weight"], sc["video.conv1.0.weight"])
    assert not torch.equal(sa["audio.block4.1.conv2.weight"], sc["audio.block4.1.conv2.weight"])
    # the audio init does not depend on whether the video trunk was built
    audio_only = build(init_seed=0, modalities=["audio"]).trunk("audio").state_dict()
    assert all(torch.equal(audio_only[k], sa["audio." + k]) for k in audio_only)


def test_channels_last_3d_converts_the_video_convs_and_leaves_the_audio_trunk_alone():
    # the CUDA extraction path calls this on the whole two-tower encoder; Module.to(memory_format=...) raised
    # "required rank 5 tensor" there because of the audio trunk's 4-D Conv2d weights
    from avbench.features.video import channels_last_3d_

    enc = build(video_width=8, audio_width=8, init_seed=0).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        before = enc.encode_video(x)["pooled"]
    with pytest.raises(RuntimeError, match="rank 5"):
        build(video_width=8, audio_width=8).to(memory_format=torch.channels_last_3d)
    channels_last_3d_(enc)
    five = [p for p in enc.parameters() if p.dim() == 5]
    four = [p for p in enc.parameters() if p.dim() == 4]
    assert five and four
    assert all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in five)
    assert all(p.is_contiguous() for p in four)
    with torch.no_grad():
        after = enc.encode_video(x.contiguous(memory_format=torch.channels_last_3d))["pooled"]
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
