"""``avbench eval``: evaluate an encoder on a task card; prints a table and writes the result record."""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from tabulate import tabulate

from avbench.cli.common import console, default_workers


#: ``--quick``: a smoke run's geometry; the card's other settings are kept (explicit ``--set`` keys win)
QUICK_VIDEO = {"size": 112, "resize": 128}
QUICK_CLIPS = 3


def _quick(task: str) -> dict[str, Any]:
    """The ``--quick`` overrides of ``task``: 3 training and 3 test clips, and 112² crops (short side 128) on
    cards with video."""
    from avbench.taskcard import load_card

    out: dict[str, Any] = {"train": {"clips": QUICK_CLIPS}, "test": {"clips": QUICK_CLIPS}}
    if load_card(task).video is not None:
        out["video"] = dict(QUICK_VIDEO)
    return out


def _overrides(args: argparse.Namespace, task: str) -> dict[str, Any]:
    """The card overrides of ``task``: ``--quick`` and ``--limit`` below ``--set``, ``--selection`` and
    ``--backend`` (recorded in the record's ``task.overrides``; any of them puts the run on the override track)."""
    from avbench.taskcard import deep_merge, parse_override

    out: dict[str, Any] = _quick(task) if args.quick else {}
    if args.limit is not None:
        out["limit"] = args.limit
    for text in args.set or []:
        out = deep_merge(out, parse_override(text))
    if args.selection:
        out = deep_merge(out, {"classifier": {"selection": args.selection}})
    if args.backend:
        out = deep_merge(out, {"classifier": {"backend": args.backend}})
    return out


def shown_metrics(record: Any) -> list[str]:
    """The record's metrics worth a column: top-k only where k is at most a quarter of the class count (top-5 of 10
    classes is half the labels: near 50 % by chance)."""
    n = record.data.n_classes
    out = []
    for m in record.metrics:
        base = m.split("@")[0]
        if n and base.startswith("top") and base[3:].isdigit() and base != "top1" and 4 * int(base[3:]) > n:
            continue
        out.append(m)
    return out


def _summary_table(record: Any) -> str:
    """The per-split table; with one split there is no spread, so no "mean ± std" row."""
    rows = []
    metrics = shown_metrics(record)
    splits = list(next(iter(record.metrics.values())).per_split)
    for sp in splits:
        runs = [r for r in record.runs if r.split == sp]
        sel = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in runs[0].selected.items())
        rows.append([sp, *[f"{record.metrics[m].per_split[sp]:.2f}" for m in metrics],
                     sel + (" (seed 0)" if len({r.seed for r in runs}) > 1 else ""), runs[0].n_test_samples])
    if len(splits) > 1:
        rows.append(["mean ± std", *[f"{record.metrics[m].mean:.2f} ± {record.metrics[m].std:.2f}" for m in metrics],
                     "", ""])
    first, summary = metrics[0], record.metrics[metrics[0]]
    rows.append([f"{first} 95% CI", f"[{summary.ci95[0]:.2f}, {summary.ci95[1]:.2f}]", *[""] * (len(metrics) - 1), "", ""])
    return tabulate(rows, headers=["split", *metrics, "selected", "n test"], tablefmt="github")


def headline(record: Any) -> str:
    """The first metric as a table cell: "71.20 ± 1.30" over several splits, "71.20" for one."""
    m = record.metrics[shown_metrics(record)[0]]
    return f"{m.mean:.2f} ± {m.std:.2f}" if len(m.per_split) > 1 else f"{m.mean:.2f}"


def data_verdict(data: Any) -> str:
    """One line on the data a record evaluated: kind, media check, and the first differences from the release."""
    media = ("media verified against " + data.media.manifest if data.media_verified else
             f"media NOT verified ({data.media.matched} of {data.media.checked} files matched {data.media.manifest})"
             if data.media is not None else "media not verified (no --checksums)")
    line = f"data: {data.kind.upper()} {data.dataset}; {media}"
    if data.kind == "custom" and data.identity is not None:
        line += ("; not comparable with published numbers: " + "; ".join(data.identity.differences[:3])
                 + (f" (+{len(data.identity.differences) - 3} more)" if len(data.identity.differences) > 3 else ""))
    elif data.kind == "synthetic":
        line += "; avbench's synthetic data says nothing about the benchmark"
    return line


