"""The ``avbench`` command line: :func:`main` builds the parser from one module per subcommand (``avbench.cli.*``)."""
from avbench.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
