"""Sample identity on a UCF101-sized tree: how long establishing every sample's content identity takes.

Writes a tree in UCF101's official layout with 13,320 videos of at least 128 KiB (101 classes x 25 groups; the lists
by the fixture writer ``write_ucf101_lists``; the media: 8 distinct 7-s AVI videos of at least 128 KiB rendered by the
fixture writer ``write_class_video`` at 320x240, each copy given a unique 64-byte trailer so that no two files share
their bytes), then times :meth:`avbench.datasets.base.Manifest.identify` in fresh processes:

* ``cold``: no memo, and the files evicted from the page cache (``posix_fadvise(DONTNEED)`` after an fsync): the
  first run on a tree (disk reads included);
* ``memo-cold``: no memo, files in the page cache (a tree just copied or just read);
* ``warm``: the memo of a previous run present (the normal case: nothing is re-hashed);
* ``full``: ``--verify-data full`` (whole files hashed) from a cold memo, files in the page cache.

Budget (issue 17): at most 20 s cold and 3 s warm on 2 cores. Prints one line per measurement and the load average.

    python benchmarks/identity_speed.py                 # writes the tree under a temporary folder (about 3 GB)
    python benchmarks/identity_speed.py --tree DIR      # reuse (or write once into) DIR
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

N_FILES, N_CLASSES, GROUPS = 13_320, 101, 25


def write_tree(root: Path, distinct: int = 8) -> Path:
    """The UCF101-layout tree (module docstring); idempotent (a finished tree has ``.done``)."""
    import numpy as np

    from avbench.synth.ucf101_fixtures import write_ucf101_lists
    from avbench.synth.video_render import avi_spec, write_class_video

    if (root / ".done").exists():
        return root
    classes = [f"Action{k:03d}" for k in range(N_CLASSES)]
    seeds = root / "_distinct"
    bases: list[bytes] = []
    for i in range(4 * distinct):  # renders until ``distinct`` of them reach 128 KiB (the codec's size varies)
        if len(bases) == distinct:
            break
        spec = avi_spec(i, np.random.default_rng([7, i]))
        from dataclasses import replace

        spec = replace(spec, width=320, height=240, seconds=7.0, fps=Fraction(25))
        data = write_class_video(seeds / f"{i}.avi", i % 4, 4, spec, np.random.default_rng([7, i])).read_bytes()
        if len(data) >= 128 * 1024:
            bases.append(data)
    assert len(bases) == distinct, [len(b) for b in bases]
    files, n = [], 0
    per = -(-N_FILES // (N_CLASSES * GROUPS))
    for c in range(1, per + 1):
        for k, cls in enumerate(classes):
            for g in range(1, GROUPS + 1):
                if n == N_FILES:
                    break
                rel = f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"
                path = root / "UCF-101" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(bases[n % distinct] + n.to_bytes(8, "little") * 8)
                files.append((rel, k, g))
                n += 1
    write_ucf101_lists(root, classes, files, GROUPS)
    shutil.rmtree(seeds)
    (root / ".done").write_text(str(n))
    return root


def evict(root: Path) -> None:
    """Drop the tree's pages from the page cache (clean pages only: fsync first)."""
    for p in (root / "UCF-101").rglob("*.avi"):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(root: Path, cache: Path, mode: str) -> dict:
    """One identify pass in THIS process (run by :func:`main` in a fresh one)."""
    from avbench.datasets import get_dataset

    t0 = time.perf_counter()
    m = get_dataset("ucf101").load(root)
    t1 = time.perf_counter()
    ident = m.identify(cache_dir=cache, mode=mode).identity
    t2 = time.perf_counter()
    return {"load_s": round(t1 - t0, 2), "identify_s": round(t2 - t1, 2), "files": ident["files"],
            "hashed": ident["hashed"], "memo_hits": ident["memo_hits"], "sha256": ident["sha256"][:16]}


def _fresh(root: Path, cache: Path, mode: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", str(root), str(cache), mode], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, help="folder of the tree (written once); default: a temporary folder")
    p.add_argument("--measure", nargs=3, metavar=("ROOT", "CACHE", "MODE"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.measure:
        print(json.dumps(measure(Path(a.measure[0]), Path(a.measure[1]), a.measure[2])))
        return
    tmp = None if a.tree else tempfile.mkdtemp(prefix="avbench-identity-")
    root = a.tree or Path(tmp) / "UCF101"
    try:
        t0 = time.perf_counter()
        write_tree(root)
        size = sum(f.stat().st_size for f in (root / "UCF-101").rglob("*.avi"))
        print(f"tree: {N_FILES} files, {size / 2**30:.2f} GiB, min {128} KiB each, written in "
              f"{time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs; load average {os.getloadavg()}")
        cache = root.parent / "identity-cache"
        for name, mode, prep in (("cold", "edges", "evict"), ("warm", "edges", None), ("memo-cold", "edges", "clear"),
                                 ("warm", "edges", None), ("full", "full", "clear")):
            if prep == "evict" or prep == "clear":
                shutil.rmtree(cache, ignore_errors=True)
            if prep == "evict":
                evict(root)
            r = _fresh(root, cache, mode)
            print(f"{name:9s} mode={mode:5s} identify {r['identify_s']:6.2f} s (manifest load {r['load_s']:.2f} s): "
                  f"{r['hashed']} hashed, {r['memo_hits']} from the memo; sha {r['sha256']}; load average "
                  f"{os.getloadavg()[0]:.1f}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
