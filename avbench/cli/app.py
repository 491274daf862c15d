"""The ``avbench`` command line: one module per subcommand (``avbench.cli.<name>``), each with ``add_parser(sub)``
registering its arguments and handler; :func:`main` turns the user errors every command shares into one line."""
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

    p = argparse.ArgumentParser(prog="avbench", description="Downstream evaluation of self-supervised audio-visual encoders.")
    p.add_argument("--version", action="version", version=f"avbench {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        importlib.import_module(f"avbench.cli.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded verbatim in the result's provenance
    from avbench.datasets import DatasetError
    from avbench.encoder import GeometryError
    from avbench.registry import UnknownEncoderError
    from avbench.taskcard import TaskCardError
    from avbench.models.weights import WeightsError

    try:
        return int(args.func(args) or 0)
    except (TaskCardError, DatasetError, GeometryError, UnknownEncoderError, WeightsError, FileNotFoundError) as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
