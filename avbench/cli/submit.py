"""``avbench submit check DIR`` and ``avbench submit pack DIR --results RESULTS --out BUNDLE``.

check: the submission folder's card, weights hash and factory (:mod:`avbench.submission.loader`), the encoder
contract (:func:`avbench.validate.validate`) and a canary evaluation on fixture data
(:mod:`avbench.validate.submission`). It RUNS THE SUBMITTER'S CODE: run it isolated (docs/submitting.md).
pack: the results bundle (records, sidecars, card, weights hashes) by :func:`avbench.submission.bundle.pack_bundle`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _log(quiet: bool) -> Any:
    if quiet:
        return lambda m: None
    from rich.console import Console

    console = Console(stderr=True)
    return lambda m: console.print(m, markup=False, highlight=False)


def cmd_check(args: argparse.Namespace) -> int:
    from avbench.submission.card import SubmissionError
    from avbench.validate.submission import CHECK_FILE, check_submission

    out = Path(args.out) if args.out else Path("avbench-submit-check") / Path(args.dir).resolve().name
    try:
        report = check_submission(args.dir, out_dir=out, device=args.device, num_workers=args.workers,
                                  log=_log(args.json))
    except SubmissionError as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
        return 0 if report.ok else 1
    v = report.validation
    print(f"submission {report.name} ({args.dir}), weights sha256 {report.weights_sha256}")
    print(v.tables())
    if not v.ok:
        print(f"contract: FAILED {', '.join(v.failed())}; canary not run")
    for c in report.canaries:
        status = "ok  " if c.ok else "FAIL"
        metrics = ", ".join(f"{k}={x:.1f}" for k, x in c.metrics.items())
        print(f"{status}  canary {c.task} ({c.modality}, fixture data, {c.wall_seconds:.1f} s): "
              + (f"{metrics}; record {c.record}" if c.ok else "; ".join(c.problems)))
        if c.layer_fallback:
            print(f"      note: {c.layer_fallback}")
    print(f"{'PASSED' if report.ok else 'FAILED'}: report {out / CHECK_FILE}")
    return 0 if report.ok else 1


def cmd_pack(args: argparse.Namespace) -> int:
    from avbench.submission.bundle import BUNDLE_FILE, BundleError, pack_bundle, verify_bundle
    from avbench.submission.card import SubmissionError

    try:
        path = pack_bundle(Path(args.dir), Path(args.results), Path(args.out), status=args.status)
        manifest = verify_bundle(path)
    except (BundleError, SubmissionError, FileNotFoundError) as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    print(f"bundle {path}: {manifest.name} ({manifest.status}), {len(manifest.records)} record(s), "
          f"weights sha256 {manifest.weights.sha256}; manifest {path / BUNDLE_FILE}")
    print("hashes make the bundle tamper-evident, not authentic: anyone can re-pack altered records")
    return 0


def add_parser(sub: Any) -> None:
    """Register the ``submit`` subcommand on the top-level subparsers ``sub``."""
    s = sub.add_parser("submit", help="check a submission folder (contract + canary eval) and pack a results bundle",
                       description="Submission folder: card.yaml, the encoder module with its factory, safetensors "
                                   "weights (docs/submitting.md).")
    ssub = s.add_subparsers(dest="submit_cmd", required=True)
    c = ssub.add_parser("check", help="validate the encoder contract and run a canary evaluation on fixture data",
                        description="Check card.yaml (fields, weights sha256, no pickled files), import the factory "
                                    "and build the encoder, run every contract check of `avbench validate`, then a "
                                    "tiny real evaluation per declared modality (esc50 / ucf101-linear on fixture "
                                    "data) and confirm it writes a valid record. This RUNS THE SUBMITTER'S CODE "
                                    "with your rights: run it in a throwaway container or VM without network "
                                    "(docs/submitting.md). Exit status 0 passed, 1 a check failed, 2 unusable folder.")
    c.add_argument("dir", help="the submission folder (card.yaml, encoder module, weights .safetensors)")
    c.add_argument("--out", help="where the canary records and check.json go "
                                 "(default: ./avbench-submit-check/<folder name>)")
    c.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    c.add_argument("--workers", type=int, default=0, help="decode workers of the canary runs (default 0)")
    c.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    c.set_defaults(func=cmd_check)
    p = ssub.add_parser("pack", help="write the results bundle: records, sidecars, card and hashes",
                        description="Write a results bundle from the submission folder and the records of your "
                                    "`avbench eval` runs, with sha256 of every record, sidecar, the card and the "
                                    "weights. Hashes make the bundle tamper-evident, not authentic.")
    p.add_argument("dir", help="the submission folder")
    p.add_argument("--results", required=True, help="folder holding the result records (avbench eval --out)")
    p.add_argument("--out", required=True, help="folder to write the bundle to")
    p.add_argument("--status", default="self-reported", choices=["self-reported", "re-run by maintainers"],
                   help="trust label of the entries: 'self-reported' (default: the submitter's own runs) or "
                        "'re-run by maintainers' (maintainers repeated the runs themselves)")
    p.set_defaults(func=cmd_pack)
