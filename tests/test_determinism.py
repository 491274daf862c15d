"""Determinism on CPU: the same CLI command run twice (caches removed in between, so everything is recomputed)
gives identical records apart from the timing/host fields listed in :data:`VARYING`, and the record lists every
seed it used. Covered: `avbench pretrain` (the encoder every other test here evaluates), an audio linear task
(esc50), a video linear task (ucf101-linear) and a short finetune (ucf101-finetune)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from avbench.cli.app import main
from avbench.results import read_sidecar
from avbench.evaluation.runner import _bootstrap_ci
from avbench.synth.video_fixtures import write_ucf101
from avbench.synth.world import WorldConfig, write_world, write_world_esc50

#: record fields allowed to differ between two runs of the same command: (path, key) with "*" for any key.
VARYING = (("provenance", "wall_seconds"), ("provenance", "peak_rss_bytes"), ("provenance", "peak_cuda_bytes"),
           ("provenance", "created_utc"), ("runs.*.info", "classifier_seconds"), ("runs.*.info", "fit_seconds"),
           ("runs.*.sweep.*", "fit_seconds"), ("runs.*.sweep.*", "seconds"), ("features.*.*", "seconds"))
#: pretraining card fields allowed to differ (out dir in the command, timing; the safetensors header embeds the
#: card, so its sha256 differs too) and the history's throughput.
VARYING_CARD = ("command", "wall_seconds_this_process", "encoder_sha256")
VARYING_HISTORY = ("clips_per_s",)

PRETRAIN = ["--preset", "small", "--set", "arch.video_width=4", "--set", "arch.audio_width=4",
            "--set", "arch.video_depth=10", "--set", "arch.audio_depth=10", "--set", "arch.min_size=32", "--set", "crop=32",
            "--set", "frames=4", "--set", "audio_seconds=0.5", "--set", "projector=[16,16,16]",
            "--set", "predictor_hidden=8", "--set", "train.epochs=1", "--set", "train.batch_size=4",
            "--workers", "0", "--no-progress"]


def _strip(record: dict) -> dict:
    """``record`` without the :data:`VARYING` fields."""
    out = json.loads(json.dumps(record))
    for path, key in VARYING:
        nodes = [out]
        for part in path.split("."):
            nodes = [v for n in nodes for v in (n.values() if part == "*" and isinstance(n, dict)
                                                else n if part == "*" else [n.get(part, {})])]
        for n in nodes:
            if isinstance(n, dict):
                n.pop(key, None)
    return out


def _eval_twice(args: list[str], tmp: Path) -> tuple[dict, dict, Path]:
    """Run ``avbench eval ARGS --cache-dir tmp/cache --out tmp/out`` twice with exactly the same command line,
    removing the cache and outputs in between; returns both records and the second record's path."""
    argv = ["eval", *args, "--cache-dir", str(tmp / "cache"), "--out", str(tmp / "out"), "--no-progress",
            "--workers", "0"]
    records = []
    for _ in range(2):
        shutil.rmtree(tmp / "cache", ignore_errors=True)
        shutil.rmtree(tmp / "out", ignore_errors=True)
        assert main(argv) == 0
        (path,) = [p for p in (tmp / "out").rglob("*.json")]
        records.append(json.loads(path.read_text()))
    return records[0], records[1], path


