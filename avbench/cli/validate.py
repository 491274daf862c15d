"""``avbench validate``: task cards and encoders checked against the contract before compute is spent."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from avbench.cli.common import console


def _validate_target_kind(target: str) -> str:
    """"task" (a shipped card name or a .yaml path), "model" (registered name, pkg.module:factory, or a
    submission folder holding card.yaml), or "unknown"."""
    from avbench.registry import encoder_entries
    from avbench.submission.card import CARD_FILE
    from avbench.taskcard import card_names

    path = Path(target)
    if path.is_dir() and (path / CARD_FILE).is_file():
        return "model"
    if target.endswith((".yaml", ".yml")) or target in card_names():
        return "task"
    if ":" in target or target in encoder_entries():
        return "model"
    return "unknown"


def cmd_validate(args: argparse.Namespace) -> int:
    from avbench.submission.card import SubmissionError
    from avbench.taskcard import load_card

    ok = True
    tasks: list[dict[str, Any]] = []
    models = [args.model] if args.model else []
    for target in args.targets:
        kind = _validate_target_kind(target)
        if kind == "model":
            models.append(target)
            continue
        try:
            if kind == "unknown":
                raise ValueError(f"{target!r} is neither a task card (avbench list tasks, or a .yaml path), a "
                                 "registered encoder (avbench list models), 'pkg.module:factory', nor a submission "
                                 "folder with card.yaml")
            card = load_card(target)
            tasks.append({"task": target, "ok": True, "detail": f"{card.name} v{card.version} ({card.sha256()[:12]})"})
        except Exception as exc:
            ok = False
            tasks.append({"task": target, "ok": False, "detail": str(exc)})
    if not args.json:
        for t in tasks:
            print(f"{'ok  ' if t['ok'] else 'FAIL'}  task {t['task']}: {t['detail']}")
    reports = []
    if models:
        from avbench.validate.encoder import validate

        con = console()
        for model in models:
            try:
                report = validate(model, weights=args.weights, init_seed=args.init_seed, device=args.device,
                                  batch=args.batch, video_size=args.size,
                                  log=None if args.json else (lambda m: con.print(m, markup=False, highlight=False)))
            except SubmissionError as exc:
                print(f"avbench: error: {exc}", file=sys.stderr)
                return 2
            ok &= report.ok
            reports.append(report)
            if not args.json:
                failed = report.failed()
                ident = f"{report.encoder} v{report.version} ({'+'.join(report.modalities)})" if report.version else report.encoder
                print(f"encoder {ident} from {report.source}, on {report.device}")
                print(report.tables())
                print(f"{len(report.checks) - len(failed)} of {len(report.checks)} checks passed or skipped"
                      + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if args.json:
        print(json.dumps({"ok": bool(ok), "tasks": tasks, "encoders": [r.to_json() for r in reports]}, indent=1))
    return 0 if ok else 1


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    v = sub.add_parser("validate", help="validate task cards and/or an encoder against the contract before spending compute",
                       description="Check task cards (they parse and resolve) and encoders against the encoder contract "
                                   "on synthetic inputs of several durations, frame and sample rates: shapes, named "
                                   "axes, float32 outputs, finite values, determinism, batch invariance (B=1 vs B=8), "
                                   "eval mode, no gradients; reports throughput (media-seconds per second) and peak "
                                   "memory per media-second. Exit status 1 when a check fails, 2 when a submission "
                                   "folder is unusable. See docs/submitting.md.")
    v.add_argument("targets", nargs="*", metavar="TASK_OR_MODEL",
                   help="task card names or .yaml paths, and/or encoders: a registered name (avbench list models), "
                        "pkg.module:factory, or a submission folder holding card.yaml")
    v.add_argument("--model", help="an encoder to check (same forms as a positional MODEL)")
    v.add_argument("--weights", help="weights passed to the encoder's factory (refused with a submission folder: its "
                                     "card names them)")
    v.add_argument("--init-seed", type=int, default=0, help="seed of a random initialisation (default 0)")
    v.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    v.add_argument("--batch", type=int, default=8, help="batch of the batch-invariance and timing runs (default 8)")
    v.add_argument("--size", type=int, help="video crop (px) of the batch and timing runs (default: the smallest "
                                            "crop tried; e.g. 224 for timing at the cards' size)")
    v.add_argument("--json", action="store_true", help="print one JSON document (tasks and encoder reports) instead "
                                                       "of tables")
    v.set_defaults(func=cmd_validate)
