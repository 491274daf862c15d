"""``benchmarks/identity_diagnostics.py escape``: the step at which each term of an objective-infonce CrissCross run
leaves chance, read from the run's history.jsonl and card (issue 20)."""
from __future__ import annotations

import json
import math

import pytest

from tests._bench import load_benchmark

diag = load_benchmark("identity_diagnostics")


def _run(tmp_path, *, objective="infonce", negatives="all", in_progress=False):
    """A run folder as `avbench pretrain` leaves it: a1a2 sits at chance for 300 steps and then falls by 0.5 nats,
    a1v2 stays at chance (ln 63 at batch 32), v1a2 (scored against chance ln 32 under negatives 'other') falls at
    step 200."""
    config = {"objective": objective, "infonce_negatives": negatives, "terms": ["a1a2", "a1v2", "v1a2"],
              "train": {"batch_size": 32}}
    rows = [{"step": s, "loss": 0.0, "a1a2": math.log(63) - (0.5 if s > 300 else 0.0), "a1v2": math.log(63),
             "v1a2": (math.log(32) if negatives == "other" else math.log(63)) - (0.5 if s > 200 else 0.0)}
            for s in range(1, 601)]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if in_progress:  # no card yet: the latest checkpoint's state holds the resolved config
        ckpt = tmp_path / "checkpoints" / "step-00000576"
        ckpt.mkdir(parents=True)
        (tmp_path / "checkpoints" / "LATEST").write_text("step-00000576\n")
        (ckpt / "state.json").write_text(json.dumps({"resolved": {"config": config}}))
    else:
        (tmp_path / "card.json").write_text(json.dumps({"config": config}))
    return tmp_path


@pytest.mark.parametrize("negatives", ["all", "other"])
@pytest.mark.parametrize("in_progress", [False, True], ids=["finished", "training"])
def test_escape_finds_the_step_each_term_left_chance(tmp_path, negatives, in_progress) -> None:
    run = _run(tmp_path, negatives=negatives, in_progress=in_progress)
    out = tmp_path / "escapes.jsonl"
    (line,) = diag.escape([run], margin=0.14, window=48, out=out)
    # a window of 48 steps is 0.14 below chance once 14 of its steps are 0.5 below: step 300 + 14
    assert line == f"{run} (600 steps): left chance at a1a2 314, a1v2 never, v1a2 214"
    assert json.loads(out.read_text()) == {"run_dir": str(run), "steps": 600, "margin": 0.14, "window": 48,
                                           "left_chance_at": {"a1a2": 314, "a1v2": None, "v1a2": 214}}


def test_chance_levels_and_a_stop_gradient_run_is_refused(tmp_path) -> None:
    run = _run(tmp_path, objective="simsiam")
    with pytest.raises(SystemExit, match="objective 'simsiam', not infonce"):
        diag.main(["escape", str(run)])
    (tmp_path / "card.json").write_text(json.dumps({"config": {"objective": "infonce"}}))
    with pytest.raises(SystemExit, match="the run's config has no 'train'"):  # one line, not a traceback
        diag.main(["escape", str(run)])
    _run(tmp_path)
    (tmp_path / "history.jsonl").unlink()
    with pytest.raises(SystemExit, match="history.jsonl"):
        diag.main(["escape", str(run)])
    from _identity.escape import chance_nats  # benchmarks/ is on sys.path once escape() has run

    assert chance_nats("a1a2", 32, "other") == pytest.approx(math.log(63))  # intra-modal terms keep NT-Xent
    assert chance_nats("v1a2", 32, "other") == pytest.approx(math.log(32))
    assert chance_nats("v1a2", 32) == pytest.approx(math.log(63))
