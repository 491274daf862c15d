"""``avbench export hear``: write a HEAR 2021 module package around an avbench audio encoder."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def _options(pairs: list[str] | None) -> dict[str, Any]:
    from avbench.config import load_yaml

    out: dict[str, Any] = {}
    for text in pairs or []:
        key, eq, value = text.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--option {text!r}: expected KEY=VALUE")
        out[key.strip()] = load_yaml(value, f"--option {key.strip()}") if value.strip() else ""
    return out


def cmd_export_hear(args: argparse.Namespace) -> int:
    from avbench.export.hear import ExportError, export_hear, require_validator, validate_export

    try:
        if args.validate:  # before writing anything: --validate without the validator writes no package
            require_validator()
        pkg = export_hear(args.model, args.out, weights=args.weights, name=args.name, init_seed=args.init_seed,
                          options=_options(args.option), timestamps=args.timestamps, layer=args.layer,
                          window=args.window, hop=args.hop, force=args.force)
    except (ExportError, ValueError, TypeError) as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote HEAR module {pkg.name} to {pkg}")
    print(f"use it: pip install {args.out}   (or PYTHONPATH={args.out}); "
          f"hear-validator {pkg.name}; avbench eval --model hear:{pkg.name} ...")
    if args.validate:
        try:
            passed, output = validate_export(args.out, pkg.name)
        except ExportError as exc:
            print(f"avbench: error: {exc}", file=sys.stderr)
            return 2
        keep = ("Importing", "Checking", "  - ", "Looks good")
        # on success the validator's steps only (it also prints the whole module repr); on failure everything
        shown = [line[:160] for line in output.splitlines() if line.startswith(keep) or "Warning" in line]
        print("\n".join(shown) if passed else output.rstrip())
        print(f"hearvalidator: {'passed' if passed else 'FAILED'}")
        return 0 if passed else 1
    return 0


def add_parser(sub: Any) -> None:
    """Register the ``export`` subcommand on the top-level subparsers ``sub``."""
    p = sub.add_parser("export", help="export an encoder to another benchmark's format (HEAR 2021)")
    esub = p.add_subparsers(dest="export_cmd", required=True)
    h = esub.add_parser("hear", help="write a HEAR 2021 module around an avbench audio encoder",
                        description="Write OUT/NAME/ (a HEAR 2021 module: load_model, get_scene_embeddings, "
                                    "get_timestamp_embeddings) and OUT/pyproject.toml. The module imports avbench and "
                                    "rebuilds the encoder by name with the recorded weights and options.")
    h.add_argument("--model", required=True, help="an avbench encoder with an audio branch: a registered name (avbench list "
                                                  "models), a zoo string such as hear:MODULE, or pkg.module:factory")
    h.add_argument("--weights", help="its weights (recorded as an absolute path with their sha256); default: random "
                                     "init with --init-seed")
    h.add_argument("--init-seed", type=int, default=0, help="seed of the random initialisation without --weights")
    h.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="build option for the encoder, e.g. audio_width=16 or modalities=audio (repeatable)")
    h.add_argument("--out", required=True, help="output directory (the package goes to OUT/NAME)")
    h.add_argument("--name", help="Python package name (default: avbench_<model>)")
    h.add_argument("--timestamps", choices=["layer", "window"],
                   help="timestamp embeddings from the deepest audio feature map (layer, default when the encoder "
                        "has one) or from the pooled embedding of sliding windows (window)")
    h.add_argument("--layer", help="layer mode: the audio feature map to use (default: the deepest)")
    h.add_argument("--window", type=float, default=1.0, help="window mode: window length in seconds (default 1.0)")
    h.add_argument("--hop", type=float, default=0.05, help="window mode: seconds between timestamps (default 0.05)")
    h.add_argument("--force", action="store_true", help="overwrite an existing OUT/NAME")
    h.add_argument("--validate", action="store_true",
                   help="then run the HEAR 2021 validator (hearvalidator, pip install 'avbench[hear]') on it")
    h.set_defaults(func=cmd_export_hear)
