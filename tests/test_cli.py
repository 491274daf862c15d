"""The avbench command line, run in-process through avbench.cli.main."""
from __future__ import annotations

import json

from avbench.cli.app import main


def test_list_tasks_and_models(capsys):
    assert main(["list", "tasks"]) == 0
    out = capsys.readouterr().out
    assert "esc50" in out and "dcase" in out and "svm/paper" in out
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "crisscross" in out and "video 15.4M" in out and "audio+video" in out or "video+audio" in out


def test_validate_cards_and_encoder(capsys, tmp_path):
    assert main(["validate", "esc50", "dcase", "--model", "crisscross"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "batch invariant" in out and "deterministic" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main(["validate", str(bad)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_eval_prints_table_and_record(esc50_root, tmp_path, capsys):
    code = main(["eval", "--model", "crisscross", "--task", "esc50", "--data-root", str(esc50_root),
                 "--set", "train.clips=1", "--set", "test.clips=1", "--selection", "clean", "--backend", "sklearn",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "RANDOM INIT (seed 0)" in out.splitlines()[0]
    assert "fold5" in out and "mean ± std" in out and "backend sklearn" in out and "skipped 4 sample(s)" in out
    path = out.strip().splitlines()[-1].removeprefix("record: ")
    rec = json.loads(open(path).read())
    assert rec["selection"] == "clean" and rec["runs"][0]["backend"].startswith("sklearn")
    assert rec["task"]["card"]["train"]["clips"] == 1 and rec["provenance"]["command"].startswith("avbench eval")


def test_errors_are_clear_and_exit_2(tmp_path, capsys):
    assert main(["eval", "--model", "nope", "--task", "esc50", "--data-root", str(tmp_path)]) == 2
    assert "unknown encoder 'nope'" in capsys.readouterr().err
    assert main(["eval", "--model", "crisscross", "--task", "esc50", "--data-root", str(tmp_path / "absent")]) == 2
    assert "esc50.csv" in capsys.readouterr().err


def test_data_fixture_verify_and_cache(tmp_path, capsys):
    root = tmp_path / "esc"
    assert main(["data", "fixture", "esc50", "--out", str(root), "--classes", "2", "--per-class", "5"]) == 0
    assert main(["data", "verify", "esc50", "--root", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])
    assert report["found"] == report["expected"] == 10
    (root / "audio" / next(iter(sorted((root / "audio").iterdir()))).name).write_bytes(b"")
    assert main(["data", "verify", "esc50", "--root", str(root)]) == 1
    assert "undecodable: 1" in capsys.readouterr().out
    assert main(["cache", "--cache-dir", str(tmp_path / "none"), "ls"]) == 0
    assert "no cached features" in capsys.readouterr().out
