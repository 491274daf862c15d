"""Peak memory of planning, sharding, resuming and reading back a Kinetics-400-sized feature set.

A manifest of 240 000 synthetic samples (Kinetics-400 layout and names, ``train/<label>/<ytid>_<start>_<end>.mp4``;
file names only, no media) goes through what ``avbench eval`` does around extraction, each stage in a FRESH
process so that its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own:

- ``baseline``  import torch and avbench's runner (the floor every stage includes);
- ``manifest``  build the 240k samples, the manifest's content hash, ``by_id`` and the sample-list hash;
- ``plan``      + the store entry, its shard plan, the finished-shard scan of an empty entry, and the share of
                every rank of a ``--world``-process job (checked: each shard exactly once);
- ``write``     + write ``--written`` of the shards with small fake payloads through the store's own writer
                (``StoreEntry.write_shard``: temporary file, fsync, rename), as a killed run leaves them;
- ``resume``    + plan again over the half-written store: finished shards found from one directory listing, no
                payload read (the same ``_plan_missing`` the extraction loop calls);
- ``complete``  + write the missing shards (what the resumed run computes);
- ``stream``    + read every shard back one at a time (``StoreEntry.iter_shards``, memory-mapped) and reduce it to
                per-class feature sums, dropping each shard: what a streaming classifier holds;
- ``view``      + the runner's path: ``read_view`` (every block memory-mapped) and ``_clip_features``, then one
                pass over all blocks. Touched pages of a map are file-backed and reclaimable, but ``ru_maxrss``
                counts them, so this stage's peak grows with the payload; ``RssAnon`` (private memory) does not;
- ``dense``     + ``torch.cat`` of every block (loading all features at once), for contrast.

    python benchmarks/scale_manifest.py                      # 240 000 samples, 32 per shard, 128-D, 8 ranks
    python benchmarks/scale_manifest.py --dim 512 --clips 2 --work /big/disk/tmp --keep

Figures go to stdout (one table); nothing is asserted. The payload is ``samples x clips x dim x 4`` bytes
(a real Kinetics-400 train set at 10 clips x 8192-D would be 79 GB: the reason features are never loaded whole).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("baseline", "manifest", "plan", "write", "resume", "complete", "stream", "view", "dense")


def _status_kb(field: str) -> int | None:
    """A ``/proc/self/status`` field in kB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (kb / 1024 / 1024) if sys.platform == "darwin" else kb / 1024


def kinetics_manifest(n: int, n_classes: int, root: Path) -> Any:
    """``n`` samples named as Kinetics-400 files (``<label>/<ytid>_<start:06d>_<end:06d>.mp4``), labels round robin."""
    from avbench.datasets.base import Manifest, Sample

    classes = [f"class {k:03d}" for k in range(n_classes)]
    samples = []
    for i in range(n):
        label = i % n_classes
        ytid = f"{i:011x}"[-11:].replace("0", "x")
        sid = f"{ytid}_{(i % 300):06d}_{(i % 300) + 10:06d}"
        samples.append(Sample(id=sid, path=root / "train" / classes[label].replace(" ", "_") / f"{sid}.mp4",
                              label=label, group=sid))
    ids = [s.id for s in samples]
    return Manifest("kinetics400", root, samples, classes, {"train": {"train": ids, "test": []}}, expected=n)