def _leave_process_group() -> None:
    """Under torchrun, close this process's group before exiting. A rank that exits with gloo still connected
    can abort ("terminate called without an active exception", SIGABRT) while rank 0 is still classifying;
    seen once in a fresh-clone CI run of tests/test_distributed_extract.py."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _run_one(args: argparse.Namespace, task: str, data_root: str | None, con: Any) -> tuple[Any, Any]:
    """One task: (record, record path), or (None, None) on a non-zero torchrun rank."""
    from avbench.evaluation.runner import RunOptions, run
    from avbench.runtime.progress import progress_bars

    with progress_bars(con, enabled=not args.no_progress) as bar:
        opts = RunOptions(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir, out_dir=args.out,
                          batch_size=args.batch_size,
                          num_workers=args.workers if args.workers is not None else default_workers(),
                          command="avbench " + " ".join(shlex.quote(a) for a in args.argv),
                          cache="refresh" if args.refresh else "off" if args.no_cache else "use",
                          checksums=args.checksums,
                          verify_data=args.verify_data, follow_symlinks=not args.no_follow_symlinks,
                          min_coverage=args.min_coverage,
                          log=lambda m: con.print(m, markup=False, highlight=False), progress=bar,
                          override_source="--set")
        return run(args.model, task, data_root=data_root, overrides=_overrides(args, task),
                   seeds=args.seeds, weights=args.weights, init_seed=args.init_seed, options=opts)


def _print_record(record: Any, path: Any) -> None:
    title = f"{record.encoder.name} on {record.task.name} ({record.protocol}, backend {record.runs[0].backend})"
    if record.data.synthetic:
        title += "  [SYNTHETIC DATA]"
    elif record.data.kind == "custom":
        title += "  [CUSTOM DATA: not the official set]"
    if record.encoder.weights_sha256 is None and record.encoder.init_seed is not None:
        title += f"  [RANDOM INIT (seed {record.encoder.init_seed}): no --weights given]"
    elif record.encoder.weights_sha256 is None:
        title += f"  [NO WEIGHTS FILE: the encoder's own default state {record.encoder.state_sha256[:12]}]"
    if record.task.track == "override":
        title += "  [OVERRIDDEN CARD: separate track]"
    if record.determinism is not None and record.determinism.checked and not record.determinism.deterministic:
        title += "  [NONDETERMINISTIC ENCODER]"
    print(title)
    print(_summary_table(record))
    if record.task.track == "override" and record.task.overrides:
        from avbench.cards.overrides import flatten_keys

        print(f"overridden: {', '.join(flatten_keys(record.task.overrides))} (a smoke or variant run: not comparable "
              "with the standard track)")
    hidden = [m for m in record.metrics if m not in shown_metrics(record)]
    if hidden:
        print(f"not shown: {', '.join(hidden)} (k too close to the {record.data.n_classes} classes; in the record)")
    if record.selection == "paper":
        print(f"note: selection=paper: {record.selection_note}")
    det = record.determinism
    if det is not None and det.checked and not det.deterministic:
        print(f"WARNING: the encoder is NOT deterministic: the same batch forwarded twice differed by up to "
              f"{det.max_abs_diff:.3g} (features up to {max(v.get('max_abs_feature', 0) for v in det.views.values()):.3g}); "
              "another run of this command can give another number")
    if record.cache is not None:
        print(f"feature cache ({record.cache.mode}): {record.cache.shards_reused} shard(s) reused, "
              f"{record.cache.shards_computed} computed")
    print(data_verdict(record.data))
    print(f"{coverage_line(record)}; wall {record.provenance.wall_seconds:.1f} s")
    cov = record.data.coverage_detail or {}
    missing = sum(r.n_test_missing for r in record.runs if r.seed == record.runs[0].seed)
    print(f"coverage gate: lowest usable/expected {record.data.coverage:.4f} over the evaluated splits and sides "
          f"(gate {cov.get('min_coverage')}, {cov.get('basis')})"
          + (f"; {missing} missing test sample(s) counted as wrong in the headline" if missing else ""))
    if record.cache is not None and record.cache.shards_repaired:
        print(f"WARNING: {record.cache.shards_repaired} cached feature shard(s) failed their checksum or sample-id "
              "check and were recomputed (record: cache.repaired)")
    print(f"record: {path}")


def coverage_line(record: Any) -> str:
    """One coverage statement that adds up: listed = found + missing, and of the found ones how many were
    unusable (undecodable, too short), with the first skip's reason; the skip list holds the missing ones too."""
    d = record.data
    missing = d.expected - d.found
    unusable = max(0, len(d.skipped) - missing)
    line = (f"coverage: {d.found - unusable} of {d.expected} listed samples usable ({missing} missing, {unusable} "
            "unusable")
    if d.skipped:
        line += f"; first skipped: {d.skipped[0]['id']}: {d.skipped[0]['reason']}"
    if record.task.card.get("limit"):
        line += f"; --limit {record.task.card['limit']}: a subset of them evaluated"
    return line + ")"


