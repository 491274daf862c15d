"""Flushing subnormal floats to zero on the CPU, scoped: torch has a setter (``torch.set_flush_denormal``) and no
getter, so :func:`flush_denormal_enabled` reads the state from arithmetic and :func:`flushed_denormals` restores it.

Why flush: subnormal operands make x86 arithmetic crawl. ``python benchmarks/denormal_speed.py --repeats 5`` (a
world-sized conv3d, forward and backward, 1 thread): subnormal inputs 27.8x slower than normal ones with flushing
off, 1.0x with it on; CrissCross on the identity world ran steps 1,250-1,313 at 1.9 clips/s, 35 with flushing.
The state belongs to the calling thread (the x86 MXCSR register), which is where avbench's training loop runs.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["flush_denormal_enabled", "flushed_denormals"]


def flush_denormal_enabled() -> bool:
    """True when this thread's CPU flushes subnormal floats to zero: 1e-40 (subnormal in float32) times 1 is then
    0. False also where flushing is unsupported (``torch.set_flush_denormal`` returns False there)."""
    return float(torch.tensor([1e-40], dtype=torch.float32).mul(1.0).item()) == 0.0


@contextlib.contextmanager
def flushed_denormals(enabled: bool = True) -> Iterator[None]:
    """Set flushing to ``enabled`` inside the block and restore the state found on entry when it exits."""
    before = flush_denormal_enabled()
    torch.set_flush_denormal(enabled)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
