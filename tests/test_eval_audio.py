"""End to end: real fixture files in the official layouts -> PyAV -> CrissCross (random init) -> SVM/fc -> record."""
from __future__ import annotations

import hashlib
import json

import jsonschema
import numpy as np
import pytest
import torch

from avbench.encoder import GeometryError
from avbench.features.extract import View, extract_view
from avbench.registry import build_encoder
from avbench.results import read_sidecar, shipped_schema_path
from avbench.evaluation.runner import RunOptions, run
from avbench.features.store import FeatureStore
from avbench.taskcard import load_card

SMALL = {"train": {"clips": 2}, "test": {"clips": 3}}


def _opts(tmp_path, **kw):
    return RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None, **kw)


@pytest.fixture(scope="module")
def esc50_run(esc50_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    record, path = run("crisscross", "esc50", data_root=esc50_root, overrides=SMALL, options=_opts(tmp))
    return record, path, tmp


def test_record_is_complete_and_valid(esc50_run):
    record, path, _ = esc50_run
    data = json.loads(path.read_text())
    jsonschema.validate(data, json.loads(shipped_schema_path().read_text()))
    top1 = record.metrics["top1"]
    assert set(top1.per_split) == {f"fold{k}" for k in range(1, 6)}
    assert top1.mean > 50.0, top1  # 5 learnable classes: chance is 20%
    assert top1.ci95[0] <= top1.mean <= top1.ci95[1]
    assert record.selection == "paper" and "TEST" in record.selection_note
    for r in record.runs:
        assert r.selected["C"] in load_card("esc50").classifier.costs and len(r.sweep) == 8
        assert r.n_train_rows == 2 * r.n_train_samples and r.n_test_rows == 3 * r.n_test_samples
    assert record.runs[0].backend.startswith("torch")
    prov = record.provenance
    assert prov.packages["torch"] and prov.packages["av"] and "ffmpeg" in prov.ffmpeg.lower() and prov.seeds == [0]
    assert record.encoder.weights_sha256 is None and record.encoder.init_seed == 0 and len(record.encoder.state_sha256) == 64


def test_bad_files_are_named_skips_not_silent_drops(esc50_run):
    record, _, _ = esc50_run
    reasons = {s["id"]: s["reason"] for s in record.data.skipped}
    assert len(reasons) == 4, reasons
    assert "missing" in reasons["4-900004-A-0"]
    assert "zero" in reasons["1-900001-A-0"].lower() or "empty" in reasons["1-900001-A-0"].lower()
    assert "too short" in reasons["3-900003-A-0"]
    assert record.data.expected == 55 and record.data.found == 54  # the missing file is not found
    assert sum(r.n_test_samples for r in record.runs) == 51  # every usable file tested exactly once
    damaged = {d["id"]: d["reason"] for d in record.data.damaged}
    assert list(damaged) == ["5-900005-A-0"] and "truncated" in damaged["5-900005-A-0"]  # kept, but recorded


def test_sidecar_recomputes_the_metrics(esc50_run):
    record, path, _ = esc50_run
    side = path.parent / record.sidecar.path
    assert hashlib.sha256(side.read_bytes()).hexdigest() == record.sidecar.sha256
    rows = read_sidecar(side)
    assert len(rows) == record.sidecar.rows == 51
    for split, value in record.metrics["top1"].per_split.items():
        sel = [r for r in rows if r["split"] == split]
        acc = 100.0 * np.mean([int(np.argmax(r["scores"])) == r["label"] for r in sel])
        assert acc == pytest.approx(value)


def test_rerun_reuses_features_and_clean_selection_needs_no_extraction(esc50_run, esc50_root):
    record, _, tmp = esc50_run
    again, _ = run("crisscross", "esc50", data_root=esc50_root, overrides=SMALL, options=_opts(tmp))
    assert again.features["seed0"]["train"]["shards_computed"] == 0
    assert again.metrics["top1"].mean == record.metrics["top1"].mean
    clean, clean_path = run("crisscross", "esc50", data_root=esc50_root,
                            overrides={**SMALL, "classifier": {"selection": "clean"}}, options=_opts(tmp))
    assert clean.features["seed0"]["test"]["shards_computed"] == 0  # selection does not change features
    assert clean.selection == "clean" and clean_path.name.startswith("svm-clean-")
    assert all("cv_top1" in s for r in clean.runs for s in r.sweep)


def test_features_do_not_depend_on_batch_size(esc50_root, tmp_path):
    from avbench.datasets import get_dataset

    card = load_card("esc50")
    enc = build_encoder("crisscross")
    samples = get_dataset("esc50").load(esc50_root).samples[:3]
    view = View(side="train", modality="audio", clip=card.audio, sampling=card.train.model_copy(update={"clips": 3}),
                features=card.features, layer="conv5x", seed=0)
    store = FeatureStore(tmp_path)
    outs = []
    for bs in (1, 4):
        entry = store.entry({"bs": bs})
        outs.append(extract_view(enc, samples, view, entry, device=torch.device("cpu"), batch_size=bs).features[0])
    assert outs[0].shape == (9, 4608)
    assert torch.allclose(outs[0], outs[1], atol=1e-4, rtol=1e-4)
    # different clips of one sample got different crops / augmentation
    assert not torch.allclose(outs[0][0], outs[0][1])


def test_resume_after_interruption_recomputes_nothing_finished(esc50_root, tmp_path):
    from avbench.datasets import get_dataset

    card = load_card("esc50")
    enc = build_encoder("crisscross")
    samples = get_dataset("esc50").load(esc50_root).samples[:6]
    view = View(side="test", modality="audio", clip=card.audio, sampling=card.test.model_copy(update={"clips": 1}),
                features=card.features, layer="conv5x", seed=None)
    entry = FeatureStore(tmp_path).entry({"resume": 1})
    done = []

    def die_after_first_shard(n):
        done.append(n)
        if len(done) == 3:  # shard 0 (2 samples) is written, shard 1 is in flight
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_view(enc, samples, view, entry, device=torch.device("cpu"), shard_size=2, progress=die_after_first_shard)
    assert entry.has_shard(0) and not entry.has_shard(1)
    out = extract_view(enc, samples, view, entry, device=torch.device("cpu"), shard_size=2)
    assert out.stats["shards_computed"] == 2 and out.stats["shards_reused"] == 1
    full = extract_view(enc, samples, view, FeatureStore(tmp_path).entry({"resume": 2}), device=torch.device("cpu"), shard_size=2)
    assert torch.equal(torch.cat(out.features), torch.cat(full.features))


def test_trim_option_reproduces_the_released_code(esc50_root, tmp_path):
    from avbench.datasets import get_dataset

    card = load_card("esc50", {"test": {"trim_to_first_clip": True}})
    enc = build_encoder("crisscross")
    sample = [s for s in get_dataset("esc50").load(esc50_root).samples][:1]
    view = View(side="test", modality="audio", clip=card.audio, sampling=card.test, features=card.features,
                layer="conv5x", seed=None)
    feats = extract_view(enc, sample, view, FeatureStore(tmp_path).entry({"t": 1}), device=torch.device("cpu")).features[0]
    assert feats.shape[0] == 10 and torch.allclose(feats, feats[:1].expand_as(feats))  # 10 identical windows


def test_geometry_mismatch_fails_before_any_work(esc50_root, tmp_path):
    with pytest.raises(GeometryError, match="60.0 s"):
        run("crisscross", "esc50", data_root=esc50_root, overrides={"audio": {"seconds": 60.0}}, options=_opts(tmp_path))
    assert not (tmp_path / "cache").exists()


def test_dcase_fc_protocol_end_to_end(dcase_root, tmp_path):
    record, _ = run("crisscross", "dcase", data_root=dcase_root,
                    overrides={"train": {"clips": 4}, "test": {"clips": 4}, "classifier": {"epochs": 30}},
                    options=_opts(tmp_path))
    r = record.runs[0]
    assert r.split == "official" and r.n_test_samples == 12 and r.n_train_samples == 12
    assert "epoch" in r.selected and record.metrics["top1"].mean > 25.0  # 4 classes