def run_stage(stage: str, a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from avbench.features.extract import _plan_missing, read_view
    from avbench.evaluation.runner import _clip_features, _ids_sha
    from avbench.features.store import FeatureStore

    t0 = time.perf_counter()  # the stage's own work, after the imports
    out: dict[str, Any] = {}
    level = STAGES.index(stage)
    work = Path(a.work)
    if level >= 1:
        manifest = kinetics_manifest(a.samples, a.classes, work / "kinetics400")
        fields = {"format": 1, "manifest": manifest.content_hash(), "view": {"side": "train", "clips": a.clips},
                  "samples": _ids_sha([s.id for s in manifest.samples])}
        by_id = manifest.by_id()
        samples = manifest.samples
        out["samples"] = len(samples)
        assert len(by_id) == len(samples)
    if level >= 2:
        entry = FeatureStore(work / "cache").entry(fields).open()
        if stage == "plan":
            plan, missing = _plan_missing(entry, len(samples), a.shard_size, 1)
            seen: list[int] = []
            for rank in range(a.world):
                seen += plan.assign(missing, rank, a.world)
            assert sorted(seen) == list(range(plan.n_shards)), "every shard exactly once"
            out.update(shards=plan.n_shards, world=a.world, per_rank=len(plan.assign(missing, 0, a.world)))
    if stage in ("write", "complete"):
        plan, missing = _plan_missing(entry, len(samples), a.shard_size, 1)
        todo = missing[: int(round(a.written * plan.n_shards))] if stage == "write" else missing
        for shard in todo:
            pos = list(plan.positions(shard))
            g = torch.Generator().manual_seed(shard)
            feats = torch.rand(len(pos) * a.clips, a.dim, generator=g)
            entry.write_shard(shard, feats, torch.tensor(pos).repeat_interleave(a.clips),
                              torch.arange(a.clips).repeat(len(pos)), sample_ids=[samples[p].id for p in pos],
                              skipped=[], padded=[])
        out.update(shards_written=len(todo), shards=plan.n_shards)
    if stage == "resume":
        plan, missing = _plan_missing(entry, len(samples), a.shard_size, 1)
        out.update(shards=plan.n_shards, finished=plan.n_shards - len(missing), missing=len(missing),
                   rank0_share=len(plan.assign(missing, 0, a.world)))
    if stage == "stream":
        plan = entry.plan(len(samples), a.shard_size)
        labels = torch.tensor([s.label for s in samples])
        sums = torch.zeros(a.classes, a.dim, dtype=torch.float64)
        rows = 0
        for shard in entry.iter_shards(plan.n_shards):
            sums.index_add_(0, labels[shard.sample], shard.features.double())
            rows += int(shard.sample.numel())
        out.update(rows=rows, checksum=round(float(sums.sum()), 3))
    if stage in ("view", "dense"):
        plan = entry.plan(len(samples), a.shard_size)
        view = read_view(entry, plan.n_shards)
        feats = _clip_features(view, samples, [s.id for s in samples])
        out.update(rows=feats.n_rows, blocks=len(feats.blocks))
        if stage == "view":
            sums = torch.zeros(a.classes, a.dim, dtype=torch.float64)
            for start, block in feats.iter_blocks():
                sums.index_add_(0, feats.row_labels[start:start + block.shape[0]], block.double())
            out["checksum"] = round(float(sums.sum()), 3)
        else:
            dense = feats.dense()
            out["checksum"] = round(float(dense.sum(dtype=torch.float64)), 3)
    out.update(stage=stage, seconds=round(time.perf_counter() - t0, 2), peak_rss_mb=round(_peak_mb(), 1),
               rss_anon_mb=round((_status_kb("RssAnon") or 0) / 1024, 1),
               rss_file_mb=round((_status_kb("RssFile") or 0) / 1024, 1))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=240_000, help="manifest size (default: Kinetics-400 train, 240 000)")
    p.add_argument("--classes", type=int, default=400)
    p.add_argument("--shard-size", type=int, default=32, help="samples per shard (avbench's default: 32)")
    p.add_argument("--dim", type=int, default=128, help="fake feature dimension (default 128)")
    p.add_argument("--clips", type=int, default=1, help="feature rows per sample (default 1)")
    p.add_argument("--written", type=float, default=0.5, help="fraction of shards the 'killed run' leaves (0.5)")
    p.add_argument("--world", type=int, default=8, help="processes to share the shards out to (default 8)")
    p.add_argument("--work", help="working folder (default: a new temporary folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the working folder")
    p.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.stage:
        print(json.dumps(run_stage(a.stage, a)))
        return
    from tabulate import tabulate

    work = Path(a.work or tempfile.mkdtemp(prefix="avbench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    payload_mb = a.samples * a.clips * a.dim * 4 / 2**20
    print(f"{a.samples} samples, {a.classes} classes, {a.shard_size} per shard, {a.clips} x {a.dim}-D float32 "
          f"per sample = {payload_mb:.0f} MiB of features; work folder {work}")
    rows = []
    try:
        for stage in STAGES:
            cmd = [sys.executable, __file__, "--stage", stage, "--work", str(work)] + [
                f"--{k.replace('_', '-')}={v}" for k, v in vars(a).items() if k not in ("stage", "work", "keep")]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if done.returncode != 0:
                raise SystemExit(f"stage {stage} failed:\n{done.stderr[-3000:]}")
            r = json.loads(done.stdout.strip().splitlines()[-1])
            notes = {k: v for k, v in r.items() if k not in ("stage", "seconds", "peak_rss_mb", "rss_anon_mb",
                                                              "rss_file_mb")}
            rows.append([stage, r["seconds"], r["peak_rss_mb"], r["rss_anon_mb"], r["rss_file_mb"],
                         ", ".join(f"{k}={v}" for k, v in notes.items())])
            print(f"  {stage}: done in {r['seconds']} s", file=sys.stderr, flush=True)
        disk = sum(f.stat().st_size for f in (work / "cache").rglob("*") if f.is_file()) / 2**20
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(tabulate(rows, headers=["stage", "seconds", "peak RSS MiB", "RssAnon MiB (end)", "RssFile MiB (end)",
                                  "what"]))
    print(f"feature store on disk: {disk:.0f} MiB; every stage is a fresh process and includes the baseline")


if __name__ == "__main__":
    main()
