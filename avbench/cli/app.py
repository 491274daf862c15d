"""The ``avbench`` command line: one module per subcommand (``avbench.cli.<name>``), each with ``add_parser(sub)``
registering its arguments and handler; :func:`main` turns the user errors every command shares
(:func:`avbench.cli.common.user_errors`) into one line, or, with ``--debug`` anywhere on the line, a traceback."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: subcommand modules, in the order ``avbench --help`` lists them
COMMANDS = ("eval", "pretrain", "leaderboard", "submit", "reproduce", "export", "demo", "listing", "validate", "data",
            "cache")


def build_parser() -> argparse.ArgumentParser:
    from avbench._version import __version__

    p = argparse.ArgumentParser(prog="avbench", description="Downstream evaluation of self-supervised audio-visual "
                                "encoders. A wrong input stops with one line 'avbench: error: ...' (exit status 2).")
    p.add_argument("--version", action="version", version=f"avbench {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error instead of one line "
                                                        "(accepted anywhere on the command line)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        importlib.import_module(f"avbench.cli.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    args.argv, args.debug = argv, debug  # argv: recorded verbatim in the result's provenance
    from avbench.cli.common import user_errors

    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        if debug:
            raise
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
