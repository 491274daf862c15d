"""AugVGG query-set generator on a tiny synthetic VGG-Sound: decodable outputs, determinism (params and bytes),
recorded parameters and hashes, time ops in sync, geometry kept, skips recorded, resuming, and the CLI."""
from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import avbench.datasets.augvgg as augvgg
from avbench.datasets.augvgg import audio_ops as A
from avbench.datasets.augvgg import generate as G
from avbench.datasets.augvgg import video_ops as V
from avbench.cli.app import main
from avbench.datasets import get_dataset
from avbench.synth.video_fixtures import VideoSpec, write_class_video
from avbench.synth.vggsound_fixtures import write_vggsound

VARIANTS = ("ip", "s", "t", "c")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """2 classes x 2 test videos (+1 missing test row), 1 train video per class."""
    return write_vggsound(tmp_path_factory.mktemp("vgg") / "VGGSound", n_classes=2, train_per_class=1,
                          test_per_class=2, missing=1, seed=5)


@pytest.fixture(scope="module")
def sets(root, tmp_path_factory) -> dict[str, Path]:
    """Every variant generated twice with seed 0, in this process; the second "c" run uses 2 worker processes."""
    one, two = tmp_path_factory.mktemp("aug1"), tmp_path_factory.mktemp("aug2")
    for v in VARIANTS:
        G.generate_augvgg(root, one, v, seed=0)
    for v in VARIANTS:
        G.generate_augvgg(root, two, v, seed=0, workers=2 if v == "c" else 1)
    return {"one": one, "two": two}


def _lines(folder: Path) -> list[dict]:
    return [json.loads(t) for t in (folder / "manifest.jsonl").read_text().splitlines()]


def _decode(path: Path) -> tuple[np.ndarray, Fraction, np.ndarray, str]:
    """(frames [T, H, W, 3], fps, audio [N] at the stream rate, video codec) of an output file."""
    with av.open(str(path)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        vs, as_ = c.streams.video[0], c.streams.audio[0]
        fps, codec, rate = vs.average_rate, vs.codec_context.name, as_.rate
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(vs)])
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert rate == 16000
    return frames, Fraction(fps), audio, codec


