"""Why ``avbench pretrain`` flushes subnormal floats to zero on a CPU: the same arithmetic, side by side.

A CrissCross run on the identity world crawled at 1.9 clips/s from about step 1,250 and ran the same steps at 35
clips/s once subnormals were flushed (README "Do they learn?", 0.7.2). This script times one operation of a
pretraining step, a 3-D convolution of the world preset's size (batch 32 x 8 channels x 8 frames x 24² with 8 output
channels, its forward and backward), on normal inputs and on inputs whose values are subnormal (1e-39, below
float32's smallest normal 1.18e-38), with flushing off, switched on after the first convolution, and switched on at
process start (a fresh child process, as ``avbench pretrain`` does), and prints the timings and their ratios::

    python benchmarks/denormal_speed.py --repeats 5
    python benchmarks/denormal_speed.py --repeats 5 --threads 2   # thread pools keep the state they started with

The ratio depends on the CPU (x86 cores without DAZ/FTZ in hardware microcode pay the most).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
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


def measure(threads: int, repeats: int, flushes: tuple[bool, ...],
            flush_first: bool) -> dict[bool, tuple[float, float]]:
    """flush -> (normal, subnormal) median seconds. ``flush_first``: flushing switched on before torch's first
    parallel operation (as ``avbench pretrain`` does), else switched per row after the first convolution."""
    if flush_first:
        torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(8, 8, kernel_size=3, padding=1)
    normal = torch.rand(32, 8, 8, 24, 24) + 0.5
    subnormal = normal * 1e-39
    assert float(subnormal.abs().max()) < torch.finfo(torch.float32).tiny, "inputs are not subnormal"
    conv(normal).sum().backward()  # the first parallel operation: torch's thread pools exist from here on
    seconds: dict[bool, tuple[float, float]] = {}
    for flush in flushes:
        torch.set_flush_denormal(flush)
        seconds[flush] = (time_conv(normal, conv, repeats), time_conv(subnormal, conv, repeats))
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flush-first-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flush_first_child:  # a fresh process: flushing on before any thread pool exists
        print(json.dumps(measure(args.threads, args.repeats, (True,), flush_first=True)[True]))
        return
    seconds = measure(args.threads, args.repeats, (False, True), flush_first=False)
    torch.set_flush_denormal(False)
    child = subprocess.run([sys.executable, __file__, "--flush-first-child", "--threads", str(args.threads),
                            "--repeats", str(args.repeats)], check=True, capture_output=True, text=True)
    first = tuple(json.loads(child.stdout.strip().splitlines()[-1]))
    labels = {"off": seconds[False], "on, switched after the first convolution": seconds[True],
              "on from process start (avbench pretrain)": first}
    rows = [[f"flush {name}", f"{t_norm * 1e3:.1f}", f"{t_sub * 1e3:.1f}", f"{t_sub / t_norm:.1f}x"]
            for name, (t_norm, t_sub) in labels.items()]
    print(f"{args.threads} torch thread(s); conv3d forward + backward on [32, 8, 8, 24, 24], median of {args.repeats}")
    print(tabulate(rows, headers=["", "normal inputs (ms)", "subnormal inputs (ms)", "subnormal / normal"],
                   tablefmt="github"))
    print(f"subnormal inputs, flush off / on from process start: {seconds[False][1] / first[1]:.1f}x; "
          f"off / on switched late: {seconds[False][1] / seconds[True][1]:.1f}x")


if __name__ == "__main__":
    main()
