"""Several processes under ``torchrun``: the process group, this process's rank and device, rank-0-first work.

Used by evaluation (sharded extraction, DDP finetuning) and pretraining (DDP); neither reaches into the other.
"""
from __future__ import annotations

import datetime
import os
from typing import Callable, TypeVar

import torch

__all__ = ["dist_context", "local_device", "rank0_first"]

T = TypeVar("T")


def dist_context() -> tuple[int, int]:
    """(rank, world size). Under ``torchrun`` (WORLD_SIZE > 1) the process group is initialised here:
    NCCL when CUDA is available, else gloo. ``AVBENCH_DIST_TIMEOUT`` (seconds, default 3600) bounds how long a
    rank waits for the others at a collective, e.g. rank 0 for the slowest rank's last feature shard."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    dist = torch.distributed
    if not dist.is_initialized():
        text = os.environ.get("AVBENCH_DIST_TIMEOUT", "3600")
        try:
            timeout = datetime.timedelta(seconds=float(text))
        except ValueError:
            raise ValueError(f"AVBENCH_DIST_TIMEOUT={text!r}: expected seconds") from None
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo", timeout=timeout)
    return dist.get_rank(), dist.get_world_size()


def local_device(requested: str | None, rank: int) -> torch.device:
    """``requested``, else this process's GPU (``LOCAL_RANK`` modulo the node's GPUs), else the CPU. On CUDA the
    allocator is initialised and its peak counter reset (the counter answers "Invalid device argument" before
    CUDA is initialised; seen on an H200)."""
    local = int(os.environ.get("LOCAL_RANK", rank))  # the process's index on its own node
    default = f"cuda:{local % max(1, torch.cuda.device_count())}" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested or default)
    if device.type == "cuda":
        torch.cuda.init()
        torch.cuda.reset_peak_memory_stats(device)
    return device


def rank0_first(make: Callable[[], T], world: int) -> T:
    """``make()`` on rank 0 while the other ranks wait at a barrier, then on them (e.g. a data set written once to
    a shared cache and found there by the others)."""
    if world > 1 and torch.distributed.get_rank() != 0:
        torch.distributed.barrier()
        return make()
    out = make()
    if world > 1:
        torch.distributed.barrier()
    return out
