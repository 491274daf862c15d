"""When an ``objective: infonce`` CrissCross run leaves the plateau at chance (issue 20).

Every such run on the identity world first falls to chance, each term at ln(2B - 1) nats (every other view of the
batch as likely as the partner; ln B for a cross-modal term with ``infonce_negatives: other``), and learns only once
a term leaves it. :func:`escape_steps` reads ``history.jsonl`` of an ``avbench pretrain`` output and gives, per term,
the first step whose trailing ``window``-step mean lies ``margin`` nats below that chance level (None: never).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from avbench_baselines.crisscross.losses import TERMS  # CrissCross's pair terms



def run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config of an ``avbench pretrain`` output: ``card.json``'s when the run finished, else the latest
    checkpoint's ``state.json``."""
    card = run_dir / "card.json"
    if card.is_file():
        return json.loads(card.read_text())["config"]
    latest = (run_dir / "checkpoints" / "LATEST").read_text().strip()
    return json.loads((run_dir / "checkpoints" / latest / "state.json").read_text())["resolved"]["config"]


def chance_nats(term: str, batch_size: int, negatives: str = "all") -> float:
    """The loss of ``term`` when every similarity is equal: ln(2B - 1) for NT-Xent, ln B for CLIP's cross-modal
    InfoNCE (``negatives="other"`` on a cross-modal term)."""
    cross = term[0] != term[2]
    return math.log(batch_size) if cross and negatives == "other" else math.log(2 * batch_size - 1)


def escape_steps(rows: list[dict[str, Any]], chances: dict[str, float], *, margin: float = 0.14,
                 window: int = 48) -> dict[str, int | None]:
    """Per term of ``chances``: the step of the first row whose trailing ``window``-row mean of the term is below
    its chance minus ``margin`` nats; None when no window is."""
    out: dict[str, int | None] = {}
    for term, chance in chances.items():
        values = [float(r[term]) for r in rows]
        out[term] = next((rows[i]["step"] for i in range(window - 1, len(rows))
                          if sum(values[i - window + 1:i + 1]) / window < chance - margin), None)
    return out


def run_escapes(run_dir: Path, *, margin: float = 0.14, window: int = 48) -> tuple[int, dict[str, int | None]]:
    """(steps in the run's history, :func:`escape_steps` of its active terms); ValueError for a run whose objective
    is not infonce (a stop-gradient loss has no chance level)."""
    config = run_config(run_dir)
    if config.get("objective") != "infonce":
        raise ValueError(f"{run_dir}: objective {config.get('objective')!r}, not infonce: no chance level to leave")
    try:
        batch, terms = config["train"]["batch_size"], [t for t in config["terms"] if t in TERMS]
    except KeyError as exc:
        raise ValueError(f"{run_dir}: the run's config has no {exc}") from None
    negatives = config.get("infonce_negatives", "all")
    rows = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    chances = {t: chance_nats(t, batch, negatives) for t in terms}
    return len(rows), escape_steps(rows, chances, margin=margin, window=window)
