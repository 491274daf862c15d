"""``avbench leaderboard build``: verify result records and write the leaderboard (README, CSV, HTML, plots)."""
from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """examples:
  avbench leaderboard build                                   # leaderboards/results + leaderboards/reported.yaml
  avbench leaderboard build --results my-results --out /tmp/lb --no-reported
  avbench leaderboard build --strict                          # exit 1 when any record is rejected

Only result records are read (JSON, gzip JSON-lines sidecars, bundle manifests): a submission's code is never
imported or run and nothing is unpickled. A record is shown only when its schema, sidecar hashes (and, in a
bundle, every hash of bundle.json) verify and its metrics recompute from its per-sample predictions; every
other record is printed and listed under "Rejected records" with the reason. See docs/leaderboard.md."""


def add_parser(sub: Any) -> None:
    """Register the ``leaderboard`` subcommand on the top-level subparsers ``sub``."""
    p = sub.add_parser("leaderboard", help="build the leaderboard from result records and published numbers",
                       description="Leaderboard tools.")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="COMMAND", required=True)
    b = lsub.add_parser("build", help="verify records, recompute metrics, write README.md, leaderboard.csv, "
                                      "index.html and plots/",
                        description="Verify every result record under --results (bundles and loose records), "
                                    "recompute its metrics from the per-sample sidecars, and write the tables "
                                    "(one per task family, measured beside published numbers of the same "
                                    "protocol id), a CSV and a static HTML page with plots under --out.",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--results", default="leaderboards/results",
                   help="directory of result bundles and records (default: leaderboards/results)")
    b.add_argument("--reported", default="leaderboards/reported.yaml",
                   help="published numbers (default: leaderboards/reported.yaml)")
    b.add_argument("--no-reported", action="store_true", help="build without published numbers")
    b.add_argument("--out", default="leaderboards", help="output directory (default: leaderboards)")
    b.add_argument("--strict", action="store_true", help="exit with status 1 when any record is rejected")
    b.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avbench.leaderboard.build import build_leaderboard
    from avbench.leaderboard.reported import ReportedError

    if not Path(args.results).is_dir():
        print(f"warning: {args.results}: no such results directory; building from published numbers only",
              file=sys.stderr)
    try:
        result = build_leaderboard(args.results, None if args.no_reported else args.reported, args.out)
    except ReportedError as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    board = result.board
    for r in board.rejected:
        print(f"rejected {r.path}: {r.reason}", file=sys.stderr)
    for r in board.superseded:
        print(f"superseded {r.path}: {r.reason}", file=sys.stderr)
    n_rep = len(board.reported.cells) if board.reported else 0
    print(f"{len(board.accepted)} records verified, {len(board.rejected)} rejected, {len(board.superseded)} "
          f"superseded; {n_rep} published numbers")
    for path in result.written:
        print(f"wrote {path}")
    return 1 if args.strict and board.rejected else 0
