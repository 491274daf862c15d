"""One finetuning run (one split, one seed) wired from a task card: a fresh copy of the encoder, the card's
data views, the Table S11 recipe, a checkpoint directory in the cache. Used by :mod:`avbench.evaluation.runner`."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.distributed as dist

from avbench.datasets.base import Sample
from avbench.encoder import Encoder
from avbench.features.spec import ExtractionSpec
from avbench.features.video import VideoPath
from avbench.features.skips import SkipLog
from avbench.protocols.finetune.data import epoch_view, test_batches, train_batches
from avbench.media.video_augment import apply_cutout
from avbench.features.probe import pooled_dims
from avbench.protocols.base import ClassifierResult, ClipFeatures
from avbench.protocols.finetune.loop import FinetuneConfig, FinetuneModel, run_finetune
from avbench.taskcard import Features, TaskCard


def _stub(samples: Sequence[Sample]) -> ClipFeatures:
    """Labels, groups and ids of ``samples`` (no feature rows: finetuning does not store features)."""
    return ClipFeatures(blocks=[], sample_index=torch.zeros(0, dtype=torch.long),
                        labels=torch.tensor([s.label for s in samples], dtype=torch.long),
                        groups=[s.group for s in samples], sample_ids=[s.id for s in samples])


def trunk_dim(encoder: Encoder, card: TaskCard, layer: str, device: torch.device) -> int:
    """Pooled dimension of ``layer`` at the card's clip geometry (:func:`avbench.features.probe.pooled_dims`)."""
    spec = Features(layer=layer, pool=card.features.pool)
    return pooled_dims(encoder, "video", card.video, {layer: spec}, [layer], device)[layer]


def finetune_split(encoder: Encoder, card: TaskCard, layer: str, train: list[Sample], test: list[Sample], *,
                   n_classes: int, seed: int, device: torch.device, dtype: str, workers: int, checkpoint_dir: Path,
                   log: Callable[[str], None], stop_after: int | None = None
                   ) -> tuple[ClassifierResult | None, ClipFeatures, ClipFeatures, SkipLog]:
    """Finetune a copy of ``encoder`` on ``train``, score ``test``; returns (result, the stub of the training
    samples that decoded, the stub of the test samples that decoded, the log of skipped, damaged and padded
    files). Under ``torchrun`` every rank trains on its share of the videos and only rank 0 scores the test set;
    other ranks get ``(None, ...)``."""
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    clf = card.classifier
    enc = copy.deepcopy(encoder).to(device)
    model = FinetuneModel(enc, layer, card.features.pool, trunk_dim(enc, card, layer, device), n_classes,
                          clf.dropout, init_seed=seed)
    base = dict(modality="video", clip=card.video, features=card.features, layer=layer)
    train_view = ExtractionSpec(side="train", sampling=card.train, seed=seed, **base)
    test_path = VideoPath(enc, ExtractionSpec(side="test", sampling=card.test, seed=None, **base), device, dtype)
    cutout = test_path.augment  # None for the test view
    train_augment = VideoPath(enc, train_view, device, dtype).augment
    skips = SkipLog()
    train_labels = [s.label for s in train]
    test_labels = [s.label for s in test]

    def normalize(clips: torch.Tensor, params: list[Any], training: bool) -> torch.Tensor:
        z = enc.video_preprocess(clips)
        aug = train_augment if training else cutout
        if aug is not None and aug.cutout > 0:
            z = apply_cutout(z, params, fill=aug.cutout_fill)
        return z.contiguous(memory_format=torch.channels_last_3d) if device.type == "cuda" else z

    def epoch_batches(epoch: int):
        path = VideoPath(enc, epoch_view(train_view, seed, epoch), device, dtype)
        return train_batches(path, train, train_labels, seed=seed, epoch=epoch, batch_size=clf.batch_size,
                             buffer_videos=clf.buffer_videos, workers=workers, log=skips, rank=rank,
                             world_size=world)

    def testing():
        return test_batches(test_path, test, test_labels, batch_size=card.batch_size, workers=workers, log=skips)

    config = FinetuneConfig(epochs=clf.epochs, lr=clf.lr, momentum=clf.momentum, weight_decay=clf.weight_decay,
                            milestones=tuple(clf.milestones), gamma=clf.gamma, selection=clf.selection)
    result = run_finetune(model, config=config, train_batches=epoch_batches, test_batches=testing,
                          normalize=normalize, test_labels=torch.tensor(test_labels, dtype=torch.long),
                          n_classes=n_classes, checkpoint_dir=checkpoint_dir, device=device, dtype=dtype, seed=seed,
                          log=log, stop_after=stop_after)
    if distributed:  # every rank decoded its own share of the training videos: rank 0 records all skips
        logs: list[Any] = [None] * world
        dist.all_gather_object(logs, skips.as_tuple())
        for skipped, padded, damaged in logs:
            skips.merge(skipped.values(), padded, damaged.values())
    trained = [s for s in train if s.id not in skips.skipped]  # the record lists only videos actually trained on
    if result is None:  # not rank 0
        return None, _stub(trained), _stub([]), skips
    tested = [s for s, ok in zip(test, result.info["tested"]) if ok]
    return result, _stub(trained), _stub(tested), skips
