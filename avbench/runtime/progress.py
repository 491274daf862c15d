"""Progress bars with an ETA for the long stages of a run (feature extraction, SVM fits per fold and C,
finetuning epochs), on stderr; off with ``--no-progress`` and whenever stderr is not a terminal (logs stay clean).

A stage asks for a bar with ``bar(description, total)`` and gets ``advance(n)``; :class:`RunOptions.progress
<avbench.evaluation.options.RunOptions>` carries the factory into the run.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator

__all__ = ["BarFactory", "detail", "progress_bars", "stage", "tick", "use_bars"]

#: (description, total) -> advance(n)
BarFactory = Callable[[str, int], Callable[[int], None]]


@contextlib.contextmanager
def progress_bars(console: Any, *, enabled: bool = True) -> Iterator[BarFactory | None]:
    """Yield a bar factory drawing rich bars (done/total, elapsed, ETA) on ``console``, or None when ``enabled`` is
    false or ``console`` is not a terminal."""
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=console) as progress:

        def bar(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            advance: Any = lambda n=1: progress.advance(task_id, n)  # noqa: E731
            # what the current unit is doing, after the description (see :func:`detail`)
            advance.describe = lambda text: progress.update(task_id, description=f"{description}: {text}")
            return advance

        yield bar


# ---- stages deep inside a run (SVM fits, finetuning epochs) ------------------------------------------------------
# The run installs its bar factory once (:func:`use_bars`); a stage opens a bar (:func:`stage`) and its inner loop
# calls :func:`tick` after each unit (one C of one fold, one epoch). Without an installed factory both are no-ops,
# so library code and tests pay nothing.
_BARS: contextvars.ContextVar[BarFactory | None] = contextvars.ContextVar("avbench_bars", default=None)
_TICK: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar("avbench_tick", default=None)


@contextlib.contextmanager
def use_bars(bars: BarFactory | None) -> Iterator[None]:
    """Install ``bars`` for the stages run inside this block."""
    token = _BARS.set(bars)
    try:
        yield
    finally:
        _BARS.reset(token)


@contextlib.contextmanager
def stage(description: str, total: int) -> Iterator[None]:
    """A bar of ``total`` units for the block (when a factory is installed); :func:`tick` advances it."""
    bars = _BARS.get()
    token = _TICK.set(bars(description, total) if bars is not None and total > 0 else None)
    try:
        yield
    finally:
        _TICK.reset(token)


def detail() -> Callable[[str], None] | None:
    """The innermost open bar's ``describe(text)`` (shows what one long unit is doing, e.g. the Newton step of one
    SVM fit), or None when no bar is open or its factory draws no text (then callers skip the work of the text)."""
    advance = _TICK.get()
    return getattr(advance, "describe", None) if advance is not None else None


def tick(n: int = 1) -> None:
    """Advance the innermost open stage's bar by ``n`` units (nothing when none is open)."""
    advance = _TICK.get()
    if advance is not None:
        advance(n)
