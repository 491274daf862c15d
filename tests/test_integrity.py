"""Every cached feature provably the right one (issue 17, cases 1 and 2): samples are identified by content, so two
copies of a data set that differ only inside their files never share a feature row; every committed shard is
checked against the entry's index (sha256, size) and the plan (sample ids) before it is used, and one that fails is
recomputed and recorded, never used. Real fixture files, a real (tiny) encoder, the real store."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from avbench.datasets import get_dataset
from avbench.datasets.sample_identity import EDGE_BYTES, IdentityMemo, identify_files
from avbench.evaluation.runner import RunOptions, run
from avbench.synth.audio_fixtures import write_esc50
from tests._toys import ToyAudio

FAST = {"train": {"clips": 2}, "test": {"clips": 2}, "splits": ["fold1"], "classifier": {"costs": [0.01, 1.0]}}


def _opts(tmp: Path, cache: str = "cache", **kw) -> RunOptions:
    return RunOptions(cache_dir=tmp / cache, out_dir=tmp / "out", log=lambda m: None, num_workers=0, **kw)


@pytest.fixture(scope="module")
def esc(tmp_path_factory) -> Path:
    """6 classes x 5 clips, every file 44.1 kHz mono 16-bit of the same length (equal sizes)."""
    return write_esc50(tmp_path_factory.mktemp("esc") / "a", n_classes=6, clips_per_class=5, seconds=1.0, seed=3,
                       variety=False)


def _scrambled_copy(src: Path, dst: Path) -> Path:
    """``src`` copied to ``dst`` with every wav's bytes moved to the next wav (by name): the same names, sizes and
    annotations, other audio (the classes no longer match the sounds)."""
    shutil.copytree(src, dst)
    wavs = sorted((dst / "audio").glob("*.wav"))
    data = [p.read_bytes() for p in wavs]
    assert len({len(d) for d in data}) == 1  # equal sizes: only the content tells the copies apart
    for p, d in zip(wavs, data[1:] + data[:1]):
        p.write_bytes(d)
    return dst


def test_a_copy_with_the_same_names_and_sizes_but_other_audio_gets_its_own_features(esc, tmp_path):
    """Case 1: the first copy's features were served for the second (53.3 % instead of its true 16.7 %)."""
    other = _scrambled_copy(esc, tmp_path / "b")
    first, _ = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path))
    second, second_path = run(ToyAudio(), "esc50", data_root=other, overrides=FAST, options=_opts(tmp_path))
    alone, _ = run(ToyAudio(), "esc50", data_root=other, overrides=FAST, options=_opts(tmp_path, "fresh"))
    assert second.data.manifest_sha256 != first.data.manifest_sha256
    assert second.cache.shards_reused == 0 and second.cache.shards_computed == first.cache.shards_computed
    assert second.metrics["top1"].mean == alone.metrics["top1"].mean  # its own number, not the first copy's
    assert second.data.manifest_sha256 == alone.data.manifest_sha256
    # a byte-identical copy elsewhere (another machine, another root) keeps the key: the cache serves it
    twin = shutil.copytree(esc, tmp_path / "twin")
    again, _ = run(ToyAudio(), "esc50", data_root=twin, overrides=FAST, options=_opts(tmp_path))
    assert again.data.manifest_sha256 == first.data.manifest_sha256 and again.cache.shards_computed == 0
    assert again.metrics["top1"].mean == first.metrics["top1"].mean


