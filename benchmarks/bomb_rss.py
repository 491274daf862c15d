"""Peak RSS of a run with every decoding bomb added vs the clean run (issue 17, bounded decoding: within 300 MB).

Writes a fixture ESC-50 (3 classes x 5 clips of 2 s) and a fixture UCF101 (3 classes x 3 groups) with the fixture
writers, a copy of each with every bomb of :mod:`avbench.synth.bombs` listed in it (:func:`avbench.synth.corrupt.
inject_nasty`), and runs ``esc50`` / ``ucf101-linear`` (a small CrissCross at random init, 2 clips a side, fold1 /
split1) on each in a fresh process. Prints the records' ``provenance.peak_rss_bytes`` for the clean and the bombed
run, their difference, what each bomb became, and the load average (tests/test_bombs.py asserts the same bound).

    python benchmarks/bomb_rss.py
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

_RUN = textwrap.dedent("""
    import json, sys
    from avbench.evaluation.runner import RunOptions, run
    from avbench.registry import build_encoder
    root, task, out = sys.argv[1:4]
    enc = build_encoder("crisscross", video_width=4, audio_width=4, video_depth=10, audio_depth=10, min_size=32)
    video = {"video": {"size": 32, "resize": 36, "frames": 8}, "splits": ["split1"], "batch_size": 8,
             "classifier": {"costs": [1.0]}}
    audio = {"splits": ["fold1"], "classifier": {"costs": [1.0]}}
    overrides = {"train": {"clips": 2}, "test": {"clips": 2}, **(video if task != "esc50" else audio)}
    record, _ = run(enc, task, data_root=root, overrides=overrides,
                    options=RunOptions(cache_dir=out + "/cache", out_dir=out + "/out", log=lambda m: None,
                                       num_workers=0, min_coverage=0.0))
    print(json.dumps({"peak": record.provenance.peak_rss_bytes, "skipped": record.data.skipped,
                      "damaged": record.data.damaged}))
""")


def _measure(root: Path, task: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _RUN, str(root), task, str(out)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from avbench.synth.audio_fixtures import write_esc50
    from avbench.synth.bombs import BOMBS, write_bombs
    from avbench.synth.corrupt import inject_nasty
    from avbench.synth.video_fixtures import write_ucf101

    with tempfile.TemporaryDirectory(prefix="avbench-bombs-") as tmp:
        t = Path(tmp)
        bombs = write_bombs(t / "bombs")
        print("bombs: " + ", ".join(f"{n} {bombs[n].stat().st_size / 1024:.1f} KiB" for n in BOMBS))
        for layout, task in (("esc50", "esc50"), ("ucf101", "ucf101-linear")):
            clean = (write_esc50(t / layout / "clean", n_classes=3, clips_per_class=5, seconds=2.0, seed=0)
                     if layout == "esc50" else write_ucf101(t / layout / "clean", n_classes=3, groups=3,
                                                            clips_per_group=1, seed=0))
            dirty = shutil.copytree(clean, t / layout / "bombs")
            injected = inject_nasty(dirty, layout, bombs, BOMBS)
            base = _measure(clean, task, t / layout / "run-clean")
            loaded = _measure(dirty, task, t / layout / "run-bombs")
            outcome = {**{s["id"]: "skip: " + s["reason"] for s in loaded["skipped"]},
                       **{d["id"]: "repair: " + d["reason"] for d in loaded["damaged"]}}
            print(f"{task}: peak RSS clean {base['peak'] / 2**20:.0f} MiB, with the {len(injected)} bombs "
                  f"{loaded['peak'] / 2**20:.0f} MiB (+{(loaded['peak'] - base['peak']) / 2**20:.0f} MiB; budget "
                  f"300 MB); load average {os.getloadavg()[0]:.1f}")
            for name, entry in injected.items():
                print(f"  {name:12s} -> {outcome.get(entry.id, 'evaluated, nothing recorded')[:150]}")


if __name__ == "__main__":
    main()
