"""Issue 21 items 1, 2 and 5: several tasks (and paper-table suites) in one `avbench eval`, with one summary table;
`--limit N` and `--quick` smoke runs on the override track; progress bars only on a terminal."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from avbench.cli.app import main
from avbench.reproduce.plan import PLAN
from avbench.cards.suites import SUITES, expand_tasks
from avbench.taskcard import TaskCardError, card_names, load_card


def test_task_lists_repeated_flags_and_suites_expand_in_order_once():
    assert expand_tasks(["esc50,dcase", "esc50", "crisscross-table8"]) == ["esc50", "dcase", "esc50-5s-released"]
    assert expand_tasks(["crisscross-table4"])[:2] == ["hmdb51-linear-32f", "ucf101-linear-32f"]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_each_suite_holds_the_cards_the_reproduction_plan_measures_its_table_with(suite):
    table = suite.rsplit("table", 1)[1]
    assert set(SUITES[suite].cards) == {r.card for r in PLAN if r.table == table}
    assert set(SUITES[suite].cards) <= set(card_names())
    assert f"Table {table}" in SUITES[suite].cites


def test_limit_keeps_at_most_n_per_class_per_side_and_hashes_shipped_cards_as_before(esc50_root):
    from avbench.datasets import get_dataset
    from avbench.datasets.limit import limit_per_class

    full = get_dataset("esc50").load(esc50_root)
    small = limit_per_class(full, 2)
    label = {s.id: s.label for s in full.samples}
    for name, sides in small.splits.items():
        for side, ids in sides.items():
            counts = {c: sum(label[i] == c for i in ids) for c in set(label.values())}
            assert max(counts.values()) <= 2 and set(ids) <= set(full.splits[name][side])
            assert min(counts.values()) == min(2, min(sum(label[i] == c for i in full.splits[name][side])
                                                      for c in counts))
    assert small.found == full.found and small.expected == full.expected  # coverage is the whole set's
    assert "limit" not in load_card("esc50").to_dict()  # shipped cards' hashes (and caches, goldens) unchanged
    assert load_card("esc50", {"limit": 2}).sha256() != load_card("esc50").sha256()


def _records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.rglob("*.json")) if "predictions" not in p.name
            and p.name.count(".") == 1]


def test_two_tasks_one_command_quick_and_limited(tmp_path, capsys, esc50_root, dcase_root, monkeypatch):
    monkeypatch.setenv("AVBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    rc = main(["eval", "--model", "crisscross", "--task", "esc50,dcase", "--quick", "--limit", "1",
               "--data-root", f"esc50={esc50_root}", "--data-root", f"dcase2013={dcase_root}", "--workers", "0",
               "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    table = printed[printed.rindex("| task"):]
    assert "| esc50 " in table and "| dcase " in table and table.count("override") == 2
    assert "overridden: train.clips, test.clips, limit" in printed
    assert "± 0.00" not in printed  # dcase has one split: no spread to show
    from avbench._version import __version__

    for rec in _records(out):
        assert rec["task"]["track"] == "override" and rec["task"]["card"]["limit"] == 1
        assert rec["task"]["card"]["train"]["clips"] == 3 and rec["task"]["card"]["test"]["clips"] == 3
        assert rec["provenance"]["avbench_version"] == __version__
        for run in rec["runs"]:  # at most 1 sample per class on each side
            assert run["n_train_samples"] <= rec["data"]["n_classes"] and run["n_test_samples"] <= rec["data"]["n_classes"]


def test_a_typo_in_any_task_stops_before_the_first_runs(capsys):
    assert main(["eval", "--model", "crisscross", "--task", "esc50", "--task", "dcsae"]) == 2
    assert "did you mean 'dcase'" in capsys.readouterr().err


def test_suite_names_get_a_did_you_mean_and_say_what_they_are(capsys):
    assert main(["eval", "--model", "crisscross", "--task", "crisscross-tabel4"]) == 2
    assert "did you mean 'crisscross-table4'" in capsys.readouterr().err
    with pytest.raises(TaskCardError, match=r"is a suite of tasks \(esc50-5s-released, dcase\)"):
        load_card("crisscross-table8")
    assert main(["validate", "crisscross-table8"]) == 0  # validate checks each card of a suite
    out = capsys.readouterr().out
    assert "ok    task esc50-5s-released" in out and "ok    task dcase" in out


def test_one_plain_data_root_for_two_data_sets_is_refused(capsys, tmp_path):
    assert main(["eval", "--model", "crisscross", "--task", "esc50,dcase", "--data-root", str(tmp_path)]) == 2
    assert "--data-root DATASET=PATH" in capsys.readouterr().err


def test_quick_sets_112_and_3_clips_on_video_cards_and_keeps_the_rest():
    from avbench.cli.eval import _quick

    q = load_card("ucf101-linear", _quick("ucf101-linear"))
    base = load_card("ucf101-linear")
    assert (q.video.size, q.video.test_resize, q.train.clips, q.test.clips) == (112, 128, 3, 3)
    assert (q.video.frames, q.video.fps, q.classifier, q.train.augment) == (base.video.frames, base.video.fps,
                                                                            base.classifier, base.train.augment)
    assert "video" not in _quick("esc50")
