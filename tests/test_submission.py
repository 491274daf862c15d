"""Submission folders: `avbench submit check` on the shipped example (contract + real canary evals on fixture
data), clear errors for broken folders, and `avbench submit pack` producing a bundle that verifies."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from avbench.cli.app import main
from avbench.submission.bundle import BundleError, verify_bundle
from avbench.submission.card import SubmissionError, sha256_file
from avbench.submission.loader import load_submission

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "submission"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "sub"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _edit_card(folder: Path, **fields) -> None:
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card.update(fields)
    (folder / "card.yaml").write_text(yaml.safe_dump(card))


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """`avbench submit check` on the example, through the CLI: (exit code, JSON report, output folder)."""
    out = tmp_path_factory.mktemp("check")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["submit", "check", str(EXAMPLE), "--out", str(out), "--json"])
    return code, json.loads(buf.getvalue()), out


def test_example_submission_passes_check(checked):
    code, report, out = checked
    assert code == 0 and report["ok"], json.dumps(report, indent=1)[:3000]
    assert report["name"] == "tiny-av-example"
    assert report["weights_sha256"] == sha256_file(EXAMPLE / "weights.safetensors")
    assert report["validation"]["ok"] and report["validation"]["source"].startswith("submission ")
    canaries = {c["modality"]: c for c in report["canaries"]}
    assert set(canaries) == {"audio", "video"}
    assert canaries["audio"]["task"] == "esc50" and canaries["video"]["task"] == "ucf101-linear"
    for c in canaries.values():
        assert c["ok"] and not c["problems"] and {"top1", "top5"} <= set(c["metrics"])
        record = json.loads(Path(c["record"]).read_text())
        assert record["encoder"]["name"] == "tiny-av-example"
        assert record["encoder"]["weights_sha256"] == report["weights_sha256"]
        # a fixture root passed explicitly is still avbench's synthetic data (its avbench_fixture.json says so)
        assert record["data"]["synthetic"] is True and record["data"]["kind"] == "synthetic"
        assert record["task"]["layer_used"] == "pooled" and "conv5x" in record["task"]["layer_fallback"]
    assert json.loads((out / "check.json").read_text())["ok"] is True


def test_pack_writes_a_bundle_that_verifies(checked, tmp_path, capsys):
    _, _, out = checked
    bundle = tmp_path / "bundle"
    assert main(["submit", "pack", str(EXAMPLE), "--results", str(out / "canary"), "--out", str(bundle)]) == 0
    assert "tamper-evident, not authentic" in capsys.readouterr().out
    manifest = verify_bundle(bundle)
    assert manifest.name == "tiny-av-example" and manifest.status == "self-reported"
    assert len(manifest.records) == 2
    assert manifest.weights.sha256 == sha256_file(EXAMPLE / "weights.safetensors")
    assert {c.path for c in manifest.code} == {"encoder.py", "make_weights.py"}
    # an edited record no longer verifies
    rec = bundle / manifest.records[0].record.path
    data = json.loads(rec.read_text())
    data["metrics"]["top1"]["mean"] = 99.0
    rec.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="sha256 does not match"):
        verify_bundle(bundle)


def test_wrong_weights_sha256_is_a_clear_error(tmp_path, capsys):
    sub = _copy(tmp_path)
    _edit_card(sub, weights_sha256="0" * 64)
    with pytest.raises(SubmissionError, match=r"weights\.safetensors: sha256 .* does not match weights_sha256 0{64}"):
        load_submission(sub)
    assert main(["submit", "check", str(sub), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "card.yaml" in err and "does not match" in err


def test_pickled_file_in_the_folder_is_refused(tmp_path, capsys):
    sub = _copy(tmp_path)
    (sub / "extra.pth").write_bytes(b"\x80\x04N.")  # a (harmless) pickle; never opened
    with pytest.raises(SubmissionError, match=r"pickled files are refused in a submission \(extra\.pth\)"):
        load_submission(sub)
    assert main(["validate", str(sub)]) == 2
    assert "extra.pth" in capsys.readouterr().err


def test_missing_factory_or_module_is_a_clear_error(tmp_path):
    sub = _copy(tmp_path)
    _edit_card(sub, factory="encoder:make_model")
    with pytest.raises(SubmissionError, match=r"encoder\.py: has no 'make_model' \(the factory named in .*card\.yaml"):
        load_submission(sub)
    _edit_card(sub, factory="model:build")
    with pytest.raises(SubmissionError, match=r"model\.py: the factory module named in .*card\.yaml .* does not exist"):
        load_submission(sub)


def test_factory_that_unpickles_or_mismatches_the_card_fails(tmp_path):
    sub = _copy(tmp_path)
    code = (sub / "encoder.py").read_text()
    (sub / "encoder.py").write_text(code.replace("state = load_file(str(weights))", "state = torch.load(str(weights))"))
    with pytest.raises(SubmissionError, match="called torch.load: submissions load weights with safetensors only"):
        load_submission(sub)
    (sub / "encoder.py").write_text(code.replace('NAME = "tiny-av-example"', 'NAME = "other-name"'))
    with pytest.raises(SubmissionError, match="meta.name is 'other-name' but the card's name is 'tiny-av-example'"):
        load_submission(sub)


def test_loaded_encoder_is_the_example_with_its_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    sub = load_submission(EXAMPLE)
    assert sub.encoder.meta.name == sub.card.name and sub.module_file.name == "encoder.py"
    saved = load_file(str(EXAMPLE / "weights.safetensors"))
    for key, value in sub.encoder.trunk("video").state_dict().items():
        assert torch.equal(saved[f"video.{key}"], value), key
    assert torch.load is not None and torch.load.__name__ == "load"  # the guard is lifted after loading


def _machine_paths(text: str, roots: list[str]) -> list[str]:
    """Absolute paths of this machine in ``text``: anything under one of ``roots`` (the test's tmp folder, the
    repository, the home and cache folders), or any other ``/a/b...`` that exists here."""
    import re

    found = [r for r in roots if r in text]
    for m in re.finditer(r"(?<![\w.:/<])/(?:[\w.-]+/)+[\w.-]+", text):
        if Path(m.group()).exists() and m.group().count("/") >= 2:
            found.append(m.group())
    return found


def test_bundles_and_the_board_hold_no_path_of_this_machine(checked, tmp_path, tmp_path_factory, capsys):
    """Issue 21, item 4: the canary records name their fixture roots by absolute path (data.root as given,
    data.root_resolved, data.notes); the bundle and every file `avbench leaderboard build` writes from it do not."""
    import os

    _, _, out = checked
    records = [json.loads(p.read_text()) for p in (out / "canary").rglob("*.json") if "predictions" not in p.name
               and p.name.count(".") == 1]
    data_roots = sorted({str(Path(r["data"]["root"]).parent) for r in records})
    assert len(records) == 2 and all(r.startswith("/") for r in data_roots)  # the records keep the paths as given
    base = str(tmp_path_factory.getbasetemp())
    results = tmp_path / "results"
    assert main(["submit", "pack", str(EXAMPLE), "--results", str(out / "canary"), "--out",
                 str(results / "tiny-av-example")]) == 0
    board = tmp_path / "board"
    assert main(["leaderboard", "build", "--results", str(results), "--no-reported", "--out", str(board),
                 "--strict"]) == 0
    capsys.readouterr()
    roots = [base, *data_roots, str(Path(__file__).resolve().parents[1]), os.path.expanduser("~") + "/"]
    written = [p for d in (results, board) for p in sorted(d.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".html" for p in written) and any(p.suffix == ".csv" for p in written)
    for p in written:
        if p.suffix in (".gz", ".png", ".safetensors"):
            import gzip

            if p.suffix != ".gz":
                continue
            text = gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        else:
            text = p.read_text(encoding="utf-8", errors="replace")
        assert not _machine_paths(text, roots), (p.relative_to(tmp_path), _machine_paths(text, roots)[:3])
    for p in (results / "tiny-av-example").rglob("*.json"):
        rec = json.loads(p.read_text())
        if "data" in rec:  # a bundled record: the root is named, not located
            assert rec["data"]["root"] and not rec["data"]["root"].startswith("/") and rec["data"]["root_resolved"] is None
