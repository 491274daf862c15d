"""One coverage policy for every protocol (issue 17, case 4): a class with no usable training or test sample stops
the run before classification, naming the class and the split; coverage below the gate (the card's
``dataset.min_coverage`` or ``--min-coverage``) stops it too; above the gate each missing test sample counts as wrong
in the headline number and the number over the usable samples is recorded beside it. Every task family's version of
the last rule is checked on the fault corpus (tests/test_faults.py); this file checks the gate itself."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from avbench.cli.app import main
from avbench.datasets import get_dataset
from avbench.evaluation.coverage import CoverageError, measure
from avbench.evaluation.runner import RunOptions, run
from avbench.registry import build_encoder
from avbench.synth.audio_fixtures import write_esc50
from avbench.synth.video_fixtures import write_hmdb51, write_ucf101
from tests._toys import ToyAudio

FAST = {"train": {"clips": 2}, "test": {"clips": 2}, "splits": ["fold1"], "classifier": {"costs": [0.01, 1.0]}}
VIDEO = {"video": {"size": 32, "resize": 36, "frames": 8}, "train": {"clips": 1}, "test": {"clips": 1},
         "batch_size": 8}


def _opts(tmp: Path, **kw) -> RunOptions:
    return RunOptions(cache_dir=tmp / "cache", out_dir=tmp / "out", log=lambda m: None, num_workers=0, **kw)


@pytest.fixture(scope="module")
def esc(tmp_path_factory) -> Path:
    return write_esc50(tmp_path_factory.mktemp("esc") / "root", n_classes=4, clips_per_class=10, seconds=1.0, seed=4)


@pytest.fixture(scope="module")
def tiny_video():
    return build_encoder("crisscross", video_width=4, audio_width=4, video_depth=10, audio_depth=10, min_size=32)


def test_a_vanished_class_stops_the_retrieval_run_naming_class_and_split(tiny_video, tmp_path):
    """Before: with one class's files missing, eval exited 0 with recall1 100.00 and a "skipped" line."""
    root = write_ucf101(tmp_path / "ucf", n_classes=3, groups=3, clips_per_group=1, seed=0)
    gone = sorted(p for p in (root / "UCF-101").iterdir() if p.is_dir())[1]
    shutil.rmtree(gone)
    with pytest.raises(CoverageError, match=rf"split split1: class '{gone.name}' has no usable (training|test) "
                                            "sample before decoding"):
        run(tiny_video, "ucf101-retrieval", data_root=root, overrides={**VIDEO, "classifier": {"ks": [1]},
                                                                         "metrics": ["recall1"]},
            options=_opts(tmp_path, min_coverage=0.0))
    assert not (tmp_path / "cache" / "features").exists()  # stopped before any decoding


def test_a_class_whose_files_do_not_decode_stops_before_classification(esc, tmp_path):
    root = shutil.copytree(esc, tmp_path / "root")
    for wav in (root / "audio").glob("*-2.wav"):  # every clip of target 2: present, but not audio
        wav.write_text("not audio\n" * 50)
    with pytest.raises(CoverageError, match=r"split fold1: class '\w+' has no usable (training|test) sample after "
                                            r"extraction"):
        run(ToyAudio(), "esc50", data_root=root, overrides=FAST, options=_opts(tmp_path, min_coverage=0.0))
    assert not (tmp_path / "out").exists()  # no record


