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
other record is printed and listed under "Rejected records" with the reason. Only official data on a shipped
task card sits beside the published numbers; custom, synthetic and unverified data and changed cards go to
separate tables. "re-run by maintainers" comes only from --reruns (written by `avbench leaderboard rerun`).
See docs/leaderboard.md."""

RERUN_EPILOG = """example:
  avbench leaderboard rerun leaderboards/results/alpha --submission /submissions/alpha \\
      --data-root esc50=/data/ESC-50 --by "A. Maintainer"

THIS RUNS THE SUBMITTER'S CODE: run it in a throwaway container or VM without network (docs/submitting.md).
Every record of the bundle is evaluated again from the submission folder's card and weights with the record's
task card, overrides and seeds (feature cache refreshed), and its metrics are compared with the bundled ones.
The entry appended to --reruns grants "re-run by maintainers" to each record whose metrics all agree within
--tolerance points. Exit status 0 when every record agreed, 1 when some did not, 2 on an unusable bundle."""


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
    b.add_argument("--reruns", default="leaderboards/reruns.yaml",
                   help="the maintainers' re-run ledger, the only source of 're-run by maintainers' "
                        "(default: leaderboards/reruns.yaml; absent = none)")
    b.add_argument("--manifests", default="leaderboards/manifests",
                   help="folder of the maintainers' media checksum manifests: a record counts as media-verified "
                        "only against one of them (default: leaderboards/manifests)")
    b.set_defaults(func=cmd_build)
    r = lsub.add_parser("rerun", help="maintainers: re-run a bundle's evaluations and record the outcome in the "
                                      "re-run ledger", description="Re-execute every evaluation of a results bundle "
                        "from its submission folder and compare the metrics; append the outcome to the ledger.",
                        epilog=RERUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("bundle", help="the results bundle (a folder with bundle.json)")
    r.add_argument("--submission", required=True, help="the submission folder the bundle was packed from "
                                                        "(card.yaml, encoder code, weights)")
    r.add_argument("--data-root", action="append", default=[], metavar="DATASET=DIR",
                   help="data root per data set (repeatable; default: the configured roots)")
    r.add_argument("--tolerance", type=float, default=0.5, help="largest difference per metric, in points "
                                                                  "(default 0.5)")
    r.add_argument("--by", default="maintainers", help="who re-ran it (written into the ledger)")
    r.add_argument("--reruns", default="leaderboards/reruns.yaml", help="the ledger to append to "
                                                                        "(default: leaderboards/reruns.yaml)")
    r.add_argument("--out", help="where the re-run records go (default: ./avbench-reruns/<bundle name>)")
    r.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    r.add_argument("--cache-dir", help="feature cache directory")
    r.set_defaults(func=cmd_rerun)


def cmd_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avbench.leaderboard.build import build_leaderboard
    from avbench.leaderboard.reported import ReportedError
    from avbench.leaderboard.reruns import RerunsError

    if not Path(args.results).is_dir():
        print(f"warning: {args.results}: no such results directory; building from published numbers only",
              file=sys.stderr)
    try:
        result = build_leaderboard(args.results, None if args.no_reported else args.reported, args.out,
                                   reruns_path=args.reruns, manifests_dir=args.manifests)
    except (ReportedError, RerunsError) as exc:
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
    for name, error in result.plot_errors.items():
        print(f"warning: plot {name} not drawn: {error}", file=sys.stderr)
    for path in result.written:
        print(f"wrote {path}")
    return 1 if args.strict and board.rejected else 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from pathlib import Path

    from avbench.leaderboard.rerun import RerunError, rerun_bundle
    from avbench.leaderboard.reruns import append_rerun
    from avbench.submission.bundle import BundleError
    from avbench.submission.card import SubmissionError

    roots = {}
    for text in args.data_root:
        dataset, sep, folder = text.partition("=")
        if not sep or not dataset or not folder:
            print(f"avbench: error: --data-root {text!r}: expected DATASET=DIR", file=sys.stderr)
            return 2
        roots[dataset] = folder
    bundle = Path(args.bundle)
    out = Path(args.out) if args.out else Path("avbench-reruns") / bundle.resolve().name
    try:
        entry, rows = rerun_bundle(bundle, Path(args.submission), out_dir=out, data_roots=roots,
                                   tolerance=args.tolerance, by=args.by, device=args.device,
                                   cache_dir=args.cache_dir, log=lambda m: print(m, file=sys.stderr))
    except (RerunError, BundleError, SubmissionError) as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    ledger = append_rerun(args.reruns, entry)
    for row in rows:
        verdict = "agrees" if row.entry.within_tolerance else "DIFFERS: " + "; ".join(row.notes)
        print(f"{row.bundled}: {verdict} (re-run record {row.rerun})")
    print(f"appended to {ledger}: bundle {entry.bundle} (bundle.json sha256 {entry.bundle_sha256[:12]}), "
          f"{sum(r.entry.within_tolerance for r in rows)} of {len(rows)} record(s) within {entry.tolerance} points")
    return 0 if all(r.entry.within_tolerance for r in rows) else 1
