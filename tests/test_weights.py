"""Weights: every accepted form loads strictly and reproduces the source model; bad files fail naming the file."""
import hashlib
import zipfile
from pathlib import Path

import pytest
import torch

from avbench.models.weights import WeightsError, load_state_dict_file, load_strict, sha256_file
from avbench_baselines.crisscross import build
from avbench_baselines.crisscross.encoder import save_safetensors


def _touch(path):  # what a malicious pickle would run; must never be called
    Path(path).write_text("pwned")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_touch, (self.marker,))


def _zip(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zf:  # stored: fast; reading is the same
        zf.write(src, arcname=src.name)
    return dst


@pytest.fixture(scope="module")
def source():
    """A random CrissCross with non-default BN statistics (so buffers must load too)."""
    enc = build(init_seed=123)
    g = torch.Generator().manual_seed(1)
    for name, buf in enc.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
    return enc


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(2)
    return (torch.randint(0, 256, (1, 3, 4, 64, 64), generator=g, dtype=torch.uint8),
            torch.rand(1, 8000, generator=g) - 0.5)


def _outputs(enc, inputs):
    frames, wave = inputs
    out = {}
    with torch.inference_mode():
        if "video" in enc.meta.modalities:
            out.update({f"video.{k}": v for k, v in enc.encode_video(enc.video_preprocess(frames), ["conv3x", "pooled"]).items()})
        if "audio" in enc.meta.modalities:
            out.update({f"audio.{k}": v for k, v in enc.encode_audio(enc.audio_frontend(wave), ["conv3x", "pooled"]).items()})
    return {k: getattr(v, "data", v) for k, v in out.items()}


@pytest.fixture(scope="module")
def expected(source, inputs):
    return _outputs(source, inputs)


@pytest.fixture(scope="module")
def released(tmp_path_factory, source):
    """The release layout: bare backbone state_dicts, plain and zipped."""
    plain, zipped = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("zipped")
    files = {}
    for m, prefix in (("video", "vid"), ("audio", "aud")):
        path = plain / f"{prefix}_crisscross_test.pth.tar"
        torch.save(source.trunk(m).state_dict(), path)
        files[m] = path
        files[m + ".zip"] = _zip(path, zipped / (path.name + ".zip"))
    return plain, zipped, files


def _check_loaded(enc, expected, inputs, modalities):
    assert enc.meta.modalities == modalities
    assert enc.meta.init_seed is None and enc.meta.weights_sha256 and not enc.training
    got = _outputs(enc, inputs)
    assert set(got) == {k for k in expected if k.split(".")[0] in modalities}
    for k, v in got.items():
        assert torch.equal(v, expected[k]), k


def test_directory_of_released_files(released, expected, inputs):
    plain, zipped, files = released
    enc = build(weights=str(plain))
    _check_loaded(enc, expected, inputs, ("video", "audio"))
    combined = f"video:{sha256_file(files['video'])},audio:{sha256_file(files['audio'])}"
    assert enc.meta.weights_sha256 == hashlib.sha256(combined.encode()).hexdigest()
    assert enc.meta.pretraining_data == "test"
    _check_loaded(build(weights=str(zipped)), expected, inputs, ("video", "audio"))


def test_named_files_and_single_released_files(released, expected, inputs):
    _, _, files = released
    enc = build(weights=f"video={files['video.zip']},audio={files['audio']}")
    _check_loaded(enc, expected, inputs, ("video", "audio"))
    audio_only = build(weights=f"audio={files['audio.zip']}")
    _check_loaded(audio_only, expected, inputs, ("audio",))
    assert audio_only.meta.weights_sha256 == sha256_file(files["audio.zip"])
    video_only = build(weights=str(files["video.zip"]))
    _check_loaded(video_only, expected, inputs, ("video",))
    assert video_only.meta.weights_sha256 == sha256_file(files["video.zip"])
    with pytest.raises(WeightsError, match="no audio checkpoint"):
        build(weights=str(files["video"]), modalities=("video", "audio"))


def test_safetensors_round_trip(tmp_path, source, expected, inputs):
    path = save_safetensors(source, tmp_path / "crisscross.safetensors")
    enc = build(weights=str(path), pretraining_data="unit-test")
    _check_loaded(enc, expected, inputs, ("video", "audio"))
    assert enc.meta.weights_sha256 == sha256_file(path) and enc.meta.pretraining_data == "unit-test"
    assert build(weights=str(path)).meta.pretraining_data == "random-init"  # recorded in the file's metadata
    state = load_state_dict_file(path)
    assert len(state) == 201 + 120 and "video.conv5x.1.out_bn.running_var" in state
    _check_loaded(build(weights=str(path), modalities="audio"), expected, inputs, ("audio",))


def test_renamed_and_misshaped_keys_name_the_file_and_the_keys(tmp_path, source):
    state = dict(source.trunk("video").state_dict())
    state["conv5x.1.out_bn.running_var_renamed"] = state.pop("conv5x.1.out_bn.running_var")
    bad = tmp_path / "vid_crisscross_bad.pth.tar"
    torch.save(state, bad)
    with pytest.raises(WeightsError) as err:
        build(weights=str(bad))
    msg = str(err.value)
    assert str(bad) in msg and "conv5x.1.out_bn.running_var_renamed" in msg and "missing" in msg and "unexpected" in msg

    audio = dict(source.trunk("audio").state_dict())
    audio["conv1.0.weight"] = torch.zeros(64, 3, 7, 7)  # an RGB stem
    bad_audio = tmp_path / "aud_crisscross_bad.pth.tar"
    torch.save(audio, bad_audio)
    with pytest.raises(WeightsError, match=r"(?s)aud_crisscross_bad\.pth\.tar.*conv1\.0\.weight \(64, 3, 7, 7\) != \(64, 1, 7, 7\)"):
        build(weights=str(bad_audio))


def test_arbitrary_pickles_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "vid_crisscross_evil.pth.tar"
    torch.save({"conv1.0.weight": torch.zeros(1), "payload": _Evil(str(marker))}, path)
    with pytest.raises(WeightsError, match="vid_crisscross_evil.pth.tar.*refusing"):
        build(weights=str(path))
    assert not marker.exists()
    zipped = _zip(path, tmp_path / "aud_crisscross_evil.pth.tar.zip")
    with pytest.raises(WeightsError, match="aud_crisscross_evil.pth.tar.zip.*refusing"):
        load_state_dict_file(zipped)
    assert not marker.exists()


def test_state_dict_unwrapping_and_file_errors(tmp_path):
    lin = torch.nn.Linear(2, 3)
    wrapped = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in lin.state_dict().items()}}, wrapped)
    state = load_state_dict_file(wrapped)
    assert set(state) == {"weight", "bias"}
    load_strict(torch.nn.Linear(2, 3), state, source=str(wrapped))

    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(WeightsError, match="list.pt.*expected a state_dict"):
        load_state_dict_file(not_a_dict)
    with pytest.raises(WeightsError, match="not found"):
        load_state_dict_file(tmp_path / "absent.pth")
    with pytest.raises(WeightsError, match="unknown weights format"):
        load_state_dict_file(Path(__file__))
    two = tmp_path / "two.pth.tar.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.write(wrapped, "a.pth")
        zf.write(wrapped, "b.pth")
    with pytest.raises(WeightsError, match="two.pth.tar.zip.*exactly one"):
        load_state_dict_file(two)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not safetensors")
    with pytest.raises(WeightsError, match="garbage.safetensors"):
        build(weights=str(garbage))
    assert sha256_file(garbage) == hashlib.sha256(b"not safetensors").hexdigest()


def test_directory_errors(tmp_path, released):
    _, _, files = released
    with pytest.raises(WeightsError, match="no vid_crisscross"):
        build(weights=str(tmp_path))
    for name in ("vid_crisscross_a.pth.tar", "vid_crisscross_b.pth.tar"):
        (tmp_path / name).symlink_to(files["video"])
    with pytest.raises(WeightsError, match="several video checkpoints"):
        build(weights=str(tmp_path))
    with pytest.raises(WeightsError, match="cannot tell which trunk"):
        build(weights=str(tmp_path / "model.pth"))
