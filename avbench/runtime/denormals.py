"""Flushing subnormal floats to zero on the CPU: for the whole process (``avbench pretrain``), or scoped to a call.

Why flush: subnormal operands make x86 arithmetic crawl. ``python benchmarks/denormal_speed.py --repeats 5`` (a
world-sized conv3d, forward and backward, 1 thread): subnormal inputs 27.8x slower than normal ones with flushing
off, 1.0x with it on; CrissCross on the identity world ran steps 1,250-1,313 at 1.9 clips/s, 35 with flushing.

``torch.set_flush_denormal`` sets the CALLING thread's state (the x86 MXCSR register) and has no getter. The
thread pools torch computes on copy the state of the thread that creates them, at the first parallel operation,
and keep it. ``python benchmarks/denormal_speed.py --repeats 2 --threads 2``: subnormal inputs 3,177 ms with
flushing off, 1,990 ms with flushing switched on after the first convolution, 165 ms with it on from process start
(normal inputs: 123 ms). So ``avbench pretrain`` switches it on first thing
(:func:`flush_denormals_for_process`, in ``avbench/cli/pretrain.py``), and :func:`flushed_denormals` covers a
library call to :func:`avbench.pretrain.trainer.pretrain` on the calling thread (all of it with 1 thread).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["flush_denormal_enabled", "flushed_denormals", "flush_denormals_for_process"]

#: a float32 subnormal (the smallest normal float32 is 1.18e-38)
SUBNORMAL = 1e-40


def flush_denormal_enabled() -> bool:
    """True when this thread's CPU flushes subnormal floats to zero: a subnormal times 1 is then 0. False also where
    flushing is unsupported (``torch.set_flush_denormal`` returns False there)."""
    return float(torch.tensor([SUBNORMAL], dtype=torch.float32).mul(1.0).item()) == 0.0


def flush_denormals_for_process() -> bool:
    """Switch flushing on for this thread and every intra-op thread created after it (call it before the first
    parallel torch operation); returns whether the CPU supports it."""
    return bool(torch.set_flush_denormal(True))


@contextlib.contextmanager
def flushed_denormals(enabled: bool = True) -> Iterator[None]:
    """Set this thread's flushing to ``enabled`` inside the block and restore the state found on entry when it exits
    (intra-op threads keep theirs: see the module docstring)."""
    before = flush_denormal_enabled()
    torch.set_flush_denormal(enabled)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
