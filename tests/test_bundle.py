"""The results bundle: `pack_bundle` hashes records, sidecars, card and weights; `verify_bundle` names what fails."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import struct

import pytest
import torch
from safetensors.torch import load_file

from avbench.submission.bundle import BUNDLE_FILE, BundleError, check_bundle, pack_bundle, verify_bundle
from avbench.submission.card import sha256_file
from tests._lb_records import esc50_groups, make_record


def write_safetensors(path: Path, values: list[float]) -> None:
    """A safetensors file of one float32 tensor ``w`` [len(values)], byte for byte as the format specifies
    (8-byte little-endian header length, JSON header padded with spaces to 8 bytes, raw data), so its sha256
    does not depend on the installed safetensors version."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, 4 * len(values)]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack(f"<{len(values)}f", *values))


def make_submission(folder: Path, name: str = "alpha", pretraining: str = "Kinetics-400 (240k videos)") -> str:
    """A submission folder with safetensors weights, an encoder module and card.yaml; returns the weights sha."""
    folder.mkdir(parents=True, exist_ok=True)
    write_safetensors(folder / "weights.safetensors", [float(len(name) + i) for i in range(12)])
    sha = sha256_file(folder / "weights.safetensors")
    (folder / "encoder.py").write_text("def build(weights=None, **kw):\n    raise RuntimeError('never run by the leaderboard')\n")
    (folder / "card.yaml").write_text(
        f"name: {name}\nversion: '1'\nauthors: [Ada Lovelace <ada@example.org>]\nlicence: Apache-2.0\n"
        f"modalities: [audio, video]\npretraining_data: {pretraining}\nfactory: encoder:build\n"
        f"weights: weights.safetensors\nweights_sha256: {sha}\n")
    return sha


@pytest.fixture
def packed(tmp_path):
    sha = make_submission(tmp_path / "sub")
    results = tmp_path / "results"  # avbench eval's default --out: every model's records side by side
    make_record(results, model="alpha", task="esc50", groups=esc50_groups(0, [4, 3, 2, 3, 3]), weights_sha256=sha)
    make_record(results, model="alpha", task="esc50", groups=esc50_groups(1, [3, 3, 3, 3, 3]), weights_sha256=sha)
    make_record(results, model="beta", task="esc50", groups=esc50_groups(0, [1, 1, 1, 1, 1]), weights_sha256="e" * 64)
    make_record(results, model="alpha", task="esc50", groups=esc50_groups(2, [1, 1, 1, 1, 1]), weights_sha256=None,
                init_seed=0)
    result = pack_bundle(tmp_path / "sub", results, tmp_path / "bundle")
    return result.out_dir, sha, result


def test_pack_writes_hashes_of_records_sidecars_card_and_weights(packed):
    out, sha, _ = packed
    manifest = verify_bundle(out)
    assert manifest.name == "alpha" and manifest.status == "self-reported"
    assert manifest.weights.sha256 == sha and manifest.weights.file == "weights.safetensors"
    assert not (out / "weights.safetensors").exists()  # the weights are hashed, not copied
    assert torch.equal(load_file(str(out.parent / "sub" / "weights.safetensors"))["w"], torch.arange(5.0, 17.0))
    assert manifest.card.sha256 == sha256_file(out / "card.yaml")
    assert [c.path for c in manifest.code] == ["encoder.py"]
    assert len(manifest.records) == 2
    for entry in manifest.records:
        for fh in (entry.record, entry.predictions, entry.ids):
            assert fh.path.startswith("records/alpha/esc50/")  # the documented records/<model>/<task>/ layout
            assert sha256_file(out / fh.path) == fh.sha256 and (out / fh.path).stat().st_size == fh.bytes
        rec = json.loads((out / entry.record.path).read_text())
        assert Path(entry.predictions.path).name == rec["sidecar"]["path"]
    raw = json.loads((out / BUNDLE_FILE).read_text())
    assert raw["bundle_version"] == 1 and raw["submission"]["pretraining_data"] == "Kinetics-400 (240k videos)"


def test_pack_selects_the_submissions_records_and_says_what_it_skipped(packed, tmp_path):
    """The shared results folder holds another model's record and this model at random init: both are skipped and
    listed with the reason; the layout follows the card's name, not the folder the records were found in."""
    _, sha, result = packed
    assert len(result.packed) == 2 and all(p.startswith("alpha/esc50/") for p in result.packed)
    reasons = dict(result.skipped)
    assert len(reasons) == 2
    assert "another model's record (encoder 'beta')" in next(r for p, r in reasons.items() if p.startswith("beta/"))
    assert "made with other weights (sha256 None" in next(r for p, r in reasons.items() if p.startswith("alpha/"))
    nested = pack_bundle(tmp_path / "sub", tmp_path / "results" / "alpha", tmp_path / "nested")
    assert {e.record.path.rsplit("/", 1)[0] for e in verify_bundle(nested.out_dir).records} == {"records/alpha/esc50"}