def test_below_the_gate_the_cli_stops_with_one_line_and_above_it_missing_test_samples_count_as_wrong(esc, tmp_path,
                                                                                                      capsys):
    root = shutil.copytree(esc, tmp_path / "root")
    test_clip = sorted((root / "audio").glob("1-*.wav"))[0]  # fold 1: a test clip of split fold1
    test_clip.unlink()
    args = ["eval", "--model", "tests._toys:build", "--task", "esc50", "--data-root", str(root), "--set",
            "train.clips=2", "--set", "test.clips=2", "--set", "splits=[fold1]", "--set", "classifier.costs=[1.0]",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--no-progress", "--workers", "0"]
    assert main(args) == 2  # the card's gate is 1.0 for ESC-50
    err = capsys.readouterr().err.strip().splitlines()  # the progress log, then the error: one line
    assert err[-1].startswith("avbench: error: ") and not any("Traceback" in line for line in err)
    assert "split fold1 test: coverage 0.8750 (7 usable of 8 expected, annotation)" in err[-1]
    assert "below the gate 1 (card esc50:" in err[-1] and "--min-coverage" in err[-1]
    assert main([*args, "--min-coverage", "0.7"]) == 0
    record_path = next((tmp_path / "out").rglob("*.json"))
    import json

    rec = json.loads(record_path.read_text())
    run_ = rec["runs"][0]
    assert run_["n_test_missing"] == 1 and run_["n_test_samples"] == 7
    assert run_["metrics"]["top1"] == pytest.approx(run_["metrics_usable_only"]["top1"] * 7 / 8)
    assert rec["metrics"]["top1"]["usable_only"] == pytest.approx(run_["metrics_usable_only"]["top1"])
    cov = rec["data"]["coverage_detail"]
    assert rec["data"]["coverage"] == 0.875 and cov["min_coverage"] == 0.7
    assert cov["min_coverage_source"] == "--min-coverage"
    assert cov["by_split"]["fold1"]["test"] == {"expected": 8, "usable": 7, "basis": "annotation", "coverage": 0.875}
    # the leaderboard's recomputation from the predictions sidecar agrees: missing test samples count as wrong there too
    from avbench.leaderboard.recompute import recompute
    from avbench.results import ResultRecord, read_sidecar

    record = ResultRecord.model_validate(rec)
    again = recompute(record, read_sidecar(record_path.parent / record.sidecar.path))
    assert again["top1"].mean == pytest.approx(rec["metrics"]["top1"]["mean"])


def test_finetuning_counts_an_undecodable_test_video_as_wrong(tiny_video, tmp_path):
    """Before: finetuning dropped undecodable test videos from the accuracy denominator."""
    root = write_ucf101(tmp_path / "ucf", n_classes=2, groups=3, clips_per_group=2, seed=1)
    test_videos = sorted((root / "UCF-101").rglob("*_g01_*.avi"))  # group 1 is split 1's test group
    test_videos[0].write_text("not a video\n" * 40)
    record, _ = run(tiny_video, "ucf101-finetune", data_root=root,
                    overrides={**VIDEO, "splits": ["split1"],
                               "classifier": {"epochs": 1, "batch_size": 4, "buffer_videos": 2}},
                    options=_opts(tmp_path, min_coverage=0.5))
    r = record.runs[0]
    assert r.n_test_missing == 1 and r.n_test_samples == len(test_videos) - 1
    assert r.metrics["top1"] == pytest.approx(r.metrics_usable_only["top1"] * r.n_test_samples / len(test_videos))
    assert record.data.coverage_detail["by_split"]["split1"]["test"]["expected"] == len(test_videos)


def test_hmdb51_entries_marked_0_never_count(tmp_path):
    root = write_hmdb51(tmp_path / "hmdb", n_classes=2, per_class=6, seed=0)
    split_files = sorted((root / "testTrainMulti_7030_splits").glob("*_test_split1.txt"))
    before = get_dataset("hmdb51").load(root)
    with split_files[0].open("a") as f:  # unused in split 1, and not on disk at all
        f.write("ghost_never_used.avi 0 \n")
    m = get_dataset("hmdb51").load(root)
    assert any(s.id.endswith("ghost_never_used") for s in m.skipped)  # listed, missing: a recorded skip
    for side in ("train", "test"):
        assert m.expected_count("split1", side) == before.expected_count("split1", side)
    cov = measure(m, None, {"split1": m.splits["split1"]}, gate=1.0, gate_source="test", per_class=True,
                  stage="now")
    assert cov.lowest == 1.0
