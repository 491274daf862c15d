"""One intra-op CPU thread for blocks of many small tensor operations (the per-clip augmentations).

torch parallelises every CPU operation on more than ~32k elements over its OpenMP team, and every such
operation ends at a barrier. A per-clip augmentation is dozens of operations on tensors of a few hundred
thousand elements, so it is mostly barriers; when the cores are shared (other processes, or the extraction's own
DataLoader workers next to the main process) a barrier waits for a descheduled team thread, and libgomp's
default spin-wait burns the waiting thread's time slice meanwhile. Measured on the shared 2-core EPYC (load
average 6-9, torch 2.11): the linear-evaluation video augmentation of one 320x240 clip to 8x112^2 took 84-958 ms
on 2 threads and 13-25 ms on 1 (224^2: 316-602 ms vs 35-37 ms); with ``OMP_WAIT_POLICY=PASSIVE`` 2 threads took
5-7 ms. One thread gives up at most the second core's share on an idle machine, a few ms per clip next to a
forward pass that costs ~20x more; CUDA tensors are not affected.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def one_cpu_thread(device: torch.device | str) -> Iterator[None]:
    """Run the block on one intra-op thread when ``device`` is the CPU (restored afterwards); a no-op elsewhere."""
    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