def test_pack_leaves_build_artefacts_out_of_the_code_hashes(tmp_path):
    sha = make_submission(tmp_path / "sub")
    make_record(tmp_path / "results", model="alpha", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]),
                weights_sha256=sha)
    for rel in ("build/lib/encoder.py", "alpha.egg-info/x.py", "pkg/__pycache__/m.py", "dist/y.py", ".venv/z.py"):
        (tmp_path / "sub" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sub" / rel).write_text("x = 1\n")
    (tmp_path / "sub" / "pkg" / "helpers.py").write_text("y = 2\n")
    out = pack_bundle(tmp_path / "sub", tmp_path / "results", tmp_path / "bundle").out_dir
    assert [c.path for c in verify_bundle(out).code] == ["encoder.py", "pkg/helpers.py"]


def test_pack_refuses_broken_inputs(tmp_path):
    sha = make_submission(tmp_path / "sub")
    results = tmp_path / "results"
    make_record(results, model="x", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256="f" * 64)
    with pytest.raises(BundleError, match=r"no result record of 'alpha' with weights sha256 " + sha +
                       r" to bundle \(x/esc50/.*another model's record"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b1")
    shutil.rmtree(results)
    rec = make_record(results, model="alpha", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256=sha)
    side = next(rec.parent.glob("*.predictions.jsonl.gz"))
    side.write_bytes(side.read_bytes() + b"x")
    with pytest.raises(BundleError, match=r"predictions\.jsonl\.gz: sha256 does not match"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b2")
    side.unlink()
    with pytest.raises(BundleError, match="predictions sidecar named by .* is missing"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b3")
    shutil.rmtree(results)
    make_record(results, model="alpha", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256=sha)
    (results / "junk.json").write_text('{"schema_version": "1.0"}')
    result = pack_bundle(tmp_path / "sub", results, tmp_path / "b4")
    assert "not a result record" in dict(result.skipped)["junk.json"] and len(result.packed) == 1
    with pytest.raises(TypeError):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b5", status="re-run by maintainers")  # no such option
    with pytest.raises(BundleError, match="no result record"):
        pack_bundle(tmp_path / "sub", tmp_path / "sub", tmp_path / "b6")
    (tmp_path / "sub" / "extra.pt").write_bytes(b"\x80\x04")
    with pytest.raises(BundleError, match=r"pickled files are refused .*extra\.pt"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b7")


def test_pack_refuses_a_non_empty_output(packed, tmp_path):
    out, _, _ = packed
    with pytest.raises(BundleError, match="exists and is not empty"):
        pack_bundle(tmp_path / "sub", tmp_path / "results", out)


def test_verify_names_a_tampered_record(packed):
    out, _, _ = packed
    rec = out / verify_bundle(out).records[0].record.path
    data = json.loads(rec.read_text())
    data["metrics"]["top1"]["mean"] = 99.0
    rec.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=rf"{rec.name}: sha256 does not match bundle\.json"):
        verify_bundle(out)
    check = check_bundle(out)
    assert check.problem is None and list(check.record_problems) == [rec.relative_to(out).as_posix()]


def test_verify_names_missing_unlisted_and_escaping_files(packed):
    out, _, _ = packed
    manifest = verify_bundle(out)
    side = out / manifest.records[1].ids.path
    side.unlink()
    with pytest.raises(BundleError, match=rf"{side.name}: listed in bundle\.json but missing"):
        verify_bundle(out)
    extra = out / "records" / "alpha" / "esc50" / "smuggled.json"
    extra.write_text("{}")
    assert "records/alpha/esc50/smuggled.json" in check_bundle(out).unlisted
    raw = json.loads((out / BUNDLE_FILE).read_text())
    raw["records"][0]["record"]["path"] = "../../etc/passwd"
    (out / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="is not inside the bundle"):
        verify_bundle(out)


def test_verify_rejects_an_altered_card_a_bad_manifest_and_pickles(packed):
    out, _, _ = packed
    card = out / "card.yaml"
    original = card.read_text()
    card.write_text(original.replace("Apache-2.0", "MIT"))
    with pytest.raises(BundleError, match=r"card\.yaml: sha256 does not match bundle\.json"):
        verify_bundle(out)
    card.write_text(original)
    (out / "records" / "model.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle: refused, never loaded
    with pytest.raises(BundleError, match=r"pickled files are refused .*model\.pt"):
        verify_bundle(out)
    (out / "records" / "model.pt").unlink()
    raw = json.loads((out / BUNDLE_FILE).read_text())
    raw["status"] = "re-run by maintainers"  # a bundle cannot label itself
    (out / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"bundle\.json: claims status 're-run by maintainers'; a bundle is always "
                                          r"'self-reported' \('re-run by maintainers' is granted only by the "
                                          r"maintainers' leaderboards/reruns\.yaml\)"):
        verify_bundle(out)
    raw["status"] = "self-reported"
    raw["bundle_version"] = 2
    (out / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"bundle\.json: not a valid bundle manifest: bundle_version"):
        verify_bundle(out)
    (out / BUNDLE_FILE).write_text("{not json")
    with pytest.raises(BundleError, match=r"bundle\.json: not readable JSON"):
        verify_bundle(out)
    (out / BUNDLE_FILE).unlink()
    with pytest.raises(BundleError, match=r"bundle\.json: missing"):
        verify_bundle(out)


def test_a_bundle_holding_a_symlink_is_refused(packed, tmp_path):
    """records/ replaced by a symlink to a folder outside the bundle holding the very same files: the hashes all
    match, the bundle is still refused (nothing behind a symlink is read)."""
    out, _, _ = packed
    outside = tmp_path / "elsewhere"
    shutil.move(str(out / "records"), str(outside))
    (out / "records").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BundleError, match=r"holds symlink\(s\) \['records'\]: bundles with symlinks are refused"):
        verify_bundle(out)
    (out / "records").unlink()
    shutil.move(str(outside), str(out / "records"))
    verify_bundle(out)  # the same files inside the bundle verify
    rec = out / verify_bundle(out).records[0].record.path
    target = tmp_path / "real.json"
    shutil.move(str(rec), str(target))
    rec.symlink_to(target)
    assert "symlink" in check_bundle(out).problem
