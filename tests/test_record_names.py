"""Records never overwrite each other and never leave ``--out`` (issue 15, case 5); a nondeterministic encoder
is flagged (case 6).

Before: the record's name ignored the weights and the source, so a Python-API run of a live model overwrote a CLI
run's record of the same state; an encoder named ``../../x`` wrote its record outside ``--out``; an encoder that
gave 46.7 then 40.0 for the same command left no trace of it in either record.
"""
from __future__ import annotations

import json

import pytest

from avbench.cli.app import main
from avbench.registry import build_encoder
from avbench.results import RecordPathError, record_path
from avbench.evaluation.runner import RunOptions, run
from tests._toys import ToyAudio

FAST = {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"], "classifier": {"costs": [0.01, 1.0]}}


def _opts(tmp_path, **kw):
    return RunOptions(**{"cache_dir": tmp_path / "cache", "out_dir": tmp_path / "out", "log": lambda m: None, **kw})


def test_a_live_model_and_a_registered_one_of_the_same_state_keep_two_records(esc50_root, tmp_path):
    cli, cli_path = run("tests._toys:build", "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    live = build_encoder("tests._toys:build")
    api, api_path = run(live, "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert api.encoder.state_sha256 == cli.encoder.state_sha256 and api_path != cli_path
    assert json.loads(cli_path.read_text())["encoder"]["source"] == "tests._toys:build"  # not overwritten
    for rec, path in ((cli, cli_path), (api, api_path)):
        name = path.name
        assert name.startswith("svm-paper-toy-state_" + rec.encoder.state_sha256[:12])
        assert f"card_{rec.task.card_sha256[:8]}" in name and f"run_{rec.provenance.run_id[:8]}" in name
        for side in (rec.sidecar.path, rec.data.ids_sidecar.path):
            assert (path.parent / side).is_file()


def test_the_same_run_replaces_its_record_and_a_foreign_file_is_kept(esc50_root, tmp_path):
    logs: list[str] = []
    _, first = run(ToyAudio(), "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    _, again = run(ToyAudio(), "esc50", data_root=esc50_root, overrides=FAST,
                   options=_opts(tmp_path, log=logs.append))
    assert again == first and any("replacing the earlier record of the same run" in m for m in logs)
    data = json.loads(first.read_text())
    data["provenance"]["run_id"] = "another run"
    first.write_text(json.dumps(data))  # e.g. a record of an older schema or another run under this name
    logs.clear()
    _, third = run(ToyAudio(), "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path, log=logs.append))
    assert third.name == first.name.replace(".json", "-2.json") and json.loads(first.read_text())["provenance"]["run_id"] == "another run"
    assert any("holds another run's record" in m for m in logs)


def test_a_hostile_encoder_name_stays_inside_out(esc50_root, tmp_path):
    record, path = run(ToyAudio(name="../../x"), "esc50", data_root=esc50_root, overrides=FAST,
                       options=_opts(tmp_path))
    out = (tmp_path / "out").resolve()
    assert path.resolve().is_relative_to(out) and path.parent.parent.name == "_x"
    assert not (tmp_path.parent / "x").exists() and not (tmp_path / "x").exists()
    assert record.encoder.name == "../../x"  # the record keeps the name as given


def test_a_symlinked_folder_that_leaves_out_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "enc").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RecordPathError, match="outside --out"):
        record_path(tmp_path / "out", "enc", "esc50", "x")


def test_a_nondeterministic_encoder_is_flagged_in_record_and_summary(esc50_root, tmp_path, capsys):
    shaky = ToyAudio(name="shaky", noise=0.5)
    record, _ = run(shaky, "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    det = record.determinism
    assert det.checked and det.deterministic is False and det.max_abs_diff > 0.01
    steady, _ = run(ToyAudio(name="steady"), "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert steady.determinism.deterministic is True and steady.determinism.max_abs_diff == 0.0
    again, _ = run(ToyAudio(name="steady"), "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path))
    assert again.cache.shards_computed == 0 and again.determinism.deterministic is True  # read back with the shards

    args = ["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", str(esc50_root),
            "--set", "train.clips=1", "--set", "test.clips=1", "--set", "splits=[fold1]",
            "--set", "classifier.costs=[0.01,1.0]", "--cache-dir", str(tmp_path / "c2"), "--out", str(tmp_path / "o2"),
            "--no-progress", "--workers", "0"]
    assert main(args) == 0
    assert "NOT deterministic" not in capsys.readouterr().out
    import tests._toys as toys

    original = toys.build
    toys.build = lambda weights=None, init_seed=0: ToyAudio(noise=0.5)
    try:
        assert main([*args, "--refresh"]) == 0
    finally:
        toys.build = original
    out = capsys.readouterr().out
    assert "[NONDETERMINISTIC ENCODER]" in out and "WARNING: the encoder is NOT deterministic" in out