def _data_roots(args: argparse.Namespace, tasks: list[str]) -> dict[str, str | None]:
    """``--data-root`` per task: ``DATASET=PATH`` entries for their data set, a plain PATH for every task (refused
    when the tasks use several data sets). Every card is resolved here, so a typo in the last task stops the
    command before the first one runs."""
    from avbench.datasets import dataset_names
    from avbench.taskcard import TaskCardError, load_card

    datasets = {t: load_card(t, _overrides(args, t), source="--set").dataset.name for t in tasks}
    named: dict[str, str] = {}
    plain: list[str] = []
    for value in args.data_root or []:
        key, sep, path = value.partition("=")
        if sep and key in dataset_names():
            named[key] = path
        else:
            plain.append(value)
    if len(plain) > 1 or (plain and plain != ["synthetic"] and len(set(datasets.values()) - set(named)) > 1):
        raise TaskCardError(f"--data-root {plain[0]} would serve the data sets {', '.join(sorted(set(datasets.values())))}"
                            "; name each one's root: --data-root DATASET=PATH (repeatable)")
    return {t: named.get(d, plain[0] if plain else None) for t, d in datasets.items()}


def cmd_eval(args: argparse.Namespace) -> int:
    from avbench.cli.common import user_errors
    from avbench.cards.suites import expand_tasks

    tasks = expand_tasks(args.task)
    roots = _data_roots(args, tasks)
    con = console()
    done: list[tuple[str, Any, str]] = []
    for i, task in enumerate(tasks):
        if len(tasks) > 1:
            con.rule(f"task {i + 1} of {len(tasks)}: {task}")
        try:
            record, path = _run_one(args, task, roots[task], con)
        except user_errors() as exc:
            if len(tasks) == 1 or getattr(args, "debug", False):
                raise
            print(f"avbench: error: {task}: {exc}", file=sys.stderr)  # the other tasks still run
            done.append((task, None, str(exc)))
            continue
        if record is None:  # a non-zero rank under torchrun: rank 0 reports
            continue
        _print_record(record, path)
        done.append((task, record, str(path)))
    _leave_process_group()
    if len(tasks) > 1 and done:
        print()
        print(_tasks_table(done))
    return 1 if any(r is None for _, r, _ in done) else 0


