"""Every adapter names its fixture writer and its layout detector (issue 16): the fixture it writes is recognised as
its own layout and as no other, and loads back through the adapter."""
from __future__ import annotations

import pytest

from avbench.datasets import DATASETS, get_dataset
from avbench.datasets.base import DatasetAdapter
from avbench.datasets.roots import data_root, detect_layout

SMALL = {"esc50": {"n_classes": 2, "per_class": 2}, "dcase2013": {"n_classes": 2, "per_class": 1},
         "ucf101": {"n_classes": 2, "per_class": 1}, "hmdb51": {"n_classes": 2, "per_class": 3},
         "kinetics400": {"n_classes": 2, "per_class": 2}, "vggsound": {"n_classes": 2, "per_class": 2}}


def test_every_adapter_is_a_dataset_adapter_with_a_modality():
    for name in DATASETS.names():
        adapter = get_dataset(name)
        assert isinstance(adapter, DatasetAdapter) and adapter.name == name
        assert adapter.modality in ("audio", "video", "audiovisual")


@pytest.mark.parametrize("name", list(SMALL))
def test_a_fixture_is_detected_as_its_own_layout_and_loads(name, tmp_path):
    root = get_dataset(name).write_fixture(tmp_path / name, seed=0, **SMALL[name])
    assert detect_layout(root) == name
    assert get_dataset(name).load(root).found > 0
    others = [n for n in DATASETS.names() if n not in (name, "augvgg", "kinetics_sound")]
    assert all(not DATASETS.load(n).detect(root) for n in others)


def test_one_resolver_for_every_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("AVBENCH_DATA_ESC50", raising=False)
    monkeypatch.setenv("AVBENCH_CONFIG", str(tmp_path / "none.yaml"))
    assert data_root("esc50", tmp_path / "given", cache_dir=tmp_path) == (tmp_path / "given", False)
    monkeypatch.setenv("AVBENCH_DATA_ESC50", str(tmp_path / "env"))
    assert data_root("esc50", None, cache_dir=tmp_path) == (tmp_path / "env", False)
    root, synthetic = data_root("esc50", "synthetic", cache_dir=tmp_path, log=lambda m: None)
    assert synthetic and root == tmp_path / "fixtures" / "esc50-synthetic-v1" and detect_layout(root) == "esc50"
