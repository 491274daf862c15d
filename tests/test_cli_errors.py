"""Issue 21 item 3: every user error is one line (``--debug`` shows the traceback), with the source named and a
did-you-mean; geometry mismatches name both fixes; an encoder's broken output points to ``avbench validate``; an
unimportable ``module:factory`` names PYTHONPATH; ``data verify`` takes data set names and each file's own rate."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from avbench.cli.app import main
from avbench.taskcard import TaskCardError


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()  # progress logs may come first; the error is one last line
    assert err[-1].startswith("avbench: error: ") and "Traceback" not in "\n".join(err), err
    assert sum(line.startswith("avbench: error") for line in err) == 1
    return err[-1]


def test_set_typo_is_named_as_the_users_with_did_you_mean(capsys):
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "esc50", "--set",
                                    "classifer.selection=clean"])
    assert "--set classifer.selection: unknown key 'classifer'; did you mean 'classifier'?" in line
    assert "esc50.yaml" not in line  # not blamed on the shipped card
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "esc50", "--set",
                                    "classifier.selectio=clean"])
    assert "--set classifier.selectio: unknown key 'selectio'; did you mean 'selection'?" in line
    assert "svm" not in line.split(":")[1]  # no protocol discriminator in the key path
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "ucf101-linear", "--set",
                                    "features.pool.kernal=[1,2,2]"])
    assert "--set features.pool.kernal: unknown key 'kernal'; did you mean 'kernel'?" in line
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "esc50", "--set",
                                    "classifier.selection=both"])
    assert "with the --set overrides" in line and "--set classifier.selection: Input should be" in line


def test_debug_shows_the_traceback():
    with pytest.raises(TaskCardError, match="did you mean 'classifier'"):
        main(["eval", "--model", "crisscross", "--task", "esc50", "--set", "classifer.selection=clean", "--debug"])


def test_did_you_mean_for_tasks_and_models(capsys):
    assert "did you mean 'esc50'" in _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "esc5O"])
    assert "did you mean 'crisscross'" in _one_line_error(capsys, ["eval", "--model", "crisscros", "--task", "esc50"])


def test_geometry_mismatch_names_both_fixes(capsys):
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "ucf101-linear", "--set", "video.fps=15"])
    assert "expects frames at 16 fps; the task asks 15" in line
    assert "?fps=15" in line and "--set video.fps=16" in line


def test_unimportable_factory_names_pythonpath(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_line_error(capsys, ["eval", "--model", "my_missing_pkg.enc:build", "--task", "esc50"])
    assert "PYTHONPATH" in line and "'my_missing_pkg'" in line


BROKEN = textwrap.dedent('''
    from avbench.encoder import FeatureMap
    from avbench.registry import build_encoder

    def build(weights=None, init_seed=0, **options):
        """The shipped CrissCross whose audio maps name 3 axes where 4 are there: a wrong-axes encoder."""
        enc = build_encoder("crisscross", init_seed=init_seed)
        real = enc.encode_audio

        def encode_audio(x, layers=("pooled",)):
            out = real(x, layers=layers)
            return {k: FeatureMap(v.data.flatten(2), ("batch", "channel", "time")) if isinstance(v, FeatureMap) else v
                    for k, v in out.items()}

        enc.encode_audio = encode_audio
        return enc
''')


def test_encoder_output_error_points_to_validate(capsys, tmp_path, monkeypatch, esc50_root):
    (tmp_path / "broken_enc.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    line = _one_line_error(capsys, ["eval", "--model", "broken_enc:build", "--task", "esc50", "--data-root",
                                    str(esc50_root), "--no-cache", "--workers", "0", "--no-progress",
                                    "--min-coverage", "0.5",  # the fixture lists unusable files on purpose
                                    "--out", str(tmp_path / "out")])
    # caught on one blank clip before any decoding (issue 17), with the pointer to validate (issue 21)
    assert "fails for one blank clip" in line and "`avbench validate broken_enc:build --task esc50`" in line
    sys.modules.pop("broken_enc", None)


def test_data_verify_takes_a_data_set_name_and_each_files_rate(capsys, esc50_root):
    assert main(["data", "verify", "esc50", "--root", str(esc50_root), "--json"]) == 1  # the fixture's bad rows
    by_name = json.loads(capsys.readouterr().out)
    assert main(["data", "verify", "esc50", "--root", str(esc50_root), "--json", "--sample-rate", "16000"]) == 1
    at_16k = json.loads(capsys.readouterr().out)
    assert by_name["dataset"] == "esc50" and by_name["found"] == at_16k["found"] > 0
    assert {u["id"] for u in by_name["undecodable"]} == {u["id"] for u in at_16k["undecodable"]}
    assert "did you mean 'esc50'" in _one_line_error(capsys, ["data", "verify", "esc5", "--root", str(esc50_root)])


def test_a_split_left_without_samples_is_one_line(capsys, tmp_path):
    from avbench.synth.audio_fixtures import write_esc50

    root = write_esc50(tmp_path / "esc", n_classes=2, clips_per_class=2, seed=0)  # 4 clips: some folds stay empty
    line = _one_line_error(capsys, ["eval", "--model", "crisscross", "--task", "esc50", "--data-root", str(root),
                                    "--set", "train.clips=1", "--set", "test.clips=1", "--no-cache", "--workers", "0",
                                    "--out", str(tmp_path / "out")])
    assert "no usable" in line and "avbench data verify" in line