def _diff(a: object, b: object, at: str = "") -> list[str]:
    """Dotted paths where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in _diff(a.get(k), b.get(k), f"{at}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{at}.{i}")]
    return [] if a == b else [at]


def _assert_same(a: dict, b: dict) -> None:
    sa, sb = _strip(a), _strip(b)
    assert sa == sb, _diff(sa, sb)
    assert a["provenance"]["command"] == b["provenance"]["command"]
    assert a["provenance"]["wall_seconds"] > 0 and a["provenance"]["created_utc"]  # the varying fields exist


def _assert_seeds_listed(record: dict, path: Path) -> None:
    """Every seed the run used is in the record: run seeds (per-run, per-view, per-prediction), the encoder's
    init seed, and the bootstrap seed, which reproduces the recorded confidence interval from the sidecar."""
    seeds = record["provenance"]["seeds"]
    assert {r["seed"] for r in record["runs"]} == set(seeds)
    assert set(record["features"]) <= {f"seed{s}" for s in seeds}
    rows = read_sidecar(path.parent / record["sidecar"]["path"])
    assert {r["seed"] for r in rows} == set(seeds)
    assert "init_seed" in record["encoder"] and isinstance(record["provenance"]["bootstrap_seed"], int)
    metric = record["task"]["card"]["metrics"][0]
    assert metric == "top1"
    correct: dict[str, list[np.ndarray]] = {}
    for split in record["metrics"][metric]["per_split"]:
        for seed in seeds:
            sel = [r for r in rows if r["split"] == split and r["seed"] == seed and "layer" not in r]
            hits = [100.0 * (sum(x >= r["scores"][r["label"]] for x in r["scores"]) - 1 < 1) for r in sel]
            correct.setdefault(split, []).append(np.array(hits))
    seed = record["provenance"]["bootstrap_seed"]
    ci = _bootstrap_ci({sp: np.mean(v, axis=0) for sp, v in correct.items()}, seed=seed)
    assert ci == pytest.approx(tuple(record["metrics"][metric]["ci95"]), abs=1e-9)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("world"), n_per_class=2, seed=3,
                       cfg=WorldConfig(n_classes=4, seconds=2.0, width=32, height=32))


@pytest.fixture(scope="module")
def pretrained(world, tmp_path_factory) -> tuple[Path, Path]:
    """The same `avbench pretrain` command (but its --out) run twice: a width-4 CrissCross."""
    tmp = tmp_path_factory.mktemp("pretrain")
    outs = (tmp / "a", tmp / "b")
    for out in outs:
        assert main(["pretrain", "crisscross", "--data", str(world), "--out", str(out), "--cache-dir",
                     str(tmp / "cache"), *PRETRAIN]) == 0
    return outs


def test_pretraining_twice_gives_identical_weights_and_card(pretrained):
    a, b = pretrained
    wa, wb = load_file(str(a / "encoder.safetensors")), load_file(str(b / "encoder.safetensors"))
    assert wa.keys() == wb.keys() and len(wa) > 100
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ca, cb = (json.loads((d / "card.json").read_text()) for d in pretrained)
    assert {k for k in ca.keys() | cb.keys() if ca.get(k) != cb.get(k)} <= set(VARYING_CARD)
    assert ca["seed"] == 0 and ca["init_seed"] == 0  # the seeds of data order / views and of the initialisation
    ha, hb = ([{k: v for k, v in json.loads(x).items() if k not in VARYING_HISTORY}
               for x in (d / "history.jsonl").read_text().splitlines()] for d in pretrained)
    assert ha == hb and len(ha) == ca["steps"] == 2


def test_audio_linear_twice(pretrained, tmp_path):
    esc = write_world_esc50(tmp_path / "esc", n_classes=2, clips_per_class=5, seed=0)
    a, b, path = _eval_twice(["--model", "crisscross", "--weights", str(pretrained[0]), "--task", "esc50",
                              "--data-root", str(esc), "--seeds", "2", "--set", "train.clips=2",
                              "--set", "test.clips=2", "--set", "splits=[fold1,fold2]",
                              "--set", "classifier.costs=[0.01,1.0]"], tmp_path)
    _assert_same(a, b)
    assert a["provenance"]["seeds"] == [0, 1] and set(a["features"]) == {"seed0", "seed1"}
    assert a["features"]["seed0"]["train_seeded"] and a["features"]["seed0"]["train"]["shards_computed"] > 0
    _assert_seeds_listed(b, path)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory) -> Path:
    return write_ucf101(tmp_path_factory.mktemp("ucf") / "UCF101", n_classes=2, groups=3, clips_per_group=1, seed=0)


def test_video_linear_twice(pretrained, ucf, tmp_path):
    a, b, path = _eval_twice(["--model", "crisscross", "--weights", str(pretrained[0]), "--task", "ucf101-linear",
                              "--data-root", str(ucf), "--set", "video.size=32", "--set", "video.resize=36",
                              "--set", "splits=[split1]", "--set", "train.clips=2", "--set", "test.clips=2",
                              "--set", "classifier.costs=[0.01,1.0]"], tmp_path)
    _assert_same(a, b)
    _assert_seeds_listed(b, path)


def test_finetune_twice(pretrained, ucf, tmp_path):
    a, b, path = _eval_twice(["--model", "crisscross", "--weights", str(pretrained[0]), "--task", "ucf101-finetune",
                              "--data-root", str(ucf), "--set", "video.size=32", "--set", "video.resize=36",
                              "--set", "splits=[split1]", "--set", "train.clips=1", "--set", "test.clips=2",
                              "--set", "classifier.epochs=2", "--set", "classifier.batch_size=4",
                              "--set", "classifier.buffer_videos=2"], tmp_path)
    _assert_same(a, b)
    assert len(a["runs"][0]["sweep"]) == 2  # both epochs ran, twice, to the same numbers
    _assert_seeds_listed(b, path)
