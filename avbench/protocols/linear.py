"""A linear classifier trained on frozen clip features (the "fc-tune" / linear-probe protocols).

Recipes this covers (pass the numbers from the task card):
* CrissCross DCASE fc-tune (``evaluate/audio/audio_fctune.py``): ``l2_normalize=True``, ``dropout=0.1``, Linear with
  orthogonal init, Adam lr 7e-3, weight decay 1e-5, 200 epochs, batch 512; softmax averaged over a recording's
  windows; the best *test* epoch is reported.
* AVID-CMA linear: ``batchnorm=True`` (BatchNorm1d -> Linear), Adam lr 1e-4, ``milestones``/``gamma`` MultiStepLR.

Every clip row is one training example with its sample's label. After each epoch the softmax probabilities of
the test clips are averaged per sample. Selection:
* ``"paper"``: the epoch with the best test top-1 (first best), as the released code did.
* ``"clean"``: a grouped part of train (``holdout_fraction`` of the groups, by sklearn ``GroupShuffleSplit``) is held
  out; the head is trained on the rest; the epoch with the best held-out top-1 is chosen and the test scores of
  that epoch are reported. Test labels are used only for reporting.

Deterministic for a seed: one seeded generator draws the initial weights and the shuffling order, another the
dropout masks (dropout is applied by hand so it uses that generator).
"""
from __future__ import annotations

import time
from typing import Any, ClassVar, Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from avbench.metrics import sample_mean, topk_accuracy
from avbench.protocols.base import ClassifierResult, ClipFeatures, Protocol, ProtocolSettings
from avbench.protocols.svm_torch import single_thread_if_small

__all__ = ["FCSettings", "FCProtocol", "train_linear_head", "LinearHead"]


class FCSettings(ProtocolSettings):
    """The card's ``classifier: {type: fc, ...}`` block (the recipes are in the module docstring)."""

    type: Literal["fc"]
    epochs: int = Field(gt=0)
    lr: float = Field(gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=512, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    l2_normalize: bool = False
    batchnorm: bool = False
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    selection: Literal["paper", "clean"] = "paper"
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)


class FCProtocol(Protocol):
    """A linear head trained on frozen clip features, softmax averaged per sample."""

    name: ClassVar[str] = "fc"
    Settings = FCSettings
    audiovisual: ClassVar[bool] = True

    def classify(self, settings: FCSettings, train: ClipFeatures, test: ClipFeatures, *, seed: int, device: str,
                 n_classes: int) -> ClassifierResult:
        return train_linear_head(train, test, epochs=settings.epochs, lr=settings.lr,
                                 weight_decay=settings.weight_decay, batch_size=settings.batch_size,
                                 dropout=settings.dropout, l2_normalize=settings.l2_normalize,
                                 batchnorm=settings.batchnorm, milestones=tuple(settings.milestones),
                                 gamma=settings.gamma, selection=settings.selection,
                                 holdout_fraction=settings.holdout_fraction, seed=seed, device=device,
                                 n_classes=n_classes)


class LinearHead(nn.Module):
    """``[optional L2-normalise] -> [optional BatchNorm1d] -> dropout -> Linear(D, K)`` on ``[B, D]`` rows.

    Dropout draws its masks from ``generator`` (so runs repeat exactly); it is off in ``eval()`` mode.
    """

    def __init__(self, dim: int, n_classes: int, *, dropout: float, l2_normalize: bool, batchnorm: bool,
                 generator: torch.Generator, orthogonal_init: bool = True) -> None:
        super().__init__()
        self.l2_normalize = l2_normalize
        self.bn = nn.BatchNorm1d(dim) if batchnorm else None
        self.dropout = float(dropout)
        self.fc = nn.Linear(dim, n_classes)
        if orthogonal_init:
            nn.init.orthogonal_(self.fc.weight, generator=generator)
            nn.init.zeros_(self.fc.bias)
        self._drop_gen: torch.Generator | None = None

    def set_dropout_generator(self, gen: torch.Generator) -> None:
        self._drop_gen = gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.l2_normalize:
            x = F.normalize(x, dim=1)
        if self.bn is not None:
            x = self.bn(x)
        if self.training and self.dropout > 0:
            keep = torch.rand(x.shape, generator=self._drop_gen, device=x.device, dtype=x.dtype) >= self.dropout
            x = x * keep / (1.0 - self.dropout)
        return self.fc(x)


class _Rows:
    """Random access to the rows of a ClipFeatures' blocks by global row index, without concatenating them."""

    def __init__(self, features: ClipFeatures) -> None:
        self.blocks = features.blocks
        sizes = torch.tensor([int(b.shape[0]) for b in self.blocks], dtype=torch.long)
        self.starts = torch.cumsum(sizes, 0) - sizes
        self.ends = torch.cumsum(sizes, 0)

    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        if len(self.blocks) == 1:
            return self.blocks[0][rows].float()
        which = torch.searchsorted(self.ends, rows, right=True)
        out = torch.empty(rows.numel(), int(self.blocks[0].shape[1]), dtype=torch.float32)
        for b in which.unique().tolist():
            sel = (which == b).nonzero().squeeze(1)
            out[sel] = self.blocks[b][rows[sel] - self.starts[b]].float()
        return out


