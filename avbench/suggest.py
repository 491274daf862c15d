"""Did-you-mean hints for names a user typed (tasks, models, card keys, data sets), from :mod:`difflib`."""
from __future__ import annotations

import difflib
from typing import Iterable


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``word`` (difflib ratio >= 0.6), best first."""
    return difflib.get_close_matches(word, list(dict.fromkeys(choices)), n=n, cutoff=0.6)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` (or ``"'x' or 'y'"``) for the closest choices, or ``""`` when none is close."""
    best = close_matches(word, choices)
    if not best:
        return ""
    return "; did you mean " + " or ".join(repr(b) for b in best[:2]) + "?"
