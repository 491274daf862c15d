"""Named task suites: one name for the cards behind one table of a paper (``avbench eval --task crisscross-table4``).

Each suite lists the shipped cards whose runs give the table's numbers, in the table's column order; the cards and
their inputs are the ones :mod:`avbench.reproduce.plan` measures the same table with (tests/test_multi_task.py
checks they agree). The paper is Sarkar & Etemad, "Self-Supervised Audio-Visual Representation Learning with
Relaxed Cross-Modal Synchronicity" (CrissCross, AAAI 2023).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SUITES", "Suite", "expand_tasks"]


@dataclass(frozen=True)
class Suite:
    """cards: shipped card names; cites: the table (and what it reports) the suite reproduces."""

    cards: tuple[str, ...]
    cites: str


SUITES: dict[str, Suite] = {
    "crisscross-table4": Suite(("hmdb51-linear-32f", "ucf101-linear-32f", "kinetics400-linear", "esc50-5s-released",
                                "dcase"),
                               "CrissCross Table 4: linear evaluation, top-1 (32x224² video, 5-s ESC-50 as the released "
                               "code ran it, 1-s DCASE)"),
    "crisscross-table6": Suite(("ucf101-finetune", "hmdb51-finetune", "ucf101-finetune-32f", "hmdb51-finetune-32f",
                                "ucf101-finetune-audioset", "hmdb51-finetune-audioset", "hmdb51-finetune-32f-audioset"),
                               "CrissCross Table 6: full finetuning on UCF101 and HMDB51, 8 and 32 frames, top-1 "
                               "(Kinetics-400 / Kinetics-Sound recipe, and the released AudioSet recipe)"),
    "crisscross-table7": Suite(("ucf101-retrieval", "hmdb51-retrieval"),
                               "CrissCross Table 7: action retrieval on split 1, R@1/5/20"),
    "crisscross-table8": Suite(("esc50-5s-released", "dcase"),
                               "CrissCross Table 8: sound classification, linear evaluation, top-1 (ESC-50 as the "
                               "released code ran it)"),
}


def expand_tasks(values: list[str]) -> list[str]:
    """``--task`` values (each a card, a .yaml path, a suite, or a comma-separated list of these; the flag may be
    repeated) -> card names / paths in order, each once."""
    out: list[str] = []
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            out += list(SUITES[item].cards) if item in SUITES else [item]
    return list(dict.fromkeys(out))
