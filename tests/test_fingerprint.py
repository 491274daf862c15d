"""AugVGG fingerprinting: instance retrieval (a hit is the query's own source), on known features and end to
end on a VGG-Sound fixture with a generated query set."""
from __future__ import annotations

import pytest
import torch

from avbench.datasets.augvgg.generate import generate_augvgg
from avbench.datasets import get_dataset
from avbench.protocols.base import ClipFeatures
from avbench.protocols.retrieval import run_retrieval
from avbench.results import read_sidecar
from avbench.evaluation.runner import RunOptions, run
from avbench.synth.vggsound_fixtures import write_vggsound


def _rows(x: torch.Tensor, labels: list[int], prefix: str) -> ClipFeatures:
    n = x.shape[0]
    return ClipFeatures(blocks=[x], sample_index=torch.arange(n), labels=torch.tensor(labels),
                        groups=[f"{prefix}{i}" for i in range(n)], sample_ids=[f"{prefix}{i}" for i in range(n)])


def test_instance_retrieval_counts_only_the_source_video():
    """Gallery of 4 videos (labels = their own index); query 0 is nearest to video 1, then to its source 0."""
    gallery = _rows(torch.tensor([[1.0, 0.0], [0.9, 0.44], [0.0, 1.0], [-1.0, 0.0]]), [0, 1, 2, 3], "g")
    queries = _rows(torch.tensor([[0.92, 0.40], [0.0, 0.95]]), [0, 2], "q")
    res = run_retrieval(gallery, queries, ks=(1, 2), metric="cosine", class_scores=False)
    assert res.scores.shape == (2, 0)  # no per-instance class table
    assert res.hits["recall1"].tolist() == [0.0, 1.0] and res.hits["recall2"].tolist() == [1.0, 1.0]
    assert res.sample_info[0]["neighbours"][:2] == ["g1", "g0"]


@pytest.fixture(scope="module")
def vgg_root(tmp_path_factory):
    root = write_vggsound(tmp_path_factory.mktemp("vgg") / "vgg", n_classes=3, train_per_class=1, test_per_class=3,
                          missing=0, seed=5)
    info = generate_augvgg(root, root / "augvgg", "t", seed=0)
    return root


def test_augvgg_adapter_pairs_queries_with_their_sources(vgg_root):
    m = get_dataset("augvgg").load(vgg_root, variant="t")
    gallery, queries = m.splits["official"]["train"], m.splits["official"]["test"]
    assert len(gallery) == 9 and len(queries) == 9 and len(m.classes) == 9
    by_id = m.by_id()
    for q in queries:
        assert q.startswith("q:") and m.classes[by_id[q].label] == q[2:]
    with pytest.raises(Exception, match="variant"):
        get_dataset("augvgg").load(vgg_root, variant="x")


def test_augvgg_card_end_to_end(vgg_root, tmp_path):
    overrides = {"video": {"size": 64, "resize": 72, "frames": 8}, "train": {"clips": 3}, "test": {"clips": 3},
                 "classifier": {"ks": [1, 5]}, "metrics": ["recall1", "recall5"]}  # a 9-video gallery
    record, path = run("crisscross", "augvgg-t", data_root=vgg_root, overrides=overrides,
                       options=RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None))
    assert [r.layer for r in record.runs] == ["video", "audio", "audio+video"]
    assert {"recall1", "recall5", "recall1@audio", "recall5@video", "fusion_gain"} <= set(record.metrics)
    rows = [r for r in read_sidecar(path.parent / record.sidecar.path) if "layer" not in r]
    assert len(rows) == 9 and all("scores" not in r for r in rows)
    own = 100.0 * sum(r["neighbours"][0] == r["id"][2:] for r in rows) / len(rows)
    assert own == pytest.approx(record.metrics["recall1"].mean)
