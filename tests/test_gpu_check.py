"""benchmarks/gpu_check.py --dry-run (issue 21, item 8): the prepared device check runs every task family and
every speed ratio end to end on the CPU at toy sizes, through the same code as on a GPU, and writes one JSON in
which every entry says ok with finite numbers; a family that fails is recorded as an error and fails the check."""
from __future__ import annotations

import json
import math

import pytest

from tests._bench import load_benchmark


def _strict(text: str) -> dict:
    def refuse(token: str):
        raise AssertionError(f"non-finite {token} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


@pytest.mark.slow
def test_dry_run_runs_every_family_and_ratio_and_writes_one_finite_json(tmp_path):
    script = load_benchmark("gpu_check")
    out = tmp_path / "check.json"
    doc = script.main(["--dry-run", "--out", str(out), "--work", str(tmp_path / "work")])
    on_disk = _strict(out.read_text())
    assert on_disk == json.loads(json.dumps(doc))
    assert on_disk["schema"] == "avbench-gpu-check/1" and on_disk["dry_run"] is True and on_disk["ok"] is True
    assert sorted(on_disk["families"]) == sorted(script.FAMILIES)  # the JSON is written with sorted keys
    assert set(script.FAMILIES) >= {"esc50", "dcase", "ucf101-linear", "ucf101-linear-32f", "ucf101-retrieval",
                                    "ucf101-knn", "ucf101-finetune", "ksounds-fusion", "augvgg-ip", "pretrain"}
    for name, row in on_disk["families"].items():
        assert row["status"] == "ok", (name, row.get("error"))
        assert row["seconds"] > 0
        if name == "pretrain":
            assert row["steps"] == on_disk["sizes"]["pretrain_steps"]
        else:
            assert 0.0 <= row["top1"] <= 100.0 and row["device"].startswith("cpu")
    assert set(on_disk["ratios"]) == {"svm_sweep", "extraction", "esc50_protocol"}
    for name, row in on_disk["ratios"].items():
        assert row["status"] == "ok", (name, row.get("error"))
        assert row["ratio"] > 0
    svm, ext, esc = (on_disk["ratios"][k] for k in ("svm_sweep", "extraction", "esc50_protocol"))
    assert svm["sklearn_seconds"] > 0 and svm["torch_seconds"] > 0 and svm["backend"] == "torch-cpu"
    assert math.isclose(svm["ratio"], svm["sklearn_seconds"] / svm["torch_seconds"], rel_tol=1e-9)
    assert ext["forward_only_clips_per_s"] > 0 and set(ext["pipeline_clips_per_s"]) == {"train", "test"}
    assert esc["wall_seconds"] > 0 and esc["audio_seconds"] == 5.0 * esc["clips"] and 0 <= esc["top1"] <= 100
    for path, value in _numbers(on_disk):
        assert math.isfinite(value), path


def test_a_failing_family_is_an_error_row_and_fails_the_check(tmp_path, monkeypatch):
    script = load_benchmark("gpu_check")
    from _gpu import families

    monkeypatch.setitem(families.CARDS, "dcase", families.Family("dcase", families.CARDS["dcase"].fixture,
                                                                  {"classifier": {"epochs": -1}}))
    doc = script.main(["--dry-run", "--out", str(tmp_path / "c.json"), "--work", str(tmp_path / "w"),
                       "--families", "dcase", "--no-ratios"])
    row = doc["families"]["dcase"]
    assert doc["ok"] is False and row["status"] == "error" and "epochs" in row["error"] and "\n" not in row["error"]
    assert _strict((tmp_path / "c.json").read_text())["ok"] is False
