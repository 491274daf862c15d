"""Model-zoo adapters: torchvision video models, timm per-frame image models, HEAR modules (errors; the round trip
through an exported HEAR module is in test_export_hear.py). Random init throughout: nothing is downloaded."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from avbench.encoder import CANONICAL_AXES, POOLED, FeatureMap
from avbench.registry import UnknownEncoderError, build_encoder, resolve_factory, zoo_prefixes
from avbench.validate.encoder import validate_encoder
from avbench.models.weights import WeightsError, sha256_file
from avbench.zoo import parse_spec
from avbench.zoo import torchvision_video as tvv

timm = pytest.importorskip("timm", reason="timm is not installed (pip install 'avbench[zoo]')")


def _clip(b: int, t: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 3, t, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _shapes(out: dict) -> dict:
    return {k: tuple(v.shape) if k == POOLED else tuple(v.data.shape) for k, v in out.items()}


def _assert_contract(enc, out: dict, batch: int) -> None:
    assert set(out) == set(enc.layers("video"))
    assert out[POOLED].shape == (batch, enc.meta.embedding_dims["video"])
    for name, fm in out.items():
        if name != POOLED:
            assert isinstance(fm, FeatureMap) and fm.axes == CANONICAL_AXES["video"], name
            assert fm.data.shape[0] == batch and torch.isfinite(fm.data).all(), name


# ---- model strings ------------------------------------------------------------------------------------------
def test_zoo_spec_parsing_and_resolution():
    assert parse_spec("timm:vit_tiny_patch16_224?img_size=64&fps=7.5") == \
        ("timm", "vit_tiny_patch16_224", {"img_size": 64, "fps": 7.5})
    assert parse_spec("timm:resnet10t?drop_rate=1e-3")[2] == {"drop_rate": 0.001}  # a number, not "1e-3"
    assert parse_spec("crisscross") is None
    assert list(zoo_prefixes()) == ["torchvision", "timm", "hear"]
    assert parse_spec("avbench_baselines.crisscross:build") is None  # the pkg.module:factory rule still applies
    _, source = resolve_factory("avbench_baselines.crisscross:build")
    assert source == "avbench_baselines.crisscross:build"
    _, source = resolve_factory("torchvision:r3d_18")
    assert source == "zoo torchvision:r3d_18"
    with pytest.raises(UnknownEncoderError, match="name missing"):
        parse_spec("timm:")
    with pytest.raises(UnknownEncoderError, match="not key=value"):
        parse_spec("timm:resnet10t?img_size")
    with pytest.raises(UnknownEncoderError, match="torchvision:NAME, timm:NAME, hear:NAME"):
        build_encoder("no-such-encoder")
    with pytest.raises(UnknownEncoderError, match="available: r2plus1d_18"):
        build_encoder("torchvision:resnet50")


# ---- torchvision ---------------------------------------------------------------------------------------------
def test_torchvision_r2plus1d_layers_match_torchvision_forward():
    """8 x 112² clips: every stage as a FeatureMap, and pooled -> the model's own fc gives torchvision's logits."""
    enc = build_encoder("torchvision:r2plus1d_18")
    weights = __import__("torchvision").models.video.R2Plus1D_18_Weights.KINETICS400_V1
    assert enc.meta.video.mean == tuple(weights.transforms().mean) and enc.meta.video.std == tuple(weights.transforms().std)
    assert enc.meta.video.fps == 15.0  # torchvision's documented evaluation frame rate for these weights
    assert enc.meta.weights_sha256 is None and enc.meta.init_seed == 0
    x = enc.video_preprocess(_clip(2, 8, 112))
    with torch.no_grad():
        out = enc.encode_video(x, enc.layers("video"))
        logits = enc.net(x)
    assert _shapes(out) == {"conv1": (2, 64, 8, 56, 56), "conv2x": (2, 64, 8, 56, 56), "conv3x": (2, 128, 4, 28, 28),
                            "conv4x": (2, 256, 2, 14, 14), "conv5x": (2, 512, 1, 7, 7), POOLED: (2, 512)}
    _assert_contract(enc, out, 2)
    torch.testing.assert_close(enc.net.fc(out[POOLED]), logits)
    with torch.no_grad():  # asking for an early layer only stops there and gives the same map
        early = enc.encode_video(x, ["conv2x"])
    torch.testing.assert_close(early["conv2x"].data, out["conv2x"].data)
    assert build_encoder("torchvision:r2plus1d_18?fps=16").meta.video.fps == 16.0


@pytest.mark.parametrize("name, shapes", [
    ("r3d_18", {"conv1": (1, 64, 8, 32, 32), "conv5x": (1, 512, 1, 4, 4), POOLED: (1, 512)}),
    ("mc3_18", {"conv1": (1, 64, 8, 32, 32), "conv5x": (1, 512, 8, 4, 4), POOLED: (1, 512)}),
    ("s3d", {"conv1": (1, 64, 4, 32, 32), "mixed5c": (1, 1024, 1, 2, 2), POOLED: (1, 1024)}),
    ("swin3d_t", {"patch_embed": (1, 96, 4, 16, 16), "stage4": (1, 768, 4, 2, 2), POOLED: (1, 768)}),
])
def test_torchvision_families_shapes(name, shapes):
    enc = build_encoder(f"torchvision:{name}")
    x = enc.video_preprocess(_clip(1, 8, 64))
    with torch.no_grad():
        out = enc.encode_video(x, enc.layers("video"))
        last = [k for k in enc.layers("video") if k != POOLED][-1]
        if name == "s3d":  # torchvision's AvgPool3d((2, 7, 7)) needs 16 x 224²: compare with the global mean
            torch.testing.assert_close(out[POOLED], out[last].data.mean(dim=(2, 3, 4)))
        else:
            head = enc.net.fc if name.endswith("_18") else enc.net.head
            torch.testing.assert_close(head(out[POOLED]), enc.net(x), rtol=1e-4, atol=1e-5)
    _assert_contract(enc, out, 1)
    assert {k: v for k, v in _shapes(out).items() if k in shapes} == shapes


def test_torchvision_mvit_declares_its_fixed_geometry():
    enc = build_encoder("torchvision:mvit_v2_s")
    assert enc.meta.video.frames == (16,) and enc.meta.video.min_size == enc.meta.video.max_size == 224
    assert enc.meta.video.fps == 7.5 and enc.meta.video.mean == (0.45, 0.45, 0.45)
    with pytest.raises(ValueError, match=r"exactly 16 x 224"):
        enc.encode_video(torch.zeros(1, 3, 8, 112, 112))


@pytest.mark.slow
def test_torchvision_mvit_forward_matches_torchvision():
    """Slow (about 20-50 s on 2 CPU cores): MViT only takes its pretraining geometry, 16 x 224²."""
    enc = build_encoder("torchvision:mvit_v1_b")
    x = enc.video_preprocess(_clip(1, 16, 224))
    with torch.no_grad():
        out = enc.encode_video(x, ["stage4", POOLED])
        logits = enc.net(x)
    assert _shapes(out) == {"stage4": (1, 768, 8, 7, 7), POOLED: (1, 768)}
    torch.testing.assert_close(enc.net.head(out[POOLED]), logits, rtol=1e-4, atol=1e-5)


def test_torchvision_passes_the_encoder_validator():
    results = validate_encoder("torchvision:s3d?fps=4")  # 4 fps keeps the sweep's clips short (2-10 frames)
    assert all(ok for _, ok in results), [line for line, ok in results if not ok]


def test_torchvision_weight_enum_resolution(tmp_path, monkeypatch):
    from torchvision.models.video import MC3_18_Weights, R2Plus1D_18_Weights

    for text in ("R2Plus1D_18_Weights.KINETICS400_V1", "KINETICS400_V1", "DEFAULT", "R2Plus1D_18_Weights.DEFAULT"):
        assert tvv.resolve_weights_enum("r2plus1d_18", text) is R2Plus1D_18_Weights.KINETICS400_V1
    with pytest.raises(WeightsError, match=r"not a weight enum of torchvision:r2plus1d_18; valid: R2Plus1D_18_Weights"):
        tvv.resolve_weights_enum("r2plus1d_18", "MC3_18_Weights.KINETICS400_V1")
    with pytest.raises(WeightsError, match="KINETICS999"):
        tvv.resolve_weights_enum("r2plus1d_18", "KINETICS999")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert tvv.cache_path(MC3_18_Weights.KINETICS400_V1) == tmp_path / "hub" / "checkpoints" / "mc3_18-a90a0ba3.pth"


def test_torchvision_weights_missing_offline_or_undownloadable(tmp_path, monkeypatch):
    """Nothing in the cache: offline -> an error naming the enum and the cache path; a failing download likewise."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    where = str(tmp_path / "hub" / "checkpoints" / "mc3_18-a90a0ba3.pth")
    monkeypatch.setenv("AVBENCH_OFFLINE", "1")
    with pytest.raises(WeightsError) as err:
        build_encoder("torchvision:mc3_18", weights="MC3_18_Weights.KINETICS400_V1")
    assert "MC3_18_Weights.KINETICS400_V1" in str(err.value) and where in str(err.value)
    monkeypatch.delenv("AVBENCH_OFFLINE")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("https_proxy", "HTTPS_PROXY"):  # a closed local port: the real download fails at once, offline or not
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    with pytest.raises(WeightsError) as err:
        build_encoder("torchvision:mc3_18", weights="MC3_18_Weights.KINETICS400_V1")
    message = str(err.value)
    assert "MC3_18_Weights.KINETICS400_V1: could not download https://download.pytorch.org/models/" in message
    assert where in message and "TORCH_HOME" in message


