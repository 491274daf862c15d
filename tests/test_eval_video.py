"""End to end on fixture videos in the official UCF101 / HMDB51 layouts: real PyAV decoding, the CrissCross
R(2+1)D-18 trunk (random init, 64 px clips to keep CI fast), the card's pooling, and each protocol."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from avbench.results import read_sidecar, shipped_schema_path
from avbench.evaluation.runner import RunOptions, run
from avbench.synth.video_fixtures import write_hmdb51, write_ucf101

SMALL = {"video": {"size": 64, "resize": 72}, "splits": ["split1"], "train": {"clips": 2}, "test": {"clips": 2},
         "batch_size": 8}


def _opts(tmp: Path) -> RunOptions:
    return RunOptions(cache_dir=tmp / "cache", out_dir=tmp / "out", log=lambda m: None, num_workers=0)


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory) -> Path:
    return write_ucf101(tmp_path_factory.mktemp("ucf") / "UCF101", n_classes=4, groups=3, clips_per_group=2, seed=0)


@pytest.fixture(scope="module")
def ucf_linear(ucf_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ucf_linear")
    record, path = run("crisscross", "ucf101-linear", data_root=ucf_root, overrides=SMALL, options=_opts(tmp))
    return record, path, tmp


def test_linear_svm_record_is_complete(ucf_linear):
    record, path, _ = ucf_linear
    jsonschema.validate(json.loads(path.read_text()), json.loads(shipped_schema_path().read_text()))
    assert record.task.name == "ucf101-linear" and record.protocol == "svm-paper"
    assert record.task.track == "override" and record.task.overrides["video"]["size"] == 64  # flagged track
    assert record.features["seed0"]["train"]["dim"] == 8192  # conv5x adaptive max (1,4,4)
    run0 = record.runs[0]
    assert run0.n_train_rows == 2 * run0.n_train_samples and run0.n_test_rows == 2 * run0.n_test_samples
    assert [s["C"] for s in run0.sweep] == [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1.0]
    assert 0.0 <= record.metrics["top1"].mean <= 100.0
    # the exact evaluated ids are hashed in the record and listed in the ids sidecar
    ids_path = path.parent / record.data.ids_sidecar.path
    rows = [json.loads(line) for line in gzip.open(ids_path, "rt")]
    assert {(r["split"], r["side"]) for r in rows} == {("split1", "train"), ("split1", "test")}
    test_ids = next(r["ids"] for r in rows if r["side"] == "test")
    assert len(test_ids) == run0.n_test_samples and all(i.count("/") == 1 for i in test_ids)


def test_sidecar_recomputes_video_metrics(ucf_linear):
    record, path, _ = ucf_linear
    rows = read_sidecar(path.parent / record.sidecar.path)
    acc = 100.0 * np.mean([int(np.argmax(r["scores"])) == r["label"] for r in rows])
    assert acc == pytest.approx(record.metrics["top1"].per_split["split1"])


def test_clean_selection_groups_by_ucf_group(ucf_linear, ucf_root):
    _, _, tmp = ucf_linear
    clean, _ = run("crisscross", "ucf101-linear", data_root=ucf_root,
                   overrides={**SMALL, "classifier": {"selection": "clean", "cv_folds": 3}}, options=_opts(tmp))
    assert clean.features["seed0"]["train"]["shards_computed"] == 0  # selection reuses the cached features
    for fold in clean.runs[0].info["cv"]:
        assert not set(fold["val_groups"]) & set(fold["train_groups"])
        assert all(g.startswith("g") for g in fold["val_groups"])


def test_retrieval_and_knn_end_to_end(ucf_root, tmp_path):
    small = {**SMALL, "video": {"frames": 8, "size": 64, "resize": 72}}
    # the fixture's split-1 gallery is smaller than 20 videos, so R@20 is replaced by R@10
    ret_small = {**small, "classifier": {"ks": [1, 5, 10]}, "metrics": ["recall1", "recall5", "recall10"]}
    ret, ret_path = run("crisscross", "ucf101-retrieval", data_root=ucf_root, overrides=ret_small, options=_opts(tmp_path))
    assert ret.protocol == "retrieval-none" and set(ret.metrics) == {"recall1", "recall5", "recall10"}
    assert ret.metrics["recall1"].mean <= ret.metrics["recall5"].mean <= ret.metrics["recall10"].mean
    rows = read_sidecar(ret_path.parent / ret.sidecar.path)
    assert all(len(r["neighbours"]) == 10 for r in rows)
    r1 = 100.0 * np.mean([r["label"] in r["neighbour_labels"][:1] for r in rows])
    assert r1 == pytest.approx(ret.metrics["recall1"].mean)
    knn, _ = run("crisscross", "ucf101-knn", data_root=ucf_root, overrides=small, options=_opts(tmp_path))
    assert knn.protocol == "knn-none" and knn.runs[0].selected == {"k": 1}
    assert ret.features["seed0"]["test"]["dim"] == knn.features["seed0"]["test"]["dim"] == 512


def test_hmdb51_fc_protocol_with_bad_files_recorded(tmp_path):
    root = write_hmdb51(tmp_path / "hmdb", n_classes=3, per_class=6, seed=0)
    victim = sorted(root.rglob("*.avi"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # damaged beyond use
    overrides = {**SMALL, "classifier": {"epochs": 2, "batch_size": 16}}
    record, _ = run("crisscross", "hmdb51-linear-32f", data_root=root,
                    overrides={**overrides, "video": {"frames": 8, "size": 64, "resize": 72}}, options=_opts(tmp_path))
    assert record.protocol == "fc-paper" and record.runs[0].selected.get("epoch") in (1, 2)
    skipped = {s["path"]: s["reason"] for s in record.data.skipped}
    assert any(Path(p).name == victim.name for p in skipped), skipped


def test_multi_layer_probe_reports_each_layer(ucf_root, tmp_path):
    """AVID's probe: conv3x/conv4x pooled by their own adaptive sizes, classified separately, reported as
    top1@<layer>; the stored rows hold the main layer's columns first, then each probed layer's."""
    overrides = {**SMALL, "video": {"frames": 8, "size": 64, "resize": 72},
                 "features": {"probe_layers": {"conv3x": {"type": "adaptive_max", "output": [1, 8, 8]},
                                               "conv4x": {"type": "adaptive_max", "output": [1, 6, 6]}}},
                 "classifier": {"costs": [1e-3, 1.0]}}
    record, _ = run("crisscross", "ucf101-linear", data_root=ucf_root, overrides=overrides, options=_opts(tmp_path))
    assert record.features["seed0"]["train"]["dim"] == 512 * 16 + 128 * 64 + 256 * 36
    assert {r.layer for r in record.runs} == {"conv5x", "conv3x", "conv4x"}
    assert {"top1", "top1@conv3x", "top5@conv4x"} <= set(record.metrics)
    conv3 = next(r for r in record.runs if r.layer == "conv3x")
    assert set(conv3.metrics) == {"top1@conv3x", "top5@conv3x"} and len(conv3.sweep) == 2


def test_probing_a_layer_the_encoder_lacks_fails_before_extraction(ucf_root, tmp_path):
    from avbench.encoder import GeometryError

    overrides = {**SMALL, "features": {"probe_layers": {"conv9x": {"type": "adaptive_max", "output": [1, 2, 2]}}}}
    with pytest.raises(GeometryError, match="conv9x"):
        run("crisscross", "ucf101-linear", data_root=ucf_root, overrides=overrides, options=_opts(tmp_path))
    assert not (tmp_path / "cache" / "features").exists()
