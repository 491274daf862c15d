"""``avbench reproduce crisscross``: the released CrissCross backbones through the cards behind the paper's
Tables 4, 6, 7 and 8; prints measured vs reported with the stated tolerances (see avbench/reproduce/crisscross.py,
docs/reproduce.md)."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any, Callable

DESCRIPTION = """\
Evaluate the released CrissCross backbones (pritamqu/CrissCross releases: vid_crisscross_<set>.pth.tar[.zip]
and aud_crisscross_<set>.pth.tar[.zip], <set> = kinetics_sound, kinetics_400, audioset) with the task cards
behind Tables 4 (linear evaluation), 6 (finetuning), 7 (retrieval) and 8 (sound classification) of the paper,
and print each measured number beside the reported one, with its tolerance and PASS/FAIL. Checkpoints load
strictly: a file whose keys differ from the released layout is refused, naming the keys, before any card runs.
Rows whose checkpoint or data set is missing are skipped with the reason. Records go to --out; a summary
(reproduce-<time>.json and .md) to OUT/crisscross/. Exit status: 0 every row that ran passed, 1 a row
failed its tolerance or errored (or, with --dry-run, a found file was refused), 2 bad input."""

DATA_HELP = """parent folder of the data sets in their official layouts, under these names: esc50/ (or ESC-50/),
dcase/ (or dcase2013/), ucf101/ (or UCF101/), hmdb51/ (or HMDB51/), kinetics400/ (or kinetics-400/).
A data set not found there is taken from AVBENCH_DATA_<DATASET> (AVBENCH_DATA_ESC50, AVBENCH_DATA_DCASE2013,
AVBENCH_DATA_UCF101, AVBENCH_DATA_HMDB51, AVBENCH_DATA_KINETICS400), AVBENCH_DATA_ROOT or the config file, as
`avbench eval` does; never the synthetic sets"""


def _arch(items: list[str] | None) -> dict[str, Any]:
    """``["audio_width=8"]`` -> ``{"audio_width": 8}``; keys must be fields of TwoTowerArch."""
    import dataclasses

    from avbench.config import load_yaml

    from avbench.models.two_tower import TwoTowerArch

    known = {f.name for f in dataclasses.fields(TwoTowerArch)}
    out: dict[str, Any] = {}
    for text in items or []:
        key, sep, value = text.partition("=")
        if not sep or key.strip() not in known:
            raise ValueError(f"--arch {text!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        out[key.strip()] = load_yaml(value, f"--arch {key.strip()}")
    return out


def _table_arg(text: str) -> str:
    from avbench.reproduce.crisscross import canon_table

    try:
        return canon_table(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pretraining_arg(text: str) -> str:
    from avbench.reproduce.crisscross import canon_pretraining

    try:
        return canon_pretraining(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_reproduce(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from avbench.reproduce.crisscross import plan_tables, reproduce, results_table

    console = Console(stderr=True)
    try:
        arch = _arch(args.arch)
    except ValueError as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    log = lambda m: console.print(m, markup=False, highlight=False)  # noqa: E731
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=args.no_progress or args.dry_run) as progress:

        def bar(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            return lambda n: progress.advance(task_id, n)

        try:
            report = reproduce(args.weights_dir, args.data_root, out_dir=args.out, tables=args.only,
                               pretrainings=args.pretraining, overrides=args.set or (), arch=arch,
                               dry_run=args.dry_run, reported_path=args.reported, device=args.device,
                               cache_dir=args.cache_dir, batch_size=args.batch_size,
                               workers=args.workers if args.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1)),
                               command="avbench " + " ".join(shlex.quote(a) for a in getattr(args, "argv", [])),
                               log=log, progress=bar)
        except ValueError as exc:  # a bad checkpoint (WeightsError), reported-numbers file or plan argument
            print(f"avbench: error: {exc}", file=sys.stderr)
            return 2
    if args.dry_run:
        ready = sum(r.status == "READY" for r in report.rows)
        print(f"dry run: {ready} of {len(report.rows)} rows can run; nothing was evaluated")
        print(plan_tables(report))
        return 1 if report.failed else 0
    print(results_table(report.rows))
    counts = {s: sum(r.status == s for r in report.rows) for s in ("PASS", "FAIL", "ERROR", "SKIPPED", "NO-REFERENCE")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; summary: {report.summary}")
    return 1 if report.failed else 0


def add_parser(sub: Any) -> None:
    """Register the ``reproduce`` subcommand on the top-level subparsers ``sub``."""
    p = sub.add_parser("reproduce", help="reproduce a paper's tables with its released weights (crisscross)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=["crisscross"], help="whose released weights and tables (crisscross)")
    p.add_argument("--weights-dir", required=True, help="folder holding the released vid_/aud_crisscross_*.pth.tar[.zip] files")
    p.add_argument("--data-root", help=DATA_HELP)
    p.add_argument("--out", default="avbench-results", help="directory for result records and the summary (default: ./avbench-results)")
    p.add_argument("--only", action="append", metavar="TABLE", type=_table_arg, help="only this table: 4, 6, 7 or 8 (repeatable)")
    p.add_argument("--pretraining", action="append", metavar="SET", type=_pretraining_arg,
                   help="only this pretraining set: kinetics_sound, kinetics_400 or audioset (repeatable)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (rows, cards, inputs, reported values, tolerances), the files and data sets "
                        "it needs and which are found; found checkpoints are loaded strictly and found data sets' "
                        "annotations read; nothing is evaluated")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a key of EVERY card, e.g. train.clips=100 (records become an override track)")
    p.add_argument("--arch", action="append", metavar="KEY=VALUE",
                   help="trunk size of released-format files saved at another width, e.g. audio_width=8; "
                        "for smoke runs of the harness only: the table marks such rows as not the released trunk")
    p.add_argument("--reported", help="reported-numbers YAML (default: leaderboards/reported.yaml of the avbench checkout)")
    p.add_argument("--workers", type=int, default=None, help="decode workers (default: min(8, CPUs - 1))")
    p.add_argument("--batch-size", type=int, help="clips per forward pass (default: each card's)")
    p.add_argument("--cache-dir", help="feature cache directory (default: AVBENCH_CACHE or the user cache dir)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)
