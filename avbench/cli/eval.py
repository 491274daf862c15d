"""``avbench eval``: evaluate an encoder on a task card; prints a table and writes the result record."""
from __future__ import annotations

import argparse
import shlex
from typing import Any, Callable

from tabulate import tabulate

from avbench.cli.common import console, default_workers


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from avbench.taskcard import deep_merge, parse_override

    out: dict[str, Any] = {}
    for text in args.set or []:
        out = deep_merge(out, parse_override(text))
    if args.selection:
        out = deep_merge(out, {"classifier": {"selection": args.selection}})
    if args.backend:
        out = deep_merge(out, {"classifier": {"backend": args.backend}})
    return out


def _summary_table(record: Any) -> str:
    rows = []
    splits = list(next(iter(record.metrics.values())).per_split)
    for sp in splits:
        runs = [r for r in record.runs if r.split == sp]
        sel = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in runs[0].selected.items())
        rows.append([sp, *[f"{record.metrics[m].per_split[sp]:.2f}" for m in record.metrics],
                     sel + (" (seed 0)" if len({r.seed for r in runs}) > 1 else ""), runs[0].n_test_samples])
    rows.append(["mean ± std", *[f"{m.mean:.2f} ± {m.std:.2f}" for m in record.metrics.values()], "", ""])
    first, summary = next(iter(record.metrics.items()))
    rows.append([f"{first} 95% CI", f"[{summary.ci95[0]:.2f}, {summary.ci95[1]:.2f}]", *[""] * (len(record.metrics) - 1), "", ""])
    return tabulate(rows, headers=["split", *record.metrics, "selected", "n test"], tablefmt="github")


def _leave_process_group() -> None:
    """Under torchrun, close this process's group before exiting. A rank that exits with gloo still connected
    can abort ("terminate called without an active exception", SIGABRT) while rank 0 is still classifying;
    seen once in a fresh-clone CI run of tests/test_distributed_extract.py."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from avbench.evaluation.runner import RunOptions, run

    con = console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=con, disable=args.no_progress) as progress:

        def bar(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            return lambda n: progress.advance(task_id, n)

        opts = RunOptions(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir, out_dir=args.out,
                          batch_size=args.batch_size,
                          num_workers=args.workers if args.workers is not None else default_workers(),
                          command="avbench " + " ".join(shlex.quote(a) for a in args.argv),
                          cache="refresh" if args.refresh else "off" if args.no_cache else "use",
                          log=lambda m: con.print(m, markup=False, highlight=False), progress=bar)
        record, path = run(args.model, args.task, data_root=args.data_root, overrides=_overrides(args),
                           seeds=args.seeds, weights=args.weights, init_seed=args.init_seed, options=opts)
    _leave_process_group()
    if record is None:  # a non-zero rank under torchrun: rank 0 reports
        return 0
    title = f"{record.encoder.name} on {record.task.name} ({record.protocol}, backend {record.runs[0].backend})"
    if record.data.synthetic:
        title += "  [SYNTHETIC DATA]"
    if record.encoder.weights_sha256 is None:
        title += f"  [RANDOM INIT (seed {record.encoder.init_seed}): no --weights given]"
    if record.task.track == "override":
        title += "  [OVERRIDDEN CARD: separate track]"
    if record.determinism is not None and record.determinism.checked and not record.determinism.deterministic:
        title += "  [NONDETERMINISTIC ENCODER]"
    print(title)
    print(_summary_table(record))
    if record.selection == "paper":
        print(f"note: selection=paper: {record.selection_note}")
    if record.data.skipped:
        print(f"skipped {len(record.data.skipped)} sample(s); first: {record.data.skipped[0]['id']}: {record.data.skipped[0]['reason']}")
    det = record.determinism
    if det is not None and det.checked and not det.deterministic:
        print(f"WARNING: the encoder is NOT deterministic: the same batch forwarded twice differed by up to "
              f"{det.max_abs_diff:.3g} (features up to {max(v.get('max_abs_feature', 0) for v in det.views.values()):.3g}); "
              "another run of this command can give another number")
    if record.cache is not None:
        print(f"feature cache ({record.cache.mode}): {record.cache.shards_reused} shard(s) reused, "
              f"{record.cache.shards_computed} computed")
    print(f"coverage {record.data.found}/{record.data.expected}; wall {record.provenance.wall_seconds:.1f} s")
    print(f"record: {path}")
    return 0


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    e = sub.add_parser("eval", help="evaluate an encoder on a task and write a result record",
                       description="Evaluate an encoder on a task card; prints a table and writes a JSON record.")
    e.add_argument("--model", required=True, help="registered name (avbench list models), a zoo model "
                   "(torchvision:NAME, timm:NAME, hear:MODULE) or pkg.module:factory")
    e.add_argument("--task", required=True, help="task card name (avbench list tasks) or a path to a .yaml card")
    e.add_argument("--data-root", help="root of the data set in its official layout; default: AVBENCH_DATA_<DATASET>, "
                                       "the config file, else the built-in synthetic set ('synthetic' forces it)")
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
    e.add_argument("--out", default="avbench-results", help="directory for result records (default: ./avbench-results)")
    e.add_argument("--no-progress", action="store_true", help="no progress bars")
    cache = e.add_mutually_exclusive_group()
    cache.add_argument("--refresh", action="store_true", help="recompute every feature shard (and finetuning "
                       "checkpoint) of this run instead of reusing the cache; the new shards replace the old")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor keep cached features: a temporary "
                       "store, removed after the run")
    e.set_defaults(func=cmd_eval)
