"""`avbench pretrain`: every method trains end to end on real files (the synthetic world and a real-layout
fixture), resumes after a kill to the same weights, refuses a changed config, runs under torchrun with gloo, and
exports an encoder that the registry and `avbench eval` accept. Tiny widths and crops keep each run to seconds."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from avbench.cli.app import main
from avbench.pretrain.trainer import PretrainOptions, pretrain
from avbench.synth.world import WorldConfig, write_world

#: per-method overrides that make a run take seconds on a CPU (on top of the "small" preset)
TINY = {
    "crisscross": {"arch": {"video_width": 4, "audio_width": 4}, "crop": 32, "audio_seconds": 0.5,
                   "projector": [32, 32, 32], "predictor_hidden": 8, "frames": 4,
                   "train": {"epochs": 2, "batch_size": 4, "warmup_epochs": 0.5}},
    "avcl": {"arch": {"video_width": 4, "audio_width": 4}, "crop": 32, "mel_size": 40, "frames": 4,
             "train": {"epochs": 2, "batch_size": 4}},
    "temporal-ssl": {"arch": {"video_width": 4, "audio_width": 4}, "crop": 32, "frames": 4, "speeds": [1, 2],
                     "queue_size": 8, "m": 4, "k": 2, "proj_hidden": 16, "proj_dim": 8,
                     "train": {"epochs": 2, "batch_size": 4}},
}


def _sets(d: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _sets(v, f"{prefix}{k}.")
        else:
            out += ["--set", f"{prefix}{k}={json.dumps(v)}"]
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("world"), n_per_class=2, seed=3,
                       cfg=WorldConfig(n_classes=4, seconds=2.0, width=32, height=32))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["crisscross", "avcl", "temporal-ssl"])
def test_each_method_trains_from_the_cli_and_registers_as_an_encoder(method, world, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["pretrain", method, "--data", str(world), "--out", str(out), "--preset", "small", "--workers", "0",
               "--no-progress", "--cache-dir", str(tmp_path / "c"), *_sets(TINY[method])])
    assert rc == 0
    assert "encoder: " in capsys.readouterr().out
    for name in ("encoder.safetensors", "card.json", "loss_curve.png", "history.jsonl", "skipped.jsonl"):
        assert (out / name).is_file(), name
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == method and card["n_skipped"] == 0
    assert card["steps"] == card["total_steps"] == 2 * (card["n_videos"] // 4)
    assert card["arch"]["video_width"] == card["arch"]["audio_width"] == 4
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history] == list(range(1, card["steps"] + 1))
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in history)
    # the output is a registered encoder's weights: the registry builds it with the trained values
    from avbench.registry import build_encoder
    from avbench.validate.encoder import validate_encoder

    enc = build_encoder(method, weights=str(out))
    assert enc.meta.name == method and enc.meta.weights_sha256 == card["encoder_sha256"]
    assert enc.meta.embedding_dims == {"video": 32, "audio": 32}
    saved = load_file(str(out / "encoder.safetensors"))
    for key, value in enc.trunk("video").state_dict().items():
        assert torch.equal(saved[f"video.{key}"], value), key
    fresh = build_encoder(method, video_width=4, audio_width=4)
    assert any(not torch.equal(a, b) for a, b in zip(fresh.trunk("audio").state_dict().values(),
                                                      enc.trunk("audio").state_dict().values()))
    failed = [line for line, ok in validate_encoder(method, weights=str(out)) if not ok]
    assert not failed


@pytest.mark.slow
def test_crisscross_checkpoint_is_accepted_by_avbench_eval(world, tmp_path, capsys):
    from avbench.synth.world import write_world_esc50

    out = tmp_path / "run"
    assert main(["pretrain", "crisscross", "--data", str(world), "--out", str(out), "--preset", "small",
                 "--workers", "0", "--no-progress", *_sets(TINY["crisscross"])]) == 0
    esc = write_world_esc50(tmp_path / "esc", n_classes=3, clips_per_class=5, seed=0)
    rc = main(["eval", "--model", "crisscross", "--weights", str(out), "--task", "esc50", "--data-root", str(esc),
               "--set", "train.clips=2", "--set", "test.clips=2", "--cache-dir", str(tmp_path / "c"),
               "--out", str(tmp_path / "r"), "--no-progress", "--workers", "0"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "RANDOM INIT" not in printed
    record = json.loads(next((tmp_path / "r").rglob("*.json")).read_text())
    assert record["encoder"]["weights_sha256"] == json.loads((out / "card.json").read_text())["encoder_sha256"]


def _run(world: Path, out: Path, **kw) -> Path | None:
    overrides = {**TINY["crisscross"], "train": {**TINY["crisscross"]["train"], "epochs": 3, "checkpoint_every": 1}}
    return pretrain("crisscross", preset="small", overrides=overrides,
                    options=PretrainOptions(out=out, data=str(world), progress=False, log=lambda m: None, **kw))


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_run(world, tmp_path):
    full = _run(world, tmp_path / "full")
    assert _run(world, tmp_path / "killed", stop_after_steps=2) is None  # "killed" after step 2
    assert not (tmp_path / "killed" / "encoder.safetensors").exists()
    state = json.loads(next((tmp_path / "killed" / "checkpoints").glob("step-*/state.json")).read_text())
    assert state["step"] in (1, 2)
    resumed = _run(world, tmp_path / "killed")
    a, b = load_file(str(full)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5, rtol=0), (k, float((a[k] - b[k]).abs().max()))
    hist = [json.loads(x)["step"] for x in (tmp_path / "killed" / "history.jsonl").read_text().splitlines()]
    total = json.loads((tmp_path / "full" / "card.json").read_text())["steps"]
    assert hist == list(range(1, total + 1))  # no duplicated or lost steps in the history
    # a different configuration in the same --out is refused, naming the key
    with pytest.raises(ValueError, match="relaxation"):
        pretrain("crisscross", preset="small", overrides={**TINY["crisscross"], "relaxation": "none"},
                 options=PretrainOptions(out=tmp_path / "killed", data=str(world), progress=False, log=lambda m: None))


@pytest.mark.slow
def test_decode_cache_changes_speed_not_results(world, tmp_path):
    """Decoded videos kept in memory (filled before a forked worker starts) train to the same weights as decoding
    every file every epoch; a budget too small for any video still trains (nothing cached)."""
    plain = load_file(str(_run(world, tmp_path / "plain")))
    lines: list[str] = []
    cached = load_file(str(pretrain("crisscross", preset="small", overrides={
        **TINY["crisscross"], "train": {**TINY["crisscross"]["train"], "epochs": 3, "checkpoint_every": 1}},
        options=PretrainOptions(out=tmp_path / "cached", data=str(world), progress=False, log=lines.append,
                                workers=1, decode_cache_mb=64))))
    assert any("decode cache: 8 of 8 videos in memory" in x for x in lines), lines
    tiny = load_file(str(_run(world, tmp_path / "tiny", decode_cache_mb=0.001)))
    for k in plain:
        assert torch.allclose(plain[k], cached[k], atol=1e-5, rtol=0), k
        assert torch.allclose(plain[k], tiny[k], atol=1e-5, rtol=0), k


def test_decode_cache_keeps_failures_and_respects_its_budget(tmp_path):
    """A cached undecodable file is still a named skip on every read; the cache never exceeds its budget."""
    from avbench.pretrain.data import Item, PretrainDataset

    root = write_world(tmp_path / "w", n_per_class=1, seed=5, cfg=WorldConfig(n_classes=3, seconds=1.0,
                                                                              width=32, height=32))
    good = sorted(root.rglob("*.mp4"))
    bad = tmp_path / "text.mp4"
    bad.write_text("not a video")
    items = [Item("bad", bad)] + [Item(p.stem, p) for p in good]

    def sampler(d, gen):
        return {"first": d.frames[0].float().mean().reshape(1)}

    one_video = 32 * 32 * 3 * 16 + 16000 * 4  # frames [16, 32, 32, 3] uint8 + 1 s of float32 audio at 16 kHz
    ds = PretrainDataset(items, sampler, fps=16.0, sample_rate=16000, seed=0, cache_mb=1.5 * one_video / 2**20)
    n, mib = ds.warm()
    assert n == 1 and mib * 2**20 <= 1.5 * one_video
    plain = PretrainDataset(items, sampler, fps=16.0, sample_rate=16000, seed=0)
    for _ in range(2):
        assert ds[0]["skip"][0] == "bad" and "skip" in plain[0]
        assert ds[0]["skip"][2] == plain[0]["skip"][2]
        for i in range(1, len(items)):
            assert torch.equal(ds[i]["first"], plain[i]["first"])


@pytest.mark.slow
def test_loss_falls_in_a_short_run(world, tmp_path):
    """16 steps of CrissCross: the SimSiam-style loss starts near 0 (random projections are uncorrelated) and
    heads for -1; measured: first four steps -0.02 on average, last four -0.18."""
    over = {**TINY["crisscross"], "projector": [128, 128, 128], "predictor_hidden": 32,
            "train": {**TINY["crisscross"]["train"], "epochs": 8, "lr": 2e-2, "batch_size": 8, "clips_per_video": 2}}
    pretrain("crisscross", preset="small", overrides=over,
             options=PretrainOptions(out=tmp_path / "r", data=str(world), progress=False, log=lambda m: None))
    losses = [json.loads(x)["loss"] for x in (tmp_path / "r" / "history.jsonl").read_text().splitlines()]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.05, losses


@pytest.mark.slow
def test_real_layout_fixture_trains_and_records_videos_without_audio(tmp_path):
    """The Kinetics-Sound fixture (official layout) has videos without an audio stream: they are skipped with
    the reason, listed in skipped.jsonl and counted in the card, never dropped silently."""
    from avbench.synth.video_fixtures import write_kinetics400

    root = write_kinetics400(tmp_path / "ks", n_classes=3, train_per_class=4, val_per_class=1, missing=1, seed=1)
    out = tmp_path / "run"
    pretrain("crisscross", preset="small", overrides=TINY["crisscross"],
             options=PretrainOptions(out=out, data=str(root), progress=False, log=lambda m: None))
    card = json.loads((out / "card.json").read_text())
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert card["n_skipped"] == len(skipped) >= 2
    reasons = {s["reason"] for s in skipped}
    assert "missing file" in " ".join(reasons) or any("no audio stream" in r for r in reasons)
    assert card["data_description"].startswith("kinetics400 train split")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_process_gloo_pretraining(world, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "avbench", "pretrain", "crisscross", "--data", str(world),
           "--out", str(out), "--preset", "small", "--workers", "0", "--no-progress", *_sets(TINY["crisscross"])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((out / "card.json").read_text())
    assert card["world_size"] == 2 and card["steps"] == 2 * (card["n_videos"] // 4)
    assert done.stdout.count("encoder: ") == 1  # rank 0 alone exports and reports


def test_bad_config_is_a_clear_cli_error(world, tmp_path, capsys):
    rc = main(["pretrain", "crisscross", "--data", str(world), "--out", str(tmp_path / "x"), "--set",
               "relaxation=sideways"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "relaxation" in err and "sideways" in err
    rc = main(["pretrain", "avcl", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "y")])
    assert rc == 2 and "nowhere" in capsys.readouterr().err
    # a --config file that is not a mapping, or a --set value that is not YAML: one line, exit 2, before any work
    listed = tmp_path / "list.yaml"
    listed.write_text("- train\n- lr\n")
    rc = main(["pretrain", "crisscross", "--data", str(world), "--out", str(tmp_path / "z"), "--config", str(listed)])
    assert rc == 2 and "list.yaml: a pretraining config must be a YAML mapping" in capsys.readouterr().err
    rc = main(["pretrain", "crisscross", "--data", str(world), "--out", str(tmp_path / "z"), "--set", "terms=[a1a2"])
    assert rc == 2 and "--set terms" in capsys.readouterr().err
    assert not (tmp_path / "z").exists()