# ---- the sets ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_query_decodes_with_both_streams_at_source_geometry(sets, root, variant):
    folder = sets["one"] / variant
    lines = _lines(folder)
    info = json.loads((folder / "info.json").read_text())
    assert info["generator"] == f"augvgg-{variant}-v1" and info["seed"] == 0
    assert {"avbench", "pyav", "torch", "torchaudio"} <= info["versions"].keys()
    assert info["counts"]["queries"] == 4 and info["counts"]["missing"] == 1
    assert [s["reason"] for s in info["skipped"]] == ["missing file"]
    assert [ln["id"] for ln in lines] == sorted(ln["id"] for ln in lines) and len(lines) == 4
    for ln in lines:
        out = folder / ln["output"]
        assert ln["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
        frames, fps, audio, codec = _decode(out)
        src_frames, src_fps, _, _ = _decode(root / ln["source"])
        assert codec == "h264" and fps == src_fps and frames.shape[1:] == src_frames.shape[1:] == (48, 64, 3)
        assert frames.shape[0] == ln["video"]["frames"] and abs(audio.size - ln["audio"]["samples"]) <= 1024
        assert float(np.abs(audio).max()) > 0.01


def test_manifest_records_every_op_with_its_parameters(sets):
    ip_v, s_v = V.names("ip"), V.names("s")
    ip_a, s_a = A.names("ip"), A.names("s")
    for variant in VARIANTS:
        for ln in _lines(sets["one"] / variant):
            ops = ln["ops"]
            assert ops == G.draw_ops(variant, 0, ln["id"])  # recorded = drawn, exactly (JSON round trip)
            for op in ops:
                assert set(op) == {"family", "stream", "op", "augly", "params"} and op["params"]
                assert op["augly"].startswith("augly.")
            kinds = [(op["family"], op["stream"]) for op in ops]
            if variant in ("ip", "s"):
                assert kinds == [(variant, "video"), (variant, "audio")]
                assert ops[0]["op"] in (ip_v if variant == "ip" else s_v)
                assert ops[1]["op"] in (ip_a if variant == "ip" else s_a)
            elif variant == "t":
                assert kinds == [("t", "both")] and ops[0]["op"] in ("speed", "time_crop")
            else:
                assert kinds[0] == ("t", "both") and sorted(kinds[1:]) in (
                    [("ip", "audio"), ("s", "video")], [("ip", "video"), ("s", "audio")])


def test_same_seed_gives_identical_bytes_and_manifests(sets):
    for variant in VARIANTS:
        a, b = sets["one"] / variant, sets["two"] / variant
        names = sorted(p.name for p in a.iterdir())
        assert names == sorted(p.name for p in b.iterdir()) and "manifest.jsonl" in names and "info.json" in names
        for name in names:
            assert (a / name).read_bytes() == (b / name).read_bytes(), f"{variant}/{name} differs between runs"


def test_different_seed_draws_different_parameters(sets):
    ids = [ln["id"] for ln in _lines(sets["one"] / "ip")]
    for variant in VARIANTS:
        for sid in ids:
            assert G.draw_ops(variant, 0, sid) == G.draw_ops(variant, 0, sid)
            assert G.draw_ops(variant, 0, sid) != G.draw_ops(variant, 1, sid)
            json.dumps(G.draw_ops(variant, 1, sid))  # JSON-serialisable
    assert G.draw_ops("ip", 0, ids[0]) != G.draw_ops("ip", 0, ids[1])


def test_time_variant_durations_follow_the_drawn_parameters(sets, root):
    for ln in _lines(sets["one"] / "t"):
        frames, fps, audio, _ = _decode(sets["one"] / "t" / ln["output"])
        n_src = _decode(root / ln["source"])[0].shape[0]
        op = ln["ops"][0]
        if op["op"] == "speed":
            expected = n_src / op["params"]["factor"]
        else:
            expected = n_src * op["params"]["keep"]
        assert abs(frames.shape[0] - expected) <= 1, (op, frames.shape[0], expected)
        assert abs(audio.size / 16000 - frames.shape[0] / fps) < 0.1  # AAC pads up to one 64-ms frame


# ---- the ops -----------------------------------------------------------------------------------------------------
def _clip(seconds: float = 2.0, fps: int = 20) -> tuple[np.ndarray, torch.Tensor]:
    rng = np.random.default_rng(0)
    t = int(seconds * fps)
    frames = rng.integers(40, 220, (t, 48, 64, 3), dtype=np.uint8)
    frames[:, :, :32] //= 2  # some structure, so blur / crop / rotate change it
    t_audio = np.arange(int(seconds * 16000)) / 16000
    wave = torch.from_numpy((0.3 * np.sin(2 * np.pi * 440 * t_audio)).astype(np.float32))
    return frames, wave


@pytest.mark.parametrize("name", list(V.VIDEO_OPS))
def test_frame_ops_keep_shape_change_content_and_are_pure(name):
    frames, _ = _clip()
    _, draw, apply, _ = V.VIDEO_OPS[name]
    params = draw(np.random.default_rng(1))
    out = apply(frames, **params)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frames).mean() > 1.0
    assert np.array_equal(out, apply(frames, **params))


@pytest.mark.parametrize("name", list(A.AUDIO_OPS))
def test_wave_ops_keep_length_change_content_and_are_pure(name):
    _, wave = _clip()
    _, draw, apply, _ = A.AUDIO_OPS[name]
    params = draw(np.random.default_rng(1))
    out = apply(wave, 16000, **params)
    assert out.shape == wave.shape and out.dtype == torch.float32 and float(out.abs().max()) <= 1.0
    assert float((out - wave).abs().mean()) > 1e-3
    assert torch.equal(out, apply(wave, 16000, **params))


def test_pitch_shift_moves_the_tone_and_keeps_duration():
    _, wave = _clip()
    out = A.pitch_shift(wave, 16000, semitones=7.02, ratio="3/2")
    freqs = np.fft.rfftfreq(wave.numel(), 1 / 16000)
    assert abs(freqs[np.abs(np.fft.rfft(out.numpy())).argmax()] - 660.0) < 2.0 and out.numel() == wave.numel()


@pytest.mark.parametrize("op", [{"op": "speed", "params": {"factor": 1.5, "p": 3, "q": 2}},
                                {"op": "speed", "params": {"factor": 0.6, "p": 3, "q": 5}},
                                {"op": "time_crop", "params": {"keep": 0.6, "offset": 0.5}}])