def test_torchvision_weights_enum_loads_the_file_placed_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("AVBENCH_OFFLINE", "1")
    donor = build_encoder("torchvision:mc3_18", init_seed=7)
    path = tmp_path / "hub" / "checkpoints" / "mc3_18-a90a0ba3.pth"
    path.parent.mkdir(parents=True)
    torch.save(donor.net.state_dict(), path)
    enc = build_encoder("torchvision:mc3_18", weights="KINETICS400_V1", init_seed=0)
    assert enc.meta.weights_sha256 == sha256_file(path) and enc.meta.init_seed is None
    assert enc.meta.pretraining_data == "Kinetics-400" and "MC3_18_Weights.KINETICS400_V1" in enc.meta.description
    for (k, a), b in zip(enc.net.state_dict().items(), donor.net.state_dict().values()):
        assert torch.equal(a, b), k
    # a local file works the same way, and a wrong one is refused naming the file
    same = build_encoder("torchvision:mc3_18", weights=str(path))
    assert same.meta.weights_sha256 == enc.meta.weights_sha256 and same.meta.pretraining_data == "unknown"
    with pytest.raises(WeightsError, match="r3d_18-b3b3357e.pth: weights file not found"):
        build_encoder("torchvision:r3d_18", weights=str(tmp_path / "r3d_18-b3b3357e.pth"))
    with pytest.raises(WeightsError, match=str(path)):
        build_encoder("torchvision:r3d_18", weights=str(path))  # mc3 weights do not fit r3d's shapes


