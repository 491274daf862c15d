"""CONTRIBUTING.md's claims, run: a frozen-feature protocol is one file + one registry line + a card, and the
evaluation core runs it with no other change; a card may say ``protocol:`` for ``classifier:``."""
from __future__ import annotations

import sys
import textwrap

import pytest

from avbench.evaluation.runner import RunOptions, run
from avbench.protocols import PROTOCOLS
from avbench.taskcard import TaskCardError, builtin_card_dir, load_card
from tests._toys import ToyAudio

CENTROID = '''
from typing import ClassVar, Literal

import torch

from avbench.protocols.base import ClipFeatures, Protocol, ProtocolResult, ProtocolSettings


class CentroidSettings(ProtocolSettings):
    type: Literal["centroid"]
    selection: Literal["none"] = "none"


class CentroidProtocol(Protocol):
    name: ClassVar[str] = "centroid"
    Settings = CentroidSettings

    def classify(self, settings, train: ClipFeatures, test: ClipFeatures, *, seed, device, n_classes):
        x, y = train.dense(), train.row_labels
        centroids = torch.stack([x[y == k].mean(0) for k in range(n_classes)])
        clip = -torch.cdist(test.dense(), centroids)
        scores = torch.zeros(test.n_samples, n_classes).index_add_(0, test.sample_index, clip)
        return ProtocolResult(scores=scores, selected={}, selection="none", sweep=[], backend="torch-cpu")
'''


@pytest.fixture
def centroid(tmp_path, monkeypatch):
    (tmp_path / "my_centroid.py").write_text(textwrap.dedent(CENTROID))
    monkeypatch.syspath_prepend(str(tmp_path))
    PROTOCOLS.add("centroid", "my_centroid:CentroidProtocol")  # the one registry line
    yield
    PROTOCOLS._builtin.pop("centroid", None)
    sys.modules.pop("my_centroid", None)


def test_a_new_protocol_is_a_file_a_registry_line_and_a_card(centroid, esc50_root, tmp_path):
    card = tmp_path / "esc50-centroid.yaml"
    card.write_text(f"include: {builtin_card_dir() / 'esc50.yaml'}\nname: esc50-centroid\n"
                    "protocol: {type: centroid}\nmetrics: [top1]\ntrain: {clips: 1}\ntest: {clips: 1}\n")
    record, _ = run(ToyAudio(), str(card), data_root=esc50_root,
                    options=RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None))
    assert record.protocol == "centroid-none" and record.task.card["classifier"] == {"type": "centroid", "selection": "none"}
    assert len(record.runs) == 5 and 0.0 <= record.metrics["top1"].mean <= 100.0


def test_protocol_is_an_alias_that_cards_never_store():
    a = load_card("esc50", {"classifier": {"selection": "clean"}})
    b = load_card("esc50", {"protocol": {"selection": "clean"}})
    assert a.sha256() == b.sha256() and "protocol" not in b.to_dict()
    with pytest.raises(TaskCardError, match="unknown protocol 'nope'"):
        load_card("esc50", {"classifier": {"type": "nope"}})
