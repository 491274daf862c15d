"""Where a verified record's cells go on the board: beside the papers' numbers, or in a separate table.

A measured cell sits in a family's main table, in the column of a shipped task card and beside the published
numbers of that card, only when BOTH hold:

* its data are ``official`` (:mod:`avbench.datasets.identity`: the release's classes, splits and counts), and
* its card is exactly that shipped card, up to the selection mode: the record's ``task.card_sha256`` equals the
  hash of ``load_card(task.name, {"classifier": {"selection": record.selection}})``. A reported cell enters a
  column only when its protocol id is that card (:mod:`avbench.leaderboard.reported`), so both sides of a column
  run the same protocol. The record's own ``track`` label is not trusted for this; the hashes decide.

Every other measured cell goes to a separate, titled table of its family (:data:`GROUPS`): changed or unshipped
cards on official data, custom data, synthetic data, and unverified data (records older than schema 1.2).
Selection (paper / clean), track and data kind are separate axes: the main table shows each in its own column.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from avbench.leaderboard.records import VerifiedRecord
from avbench.taskcard import TaskCardError, card_names, load_card

__all__ = ["GROUPS", "Placement", "place", "shipped_card_sha256"]

#: table id -> title, in the order a family shows them ("main" is the family's own table)
GROUPS: dict[str, str] = {
    "main": "",
    "changed": "Official data, changed or unshipped task cards (another protocol: not comparable with the published "
               "numbers)",
    "custom": "Custom data (an official layout with other classes or counts: not comparable with the published "
              "numbers)",
    "synthetic": "Synthetic data (avbench's stand-in sets: say nothing about the benchmark)",
    "unverified": "Unverified data (records older than schema 1.2: data identity never checked)",
}


@dataclass(frozen=True)
class Placement:
    """group: a key of :data:`GROUPS`; track: ``standard`` (exactly the shipped card), ``override`` (a shipped
    card changed) or ``own card`` (a card avbench does not ship); data: the text of the table's data column."""

    group: str
    track: str
    data: str


@lru_cache(maxsize=None)
def shipped_card_sha256(name: str, selection: str) -> str | None:
    """sha256 of the shipped card ``name`` with ``selection``, or None (no such card, or not that selection)."""
    if name not in card_names():
        return None
    try:
        return load_card(name, {"classifier": {"selection": selection}}).sha256()
    except TaskCardError:
        return None


def _data_text(rec: VerifiedRecord, maintained: frozenset[str]) -> str:
    d = rec.record.data
    if d.kind != "official":
        return d.kind
    held = d.media_verified and d.media is not None and d.media.manifest_sha256 in maintained
    return "official, media verified" if held else "official, media not verified"


def place(rec: VerifiedRecord, maintained: frozenset[str] = frozenset()) -> Placement:
    """The table of ``rec``'s cells (module docstring). ``maintained``: sha256 of the maintainers' checksum
    manifests (``leaderboards/manifests/``): media count as verified only against one of them."""
    r = rec.record
    exact = shipped_card_sha256(r.task.name, r.selection) == r.task.card_sha256
    track = "standard" if exact else "override" if r.task.name in card_names() else "own card"
    kind = r.data.kind
    group = kind if kind != "official" else ("main" if exact else "changed")
    return Placement(group, track, _data_text(rec, maintained))