# ---- timm ----------------------------------------------------------------------------------------------------
def test_timm_per_frame_encoder_shapes_and_time_mean():
    enc = build_encoder("timm:resnet10t")
    cfg = timm.data.resolve_data_config({}, model=enc.net)
    assert enc.meta.video.mean == tuple(cfg["mean"]) and enc.meta.video.std == tuple(cfg["std"])
    assert enc.meta.video.min_size == 32 and enc.meta.video.fps == 16.0
    x = enc.video_preprocess(_clip(2, 4, 64))
    with torch.no_grad():
        out = enc.encode_video(x, enc.layers("video"))
        per_frame = torch.stack([enc.net(x[:, :, t]) for t in range(4)], dim=1)  # num_classes=0: pre-logits
    assert _shapes(out) == {"act1": (2, 64, 4, 32, 32), "layer1": (2, 64, 4, 16, 16), "layer2": (2, 128, 4, 8, 8),
                            "layer3": (2, 256, 4, 4, 4), "layer4": (2, 512, 4, 2, 2), POOLED: (2, 512)}
    _assert_contract(enc, out, 2)
    torch.testing.assert_close(out[POOLED], per_frame.mean(dim=1))
    with torch.no_grad():  # frame t of the layer4 map is the image model's map of frame t
        torch.testing.assert_close(out["layer4"].data[:, :, 2], enc.net.forward_features(x[:, :, 2]))


def test_timm_vit_fixed_size_and_validator():
    enc = build_encoder("timm:vit_tiny_patch16_224?img_size=32&fps=4")
    assert enc.meta.video.min_size == enc.meta.video.max_size == 32 and enc.meta.embedding_dims["video"] == 192
    assert "blocks.11" in enc.layers("video")
    with pytest.raises(ValueError, match=r"img_size=64"):
        enc.encode_video(torch.zeros(1, 3, 2, 64, 64))
    results = validate_encoder(enc)
    assert all(ok for _, ok in results), [line for line, ok in results if not ok]