def test_time_ops_cut_both_streams_in_sync(op):
    frames, wave = _clip(seconds=2.0, fps=20)
    frames[:, 0, 0, 0] = np.arange(40)  # frame index stamped into a pixel
    out_f, out_w = G.apply_ops(frames, Fraction(20), wave, 16000, [{"family": "t", "stream": "both", **op}])
    p = op["params"]
    if op["op"] == "speed":
        assert out_f.shape[0] == round(40 * p["q"] / p["p"])
        steps = np.diff(out_f[:, 0, 0, 0].astype(int))  # always forward: skipping frames or repeating them
        assert set(steps.tolist()) <= ({1, 2} if p["p"] > p["q"] else {0, 1}) and out_f[-1, 0, 0, 0] >= 38
    else:
        assert out_f.shape[0] == 24 and out_f[0, 0, 0, 0] == 8  # 24 of 40 frames from frame round(0.5 * 16)
    assert abs(out_w.numel() / 16000 - out_f.shape[0] / 20) <= 1 / 20


def test_op_table_lists_every_op():
    for name in [*V.VIDEO_OPS, *A.AUDIO_OPS, "speed", "time_crop"]:
        assert f" {name} " in augvgg.__doc__
    for _, _, _, augly in [*V.VIDEO_OPS.values(), *A.AUDIO_OPS.values()]:
        assert augly.split(" / ")[0] in augly  # named
        assert augly.split(" / ")[0].rsplit(".", 1)[1] in augvgg.__doc__


# ---- skips, resuming, CLI ----------------------------------------------------------------------------------------
def test_undecodable_source_is_a_recorded_skip(root, tmp_path):
    bad_root = Path(shutil.copytree(root, tmp_path / "VGG"))
    victim, silent = get_dataset("vggsound").load(bad_root).splits["official"]["test"][:2]
    (bad_root / "video" / f"{victim}.mp4").write_bytes(b"not a video at all" * 100)
    write_class_video(bad_root / "video" / f"{silent}.mp4", 0, 2, VideoSpec("libx264", Fraction(25), 1.0),
                      np.random.default_rng(0))  # no audio stream
    info = G.generate_augvgg(bad_root, tmp_path / "out", "ip", seed=0)
    assert info["counts"]["undecodable"] == 2 and info["counts"]["queries"] == 2
    reasons = {s["id"]: s["reason"] for s in info["skipped"]}
    assert "not a media file" in reasons[victim] and "no audio stream" in reasons[silent]
    saved = json.loads((tmp_path / "out" / "ip" / "info.json").read_text())
    assert saved["skipped"] == info["skipped"]
    assert victim not in {ln["id"] for ln in _lines(tmp_path / "out" / "ip")}
    assert not (tmp_path / "out" / "ip" / f"{victim}.mp4").exists()


def test_resume_keeps_matching_outputs_and_redoes_the_rest(root, tmp_path, monkeypatch):
    out = tmp_path / "out"
    G.generate_augvgg(root, out, "s", seed=0, limit=2)
    folder = out / "s"
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.mp4")}
    calls: list[str] = []
    real = G.encode_query

    def counting(path, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(G, "encode_query", counting)
    info = G.generate_augvgg(root, out, "s", seed=0, limit=2)
    assert calls == [] and info["counts"]["reused"] == 2 and info["counts"]["written"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.mp4")} == mtimes
    # a damaged output is redone; a larger limit adds the new queries only
    damaged = sorted(folder.glob("*.mp4"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    info = G.generate_augvgg(root, out, "s", seed=0, limit=3)
    assert len(calls) == 2 and info["counts"]["reused"] == 1 and info["counts"]["written"] == 2
    assert any(c.startswith(f".{damaged.name}") for c in calls)  # written to a temporary name, then renamed
    assert len(_lines(folder)) == 3 and not (folder / "manifest.jsonl.part").exists()
    assert not list(folder.glob(".*.tmp"))
    # another seed draws other parameters: nothing is reused
    calls.clear()
    info = G.generate_augvgg(root, out, "s", seed=1, limit=3)
    assert len(calls) == 3 and info["counts"]["reused"] == 0


def test_cli_data_augvgg(root, tmp_path, capsys):
    rc = main(["data", "augvgg", "--root", str(root), "--out", str(tmp_path / "q"), "--variant", "t", "--limit", "2",
               "--seed", "3", "--quiet"])
    assert rc == 0
    folder = tmp_path / "q" / "t"
    assert len(list(folder.glob("*.mp4"))) == 2 and len(_lines(folder)) == 2
    assert json.loads((folder / "info.json").read_text())["seed"] == 3
    assert "augvgg-t-v1: 2 queries" in capsys.readouterr().out
    assert main(["data", "augvgg", "--root", str(tmp_path / "absent"), "--out", str(tmp_path / "q"),
                 "--variant", "t"]) == 2
