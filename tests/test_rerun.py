"""Earned trust (issue 18): a real evaluation of the example submission, packed (always `self-reported`), re-run by
the maintainers' step `avbench leaderboard rerun` (which re-executes it from the card and weights and writes the
ledger), and built: only then "re-run by maintainers". A ledger entry whose numbers disagree grants nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from avbench.cli.app import main
from avbench.evaluation.runner import RunOptions, run
from avbench.leaderboard.build import build_leaderboard
from avbench.leaderboard.reruns import load_reruns
from avbench.submission.bundle import pack_bundle, verify_bundle
from avbench.synth.audio_fixtures import write_esc50
from tests.test_leaderboard import grant_rerun

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "submission"
FAST = {"train": {"clips": 1}, "test": {"clips": 2}, "classifier": {"costs": [1e-3, 1.0]}}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(work folder, submission, data root, the runner's record, the bundle) of one real two-seed evaluation."""
    tmp = tmp_path_factory.mktemp("rerun")
    sub = tmp / "sub"
    shutil.copytree(EXAMPLE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    data = write_esc50(tmp / "esc", n_classes=3, clips_per_class=5, seconds=2.0, seed=3)
    record, _ = run(str(sub), "esc50", data_root=data, seeds=2, overrides=FAST,
                    options=RunOptions(cache_dir=tmp / "cache", out_dir=tmp / "res", log=lambda m: None))
    pack_bundle(sub, tmp / "res", tmp / "lb" / "results" / "tiny")
    return tmp, sub, data, record, tmp / "lb" / "results" / "tiny"


@pytest.mark.slow
def test_a_real_evaluation_bundled_and_built_is_self_reported(evaluated):
    """The board's numbers are the runner's (interval included), recomputed from the sidecar; the label is
    self-reported whatever the bundle says, and the fixture data sit in the synthetic table."""
    tmp, _, _, record, bundle = evaluated
    assert verify_bundle(bundle).status == "self-reported"
    result = build_leaderboard(tmp / "lb" / "results", None, tmp / "lb")
    assert not result.board.rejected, result.board.rejected
    (verified,) = result.board.accepted
    assert verified.trust == "self-reported" and verified.entry == "tiny-av-example"
    top1 = verified.metrics["top1"]
    assert top1.ci_source == "recomputed"
    assert top1.mean == pytest.approx(record.metrics["top1"].mean, abs=1e-9)
    assert top1.ci95 == pytest.approx(record.metrics["top1"].ci95, abs=1e-9)
    assert top1.per_seed == pytest.approx(record.metrics["top1"].per_seed)
    assert record.data.kind == "synthetic" and record.task.track == "override"
    sound = next(f for f in result.board.families if f.id == "sound")
    assert not sound.rows and [t.group for t in sound.tables] == ["synthetic"]


@pytest.mark.slow
def test_the_maintainers_rerun_earns_the_label(evaluated, capsys):
    tmp, sub, data, _, bundle = evaluated
    ledger = tmp / "reruns.yaml"
    code = main(["leaderboard", "rerun", str(bundle), "--submission", str(sub), "--data-root", f"esc50={data}",
                 "--reruns", str(ledger), "--out", str(tmp / "rerun-records"), "--cache-dir", str(tmp / "cache2"),
                 "--by", "tests"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 of 1 record(s) within 0.5 points" in out
    (entry,) = load_reruns(ledger).entries
    (line,) = entry.records
    assert line.within_tolerance and entry.by == "tests"
    assert line.metrics["top1"]["bundle"] == pytest.approx(line.metrics["top1"]["rerun"], abs=1e-9)
    assert (tmp / "rerun-records").is_dir()
    built = build_leaderboard(tmp / "lb" / "results", None, tmp / "lb2", reruns_path=ledger)
    assert [r.trust for r in built.board.accepted] == ["re-run by maintainers"]
    # the label is earned by the exact bundle: a ledger naming other bytes grants nothing
    raw = yaml.safe_load(ledger.read_text())
    raw["reruns"][0]["bundle_sha256"] = "0" * 64
    ledger.write_text(yaml.safe_dump(raw))
    built = build_leaderboard(tmp / "lb" / "results", None, tmp / "lb3", reruns_path=ledger)
    assert [r.trust for r in built.board.accepted] == ["self-reported"]


def test_a_ledger_entry_whose_numbers_disagree_grants_nothing(tmp_path):
    from tests._lb_records import esc50_groups, make_record
    from tests.test_bundle import make_submission

    sha = make_submission(tmp_path / "sub", "alpha")
    make_record(tmp_path / "rec", model="alpha", task="esc50", groups=esc50_groups(0, [4, 3, 2, 3, 3]),
                weights_sha256=sha)
    pack_bundle(tmp_path / "sub", tmp_path / "rec", tmp_path / "results" / "alpha")
    grant_rerun(tmp_path / "results" / "alpha", tmp_path / "off.yaml", rerun_mean=60.0)  # bundled 75.0
    built = build_leaderboard(tmp_path / "results", None, tmp_path / "out", reruns_path=tmp_path / "off.yaml")
    assert [r.trust for r in built.board.accepted] == ["self-reported"]
    grant_rerun(tmp_path / "results" / "alpha", tmp_path / "ok.yaml")
    built = build_leaderboard(tmp_path / "results", None, tmp_path / "out", reruns_path=tmp_path / "ok.yaml")
    assert [r.trust for r in built.board.accepted] == ["re-run by maintainers"]
    # a bundle cannot claim the label itself
    manifest = tmp_path / "results" / "alpha" / "bundle.json"
    manifest.write_text(json.dumps(dict(json.loads(manifest.read_text()), status="re-run by maintainers")))
    built = build_leaderboard(tmp_path / "results", None, tmp_path / "out2", reruns_path=tmp_path / "ok.yaml")
    assert not built.board.accepted and "always 'self-reported'" in built.board.rejected[0].reason


def test_a_ledger_is_read_as_untrusted_yaml(tmp_path):
    """The ledger goes through avbench.config.load_yaml: an alias is a one-line error naming the file and line."""
    from avbench.leaderboard.reruns import RerunsError

    ledger = tmp_path / "reruns.yaml"
    ledger.write_text("version: 1\nreruns:\n  - &one {bundle: a}\n  - *one\n")
    with pytest.raises(RerunsError, match=r"reruns\.yaml:\d+: .*alias"):
        load_reruns(ledger)
    ledger.write_text("version: 1\nreruns: []\n")
    assert load_reruns(ledger).entries == []
