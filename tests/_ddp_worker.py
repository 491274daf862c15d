"""Worker for tests/test_ddp.py: 2 epochs x 3 SGD steps of run_finetune on a fixed sequence of global batches.

The head sits on conv3x with an average pool: at 64 px a conv5x max-pool head on noise inputs is chaotic (a
1e-7 change of the initial weights alone moves them by ~1e-2 within two steps), which would hide whether the
DDP run is right; conv3x's BatchNorm statistics span 256 values per clip and the run is stable.

Run plainly (one process, the whole global batch) or under ``torchrun --nproc_per_node W`` (gloo on CPU): rank r
trains on its 1/W slice of every global batch. Rank 0 writes the final weights to ``<out>/last.safetensors``."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from avbench.protocols.finetune.data import ClipBatch
from avbench.protocols.finetune.loop import FinetuneConfig, FinetuneModel, run_finetune
from avbench.registry import build_encoder
from avbench.taskcard import Pooling

import os

GLOBAL_BATCH, CLASSES = 4, 4
STEPS = int(os.environ.get("AVB_STEPS", "3"))


def main(out: str) -> None:
    world, rank = 1, 0
    if "WORLD_SIZE" in os.environ:
        dist.init_process_group("gloo")
        world, rank = dist.get_world_size(), dist.get_rank()
    torch.manual_seed(0)
    enc = build_encoder("crisscross", init_seed=0, modalities="video")
    layer = os.environ.get("AVB_LAYER", "conv3x")
    dim = {"conv3x": 128, "conv4x": 256, "conv5x": 512}[layer]
    model = FinetuneModel(enc, layer, Pooling(type=os.environ.get("AVB_POOL", "adaptive_avg"), output=(1, 1, 1)), dim, CLASSES, 0.0, init_seed=0)
    per = GLOBAL_BATCH // world

    def batches(epoch: int):
        for step in range(STEPS):
            g = torch.Generator().manual_seed(1000 * epoch + step)
            clips = torch.randint(0, 256, (GLOBAL_BATCH, 3, 8, 64, 64), generator=g, dtype=torch.uint8)
            labels = torch.randint(0, CLASSES, (GLOBAL_BATCH,), generator=g)
            sl = slice(rank * per, (rank + 1) * per)
            yield ClipBatch(clips[sl], labels[sl], torch.arange(GLOBAL_BATCH)[sl], [None] * per)

    config = FinetuneConfig(epochs=int(os.environ.get("AVB_EPOCHS", "2")), lr=float(os.environ.get("AVB_LR", "0.01")), momentum=0.9, weight_decay=1e-4, milestones=(1,), gamma=0.5,
                            selection="clean")
    run_finetune(model, config=config, train_batches=batches, test_batches=lambda: iter(()),
                 normalize=lambda clips, params, training: enc.video_preprocess(clips),
                 test_labels=torch.zeros(0, dtype=torch.long), n_classes=CLASSES, checkpoint_dir=Path(out),
                 device=torch.device("cpu"))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
