"""`avbench export hear`: the written package passes the real HEAR 2021 validator (hearvalidator), and comes back
through ``--model hear:<pkg>`` with the encoder's own embeddings. Uses the shipped CrissCross checkpoint (width 16)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest
import torch

import avbench
from avbench.cli.app import main
from avbench.encoder import POOLED, FeatureMap
from avbench.export.hear import (
    ExportConfig,
    ExportError,
    HearModel,
    export_hear,
    get_scene_embeddings,
    get_timestamp_embeddings,
    hear_rate,
    load_exported,
)
from avbench.registry import build_encoder
from avbench.validate.encoder import validate_encoder
from avbench.models.weights import sha256_file

SHIPPED = Path(avbench.__file__).parent / "assets" / "crisscross-small-world.safetensors"  # demo.RHYTHM_CHECKPOINT
NO_VALIDATOR = next((f"{m} is not importable (pip install -e '.[dev]' installs hearvalidator and tensorflow)"
                     for m in ("hearvalidator", "tensorflow") if importlib.util.find_spec(m) is None), None)


def _audio(n: int, seconds: float, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, int(seconds * rate), generator=g) * 2 - 1) * 0.5


@pytest.fixture(scope="module")
def crisscross_audio():
    return build_encoder("crisscross", weights=str(SHIPPED), modalities="audio")


@pytest.mark.skipif(NO_VALIDATOR is not None, reason=NO_VALIDATOR or "")
def test_cli_export_passes_the_hear_validator(tmp_path, capsys):
    out = tmp_path / "hear"
    rc = main(["export", "hear", "--model", "crisscross", "--weights", str(SHIPPED), "--out", str(out),
               "--name", "avb_hear_cli", "--option", "modalities=audio", "--validate"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "Looks good!" in text and "hearvalidator: passed" in text
    assert "Received embedding of shape: torch.Size([16, 7, 128])" in text  # 2 s, conv5x frames, width 16 x 8
    config = json.loads((out / "avb_hear_cli" / "avbench_export.json").read_text())
    assert config["weights_sha256"] == sha256_file(SHIPPED) and config["layer"] == "conv5x"
    assert config["options"] == {"modalities": "audio"} and config["sample_rate"] == 16000
    project = tomllib.loads((out / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"] == ["avb_hear_cli"]
    assert project["project"]["dependencies"] == [f"avbench>={avbench.__version__}"]


def test_exported_module_round_trips_through_the_hear_prefix(tmp_path, monkeypatch, crisscross_audio):
    pkg = export_hear("crisscross", tmp_path, weights=str(SHIPPED), name="avb_hear_rt", options={"modalities": "audio"})
    assert pkg == tmp_path / "avb_hear_rt"
    monkeypatch.syspath_prepend(str(tmp_path))
    enc = build_encoder("hear:avb_hear_rt")
    assert enc.meta.audio.sample_rate == 16000 and enc.meta.embedding_dims == {"audio": 128}
    x = _audio(3, 2.0)
    with torch.no_grad():
        out = enc.encode_audio(enc.audio_frontend(x), ["timestamps", POOLED])
        ref = crisscross_audio.encode_audio(crisscross_audio.audio_frontend(x), ["conv5x", POOLED])
    torch.testing.assert_close(out[POOLED], ref[POOLED])  # scene embedding = the encoder's pooled embedding
    ts = out["timestamps"]
    assert isinstance(ts, FeatureMap) and ts.axes == ("batch", "channel", "freq", "time")
    conv5x = ref["conv5x"].canonical("audio").data.mean(dim=2)  # [B, C, T]
    assert ts.data.shape == (3, 128, 1, conv5x.shape[2])
    torch.testing.assert_close(ts.data[:, :, 0], conv5x)
    results = validate_encoder(enc)
    assert all(ok for _, ok in results), [line for line, ok in results if not ok]
    # decoded at another rate: the front end resamples to the module's 16 kHz
    enc44 = build_encoder("hear:avb_hear_rt?sample_rate=44100")
    assert enc44.meta.audio.sample_rate == 44100 and enc44.audio_frontend(_audio(1, 1.0, 44100)).shape == (1, 16000)


def test_timestamps_layer_mode_stamps_and_padding(tmp_path, crisscross_audio):
    export_hear("crisscross", tmp_path, weights=str(SHIPPED), name="avb_hear_ts", options={"modalities": "audio"})
    model = load_exported(tmp_path / "avb_hear_ts" / "avbench_export.json")
    assert isinstance(model, HearModel) and model.timestamp_embedding_size == 128
    emb, stamps = get_timestamp_embeddings(_audio(2, 2.0), model)
    assert emb.dtype == torch.float32 and emb.shape == (2, 7, 128) and stamps.shape == (2, 7)
    step = 2000.0 / 7
    torch.testing.assert_close(stamps[0], (torch.arange(7) + 0.5) * step)
    # 0.2 s is below the encoder's 0.5 s minimum: padded to 0.5 s, frames of the padding dropped
    emb, stamps = get_timestamp_embeddings(_audio(1, 0.2), model)
    assert stamps.max() <= 200.0 and emb.shape[1] == stamps.shape[1] >= 1
    scene = get_scene_embeddings(_audio(2, 0.2), model)
    with torch.no_grad():
        padded = torch.nn.functional.pad(_audio(2, 0.2), (0, 8000 - 3200))
        torch.testing.assert_close(scene, crisscross_audio.encode_audio(crisscross_audio.audio_frontend(padded))[POOLED])


def test_timestamps_window_mode_is_the_pooled_embedding_of_centred_windows(tmp_path, crisscross_audio):
    export_hear("crisscross", tmp_path, weights=str(SHIPPED), name="avb_hear_win", options={"modalities": "audio"},
                timestamps="window", window=1.0, hop=0.25)
    model = load_exported(tmp_path / "avb_hear_win" / "avbench_export.json")
    x = _audio(2, 1.5)
    emb, stamps = get_timestamp_embeddings(x, model)
    torch.testing.assert_close(stamps[1], torch.tensor([0.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0]))
    assert emb.shape == (2, 7, 128) and model.timestamp_embedding_size == 128
    padded = torch.nn.functional.pad(x, (8000, 8000))
    with torch.no_grad():  # the window centred at 500 ms covers [0 ms, 1000 ms) of the audio
        window = padded[:, 8000 + 8000 - 8000: 8000 + 8000 + 8000]
        ref = crisscross_audio.encode_audio(crisscross_audio.audio_frontend(window))[POOLED]
    torch.testing.assert_close(emb[:, 2], ref)


def test_scene_embeddings_resample_and_split_long_audio(tmp_path, crisscross_audio):
    export_hear("crisscross", tmp_path, weights=str(SHIPPED), name="avb_hear_sc", options={"modalities": "audio"})
    path = tmp_path / "avb_hear_sc" / "avbench_export.json"
    config = ExportConfig.read(path)
    # HEAR-facing 22.05 kHz on a 16 kHz encoder: resampled inside
    model = HearModel(load_exported(path).encoder, ExportConfig(**{**config.__dict__, "sample_rate": 22050}))
    x = _audio(2, 1.0, 22050)
    import torchaudio.functional as AF

    with torch.no_grad():
        ref = crisscross_audio.encode_audio(crisscross_audio.audio_frontend(AF.resample(x, 22050, 16000)))[POOLED]
    torch.testing.assert_close(get_scene_embeddings(x, model), ref)
    # longer than the encoder's 30 s: 30 s + 2 s pieces, averaged by length
    model16 = load_exported(path)
    long = _audio(1, 32.0)
    with torch.no_grad():
        a = crisscross_audio.encode_audio(crisscross_audio.audio_frontend(long[:, :480000]))[POOLED]
        b = crisscross_audio.encode_audio(crisscross_audio.audio_frontend(long[:, 480000:]))[POOLED]
    torch.testing.assert_close(get_scene_embeddings(long, model16), (a * 30 + b * 2) / 32)
    assert [hear_rate(r) for r in (16000, 8000, 32000, 48000, 96000)] == [16000, 16000, 44100, 48000, 48000]


def test_export_errors(tmp_path, capsys):
    with pytest.raises(ExportError, match="has no audio branch"):
        export_hear("crisscross", tmp_path, name="avb_hear_v", options={"modalities": "video", "video_width": 8})
    with pytest.raises(ExportError, match="not a Python identifier"):
        export_hear("crisscross", tmp_path, name="1bad")
    with pytest.raises(ExportError, match="already taken by an importable module"):
        export_hear("crisscross", tmp_path, name="json")
    weights = tmp_path / "w.safetensors"
    shutil.copy(SHIPPED, weights)
    export_hear("crisscross", tmp_path / "o", weights=str(weights), name="avb_hear_err", options={"modalities": "audio"})
    with pytest.raises(ExportError, match="exists; pass --force"):
        export_hear("crisscross", tmp_path / "o", weights=str(weights), name="avb_hear_err")
    from avbench_baselines.crisscross.encoder import save_safetensors

    save_safetensors(build_encoder("crisscross", audio_width=16, video_width=16, init_seed=5), weights)
    with pytest.raises(ExportError, match="have changed since export"):
        load_exported(tmp_path / "o" / "avb_hear_err" / "avbench_export.json")
    # HEAR's --model path replaces the recorded weights (no check then)
    assert load_exported(tmp_path / "o" / "avb_hear_err" / "avbench_export.json", str(SHIPPED)).scene_embedding_size == 128
    rc = main(["export", "hear", "--model", "crisscross", "--out", str(tmp_path), "--name", "avb_hear_cli_err",
               "--option", "modalities=video", "--option", "video_width=8"])
    assert rc == 2 and "has no audio branch" in capsys.readouterr().err


@pytest.mark.skipif(NO_VALIDATOR is not None, reason=NO_VALIDATOR or "")
def test_a_validator_that_crashes_is_one_line_naming_the_versions_and_the_pinned_install(tmp_path):
    """A validator process killed by a signal (torch 2.14.1's triton loaded after tensorflow did this) is an
    ExportError naming the signal and the versions, never a bare FAILED."""
    from avbench.export.hear import validate_export

    pkg = tmp_path / "crashy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import os, signal\n\n\ndef load_model(model_file_path=''):\n    os.kill(os.getpid(), signal.SIGSEGV)\n\n\n"
        "def get_scene_embeddings(audio, model):\n    pass\n\n\ndef get_timestamp_embeddings(audio, model):\n    pass\n")
    with pytest.raises(ExportError) as err:
        validate_export(tmp_path, "crashy")
    msg = str(err.value)
    assert "\n" not in msg and "crashed (SIGSEGV)" in msg and f"torch {torch.__version__.split('+')[0]}" in msg
    assert "-c constraints.txt" in msg and "tensorflow" in msg


@pytest.mark.skipif(importlib.util.find_spec("triton") is None or NO_VALIDATOR is not None,
                    reason="needs triton (torch's CUDA wheels, e.g. constraints-newest.txt) and tensorflow")
def test_the_validator_loads_triton_before_tensorflow_so_torchvision_ops_import():
    """hearvalidator imports tensorflow, then the package imports torchvision.ops -> torch._dynamo -> triton:
    with triton 3.8 that order segfaults; the validator's start-up (VALIDATOR_MAIN) loads triton first."""
    import subprocess
    import sys

    from avbench.export.hear import VALIDATOR_MAIN

    prelude = VALIDATOR_MAIN.split("runpy.run_module")[0]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = prelude + "import tensorflow\nimport torchvision.ops\nprint('ok')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.returncode, proc.stderr[-500:])
