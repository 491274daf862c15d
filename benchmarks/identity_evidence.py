"""Do the reference pretrainers learn? Gates and evidence on the identity world (issue 20). Not a test: CPU hours.

Every row is measured with the ONE fixed probe of :mod:`avbench.pretrain.probe` (per modality: pooled trunk
features of each 1-s scene averaged over the 4 scenes of a clip, standardised, multinomial logistic regression,
C chosen on a validation quarter of the training clips; ``--n-per-class`` train and test clips per class from
disjoint seed streams; 6 classes, chance 16.7 %).

Runs (``--runs``; each for every seed of ``--seeds``; all of them, with why each was added, in
``benchmarks/_identity/runs.py``):

* ``floor``: gate (i), random init of each trunk family (``crisscross``: the R(2+1)D-18 / ResNet-18 trunks that
  CrissCross, temporal-SSL and the supervised ceiling share at the ``world`` preset; ``avcl``: R(2+1)D-10 /
  ResNet-10 over AVCL's 256-band 24-kHz mel), before and after re-estimating the BatchNorm statistics on
  ``--calibration-clips`` unlabelled clips;
* ``supervised`` (and ``supervised-avcl``): gate (ii), the trunks trained with labels on fresh clips (``avbench
  pretrain supervised --preset world``), the ceiling;
* ``crisscross``, ``avcl``, ``temporal-ssl``: each method's ``world`` preset; ablations ``crisscross-noasync``
  (Table 1: without v1a2 / a1v2), ``avcl-nocgra`` (lambda_cor = 0), ``temporal-ssl-novv`` (no l_vv),
  ``temporal-ssl-k0`` (its paper's Table 1 (a): no memory-bank positives).

Each pretraining run goes to ``WORK/seed<S>/<run>-e<epochs>`` and resumes from its last checkpoint (one per epoch of 96
steps) if the script is stopped and started again; a row already in ``OUT`` (same run, seed and epochs) is not
measured again. So the evidence can stop and continue later::

    python benchmarks/identity_evidence.py --runs floor supervised --seeds 0          # milestone 0: the gates
    python benchmarks/identity_evidence.py --runs crisscross avcl temporal-ssl --seeds 0 1
    python benchmarks/identity_evidence.py --table                                     # the README table

Rows (one JSON object per line in ``OUT``): run, seed, epochs, steps, the ``avbench pretrain`` command,
cpu_minutes (this process and its children: the pretraining process and its DataLoader workers; a resumed run
counts only what ran in this invocation), wall_minutes, the run's ``overrides``, and per modality ``<m>_random``,
``<m>_random_cal`` and ``<m>_trained`` (top-1 %, for ``floor`` only the first two), the C chosen, and the loss of
the first step and the mean of the last ten.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.pretrain.probe import ProbeData, calibrate_batchnorm, calibration_windows, make_probe_data, probe_encoder
from avbench.registry import build_encoder
from avbench.results import NonFiniteValueError, first_non_finite

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _identity
from _identity.runs import RUNS  # noqa: E402

FAMILIES = ("crisscross", "avcl")
MODALITIES = ("video", "audio")


def world_arch(encoder: str) -> dict[str, Any]:
    """The ``arch`` of ``encoder``'s trunks at the ``world`` preset (the random init the trained run started from)."""
    from avbench.pretrain.method import get_method, resolve_config

    method = {"crisscross": "crisscross", "avcl": "avcl", "temporal-ssl": "temporal-ssl"}[encoder]
    cls = get_method(method)
    return cls(resolve_config(cls, "world", {})).encoder.arch.to_dict()