def test_timm_local_weights_file(tmp_path):
    from safetensors.torch import save_file

    with torch.random.fork_rng():
        torch.manual_seed(3)
        donor = timm.create_model("resnet10t")  # with its 1000-class head, as released files are
    path = tmp_path / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in donor.state_dict().items()}, str(path))
    enc = build_encoder("timm:resnet10t", weights=str(path))
    assert enc.meta.weights_sha256 == sha256_file(path) and enc.meta.init_seed is None
    torch.testing.assert_close(enc.net.conv1[0].weight, donor.conv1[0].weight)
    x = enc.video_preprocess(_clip(1, 2, 64))
    with torch.no_grad():
        donor.eval()
        torch.testing.assert_close(enc.encode_video(x)[POOLED], donor.forward_head(donor.forward_features(x[:, :, 0]),
                                                                                   pre_logits=True) / 2
                                   + donor.forward_head(donor.forward_features(x[:, :, 1]), pre_logits=True) / 2)
    with pytest.raises(WeightsError, match=str(path)):  # timm's own loader would only warn here
        build_encoder("timm:vit_tiny_patch16_224", weights=str(path))
    vit = timm.create_model("vit_tiny_patch16_224")  # a 224² file into a 32² model: timm's filter resamples pos_embed
    vit_path = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(vit_path))
    small = build_encoder("timm:vit_tiny_patch16_224?img_size=32", weights=str(vit_path))
    assert small.net.pos_embed.shape == (1, 1 + 2 * 2, 192)
    torch.testing.assert_close(small.net.blocks[0].attn.qkv.weight, vit.blocks[0].attn.qkv.weight)
    with pytest.raises(WeightsError, match="weights file not found"):
        build_encoder("timm:resnet10t", weights=str(tmp_path / "absent.safetensors"))
    with pytest.raises(UnknownEncoderError, match="has no such model"):
        build_encoder("timm:resnet10tx")


def test_timm_download_failure_is_a_clear_error(tmp_path):
    """``--weights timm`` with the Hugging Face hub offline and an empty cache (a subprocess: the hub reads its
    environment at import)."""
    code = ("from avbench.registry import build_encoder\nfrom avbench.models.weights import WeightsError\n"
            "try:\n    build_encoder('timm:resnet10t', weights='timm')\nexcept WeightsError as e:\n    print(e)\n")
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert "timm:resnet10t: could not fetch timm's pretrained weights" in proc.stdout, proc.stderr[-2000:]
    assert "--weights PATH" in proc.stdout


# ---- hear ----------------------------------------------------------------------------------------------------
def test_hear_prefix_rejects_modules_that_are_not_hear_modules():
    with pytest.raises(UnknownEncoderError, match="is not a HEAR 2021 module: missing load_model, get_scene_embeddings"):
        build_encoder("hear:json")
    with pytest.raises(UnknownEncoderError, match="cannot import HEAR module 'no_such_hear_module_x'"):
        build_encoder("hear:no_such_hear_module_x")


_HEAR_MODULE = '''
import torch
from torch import nn

class Model(nn.Module):
    sample_rate = 16000
    scene_embedding_size = 4
    timestamp_embedding_size = 4

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(1, 4)

def load_model(model_file_path="", **kw):
    m = Model()
    if {fixed}:  # the module's own default weights, whatever the RNG
        with torch.no_grad():
            m.proj.weight.fill_(0.5)
            m.proj.bias.fill_(0.25)
    if model_file_path:
        from safetensors.torch import load_file
        m.load_state_dict(load_file(model_file_path))
    return m

def get_scene_embeddings(audio, model):
    return model.proj(audio.mean(dim=1, keepdim=True))

def get_timestamp_embeddings(audio, model):
    e = get_scene_embeddings(audio, model)[:, None]
    return e, torch.zeros(audio.shape[0], 1)
'''


@pytest.mark.parametrize("fixed", [False, True])
def test_hear_without_weights_is_random_init_or_its_own_default_state_never_a_weights_hash(fixed, tmp_path,
                                                                                          monkeypatch):
    """Issue 18: a HEAR module at random init shows as random init; one that loads its own default weights names
    no seed; neither writes its state hash as a weights hash (the old wrapper did). A weights file is hashed."""
    name = f"avb_hear_{'fixed' if fixed else 'random'}"
    (tmp_path / f"{name}.py").write_text(_HEAR_MODULE.replace("{fixed}", str(fixed)))
    monkeypatch.syspath_prepend(str(tmp_path))
    enc = build_encoder(f"hear:{name}", init_seed=3)
    assert enc.meta.weights_sha256 is None
    assert enc.meta.init_seed == (None if fixed else 3)
    assert ("its default weights" in enc.meta.pretraining_data) is fixed
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in enc.model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = build_encoder(f"hear:{name}", weights=str(tmp_path / "w.safetensors"))
    assert loaded.meta.weights_sha256 == sha256_file(tmp_path / "w.safetensors") and loaded.meta.init_seed is None
