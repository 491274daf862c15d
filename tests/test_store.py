"""Feature store: round trip, atomic writes, keys that change with every input that changes a feature."""
import torch

from avbench.features.store import FeatureStore, key_of


def test_shard_round_trip_and_listing(tmp_path):
    store = FeatureStore(tmp_path)
    entry = store.entry({"encoder": {"name": "m"}, "task": "t", "view": {"side": "train"}}).open()
    feats = torch.randn(5, 3)
    entry.write_shard(0, feats, torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 0, 1, 2]),
                      sample_ids=["a", "b", "c"], skipped=[{"id": "c", "path": "/x/c.wav", "reason": "zero-byte file"}],
                      padded=["b"])
    assert not list(entry.dir.glob("*.tmp")) and not list(entry.dir.glob(".*"))  # nothing half-written left
    sh = entry.read_shard(0)
    assert torch.equal(sh.features, feats) and sh.sample.tolist() == [0, 0, 1, 1, 1]
    assert sh.skipped[0]["reason"] == "zero-byte file" and sh.padded == ["b"] and sh.sample_ids == ["a", "b", "c"]
    listed = list(store.entries())
    assert len(listed) == 1 and listed[0]["encoder"] == "m" and listed[0]["side"] == "train" and listed[0]["shards"] == 1
    assert store.clear(listed[0]["key"][:6]) == 1 and list(store.entries()) == []


def test_key_depends_on_every_field():
    base = {"encoder": {"state_sha256": "aa"}, "dtype": "float32", "decoder": "av 18", "manifest": "m1",
            "task": "esc50", "task_version": 1, "view": {"seed": 0}}
    k = key_of(base)
    for field, value in [("dtype", "bfloat16"), ("decoder", "av 19"), ("manifest", "m2"), ("task_version", 2),
                         ("encoder", {"state_sha256": "bb"}), ("view", {"seed": 1})]:
        assert key_of({**base, field: value}) != k, field
    assert key_of(dict(reversed(list(base.items())))) == k  # order-independent


def test_safe_join_refuses_escapes_but_allows_symlinked_data(tmp_path):
    import pytest

    from avbench.datasets.base import DatasetError, safe_join

    elsewhere = tmp_path / "other_disk"
    elsewhere.mkdir()
    (elsewhere / "clip.wav").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "clip.wav").symlink_to(elsewhere / "clip.wav")
    assert safe_join(root, "clip.wav", what="list").read_bytes() == b"x"
    for bad in ("../../etc/passwd", "/etc/passwd", "a/../../b"):
        with pytest.raises(DatasetError, match="escapes the data root"):
            safe_join(root, bad, what="list")