def test_identity_reads_both_ends_and_the_memo_skips_unchanged_files(tmp_path):
    """Edge digests see a change in the first or last 64 KiB (and any change of size); a change in the middle of a
    large file only ``full`` mode sees; the memo re-hashes only files whose stat changed."""
    big = tmp_path / "big.bin"
    payload = bytearray(os.urandom(3 * EDGE_BYTES))
    big.write_bytes(payload)
    memo = IdentityMemo.for_root(tmp_path / "cache", tmp_path)
    first = identify_files([big], tmp_path, mode="full", memo=memo)
    assert first.hashed == 1 and first.facts[0].full is not None
    warm = identify_files([big], tmp_path, mode="full", memo=IdentityMemo.for_root(tmp_path / "cache", tmp_path))
    assert warm.hashed == 0 and warm.memo_hits == 1 and warm.facts == first.facts
    payload[len(payload) // 2] ^= 0xFF  # the middle: outside both edges
    big.write_bytes(payload)
    middle = identify_files([big], tmp_path, mode="full", memo=IdentityMemo.for_root(tmp_path / "cache", tmp_path))
    assert middle.hashed == 1  # the stat changed, so the memo does not answer
    assert middle.facts[0].edges == first.facts[0].edges and middle.facts[0].full != first.facts[0].full
    payload[-1] ^= 0xFF  # the last 64 KiB
    big.write_bytes(payload)
    tail = identify_files([big], tmp_path)
    assert tail.facts[0].edges != first.facts[0].edges


def test_verify_data_full_records_the_whole_file_hash_and_keys_the_cache(esc, tmp_path):
    edges, _ = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path))
    full, _ = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path, verify_data="full"))
    assert edges.data.sample_identity["mode"] == "edges" and edges.data.sample_identity["full_sha256"] is None
    assert full.data.sample_identity["mode"] == "full" and len(full.data.sample_identity["full_sha256"]) == 64
    assert full.data.manifest_sha256 == edges.data.manifest_sha256  # the record's data identity is comparable
    assert set(full.cache.keys.values()).isdisjoint(edges.cache.keys.values())  # but features are keyed by it
    assert full.metrics["top1"].mean == edges.metrics["top1"].mean


def _shards(tmp: Path) -> list[Path]:
    return sorted((tmp / "cache" / "features").glob("*/*/shard-*.safetensors"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap", "no_index"])
def test_a_cached_shard_that_fails_its_check_is_recomputed_and_recorded_never_used(damage, esc, tmp_path):
    """Case 2: flipping bytes in a cached shard's data moved top-1 from 73.3 to 46.7."""
    opts = {"shard_size": 4}
    clean, clean_path = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path, **opts))
    shards = _shards(tmp_path)
    target = shards[1]
    data = bytearray(target.read_bytes())
    if damage == "flip":  # the feature payload sits at the end of the file
        for i in range(len(data) - 400, len(data) - 40):
            data[i] ^= 0x5A
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "swap":  # two valid shards, each with its own index record, under each other's names
        other = target.with_name("shard-00000.safetensors")
        index = target.parent / "index"
        a, b = index / "shard-00000.json", index / f"{target.stem}.json"
        ta, tb = other.read_bytes(), a.read_text().replace('"shard": 0', f'"shard": {int(target.stem[-5:])}')
        other.write_bytes(target.read_bytes())
        a.write_text(b.read_text().replace(f'"shard": {int(target.stem[-5:])}', '"shard": 0'))
        target.write_bytes(ta)
        b.write_text(tb)
    else:
        (target.parent / "index" / f"{target.stem}.json").unlink()
    again, path = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path, **opts))
    assert again.cache.shards_repaired >= 1, again.cache
    repaired = {r["shard"] for r in again.cache.repaired}
    assert 1 in repaired and all(r["reason"] for r in again.cache.repaired)
    assert again.metrics["top1"].mean == clean.metrics["top1"].mean
    assert again.metrics["top1"].per_split == clean.metrics["top1"].per_split
    from avbench.results import read_sidecar

    rows = read_sidecar(path.parent / again.sidecar.path)
    assert rows == read_sidecar(clean_path.parent / clean.sidecar.path)  # every score as the clean run's
    third, _ = run(ToyAudio(), "esc50", data_root=esc, overrides=FAST, options=_opts(tmp_path, **opts))
    assert third.cache.shards_repaired == 0 and third.cache.shards_computed == 0  # the repair was committed


def test_a_symlink_out_of_the_data_root_is_recorded_or_refused(esc, tmp_path):
    root = shutil.copytree(esc, tmp_path / "root")
    outside = tmp_path / "elsewhere.wav"
    victim = sorted((root / "audio").glob("2-*.wav"))[0]  # a training clip: fold1 holds one test clip per class
    shutil.move(victim, outside)
    victim.symlink_to(outside)
    followed, _ = run(ToyAudio(), "esc50", data_root=root, overrides=FAST, options=_opts(tmp_path))
    assert [d["id"] for d in followed.data.outside_root] == [victim.stem]
    assert followed.data.outside_root[0]["target"] == str(outside.resolve())
    refused, _ = run(ToyAudio(), "esc50", data_root=root, overrides=FAST,
                     options=_opts(tmp_path, follow_symlinks=False, min_coverage=0.5))
    skip = {s["id"]: s["reason"] for s in refused.data.skipped}
    assert "symlink leads out of the data root" in skip[victim.stem] and not refused.data.outside_root
    m = get_dataset("esc50").load(root).identify(follow_symlinks=False)
    assert victim.stem not in {s.id for s in m.samples}
