"""Behaviour unchanged by the redesign (issue 16): eight protocols on fixture data give the records that the tree
before the redesign wrote (tests/golden/records, made by ``python -m tests.golden_records --write`` at commit
161e76a), apart from the fields tests.golden_records.EXCLUDED lists with their reasons."""
from __future__ import annotations

import json
import warnings

import pytest

from tests.golden_records import CASES, EXCLUDED, GOLDEN, compute, differences, strip


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_the_record_equals_the_golden_one(name, tmp_path):
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    mine = json.loads(json.dumps(compute(name, tmp_path)))  # the same JSON round trip as the golden file
    same_cpu = golden["machine"] == mine["machine"]
    diffs = differences(golden, mine, numbers=same_cpu)
    where = "" if same_cpu else f" (numbers not compared: goldens made on {golden['machine']}, this is {mine['machine']})"
    assert not diffs, f"{name}{where}: {len(diffs)} difference(s):\n" + "\n".join(diffs[:40])
    if not same_cpu:
        warnings.warn(f"golden {name}: another CPU kind, numbers not compared{where}")


def test_the_comparison_can_fail():
    golden = {"metrics": {"top1": {"mean": 50.0}}, "runs": [{"selected": {"C": 0.01}}], "data": {"skipped": []}}
    assert differences(golden, json.loads(json.dumps(golden))) == []
    assert differences(golden, {**golden, "metrics": {"top1": {"mean": 50.1}}}) == [
        ".metrics.top1.mean: 50.0 before, 50.1 now"]
    assert differences(golden, {**golden, "runs": [{"selected": {"C": 1.0}}]})
    assert differences(golden, {**golden, "data": {"skipped": [{"id": "x"}]}})
    assert differences(golden, {**golden, "extra": 1}) == [".extra: new field"]
    # another CPU kind: numbers are left out, structure and data are not
    assert differences(golden, {**golden, "metrics": {"top1": {"mean": 50.1}}}, numbers=False) == []
    assert differences(golden, {**golden, "data": {"skipped": [{"id": "x"}]}}, numbers=False)


def test_only_the_listed_fields_are_excluded():
    record = {"provenance": {"wall_seconds": 1.0, "seeds": [0]}, "features": {"seed0": {"train": {"key": "k",
                                                                                                    "rows": 4}}},
              "data": {"root": "/x", "skipped": [{"id": "a", "path": "/x/a", "reason": "r"}], "found": 3}}
    assert strip(record) == {"provenance": {"seeds": [0]}, "features": {"seed0": {"train": {"rows": 4}}},
                             "data": {"skipped": [{"id": "a", "reason": "r"}], "found": 3}}
    assert all(reason for reason in EXCLUDED.values())
