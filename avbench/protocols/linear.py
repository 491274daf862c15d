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
* ``"last"``: the last epoch (AVID's released linear probe, ``eval-action-recg-linear.py:85-98``).

Training views (``train_views``): ``"cached"`` trains every epoch on the same extracted clips (one training view);
``"per_epoch"`` trains epoch e on its own view, new random clips and augmentation drawn with a seed derived from
(seed, "epoch", e), as the released DCASE code (CC ``audio_db.py:69-80``) and AVID's Kinetics probe do: the
evaluation core extracts one view per epoch through the feature store (each cached under its own key, so an
interrupted run resumes at the first unfinished shard) and hands them over as ``epoch_train``.
``drop_last``: the last partial batch of an epoch is skipped (both released recipes: DCASE ``config_2s.yaml:57``,
AVID ``8x224x224-linear.yaml:32``), unless it is the epoch's only batch. ``init``: ``"orthogonal"`` (CC's
``AudioClassifier``) or ``"default"`` (``nn.Linear``'s own init, AVID's head), both drawn from the seeded generator.

Deterministic for a seed: one seeded generator draws the initial weights and the shuffling order, another the
dropout masks (dropout is applied by hand so it uses that generator).
"""
from __future__ import annotations

import math
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
    selection: Literal["paper", "clean", "last"] = "paper"
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    train_views: Literal["cached", "per_epoch"] = "cached"
    drop_last: bool = False
    init: Literal["orthogonal", "default"] = "orthogonal"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"train_views", "drop_last", "init"})


class FCProtocol(Protocol):
    """A linear head trained on frozen clip features, softmax averaged per sample."""

    name: ClassVar[str] = "fc"
    Settings = FCSettings
    audiovisual: ClassVar[bool] = True

    def epoch_views(self, settings: FCSettings) -> int:
        return settings.epochs if settings.train_views == "per_epoch" else 0

    def classify(self, settings: FCSettings, train: ClipFeatures, test: ClipFeatures, *, seed: int, device: str,
                 n_classes: int, epoch_train: Sequence[ClipFeatures] | None = None) -> ClassifierResult:
        return train_linear_head(train, test, epochs=settings.epochs, lr=settings.lr,
                                 weight_decay=settings.weight_decay, batch_size=settings.batch_size,
                                 dropout=settings.dropout, l2_normalize=settings.l2_normalize,
                                 batchnorm=settings.batchnorm, milestones=tuple(settings.milestones),
                                 gamma=settings.gamma, selection=settings.selection,
                                 holdout_fraction=settings.holdout_fraction, seed=seed, device=device,
                                 n_classes=n_classes, orthogonal_init=settings.init == "orthogonal",
                                 drop_last=settings.drop_last, epoch_train=epoch_train)


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
        else:  # nn.Linear's own init (kaiming-uniform weight, uniform bias), from the seeded generator
            nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(dim)
            nn.init.uniform_(self.fc.bias, -bound, bound, generator=generator)
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


def _train(model: LinearHead, opt: torch.optim.Optimizer, sched: Any, fits: Sequence[ClipFeatures],
           test: ClipFeatures, val: ClipFeatures | None, *, epochs: int, batch_size: int, gen: torch.Generator,
           dev: torch.device, drop_last: bool = False, last: bool = False) -> tuple[list[dict[str, Any]], int, torch.Tensor]:
    """The epoch loop over the training rows of ``fits`` (one view for every epoch, or epoch e's own view
    ``fits[e - 1]``); returns the per-epoch sweep, the selected epoch (first best on val, else on test; the last
    epoch with ``last``) and the test probabilities ``[S_test, K]`` of that epoch."""
    sweep: list[dict[str, Any]] = []
    best_key, best_epoch, best_scores = -1.0, 0, None
    for epoch in range(1, epochs + 1):
        fit = fits[(epoch - 1) % len(fits)]
        rows, row_labels = _Rows(fit), fit.row_labels
        n = int(row_labels.numel())
        model.train()
        order = torch.randperm(n, generator=gen)
        total, seen, steps = 0.0, 0, 0
        end = n - n % batch_size if drop_last and n > batch_size else n
        for off in range(0, end, batch_size):
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
            steps += 1
        sched.step()
        test_probs = _probabilities(model, test, dev)
        entry = {"epoch": epoch, "train_loss": total / seen, "test_top1": topk_accuracy(test_probs, test.labels, 1)}
        if drop_last or len(fits) > 1:
            entry.update(steps=steps, train_rows=seen)
        if val is not None:
            entry["val_top1"] = topk_accuracy(_probabilities(model, val, dev), val.labels, 1)
        sweep.append(entry)
        key = float(epoch) if last else entry["val_top1"] if val is not None else entry["test_top1"]
        if key > best_key:  # strict: the first best epoch wins ties
            best_key, best_epoch, best_scores = key, epoch, test_probs.float()
    assert best_scores is not None
    return sweep, best_epoch, best_scores


def train_linear_head(train: ClipFeatures, test: ClipFeatures, *, epochs: int, lr: float, weight_decay: float,
                      batch_size: int, dropout: float = 0.0, l2_normalize: bool = False, batchnorm: bool = False,
                      milestones: Sequence[int] = (), gamma: float = 0.1, selection: str = "paper",
                      holdout_fraction: float = 0.2, seed: int = 0, device: str | torch.device = "cpu",
                      n_classes: int | None = None, orthogonal_init: bool = True, drop_last: bool = False,
                      epoch_train: Sequence[ClipFeatures] | None = None) -> ClassifierResult:
    """Train a linear head with Adam (+ MultiStepLR over epochs) on frozen clip features and evaluate per epoch.

    epoch_train: one training view per epoch (``epochs`` of them, the same samples in the same order as ``train``;
    module docstring), or None to train every epoch on ``train``'s rows.
    Returns a ``ClassifierResult`` with ``scores [S_test, K]`` = clip-averaged softmax probabilities of the selected
    epoch, ``selected={"epoch": e}`` (1-based), and ``sweep`` = one compact entry per epoch:
    ``{"epoch", "train_loss", "test_top1"}`` plus ``"val_top1"`` in ``"clean"`` mode and ``"steps", "train_rows"``
    with ``drop_last`` or per-epoch views.
    """
    if selection not in ("paper", "clean", "last"):
        raise ValueError(f"selection must be 'paper', 'clean' or 'last'; got {selection!r}")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    views = list(epoch_train) if epoch_train else [train]
    if epoch_train and (len(views) != epochs or any(v.sample_ids != train.sample_ids for v in views)):
        raise ValueError(f"epoch_train must hold {epochs} views of the same samples as train; got {len(views)}")
    dev = torch.device(device)
    if n_classes is None:
        n_classes = int(max(int(train.labels.max()), int(test.labels.max()))) + 1
    fits, val = views, None
    if selection == "clean":
        fit_pos, val_pos = _holdout_split(train, holdout_fraction, seed)
        fits, val = [v.subset(fit_pos) for v in views], train.subset(val_pos)
    fit = fits[0]

    gen = torch.Generator().manual_seed(seed)  # init + shuffling
    drop_gen = torch.Generator(device=dev).manual_seed(seed + 1)  # dropout masks
    model = LinearHead(fit.dim, n_classes, dropout=dropout, l2_normalize=l2_normalize, batchnorm=batchnorm,
                       generator=gen, orthogonal_init=orthogonal_init).to(dev)
    model.set_dropout_generator(drop_gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)

    t0 = time.perf_counter()
    with single_thread_if_small(6.0 * batch_size * fit.dim * n_classes, dev):
        sweep, best_epoch, best_scores = _train(model, opt, sched, fits, test, val, epochs=epochs,
                                                batch_size=batch_size, gen=gen, dev=dev, drop_last=drop_last,
                                                last=selection == "last")
    seconds = time.perf_counter() - t0
    info = {"seconds": seconds, "n_classes": n_classes, "n_train_rows": fit.n_rows,
            "seed": seed, "selected_test_top1": sweep[best_epoch - 1]["test_top1"]}
    if epoch_train:
        info.update(train_views="per_epoch", n_train_views=len(fits))
    if val is not None:
        info.update(n_holdout_samples=val.n_samples, holdout_groups=sorted(set(val.groups)))
    return ClassifierResult(scores=best_scores, selected={"epoch": best_epoch}, selection=selection, sweep=sweep,
                            backend=f"torch-{dev.type}", info=info)
