"""What the subcommands share: the stderr console and the decode-worker default."""
from __future__ import annotations

import os


def console():
    """A rich console on stderr (logs and progress; results go to stdout)."""
    from rich.console import Console

    return Console(stderr=True)


def default_workers() -> int:
    """DataLoader decode workers when ``--workers`` is not given: min(8, CPUs - 1)."""
    return min(8, max(0, (os.cpu_count() or 1) - 1))
