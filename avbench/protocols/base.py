"""What every protocol shares: its settings block's base, the :class:`Protocol` interface, and the data that flows
into (:class:`ClipFeatures`) and out of (:class:`ProtocolResult`) it.

Protocols know nothing of data sets, files or encoders: a frozen-feature protocol sees clip-level feature rows,
which sample each row belongs to, and the per-sample labels and groups.

A protocol is one file holding its settings block (a :class:`ProtocolSettings` subclass with ``type: Literal[
"<name>"]``: the card's ``classifier:`` block, validated by the card through the registry) and its code (a
:class:`Protocol` subclass), registered by name in :data:`avbench.protocols.PROTOCOLS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Sequence

import torch
from pydantic import BaseModel, ConfigDict


@dataclass
class ClipFeatures:
    """Clip-level features of S samples, held as row blocks so large sets stream instead of being concatenated.

    blocks: row blocks, each ``[n_i, D]`` float (may be memory-mapped safetensors slices); rows in order.
    sample_index: ``[n]`` int64, row -> sample position in ``0..S-1``.
    labels: ``[S]`` int64 class index per sample.
    groups: ``S`` group names for grouped cross-validation (all clips of a sample share its group).
    sample_ids: ``S`` sample ids (for the per-sample sidecar).
    """

    blocks: list[torch.Tensor]
    sample_index: torch.Tensor
    labels: torch.Tensor
    groups: list[str]
    sample_ids: list[str]

    def __post_init__(self) -> None:
        n = sum(int(b.shape[0]) for b in self.blocks)
        if n != int(self.sample_index.numel()):
            raise ValueError(f"ClipFeatures: {n} feature rows but {self.sample_index.numel()} sample indices")
        if len(self.groups) != len(self.sample_ids) or int(self.labels.numel()) != len(self.sample_ids):
            raise ValueError("ClipFeatures: labels, groups and sample_ids must all have one entry per sample")
        if self.blocks and len({int(b.shape[1]) for b in self.blocks}) != 1:
            raise ValueError("ClipFeatures: blocks differ in feature dimension")

    @property
    def n_rows(self) -> int:
        return int(self.sample_index.numel())

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def dim(self) -> int:
        return int(self.blocks[0].shape[1]) if self.blocks else 0

    @property
    def row_labels(self) -> torch.Tensor:
        """``[n]`` label of every row."""
        return self.labels[self.sample_index]

    def iter_blocks(self) -> Iterator[tuple[int, torch.Tensor]]:
        """(first row, block) pairs."""
        start = 0
        for b in self.blocks:
            yield start, b
            start += int(b.shape[0])

    def dense(self) -> torch.Tensor:
        """All rows as one ``[n, D]`` tensor (only for problems that fit in memory)."""
        return torch.cat([b.float() for b in self.blocks]) if self.blocks else torch.empty(0, 0)

    def subset(self, sample_positions: Sequence[int]) -> "ClipFeatures":
        """The rows of the given samples (re-indexed to ``0..len(sample_positions)-1``), as one dense block."""
        pos = torch.as_tensor(list(sample_positions), dtype=torch.long)
        remap = torch.full((self.n_samples,), -1, dtype=torch.long)
        remap[pos] = torch.arange(len(pos))
        keep = remap[self.sample_index] >= 0
        rows = [b[keep[s:s + b.shape[0]]] for s, b in self.iter_blocks()]
        return ClipFeatures(blocks=[torch.cat(rows)] if rows else [], sample_index=remap[self.sample_index][keep],
                            labels=self.labels[pos], groups=[self.groups[i] for i in pos.tolist()],
                            sample_ids=[self.sample_ids[i] for i in pos.tolist()])


@dataclass
class ProtocolResult:
    """What a protocol returns for one train/test split.

    scores: ``[S_test, K]`` per-sample scores at the selected hyper-parameter (decision values or
      probabilities, averaged over each sample's clips).
    selected: the chosen hyper-parameters, e.g. ``{"C": 1e-4}`` or ``{"epoch": 57}``.
    selection: "paper" (chosen on the test split, as the papers did) or "clean" (chosen inside train only).
    sweep: one dict per candidate, e.g. ``{"C": 1e-4, "test_top1": 71.5, "test_top5": 90.0, "cv_top1": 70.2}``.
    backend: the solver that ran, e.g. "torch-cpu", "sklearn", "cuml".
    info: solver diagnostics (iterations, converged, seconds).
    hits: for protocols whose metrics are not top-k over ``scores`` (retrieval R@k): metric name ->
      ``[S_test]`` float tensor of per-sample hits in {0, 1}; the runner averages them (x100) and bootstraps them.
    sample_info: optional per-test-sample extras for the sidecar (e.g. retrieved neighbour ids), one dict each.
    """

    scores: torch.Tensor
    selected: dict[str, Any]
    selection: str
    sweep: list[dict[str, Any]]
    backend: str
    info: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, torch.Tensor] | None = None
    sample_info: list[dict[str, Any]] | None = None


#: the name before the redesign (kept for one release)
ClassifierResult = ProtocolResult


class ProtocolSettings(BaseModel):
    """Base of a protocol's settings block (the card's ``classifier:``): unknown keys are errors, values frozen.
    Subclasses declare ``type: Literal["<name>"]`` and ``selection``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Protocol:
    """A registered protocol (module docstring).

    ``kind``: ``"frozen"`` (classifies features extracted once per view: :meth:`classify`) or ``"training"``
    (trains the encoder itself on decoded clips, e.g. finetuning; the evaluation core hands it the samples).
    ``audiovisual``: a card may fuse audio and video features for it. ``metrics``: what it can report.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[ProtocolSettings]]
    kind: ClassVar[str] = "frozen"
    audiovisual: ClassVar[bool] = False

    def check_card(self, card: Any) -> None:
        """Card-level rules for a :class:`~avbench.taskcard.TaskCard` (raise ValueError): by default top-k metrics only, and audio-visual cards only where
        :attr:`audiovisual` allows them."""
        if card.modality == "audiovisual" and not self.audiovisual:
            raise ValueError("an audiovisual card fuses features for a linear classifier (svm or fc) or retrieval")
        if any(m.startswith("recall") for m in card.metrics):
            raise ValueError("recall@k metrics belong to retrieval cards (classifier.type: retrieval)")

    def classify(self, settings: Any, train: ClipFeatures, test: ClipFeatures, *, seed: int, device: str,
                 n_classes: int) -> ProtocolResult:
        """Fit on ``train`` and score every ``test`` sample (frozen-feature protocols)."""
        raise NotImplementedError(f"protocol {self.name!r} does not classify frozen features")