def random_encoder(encoder: str, seed: int) -> torch.nn.Module:
    arch = world_arch(encoder)
    keys = ("video_width", "audio_width", "video_depth", "audio_depth", "min_size", "fps")
    return build_encoder(encoder, init_seed=seed, **{k: arch[k] for k in keys})


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the DataLoader workers), seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Probes:
    """Probe data per (fps, sample rate), rendered once per process."""

    def __init__(self, n_per_class: int, calibration_clips: int) -> None:
        self.n, self.n_cal = n_per_class, calibration_clips
        self._data: dict[tuple[float, int], ProbeData] = {}
        self._cal: dict[tuple[float, int, str], torch.Tensor] = {}
        self._floors: dict[tuple[str, int], dict[str, Any]] = {}

    def data(self, enc: Any) -> ProbeData:
        key = (enc.arch.fps, enc.arch.logmel().sample_rate)
        if key not in self._data:
            self._data[key] = make_probe_data(*key, self.n)
        return self._data[key]

    def calibration(self, enc: Any, modality: str) -> torch.Tensor:
        key = (enc.arch.fps, enc.arch.logmel().sample_rate, modality)
        if key not in self._cal:
            self._cal[key] = calibration_windows(key[0], key[1], self.n_cal, modality)
        return self._cal[key]

    def floor(self, encoder: str, seed: int) -> dict[str, Any]:
        """Random init of ``encoder``'s world trunks at ``seed``, uncalibrated and calibrated (cached per arch and
        seed: CrissCross, temporal-SSL and the supervised ceiling share one)."""
        enc = random_encoder(encoder, seed)
        key = (json.dumps(enc.arch.to_dict(), sort_keys=True), seed)
        if key not in self._floors:
            self._floors[key] = self._floor(enc)
        return dict(self._floors[key])

    def _floor(self, enc: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for m in MODALITIES:
            r = probe_encoder(enc, self.data(enc), m)
            row[f"{m}_random"], row[f"{m}_random_c"] = r.top1, r.c
            calibrate_batchnorm(enc, self.calibration(enc, m), m)
            r = probe_encoder(enc, self.data(enc), m)
            row[f"{m}_random_cal"], row[f"{m}_random_cal_c"] = r.top1, r.c
        row["n_train"], row["n_test"], row["calibration_clips"] = r.n_train, r.n_test, self.n_cal
        return row


def pretrain_command(run: str, seed: int, epochs: int, out: Path, workers: int) -> list[str]:
    """The ``avbench pretrain`` command line of one run (its card records it)."""
    method, _, over = RUNS[run]
    sets = [f"train.epochs={epochs}"] + [f"{k}={json.dumps(v)}" for k, v in over.items()]
    return ["avbench", "pretrain", method, "--data", "identity-world", "--preset", "world", "--out", str(out),
            "--seed", str(seed), "--init-seed", str(seed), "--workers", str(workers), "--no-progress",
            *[x for kv in sets for x in ("--set", kv)]]


class Busy(RuntimeError):
    """Another live process is training this run (its ``.evidence.lock`` names it)."""


def pretrain_run(run: str, seed: int, epochs: int, work: Path, workers: int, threads: int) -> Path:
    """Run (or resume) ``avbench pretrain`` for one run in a child process with ``threads`` torch threads.
    ``OUT/.evidence.lock`` holds this process's pid while it trains, so parallel invocations (e.g. one per seed)
    never train the same directory at once: a run locked by a live process raises :class:`Busy`."""
    out = work / f"seed{seed}" / f"{run}-e{epochs}"
    if (out / "encoder.safetensors").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".evidence.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pid = int(lock.read_text() or 0)
        try:
            os.kill(pid, 0)
            raise Busy(f"{out} is being trained by process {pid}") from None
        except ProcessLookupError:  # a stale lock from a killed run: take it over
            lock.unlink()
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        cmd = pretrain_command(run, seed, epochs, out, workers)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, "-m", "avbench.cli", *cmd[1:]], check=True, env=env)
    finally:
        lock.unlink(missing_ok=True)
    return out


def checkpoint_encoder(out: Path, step: int) -> torch.nn.Module:
    """The trunks of the pretraining checkpoint ``OUT/checkpoints/step-<step>`` (model rebuilt from the resolved
    config in its ``state.json``, weights loaded strictly): a probe half-way through a run (``--at-step``)."""
    from safetensors.torch import load_file

    from avbench.pretrain.method import get_method

    path = out / "checkpoints" / f"step-{step:08d}"
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: no checkpoint at step {step} (a run keeps its last two)")
    resolved = json.loads((path / "state.json").read_text())["resolved"]
    cls = get_method(resolved["method"])
    model = cls(cls.Config.model_validate(resolved["config"]), init_seed=resolved["init_seed"])
    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    return model.encoder


