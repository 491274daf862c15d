"""Why ``avbench pretrain`` flushes subnormal floats to zero on a CPU: the same arithmetic, side by side.

A CrissCross run on the identity world crawled at 1.9 clips/s from about step 1,250 and ran the same steps at 35
clips/s once subnormals were flushed (README "Do they learn?", 0.7.2). This script times one operation of a
pretraining step, a 3-D convolution of the world preset's size (batch 32 x 8 channels x 8 frames x 24² with 8 output
channels, its forward and backward), on normal inputs and on inputs whose values are subnormal (1e-39, below
float32's smallest normal 1.18e-38), with flushing off and on, and prints the four timings and their ratios::

    python benchmarks/denormal_speed.py --repeats 5

The ratio depends on the CPU (x86 cores without DAZ/FTZ in hardware microcode pay the most).
"""
from __future__ import annotations

import argparse
import time

import torch
from tabulate import tabulate


def time_conv(x: torch.Tensor, conv: torch.nn.Conv3d, repeats: int) -> float:
    """Median seconds of one forward + backward of ``conv`` on ``x`` ``[B, C, T, H, W]``."""
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        xi = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        conv(xi).sum().backward()
        times.append(time.perf_counter() - t0)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(8, 8, kernel_size=3, padding=1)
    normal = torch.rand(32, 8, 8, 24, 24) + 0.5
    subnormal = normal * 1e-39
    assert 0 < float(subnormal.abs().max()) < torch.finfo(torch.float32).tiny, "inputs are not subnormal"
    seconds: dict[bool, tuple[float, float]] = {}  # flush -> (normal, subnormal)
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        seconds[flush] = (time_conv(normal, conv, args.repeats), time_conv(subnormal, conv, args.repeats))
    torch.set_flush_denormal(False)
    rows = [[f"flush {'on' if flush else 'off'}", f"{t_norm * 1e3:.1f}", f"{t_sub * 1e3:.1f}", f"{t_sub / t_norm:.1f}x"]
            for flush, (t_norm, t_sub) in seconds.items()]
    print(tabulate(rows, headers=["", "normal inputs (ms)", "subnormal inputs (ms)", "subnormal / normal"],
                   tablefmt="github"))
    print(f"flush off / on, subnormal inputs: {seconds[False][1] / seconds[True][1]:.1f}x")


if __name__ == "__main__":
    main()
