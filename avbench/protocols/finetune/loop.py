"""Full finetuning of an encoder's video trunk (CrissCross supplementary E.2, Table S11).

Model: the encoder's video trunk up to the card's layer, the card's pooling (adaptive max-pool to 1x1x1 replaces
the trunk's average pool, as E.2 says), dropout, and a new ``Linear(D, K)`` (orthogonal init, zero bias, as the
released ``VideoClassifier``). Optimiser: SGD with momentum and MultiStepLR over epochs. bf16 autocast on CUDA
(the released code's autocast without a GradScaler; bf16 needs none).

Each epoch trains on fresh random augmented clips, then (``selection="paper"``) scores every test video by the
softmax averaged over its uniform test clips. ``"paper"`` reports the epoch with the best test top-1, as the
released code did (flagged in the record); ``"clean"`` reports the LAST epoch and never looks at test labels
before it (test is only scored once, after the last epoch).

No finished work is lost: after every epoch the model, optimiser, scheduler and the per-epoch results are
written atomically to ``checkpoint_dir``; a run started again with the same directory resumes after the last
finished epoch and never repeats one (an epoch cut short by a kill is redone from its start). Randomness (clip
choice, augmentation, dropout) is derived from (seed, epoch), so a resumed run follows the same path as an
uninterrupted one: on a CPU its weights and scores are bitwise those of the uninterrupted run
(tests/test_resume.py). The result's ``info`` counts the work of this call (``epochs_this_process``,
``steps_this_process``) next to ``resumed_from_epoch``. Fault points (:mod:`avbench.runtime.faults`): ``finetune-step``
after every SGD step, ``finetune`` after every epoch's checkpoint.

Multi-process (``torchrun``; NCCL on GPUs, gloo on CPUs): when a process group is initialised the model's
BatchNorms normalise over the global batch (:mod:`avbench.runtime.sync_bn`), the model is wrapped in
DistributedDataParallel, each rank trains on its share of the videos (``train_batches`` is per rank), the
ranks agree before every step that all of them still have a batch (so a rank that lost files to damage never
hangs the others), and rank 0 alone scores the test set and writes checkpoints. Other ranks return None.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from avbench.runtime import faults
from avbench.encoder import Encoder
from avbench.features.spec import autocast
from avbench.media.seeding import derive_seed
from avbench.metrics import topk_accuracy
from avbench.features.pooling import pool_map
from avbench.runtime.checkpoint import load_tree, rng_state, save_tree, set_rng_state
from avbench.taskcard import Pooling
from avbench.protocols.base import ClassifierResult
from avbench.runtime.sync_bn import sync_batchnorm

#: the epoch checkpoint: safetensors + JSON (:mod:`avbench.runtime.checkpoint`), never a pickle. Files of the
#: pickle era (``last.pt``) are ignored, never loaded.
CHECKPOINT = "last.safetensors"


class FinetuneModel(nn.Module):
    """``[B, 3, T, S, S]`` normalised clips -> ``[B, K]`` logits: trunk to ``layer`` -> ``pool`` -> dropout -> Linear."""

    def __init__(self, encoder: Encoder, layer: str, pool: Pooling, dim: int, n_classes: int, dropout: float,
                 init_seed: int) -> None:
        super().__init__()
        self.encoder, self.layer, self.pool, self.dropout = encoder, layer, pool, float(dropout)
        self.fc = nn.Linear(dim, n_classes)
        g = torch.Generator().manual_seed(init_seed)
        nn.init.orthogonal_(self.fc.weight, generator=g)
        nn.init.zeros_(self.fc.bias)
        self._drop_gen: torch.Generator | None = None

    def trainable(self) -> list[nn.Parameter]:
        """The video trunk's parameters and the head's (an audio trunk, if any, stays untouched)."""
        return [*self.encoder.trunk("video").parameters(), *self.fc.parameters()]

    def set_dropout_seed(self, seed: int, device: torch.device) -> None:
        self._drop_gen = torch.Generator(device=device).manual_seed(seed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        fm = self.encoder.encode_video(z, [self.layer])[self.layer]
        x = pool_map(fm.canonical("video").data, self.pool).flatten(1)
        if self.training and self.dropout > 0:
            keep = torch.rand(x.shape, generator=self._drop_gen, device=x.device) >= self.dropout
            x = x * keep / (1.0 - self.dropout)
        return self.fc(x.float())


@dataclass
class FinetuneConfig:
    """Table S11 numbers, from the task card."""

    epochs: int
    lr: float
    momentum: float
    weight_decay: float
    milestones: tuple[int, ...]
    gamma: float
    selection: str  # "paper" | "clean"


def evaluate(model: FinetuneModel, batches: Iterator[Any], normalize: Callable, n_samples: int, n_classes: int,
             device: torch.device, dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(``[S, K]`` softmax averaged over each sample's clips (float32, CPU), ``[S]`` bool: the sample had clips;
    a sample whose file could not be decoded has none and is left out of the accuracy)."""
    model.eval()
    probs, index = [], []
    with torch.inference_mode(), autocast(device, dtype):
        for b in batches:
            probs.append(F.softmax(model(normalize(b.clips, b.params, False)).float(), dim=1).cpu())
            index.append(b.sample)
    if not probs:
        return torch.zeros(n_samples, n_classes), torch.zeros(n_samples, dtype=torch.bool)
    index_t = torch.cat(index)
    sums = torch.zeros(n_samples, n_classes, dtype=torch.float64).index_add_(0, index_t, torch.cat(probs).double())
    counts = torch.bincount(index_t, minlength=n_samples)
    seen = counts > 0
    return (sums / counts.clamp(min=1)[:, None]).float(), seen


