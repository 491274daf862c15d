"""Deterministic fault injection: ``AVBENCH_FAULT=<point>:<n>`` SIGKILLs this process the n-th time it passes
``point`` (counted per process, from 1), so a test can kill a run at an exact, seeded unit of work and check that
the resumed run recomputes nothing that had finished and ends where an uninterrupted run ends.

Several points may be armed at once, comma-separated (``extract:3,finetune:1``); the first one reached kills.
``<point>:<n>@<rank>`` arms the point in one process of a ``torchrun`` job only (``RANK``; 0 without torchrun).
The kill is a real ``SIGKILL`` (no ``finally``, no ``atexit``, no buffered writes flushed): exactly what an
out-of-memory killer or a pre-empted node does. Unset, :func:`point` costs one environment look-up.

Points (the unit of work each one counts):

- ``extract``: a feature shard of this process committed (renamed into place) by the extraction loop;
- ``extract-commit``: a feature shard written to its temporary file but NOT yet renamed (a torn commit);
- ``finetune``: a finetuning epoch finished and its checkpoint written;
- ``finetune-step``: one SGD step of finetuning taken (mid-epoch: that epoch is lost and redone on resume);
- ``pretrain``: one pretraining step taken (and its checkpoint written, when one was due at that step);
- ``pretrain-checkpoint``: a pretraining checkpoint written to its temporary folder but NOT yet published.
"""
from __future__ import annotations

import os
import signal
import sys

ENV = "AVBENCH_FAULT"

POINTS = ("extract", "extract-commit", "finetune", "finetune-step", "pretrain", "pretrain-checkpoint")

_passed: dict[str, int] = {}


def armed() -> dict[str, int]:
    """The points armed in THIS process by ``AVBENCH_FAULT``: {point: n}. A malformed value is an error naming
    the variable."""
    text = os.environ.get(ENV, "").strip()
    rank = int(os.environ.get("RANK", "0"))
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, rest = part.partition(":")
        count, at, only = rest.partition("@")
        if (not sep or name not in POINTS or not count.isdigit() or int(count) < 1
                or (at and not only.isdigit())):
            raise ValueError(f"{ENV}={text!r}: expected <point>:<n>[@<rank>] with n >= 1 and point one of "
                             f"{', '.join(POINTS)}; got {part!r}")
        if not at or int(only) == rank:
            out[name] = int(count)
    return out


def passed(name: str) -> int:
    """How many times this process has passed ``name``."""
    return _passed.get(name, 0)


def point(name: str) -> None:
    """Count one pass of ``name``; SIGKILL this process if ``AVBENCH_FAULT`` arms ``name`` at this count."""
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}")
    _passed[name] = _passed.get(name, 0) + 1
    if ENV not in os.environ:
        return
    n = armed().get(name)
    if n is not None and _passed[name] == n:
        sys.stdout.flush()
        print(f"avbench: {ENV}: killing process {os.getpid()} at {name} #{n}", file=sys.stderr, flush=True)
        kill = getattr(signal, "SIGKILL", None)
        if kill is None:  # no SIGKILL (Windows): the closest thing, an exit that runs no clean-up
            os._exit(137)
        os.kill(os.getpid(), kill)
