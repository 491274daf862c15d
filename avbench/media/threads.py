"""One intra-op CPU thread for blocks of many small tensor operations (the per-clip augmentations, resampling).

torch parallelises every CPU operation on more than ~32k elements over its OpenMP team, and every such
operation ends at a barrier. A per-clip augmentation is dozens of operations on tensors of a few hundred
thousand elements, so it is mostly barriers; when the cores are shared (other processes, or the extraction's own
DataLoader workers next to the main process) a barrier waits for a descheduled team thread, and libgomp's
default spin-wait burns the waiting thread's time slice meanwhile. Measured on the shared 2-core EPYC (torch 2.11),
the linear-evaluation video augmentation of one 320x240 clip to 8x112^2, 2 threads vs 1:

* other engineers' jobs beside it (load average 6-9): 84-958 ms vs 13-25 ms (224^2: 316-602 ms vs 35-37 ms);
* two busy single-threaded processes beside it: 13-22 ms vs 9-13 ms;
* a quiet machine (load ~1.5): 2.6-3.4 ms vs 4.1-5.1 ms, the price of this choice there, next to a forward pass
  of 6-7 ms per clip at width 16 and 112^2, and of ~2 s at the papers' width 64 and 224^2.

With ``OMP_WAIT_POLICY=PASSIVE`` set before torch is imported, 2 threads took 5-7 ms under load. CUDA tensors are
not affected.
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
