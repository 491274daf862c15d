"""The numbers CrissCross reports, matched to the plan's rows: cells of ``leaderboards/reported.yaml`` (through
:func:`avbench.leaderboard.reported.load_reported`, never a second copy) and the ways a table writes a card's input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from avbench.reproduce.plan import Row, merged_overrides, norm_key
from avbench.taskcard import load_card

METHOD = "CrissCross"
#: the quoting paper in the ``source`` of reported cells (``crisscross-paper Table 6``)
SOURCE_PAPER = "crisscross-paper"
NOT_STATED = "not stated"  # Table 7 names no pretraining set (reported.yaml says so)


def _cell_matches(row: Row, cell: Any) -> bool:
    """A reported cell is a row's when it is CrissCross's number in the row's table, for the row's card (the
    cell's ``protocol`` is an avbench card id), metric and pretraining set (or one the table does not state)."""
    return (cell.method == METHOD and cell.source == f"{SOURCE_PAPER} Table {row.table}"
            and cell.protocol == row.card and cell.metric == row.metric
            and cell.pretraining in (row.pretraining, NOT_STATED))


def attach_reported(rows: Sequence[Row], cells: Sequence[Any]) -> dict[Row, Any]:
    """{row: the reported cell for it}; rows without exactly one matching cell are left out."""
    out: dict[Row, Any] = {}
    for row in rows:
        found = [c for c in cells if _cell_matches(row, c)]
        if len(found) == 1:
            out[row] = found[0]
    return out


def input_aliases(card_name: str, overrides: Sequence[str] = ()) -> set[str]:
    """Ways a table writes the card's input, normalised: ``32x224``, ``32x224²``, ``2 s clips`` (32 frames at
    16 fps), ``5 s audio``..."""
    card = load_card(card_name, merged_overrides(overrides))
    if card.modality == "audio":
        sec = f"{card.audio.seconds:g} s"
        names = {sec, f"{sec} audio"}
    else:
        v = card.video
        sec = f"{v.frames / v.fps:g} s"
        names = {f"{v.frames}x{v.size}", f"{v.frames}x{v.size}²", sec, f"{sec} clips"}
    return {norm_key(n) for n in names}


def load_cells(path: str | Path | None = None) -> list[Any]:
    """The reported cells of ``path`` (default ``leaderboards/reported.yaml`` of the checkout), via
    :func:`avbench.leaderboard.reported.load_reported`; a missing or malformed file raises its ReportedError."""
    from avbench.leaderboard.reported import load_reported

    return list(load_reported(path))
