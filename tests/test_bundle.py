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
    results = tmp_path / "results"
    make_record(results, model="alpha-enc", task="esc50", groups=esc50_groups(0, [4, 3, 2, 3, 3]), weights_sha256=sha)
    make_record(results, model="alpha-enc", task="esc50", groups=esc50_groups(1, [3, 3, 3, 3, 3]), weights_sha256=sha)
    out = pack_bundle(tmp_path / "sub", results, tmp_path / "bundle")
    return out, sha


def test_pack_writes_hashes_of_records_sidecars_card_and_weights(packed):
    out, sha = packed
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
            assert fh.path.startswith("records/alpha-enc/esc50/")
            assert sha256_file(out / fh.path) == fh.sha256 and (out / fh.path).stat().st_size == fh.bytes
        rec = json.loads((out / entry.record.path).read_text())
        assert Path(entry.predictions.path).name == rec["sidecar"]["path"]
    raw = json.loads((out / BUNDLE_FILE).read_text())
    assert raw["bundle_version"] == 1 and raw["submission"]["pretraining_data"] == "Kinetics-400 (240k videos)"


def test_pack_refuses_records_of_other_weights_and_broken_inputs(tmp_path):
    sha = make_submission(tmp_path / "sub")
    results = tmp_path / "results"
    rec = make_record(results, model="x", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256="f" * 64)
    with pytest.raises(BundleError, match=r"produced with weights sha256 f{64} but .*card.yaml names " + sha):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b1")
    shutil.rmtree(results)
    rec = make_record(results, model="x", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]), weights_sha256=sha)
    side = next(rec.parent.glob("*.predictions.jsonl.gz"))
    side.write_bytes(side.read_bytes() + b"x")
    with pytest.raises(BundleError, match=r"predictions\.jsonl\.gz: sha256 does not match"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b2")
    side.unlink()
    with pytest.raises(BundleError, match="predictions sidecar named by .* is missing"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b3")
    (results / "junk.json").write_text('{"schema_version": "1.0"}')
    with pytest.raises(BundleError, match=r"junk\.json: does not match the result schema"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b4")
    with pytest.raises(BundleError, match="status 'trusted' must be one of"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b5", status="trusted")
    with pytest.raises(BundleError, match="no result records"):
        pack_bundle(tmp_path / "sub", tmp_path / "sub", tmp_path / "b6")
    (tmp_path / "sub" / "extra.pt").write_bytes(b"\x80\x04")
    with pytest.raises(BundleError, match=r"pickled files are refused .*extra\.pt"):
        pack_bundle(tmp_path / "sub", results, tmp_path / "b7")


def test_pack_refuses_a_non_empty_output(packed, tmp_path):
    out, _ = packed
    with pytest.raises(BundleError, match="exists and is not empty"):
        pack_bundle(tmp_path / "sub", tmp_path / "results", out)


def test_verify_names_a_tampered_record(packed):
    out, _ = packed
    rec = out / verify_bundle(out).records[0].record.path
    data = json.loads(rec.read_text())
    data["metrics"]["top1"]["mean"] = 99.0
    rec.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=rf"{rec.name}: sha256 does not match bundle\.json"):
        verify_bundle(out)
    check = check_bundle(out)
    assert check.problem is None and list(check.record_problems) == [rec.relative_to(out).as_posix()]


def test_verify_names_missing_unlisted_and_escaping_files(packed):
    out, _ = packed
    manifest = verify_bundle(out)
    side = out / manifest.records[1].ids.path
    side.unlink()
    with pytest.raises(BundleError, match=rf"{side.name}: listed in bundle\.json but missing"):
        verify_bundle(out)
    extra = out / "records" / "alpha-enc" / "esc50" / "smuggled.json"
    extra.write_text("{}")
    assert "records/alpha-enc/esc50/smuggled.json" in check_bundle(out).unlisted
    raw = json.loads((out / BUNDLE_FILE).read_text())
    raw["records"][0]["record"]["path"] = "../../etc/passwd"
    (out / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="is not inside the bundle"):
        verify_bundle(out)


def test_verify_rejects_an_altered_card_a_bad_manifest_and_pickles(packed):
    out, _ = packed
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
    raw["status"] = "trusted"
    (out / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"bundle\.json: not a valid bundle manifest: status"):
        verify_bundle(out)
    (out / BUNDLE_FILE).write_text("{not json")
    with pytest.raises(BundleError, match=r"bundle\.json: not readable JSON"):
        verify_bundle(out)
    (out / BUNDLE_FILE).unlink()
    with pytest.raises(BundleError, match=r"bundle\.json: missing"):
        verify_bundle(out)
