"""Issue 21 items 4 and 5: list commands wrap, validate times several batches after a warm-up, export hear
--validate checks for the validator before writing, bundles drop the machine's absolute paths, progress bars
count SVM fits per C and stay off when stderr is not a terminal."""
from __future__ import annotations

import io
import json

import pytest
import torch
from rich.console import Console

from avbench.cli.app import main


def test_list_tasks_and_models_wrap_whole_descriptions(capsys):
    from avbench.taskcard import card_names, load_card

    assert main(["list", "tasks"]) == 0
    text = " ".join(capsys.readouterr().out.replace("|", " ").split())
    for name in card_names():  # every word of every description is printed (wrapped, not cut off)
        assert " ".join(load_card(name).description.split()[-3:]) in text, name
    assert "crisscross-table4:" in text


def test_validate_times_the_median_of_several_batches_after_a_warm_up():
    from avbench.validate.encoder import validate
    from tests._toys import ToyAudio

    report = validate(ToyAudio(), batch=8)
    (m,) = report.measurements
    assert m.timed_batches == 3 and m.wall_spread[0] <= m.wall_seconds <= m.wall_spread[1]
    forward = next(c for c in report.checks if c.name == "forward")
    n_forwards, n_inputs = [int(w) for w in forward.detail.split()[:4:3]]
    assert n_forwards > n_inputs and "input geometries checked" in forward.detail
    assert "median of 3" in report.tables()


def test_export_hear_validate_without_the_validator_writes_nothing(tmp_path, capsys, monkeypatch):
    import avbench.export.hear as hear

    real = hear.importlib.util.find_spec
    monkeypatch.setattr(hear.importlib.util, "find_spec", lambda name, *a: None if name == "hearvalidator"
                        else real(name, *a))
    out = tmp_path / "out"
    assert main(["export", "hear", "--model", "crisscross", "--option", "modalities=audio", "--out", str(out),
                 "--validate"]) == 2
    assert "hearvalidator is not installed" in capsys.readouterr().err and not out.exists()


def test_bundles_drop_resolved_absolute_paths_and_keep_the_paths_as_given(tmp_path):
    from avbench.submission.bundle import pack_bundle
    from tests._lb_records import esc50_groups, make_record
    from tests.test_bundle import make_submission

    sha = make_submission(tmp_path / "sub")
    path = make_record(tmp_path / "results", model="alpha", task="esc50", groups=esc50_groups(0, [3] * 5),
                       weights_sha256=sha)
    raw = json.loads(path.read_text())
    raw["data"]["root"], raw["data"]["root_resolved"] = "data/esc50", str(tmp_path / "data/esc50")
    raw["encoder"]["weights"], raw["encoder"]["weights_resolved"] = "w.safetensors", str(tmp_path / "w.safetensors")
    path.write_text(json.dumps(raw))
    out = pack_bundle(tmp_path / "sub", tmp_path / "results", tmp_path / "bundle").out_dir
    (bundled,) = [json.loads(p.read_text()) for p in out.rglob("*.json") if p.name.count(".") == 1
                  and p.name != "bundle.json"]
    assert bundled["data"]["root"] == "data/esc50" and bundled["data"]["root_resolved"] is None
    assert bundled["encoder"]["weights"] == "w.safetensors" and bundled["encoder"]["weights_resolved"] is None
    assert str(tmp_path) not in json.dumps(bundled["data"]) + json.dumps(bundled["encoder"])


def _features(n: int, k: int, d: int, seed: int):
    from avbench.protocols.base import ClipFeatures

    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    x = torch.randn(n, d, generator=g) + 3 * torch.nn.functional.one_hot(labels, d).float()
    return ClipFeatures(blocks=[x], sample_index=torch.arange(n), labels=labels, groups=[f"g{i % 4}" for i in range(n)],
                        sample_ids=[f"s{i}" for i in range(n)])


@pytest.mark.parametrize("selection,backend", [("paper", "torch"), ("clean", "sklearn")])
def test_svm_fits_tick_one_bar_unit_per_c_and_fold(selection, backend):
    from avbench.protocols.svm import run_svm
    from avbench.runtime.progress import use_bars

    bars: dict[str, list[int]] = {}

    def factory(description: str, total: int):
        bars[description] = [total, 0]
        return lambda n=1: bars[description].__setitem__(1, bars[description][1] + n)

    costs = [0.01, 0.1, 1.0]
    with use_bars(factory):
        run_svm(_features(40, 4, 8, 0), _features(20, 4, 8, 1), costs=costs, backend=backend, selection=selection,
                cv_folds=2, n_classes=4)
    assert bars and all(total == done == len(costs) for total, done in bars.values()), bars
    assert len(bars) == (1 if selection == "paper" else 3)  # the final fit, plus one bar per CV fold


def test_one_long_newton_solve_shows_its_step_on_the_bar():
    """Issue 21, item 5: inside one C's fit the bar's text says which Newton step runs and how many classes are
    left (every 10 steps); a factory whose advance has no ``describe`` gets nothing (the test above)."""
    from avbench.protocols.svm import run_svm
    from avbench.runtime.progress import use_bars

    texts: list[str] = []

    def factory(description: str, total: int):
        advance = lambda n=1: None  # noqa: E731
        advance.describe = texts.append
        return advance

    costs = [0.01, 1.0]
    with use_bars(factory):
        run_svm(_features(40, 4, 8, 0), _features(20, 4, 8, 1), costs=costs, backend="torch", selection="paper",
                n_classes=4)
    for C in ("0.01", "1"):
        assert f"C={C}, Newton step 0 (at most" in " | ".join(texts) and "4 of 4 classes running" in texts[0], texts
    assert all(t.startswith("C=") and "Newton step" in t for t in texts)


def test_progress_bars_are_off_without_a_terminal_or_with_no_progress():
    from avbench.runtime.progress import progress_bars

    with progress_bars(Console(file=io.StringIO(), force_terminal=False)) as bar:
        assert bar is None
    with progress_bars(Console(file=io.StringIO(), force_terminal=True), enabled=False) as bar:
        assert bar is None
    sink = io.StringIO()
    with progress_bars(Console(file=sink, force_terminal=True, width=120)) as bar:
        advance = bar("features", 4)
        advance(2)
        advance.describe("Newton step 10")
    assert "features" in sink.getvalue() and "eta" in sink.getvalue() and "features: Newton step 10" in sink.getvalue()