def run_finetune(model: FinetuneModel, *, config: FinetuneConfig, train_batches: Callable[[int], Iterator[Any]],
                 test_batches: Callable[[], Iterator[Any]], normalize: Callable, test_labels: torch.Tensor,
                 n_classes: int, checkpoint_dir: Path, device: torch.device, dtype: str = "float32", seed: int = 0,
                 log: Callable[[str], None] = lambda m: None, stop_after: int | None = None) -> ClassifierResult | None:
    """Finetune ``model`` and score the test samples (module docstring).

    train_batches(epoch): the epoch's shuffled ClipBatch iterator (0-based epoch); test_batches(): the test
    ClipBatches; normalize(clips uint8, params, train) -> normalised float clips (model normalisation, cutout).
    test_labels: ``[S]``. stop_after: end after that many epochs in THIS call (to simulate a kill in tests).
    Returns scores ``[S', K]`` of the selected epoch for the S' test samples that decoded (``info["tested"]``:
    ``[S]`` bools), ``selected={"epoch": e}`` (1-based) and one sweep entry per
    epoch (train loss and accuracy, and test top-1 for ``"paper"``).
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tr = _setup(model, config, device, dtype)
    ckpt = checkpoint_dir / CHECKPOINT
    sweep, scores_by_epoch, start = _resume(tr, ckpt, config, log)
    n_test = int(test_labels.numel())
    ran = 0
    steps = 0
    for epoch in range(start, config.epochs):
        if stop_after is not None and ran >= stop_after:
            break
        t0 = time.perf_counter()
        model.train()
        model.set_dropout_seed(derive_seed(seed, "dropout", epoch), device)
        loss_sum, correct, seen, steps = _train_epoch(tr, iter(train_batches(epoch)), normalize, epoch, steps)
        tr.sched.step()
        if tr.distributed:  # the epoch's loss and accuracy over every rank's clips
            loss_sum, correct, seen = _global_totals(loss_sum, correct, seen, device)
        entry: dict[str, Any] = {"epoch": epoch + 1, "lr": tr.opt.param_groups[0]["lr"],
                                 "train_loss": loss_sum / max(1, seen), "train_top1": 100.0 * correct / max(1, seen),
                                 "train_clips": seen}
        last = epoch + 1 == config.epochs
        if tr.rank == 0 and (config.selection == "paper" or last):
            scores, tested = evaluate(model, test_batches(), normalize, n_test, n_classes, device, dtype)
            scores_by_epoch[epoch + 1] = (scores, tested)
            entry["test_top1"] = topk_accuracy(scores[tested], test_labels[tested], 1)
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        sweep.append(entry)
        if tr.rank == 0:
            log(f"finetune epoch {epoch + 1}/{config.epochs}: loss {entry['train_loss']:.4f}"
                + (f", test top-1 {entry['test_top1']:.2f}" if "test_top1" in entry else ""))
            _save(tr, ckpt, sweep, scores_by_epoch, epoch + 1)
        if tr.distributed:
            dist.barrier()
        ran += 1
        faults.point("finetune")
    if tr.rank != 0:
        return None
    if len(sweep) < config.epochs:
        raise InterruptedError(f"finetune stopped after epoch {len(sweep)} of {config.epochs}; "
                               f"run again to resume from {ckpt}")
    best = _selected_epoch(sweep, config)
    scores, seen = scores_by_epoch[best]
    return ClassifierResult(scores=scores[seen], selected={"epoch": best}, selection=config.selection,
                            sweep=sweep, backend=f"torch-{device.type}",
                            info={"epochs": config.epochs, "checkpoint": str(ckpt), "resumed_from_epoch": start,
                                  "epochs_this_process": ran, "steps_this_process": steps, "tested": seen.tolist()})


@dataclass
class _Trainer:
    """What every epoch uses: the model, the module that runs its forward (DDP-wrapped when distributed), the
    optimiser and scheduler, the device and compute dtype, and the process's place in the group."""

    model: FinetuneModel
    net: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.MultiStepLR
    device: torch.device
    dtype: str
    distributed: bool
    rank: int