def _tasks_table(done: list[tuple[str, Any, str]]) -> str:
    """One row per task of a multi-task run: the headline metric, the track and the record (or the error)."""
    rows = []
    for task, record, where in done:
        if record is None:
            rows.append([task, "", "FAILED", "", "", where])
            continue
        d = record.data
        rows.append([task, record.protocol, f"{shown_metrics(record)[0]} {headline(record)}", record.task.track,
                     f"{d.found}/{d.expected} found", where])
    return tabulate(rows, headers=["task", "protocol", "result", "track", "samples", "record"], tablefmt="github")


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    from avbench.cards.suites import SUITES

    e = sub.add_parser("eval", help="evaluate an encoder on tasks and write a result record per task",
                       description="Evaluate an encoder on one or more task cards; prints a table per task (and a "
                                   "summary table for several) and writes a JSON record per task.")
    e.add_argument("--model", required=True, help="registered name (avbench list models), a zoo model "
                   "(torchvision:NAME, timm:NAME, hear:MODULE) or pkg.module:factory")
    e.add_argument("--task", required=True, action="append", metavar="TASK[,TASK...]",
                   help="task card name (avbench list tasks), a path to a .yaml card, or a suite of a paper's table "
                        f"({', '.join(SUITES)}); several, comma-separated or with the flag repeated, run one after "
                        "the other with one summary table (a task that fails is reported and the others still run)")
    e.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_CLIPS} training and {QUICK_CLIPS} test clips per sample and, on cards with "
                        f"video, {QUICK_VIDEO['size']}² crops (short side {QUICK_VIDEO['resize']}); the card's other "
                        "settings kept, --set keys win; recorded and shown as the override track")
    e.add_argument("--limit", type=int, metavar="N", help="at most N samples per class on each side of each split "
                   "(the first N by id); recorded and shown as the override track")
    e.add_argument("--data-root", action="append", metavar="[DATASET=]PATH",
                   help="root of the data set in its official layout; with several tasks on several data sets name "
                        "each: --data-root esc50=/data/ESC-50 (repeatable); default: AVBENCH_DATA_<DATASET>, the "
                        "config file, else the built-in synthetic set ('synthetic' forces it)")
    e.add_argument("--weights", help="weights for the encoder (e.g. a .safetensors file or released checkpoints)")
    e.add_argument("--init-seed", type=int, default=0, help="seed of the random initialisation when no weights are given")
    e.add_argument("--seeds", type=int, help="run the stochastic parts with seeds 0..N-1 (default: the card's seeds)")
    e.add_argument("--selection", choices=["paper", "clean"], help="hyper-parameter selection: paper (on test, as published) or clean (inside train)")
    e.add_argument("--backend", choices=["torch", "sklearn", "cuml"], help="SVM backend (recorded; never switched silently)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a task-card key, e.g. train.clips=100 (repeatable)")
    e.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    e.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="compute dtype of the forward pass (bfloat16 autocast on CUDA only)")
    e.add_argument("--batch-size", type=int, help="clips per forward pass (default: the card's)")
    e.add_argument("--workers", type=int, default=None,
                   help="DataLoader decode workers, overlapping decode with the forward pass "
                        "(default: min(8, CPUs - 1); 0 decodes in the main process)")
    e.add_argument("--cache-dir", help="feature cache directory (default: AVBENCH_CACHE or the user cache dir)")
    e.add_argument("--checksums", metavar="FILE", help="media checksum manifest (sha256sum format, paths relative to "
                   "the data root): every media file is hashed; the record is media-verified only when all match")
    e.add_argument("--out", default="avbench-results", help="directory for result records (default: ./avbench-results)")
    e.add_argument("--no-progress", action="store_true", help="no progress bars (extraction, SVM fits per C and fold, "
                   "finetuning epochs, with an ETA; drawn only when stderr is a terminal)")
    e.add_argument("--min-coverage", type=float, metavar="FRACTION",
                   help="stop before classification when usable / expected samples of any evaluated split and side "
                        "is below FRACTION (default: the card's dataset.min_coverage, e.g. 1.0 for ESC-50, 0.90 "
                        "for Kinetics-400); above it, missing test samples count as wrong")
    e.add_argument("--verify-data", choices=["edges", "full"], default="edges",
                   help="sample identity: edges (size + sha256 of each file's first and last 64 KiB; default) or "
                        "full (also hash whole files, in parallel: archival runs; keys the feature cache)")
    e.add_argument("--no-follow-symlinks", action="store_true",
                   help="refuse (as skips) samples whose symlinks lead out of the data root; by default they are "
                        "followed and listed in the record (data.outside_root)")
    cache = e.add_mutually_exclusive_group()
    cache.add_argument("--refresh", action="store_true", help="recompute every feature shard (and finetuning "
                       "checkpoint) of this run instead of reusing the cache; the new shards replace the old")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor keep cached features: a temporary "
                       "store, removed after the run")
    e.set_defaults(func=cmd_eval)