@torch.no_grad()
def _probabilities(model: LinearHead, features: ClipFeatures, device: torch.device, batch: int = 8192) -> torch.Tensor:
    """Softmax probabilities ``[S, K]`` averaged over each sample's clips (CPU, float64)."""
    model.eval()
    outs = []
    for block in features.blocks:
        for off in range(0, int(block.shape[0]), batch):
            x = block[off:off + batch].to(device=device, dtype=torch.float32)
            outs.append(torch.softmax(model(x), dim=1).double().cpu())
    probs = torch.cat(outs)
    return sample_mean(probs, features.sample_index, features.n_samples)


def _holdout_split(train: ClipFeatures, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import GroupShuffleSplit

    if not 0 < fraction < 1:
        raise ValueError("holdout_fraction must lie in (0, 1)")
    if len(set(train.groups)) < 2:
        raise ValueError("selection='clean' needs at least 2 groups in train to hold one out")
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    fit_pos, val_pos = next(splitter.split(list(range(train.n_samples)), groups=train.groups))
    return fit_pos.tolist(), val_pos.tolist()


def _train(model: LinearHead, opt: torch.optim.Optimizer, sched: Any, rows: _Rows, row_labels: torch.Tensor,
           test: ClipFeatures, val: ClipFeatures | None, *, epochs: int, batch_size: int, gen: torch.Generator,
           dev: torch.device) -> tuple[list[dict[str, Any]], int, torch.Tensor]:
    """The epoch loop; returns the per-epoch sweep, the selected epoch (first best on val, else on test) and the
    test probabilities ``[S_test, K]`` of that epoch."""
    n = int(row_labels.numel())
    sweep: list[dict[str, Any]] = []
    best_key, best_epoch, best_scores = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0
        for off in range(0, n, batch_size):
            idx = order[off:off + batch_size]
            if idx.numel() == 1 and model.bn is not None:
                continue  # BatchNorm cannot train on a single row (a trailing batch of one is dropped)
            x = rows.gather(idx).to(dev)
            y = row_labels[idx].to(dev)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            seen += idx.numel()
        sched.step()
        test_probs = _probabilities(model, test, dev)
        entry = {"epoch": epoch, "train_loss": total / seen, "test_top1": topk_accuracy(test_probs, test.labels, 1)}
        if val is not None:
            entry["val_top1"] = topk_accuracy(_probabilities(model, val, dev), val.labels, 1)
        sweep.append(entry)
        key = entry["val_top1"] if val is not None else entry["test_top1"]
        if key > best_key:  # strict: the first best epoch wins ties
            best_key, best_epoch, best_scores = key, epoch, test_probs.float()
    assert best_scores is not None
    return sweep, best_epoch, best_scores


def train_linear_head(train: ClipFeatures, test: ClipFeatures, *, epochs: int, lr: float, weight_decay: float,
                      batch_size: int, dropout: float = 0.0, l2_normalize: bool = False, batchnorm: bool = False,
                      milestones: Sequence[int] = (), gamma: float = 0.1, selection: str = "paper",
                      holdout_fraction: float = 0.2, seed: int = 0, device: str | torch.device = "cpu",
                      n_classes: int | None = None, orthogonal_init: bool = True) -> ClassifierResult:
    """Train a linear head with Adam (+ MultiStepLR over epochs) on frozen clip features and evaluate per epoch.

    Returns a ``ClassifierResult`` with ``scores [S_test, K]`` = clip-averaged softmax probabilities of the selected
    epoch, ``selected={"epoch": e}`` (1-based), and ``sweep`` = one compact entry per epoch:
    ``{"epoch", "train_loss", "test_top1"}`` plus ``"val_top1"`` in ``"clean"`` mode.
    """
    if selection not in ("paper", "clean"):
        raise ValueError(f"selection must be 'paper' or 'clean'; got {selection!r}")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    dev = torch.device(device)
    if n_classes is None:
        n_classes = int(max(int(train.labels.max()), int(test.labels.max()))) + 1
    fit, val = train, None
    if selection == "clean":
        fit_pos, val_pos = _holdout_split(train, holdout_fraction, seed)
        fit, val = train.subset(fit_pos), train.subset(val_pos)

    gen = torch.Generator().manual_seed(seed)  # init + shuffling
    drop_gen = torch.Generator(device=dev).manual_seed(seed + 1)  # dropout masks
    model = LinearHead(fit.dim, n_classes, dropout=dropout, l2_normalize=l2_normalize, batchnorm=batchnorm,
                       generator=gen, orthogonal_init=orthogonal_init).to(dev)
    model.set_dropout_generator(drop_gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)
    rows = _Rows(fit)
    row_labels = fit.row_labels

    t0 = time.perf_counter()
    with single_thread_if_small(6.0 * batch_size * fit.dim * n_classes, dev):
        sweep, best_epoch, best_scores = _train(model, opt, sched, rows, row_labels, test, val, epochs=epochs,
                                                batch_size=batch_size, gen=gen, dev=dev)
    seconds = time.perf_counter() - t0
    info = {"seconds": seconds, "n_classes": n_classes, "n_train_rows": fit.n_rows,
            "seed": seed, "selected_test_top1": sweep[best_epoch - 1]["test_top1"]}
    if val is not None:
        info.update(n_holdout_samples=val.n_samples, holdout_groups=sorted(set(val.groups)))
    return ClassifierResult(scores=best_scores, selected={"epoch": best_epoch}, selection=selection, sweep=sweep,
                            backend=f"torch-{dev.type}", info=info)