def _setup(model: FinetuneModel, config: FinetuneConfig, device: torch.device, dtype: str) -> _Trainer:
    """Move ``model`` to ``device``; in a process group, sync its BatchNorms and wrap it in DDP over the trainable
    parameters only; SGD with momentum and MultiStepLR over the trainable parameters."""
    model.to(device)
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    rank = dist.get_rank() if distributed else 0
    if distributed:
        sync_batchnorm(model, device)  # new BatchNorm modules: collect the parameters after this
    trainable = model.trainable()
    net: nn.Module = model
    if distributed:
        keep = {id(p) for p in trainable}
        for p in model.parameters():
            p.requires_grad_(id(p) in keep)  # an audio trunk, if any, is not part of the DDP reduction
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                      find_unused_parameters=True)
    opt = torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(config.milestones), gamma=config.gamma)
    return _Trainer(model, net, opt, sched, device, dtype, distributed, rank)


def _resume(tr: _Trainer, ckpt: Path, config: FinetuneConfig,
            log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[int, Any], int]:
    """(sweep, test scores by 1-based epoch, epochs done) from the checkpoint, whose model, optimiser, scheduler
    and RNG states are restored; an empty start when there is none."""
    if not ckpt.exists():
        return [], {}, 0
    state = load_tree(ckpt, tr.device)
    tr.model.load_state_dict(state["model"])
    tr.opt.load_state_dict(state["optimizer"])
    tr.sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    log(f"finetune: resuming after epoch {state['epoch']} of {config.epochs} from {ckpt}")
    return state["sweep"], state["scores"], state["epoch"]


def _save(tr: _Trainer, ckpt: Path, sweep: list[dict[str, Any]], scores_by_epoch: dict[int, Any], epoch: int) -> None:
    """The epoch checkpoint (atomic): model, optimiser, scheduler, RNG states, the sweep and scores so far."""
    save_tree({"model": tr.model.state_dict(), "optimizer": tr.opt.state_dict(), "scheduler": tr.sched.state_dict(),
               "rng": rng_state(), "sweep": sweep, "scores": scores_by_epoch, "epoch": epoch}, ckpt)


def _train_epoch(tr: _Trainer, batches: Iterator[Any], normalize: Callable, epoch: int,
                 steps: int) -> tuple[float, int, int, int]:
    """One pass of SGD over this rank's ``batches`` (every rank steps together, or none does); returns (summed
    loss over clips, correct clips, clips, steps so far). A non-finite loss raises FloatingPointError."""
    loss_sum, correct, seen = 0.0, 0, 0
    device = tr.device
    while True:
        b = next(batches, None)
        if tr.distributed:  # every rank steps together, or none does
            flag = torch.tensor([0.0 if b is None else 1.0], device=device if device.type == "cuda" else "cpu")
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            if flag.item() == 0.0:
                break
        elif b is None:
            break
        with autocast(device, tr.dtype):
            logits = tr.net(normalize(b.clips, b.params, True))
        loss = F.cross_entropy(logits.float(), b.labels)
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"finetuning diverged: the training loss is {float(loss)} at epoch "
                                     f"{epoch + 1}, step {steps + 1}; no result is recorded (lower the learning "
                                     "rate, or check the encoder with `avbench validate`)")
        tr.opt.zero_grad(set_to_none=True)
        loss.backward()
        tr.opt.step()
        steps += 1
        faults.point("finetune-step")
        loss_sum += float(loss.detach()) * b.labels.numel()
        correct += int((logits.argmax(1) == b.labels).sum())
        seen += b.labels.numel()
    return loss_sum, correct, seen, steps


def _global_totals(loss_sum: float, correct: int, seen: int, device: torch.device) -> tuple[float, int, int]:
    """(loss sum, correct, clips) summed over every rank."""
    totals = torch.tensor([loss_sum, float(correct), float(seen)], dtype=torch.float64,
                          device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(totals)
    return float(totals[0]), int(totals[1]), int(totals[2])


def _selected_epoch(sweep: list[dict[str, Any]], config: FinetuneConfig) -> int:
    """The reported epoch (1-based): ``"paper"``, the best test top-1 (earliest on ties); ``"clean"``, the last."""
    if config.selection == "paper":
        tested = [e for e in sweep if "test_top1" in e]
        return max(tested, key=lambda e: (e["test_top1"], -e["epoch"]))["epoch"]
    return config.epochs