def measure_at_step(run: str, seed: int, args: argparse.Namespace, probes: Probes) -> dict[str, Any]:
    """One row for ``run``'s checkpoint at ``args.at_step`` (no training; ``steps`` = that step, ``at_step`` set)."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    _, encoder, over = RUNS[run]
    out = Path(args.work) / f"seed{seed}" / f"{run}-e{args.epochs}"
    trained = checkpoint_encoder(out, args.at_step)
    row: dict[str, Any] = {"run": run, "seed": seed, "epochs": args.epochs, "steps": args.at_step,
                           "at_step": args.at_step, "overrides": over,
                           "checkpoint": str(out / "checkpoints" / f"step-{args.at_step:08d}")}
    row.update(probes.floor(encoder, seed))
    for m in MODALITIES:
        r = probe_encoder(trained, probes.data(trained), m)
        row[f"{m}_trained"], row[f"{m}_trained_c"] = r.top1, r.c
    row["cpu_minutes"] = round((cpu_seconds() - c0) / 60, 1)
    row["wall_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    row["device"] = f"cpu, {torch.get_num_threads()} thread(s)"
    return row


def measure(run: str, seed: int, args: argparse.Namespace, probes: Probes) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), cpu_seconds()
    row: dict[str, Any] = {"run": run, "seed": seed}
    if run == "floor":
        for fam in FAMILIES:
            row[fam] = probes.floor(fam, seed)
    else:
        _, encoder, over = RUNS[run]
        out = pretrain_run(run, seed, args.epochs, Path(args.work), args.workers, args.threads)
        train_cpu = cpu_seconds() - c0
        card = json.loads((out / "card.json").read_text())
        row.update(epochs=args.epochs, steps=card["steps"], batch_size=card["config"]["train"]["batch_size"],
                   overrides=over, loss_first=card["loss_first"],
                   loss_last10=card["loss_last10_mean"], train_wall_minutes=round(card["wall_seconds_this_process"] / 60, 1),
                   train_cpu_minutes=round(train_cpu / 60, 1), command=card["command"])
        row.update(probes.floor(encoder, seed))
        trained = build_encoder(encoder, weights=str(out))
        for m in MODALITIES:
            r = probe_encoder(trained, probes.data(trained), m)
            row[f"{m}_trained"], row[f"{m}_trained_c"] = r.top1, r.c
    row["cpu_minutes"] = round((cpu_seconds() - c0) / 60, 1)
    row["wall_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    row["device"] = f"cpu, {torch.get_num_threads()} thread(s) + {args.workers} DataLoader worker(s)"
    return row


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per run, mean ± std over seeds of random (calibrated) and trained top-1 per modality."""
    def ms(vals: list[float]) -> str:
        v = np.asarray(vals, dtype=float)
        return f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}"

    # the target (issue 20): gain >= 15 points and >= half the gap from the floor to the 1,920-step supervised ceiling
    ceiling = {m: float(np.mean([r[m + "_trained"] for r in rows if r["run"] == "supervised" and r.get("steps") == 1920]
                                or [np.nan])) for m in MODALITIES}

    def met(rs: list[dict[str, Any]]) -> str:
        out = []
        for m in MODALITIES:
            floor = float(np.mean([r[m + "_random_cal"] for r in rs]))
            gain = float(np.mean([r[m + "_trained"] for r in rs])) - floor
            if not np.isfinite(ceiling[m]):  # no 1,920-step supervised row among these rows: no half gap to test
                out.append("? (no ceiling row)")
                continue
            out.append("yes" if gain >= max(15.0, (ceiling[m] - floor) / 2) else "no")
        return " / ".join(out)

    lines = ["| run | seeds | steps | video: random (cal.) → trained | audio: random (cal.) → trained | target met "
             "(video / audio) | CPU min/run |", "|---|---|---|---|---|---|---|"]
    for run, steps in dict.fromkeys((r["run"], r.get("steps")) for r in rows):
        rs = [r for r in rows if r["run"] == run and r.get("steps") == steps]
        seeds = ",".join(str(r["seed"]) for r in rs)
        if run == "floor":
            for fam in FAMILIES:
                cells = [f"{ms([r[fam][m + '_random'] for r in rs])} uncal., {ms([r[fam][m + '_random_cal'] for r in rs])} cal."
                         for m in MODALITIES]
                lines.append(f"| random init ({fam} trunks) | {seeds} | 0 | {cells[0]} | {cells[1]} | — | "
                             f"{ms([r['cpu_minutes'] for r in rs])} |")
            continue
        cells = [f"{ms([r[m + '_random_cal'] for r in rs])} → **{ms([r[m + '_trained'] for r in rs])}**"
                 for m in MODALITIES]
        target = "—" if run.startswith("supervised") else met(rs)
        lines.append(f"| {run} | {seeds} | {steps} | {cells[0]} | {cells[1]} | {target} | "
                     f"{ms([r['cpu_minutes'] for r in rs])} |")
    return "\n".join(lines)


def append_row(out: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the JSON-lines file ``out``, or raise :class:`NonFiniteValueError` naming the first NaN /
    inf in it and write nothing (``json.dumps`` would write ``NaN``, which ``--table`` would average into a cell)."""
    bad = first_non_finite(row)
    if bad:
        raise NonFiniteValueError(f"{row.get('run')}, seed {row.get('seed')}: {bad} is not finite; no row written "
                                  f"to {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="*", default=["floor", "supervised"], choices=["floor", *RUNS])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=10,
                    help="epochs of 6,144 clips (the world preset's 10: 1,920 steps at batch 32)")
    ap.add_argument("--n-per-class", type=int, default=100, help="probe clips per class, train and test each")
    ap.add_argument("--calibration-clips", type=int, default=500)
    ap.add_argument("--out", default="docs/evidence/identity_world.jsonl")
    ap.add_argument("--work", default="/tmp/avbench-identity-evidence", help="pretraining run directories")
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers rendering the clips")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    ap.add_argument("--at-step", type=int, default=None,
                    help="probe each run's pretraining checkpoint at this step (a run keeps its last two) instead of "
                         "training it; the row holds at_step")
    ap.add_argument("--table", action="store_true", help="print the table of OUT and exit")
    args = ap.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(read_rows(out)))
        return
    torch.set_num_threads(args.threads)
    probes = Probes(args.n_per_class, args.calibration_clips)
    for seed in args.seeds:
        for run in args.runs:
            done = {(r["run"], r["seed"], r.get("epochs"), r.get("at_step")) for r in read_rows(out)}
            if (run, seed, None if run == "floor" else args.epochs, args.at_step) in done:
                continue
            try:
                row = measure_at_step(run, seed, args, probes) if args.at_step else measure(run, seed, args, probes)
            except Busy as exc:
                print(f"skipped: {exc}", flush=True)
                continue
            append_row(out, row)
            print(json.dumps(row), flush=True)
    print(table(read_rows(out)))


if __name__ == "__main__":
    main()
