"""Shard verification's share of a fully cached re-run (issue 17: under 2 %).

Writes a fixture ESC-50 (the fixture writer; ``--classes`` x ``--clips`` 5-s clips), runs the shipped ``esc50`` card
(CrissCross at random init, the card's 10 training and 10 test crops, 4608-D conv5x features, 5 folds, the 8-value
C sweep) once to fill the cache, then runs the same command again in a fresh process: every shard is reused, and
every shard is checked (sha256 against the entry's index, sample ids against the plan) before it is used. Prints
the verification seconds (the records' ``features.seed0.<side>.verify_seconds``), the run's wall time
(``provenance.wall_seconds``: from planning to the written record) and the process's wall time (imports included),
the shard bytes checked and the hashing rate, and the machine load.

    python benchmarks/verify_overhead.py                     # 10 classes x 8 clips
    python benchmarks/verify_overhead.py --classes 50 --clips 8

The fixture's classifier is small (a few hundred rows), so the share here is an upper bound for real ESC-50,
whose SVM sweep on 16,000 x 4,608 rows takes minutes while its shards (about 0.7 GB) hash in about a second.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_RUN = """
import json, sys, time
t0 = time.perf_counter()
from avbench.evaluation.runner import RunOptions, run
root, cache, out = sys.argv[1:4]
record, path = run("crisscross", "esc50", data_root=root,
                   options=RunOptions(cache_dir=cache, out_dir=out, log=lambda m: None, num_workers=0))
views = {f"{seed}/{side}": v for seed, sides in record.features.items() for side, v in sides.items()
         if isinstance(v, dict) and "verify_seconds" in v}
print(json.dumps({"wall": record.provenance.wall_seconds, "process": time.perf_counter() - t0,
                  "verify": sum(v["verify_seconds"] for v in views.values()),
                  "reused": record.cache.shards_reused, "computed": record.cache.shards_computed,
                  "repaired": record.cache.shards_repaired, "top1": record.metrics["top1"].mean}))
"""


def _run(root: Path, cache: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUN, str(root), str(cache), str(out)], capture_output=True,
                          text=True, check=True)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    r["subprocess"] = time.perf_counter() - t0
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--clips", type=int, default=8, help="clips per class")
    a = p.parse_args()
    from avbench.synth.audio_fixtures import write_esc50

    with tempfile.TemporaryDirectory(prefix="avbench-verify-") as tmp:
        root = write_esc50(Path(tmp) / "esc50", n_classes=a.classes, clips_per_class=a.clips, seed=0)
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        first = _run(root, cache, out)
        print(f"fill: {first['computed']} shards computed in {first['wall']:.1f} s; load average {os.getloadavg()}")
        size = sum(f.stat().st_size for f in cache.rglob("shard-*.safetensors"))
        for i in range(2):
            r = _run(root, cache, out)
            assert r["computed"] == 0 and r["repaired"] == 0 and r["top1"] == first["top1"]
            print(f"cached re-run {i + 1}: {r['reused']} shards reused ({size / 2**20:.1f} MiB) and verified in "
                  f"{r['verify']:.3f} s ({size / 2**20 / max(r['verify'], 1e-9):.0f} MiB/s); run wall {r['wall']:.2f} s "
                  f"-> {100 * r['verify'] / r['wall']:.2f} %; process wall {r['subprocess']:.2f} s -> "
                  f"{100 * r['verify'] / r['subprocess']:.2f} %; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
