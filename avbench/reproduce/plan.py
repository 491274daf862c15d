"""The CrissCross reproduction plan: one :class:`Row` per reported number of the paper's Tables 4, 6, 7 and 8,
the released pretraining sets, and the tolerance (absolute, in points of top-1 / R@k) each protocol is held to.

A row is one reported number: (table, pretraining set, data set, card, metric). Rows that share a card and a
pretraining set share one run (:attr:`Row.run_key`); :func:`check_plan` refuses a row whose stated input is not its
card's clip geometry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from avbench.taskcard import deep_merge, load_card, parse_override

#: pretraining set -> file tags of the released files (first = the release's own name), as
#: ``vid_crisscross_<tag>.pth.tar.zip`` / ``aud_crisscross_<tag>.pth.tar.zip`` (pritamqu/CrissCross releases).
PRETRAININGS: dict[str, tuple[str, ...]] = {
    "Kinetics-Sound": ("kinetics_sound",),
    "Kinetics-400": ("kinetics_400", "kinetics400"),
    "AudioSet": ("audioset",),
}

# ---- tolerances ------------------------------------------------------------------------------------------
# Absolute, in points of the reported top-1 / R@k. The papers report one number per cell: no seeds, no
# per-split values, no std. What a faithful re-run may differ by is therefore taken from the sources we have:
#  * the CrissCross README revised its own AudioSet HMDB51 finetune number from 66.8 to 67.4 (0.6 pt: one
#    measure of how far two finetuning runs of this model land apart);
#  * BraVe's README gives per-split HMDB51 linear-SVM accuracies 71.3 / 68.5 / 67.8: a split-to-split std of
#    1.8 pt, so about 1.1 pt for the 3-split mean the tables report;
#  * DCASE 2013 has 100 test recordings (1 pt each) and the paper reports whole points (±0.5 of rounding).
# (avssl_code.md, sections 6 and 1.8.) Per protocol:
TOLERANCE = {
    # frozen features, SVM or linear layer over 3 splits / 5 folds: only the augmented training crops and the
    # C (or epoch) pick vary; the 3-split mean moves by about 1 pt (BraVe's spread above).
    "linear": 1.0,
    # Kinetics-400 val: YouTube copies differ between labs (videos missing), which moves a 400-class top-1
    # beyond the 1 pt of a fixed test set.
    "linear-k400": 1.5,
    # 100 test recordings, integer reporting (see above).
    "dcase": 2.0,
    # 20 epochs of SGD on fresh augmented clips with best-test-epoch selection: the README's own 0.6-pt
    # revision is one draw of this; 1.5 pt allows for the 3-split mean of such runs.
    "finetune": 1.5,
    # split 1 only (no averaging over splits); features are deterministic (uniform clips, no augmentation),
    # but the paper leaves the clip pooling and resize open (the card's choices are documented there).
    "retrieval": 1.5,
}

# ---- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One reported number to reproduce.

    table: "4" | "6" | "7" | "8"; pretraining: a key of :data:`PRETRAININGS`; dataset: as the paper names it;
    card: the task card; metric: the record's metric (top1, recall1, ...); protocol: a :data:`TOLERANCE` key;
    input: the clip geometry the paper states (checked against the card by :func:`card_input`);
    overrides: ``--set``-style card overrides this row needs (the released code's per-pretraining-set recipe).
    """

    table: str
    pretraining: str
    dataset: str
    card: str
    metric: str
    protocol: str
    input: str
    overrides: tuple[str, ...] = ()

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.protocol]

    @property
    def run_key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.pretraining, self.card, self.overrides)


# The released code's finetune configs for AudioSet differ from Table S11 (which states its recipe is the one
# for Kinetics-400; Kinetics-Sound uses the same): configs/downstream/{ucf101,hmdb51}/audioset/full_ft_*.yaml,
# avssl_code.md section 1.8. The cards carry Table S11; these rows apply the released AudioSet recipe.
_AS_FINETUNE = {
    "ucf101-finetune": ("classifier.lr=7.0e-5", "classifier.gamma=0.1", "classifier.milestones=[8, 12, 16]",
                        "classifier.dropout=0.1"),
    "ucf101-finetune-32f": (),  # same as Table S11
    "hmdb51-finetune": ("classifier.lr=1.0e-4", "classifier.gamma=0.1", "classifier.milestones=[8, 12, 16]",
                        "classifier.dropout=0.5"),
    "hmdb51-finetune-32f": ("classifier.gamma=0.1", "classifier.milestones=[6, 10, 14]", "classifier.dropout=0.5"),
}


def _table4(pt: str) -> list[Row]:
    # Supplementary E.1: 8 frames / 2 s are the design-exploration settings, "32-frame inputs for large-scale
    # experiments" and "5-second audio input for large-scale experiments": Table 4 (and 8) are those.
    return [Row("4", pt, "HMDB51", "hmdb51-linear-32f", "top1", "linear", "32x224²"),
            Row("4", pt, "UCF101", "ucf101-linear-32f", "top1", "linear", "32x224²"),
            Row("4", pt, "Kinetics400", "kinetics400-linear", "top1", "linear-k400", "8x224²"),
            Row("4", pt, "ESC50", "esc50-5s", "top1", "linear", "5 s"),
            Row("4", pt, "DCASE", "dcase", "top1", "dcase", "1 s")]


def _table6(pt: str, frames: int) -> list[Row]:
    suffix = "-32f" if frames == 32 else ""
    rows = []
    for ds, name in (("UCF101", "ucf101"), ("HMDB51", "hmdb51")):
        card = f"{name}-finetune{suffix}"
        rows.append(Row("6", pt, ds, card, "top1", "finetune", f"{frames}x224²",
                        _AS_FINETUNE[card] if pt == "AudioSet" else ()))
    return rows


def _table7() -> list[Row]:
    # Table 7 names no pretraining set (reported.yaml: "not stated"). Kinetics-400 is an assumption: the
    # methods it is compared with on the same protocol (GDT, Robust-xID) are Kinetics-400 models. Each row
    # says so in its notes.
    return [Row("7", "Kinetics-400", ds, f"{name}-retrieval", f"recall{k}", "retrieval", "32x112²")
            for ds, name in (("UCF101", "ucf101"), ("HMDB51", "hmdb51")) for k in (1, 5, 20)]


def _table8(pt: str) -> list[Row]:
    return [Row("8", pt, "ESC50", "esc50-5s", "top1", "linear", "5 s"),
            Row("8", pt, "DCASE", "dcase", "top1", "dcase", "1 s")]


PLAN: tuple[Row, ...] = tuple(
    [r for pt in PRETRAININGS for r in _table4(pt)]
    + _table6("Kinetics-Sound", 32) + _table6("Kinetics-400", 8) + _table6("Kinetics-400", 32)
    + _table6("AudioSet", 8) + _table6("AudioSet", 32)
    + _table7()
    + _table8("Kinetics-400") + _table8("AudioSet"))
TABLES = ("4", "6", "7", "8")


def card_input(card_name: str, overrides: Sequence[str] = ()) -> str:
    """The card's clip geometry in the paper's notation: ``"32x224²"`` (video) or ``"5 s"`` (audio)."""
    card = load_card(card_name, merged_overrides(overrides))
    if card.modality == "audio":
        return f"{card.audio.seconds:g} s"
    return f"{card.video.frames}x{card.video.size}²"


def merged_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` card overrides merged into one nested dict, later items winning."""
    out: dict[str, Any] = {}
    for text in items:
        out = deep_merge(out, parse_override(text))
    return out


def canon_table(text: str) -> str:
    """"4", "Table 4", "table4", "Tab. 4" -> "4"; ValueError for a table outside the plan."""
    t = str(text).strip().lower().removeprefix("table").removeprefix("tab.").strip()
    if t not in TABLES:
        raise ValueError(f"unknown table {text!r}; the plan covers Tables {', '.join(TABLES)}")
    return t


def canon_pretraining(text: str) -> str:
    """"audioset", "AS", "kinetics_400", "K400", "Kinetics-Sound"... -> the :data:`PRETRAININGS` key."""
    key = norm_key(text)
    for name, tags in PRETRAININGS.items():
        if key in {norm_key(name), *map(norm_key, tags)} or key == norm_key(_ABBREV[name]):
            return name
    raise ValueError(f"unknown pretraining set {text!r}; released: {', '.join(PRETRAININGS)}")


_ABBREV = {"Kinetics-Sound": "KS", "Kinetics-400": "K400", "AudioSet": "AS"}


def norm_key(text: Any) -> str:
    """Lower-case alphanumerics only: ``"Kinetics-400"`` -> ``"kinetics400"`` (for matching names)."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def build_plan(tables: Iterable[str] | None = None, pretrainings: Iterable[str] | None = None) -> list[Row]:
    """The rows of :data:`PLAN` in the given tables ("4", "Table 6", ...) and pretraining sets (all if None)."""
    want_t = {canon_table(t) for t in tables} if tables else set(TABLES)
    want_p = {canon_pretraining(p) for p in pretrainings} if pretrainings else set(PRETRAININGS)
    return [r for r in PLAN if r.table in want_t and r.pretraining in want_p]


def check_plan(rows: Sequence[Row]) -> None:
    """Every row's stated input must be its card's geometry (a plan cannot silently disagree with a card)."""
    for r in rows:
        if load_card(r.card).modality not in ("video", "audio"):
            raise ValueError(f"reproduce plan: card {r.card} is not single-modality; one trunk per row")
        got = card_input(r.card, r.overrides)
        if got != r.input:
            raise ValueError(f"reproduce plan: Table {r.table} {r.dataset} states {r.input} but card {r.card} is {got}")


def run_cost(row: Row) -> tuple[int, str]:
    """Sort key: sound cards (minutes), then video linear and retrieval, Kinetics, finetuning (hours)."""
    rank = {"dcase": 0, "linear": 1, "retrieval": 2, "linear-k400": 3, "finetune": 4}[row.protocol]
    return (0 if row.dataset in ("ESC50", "DCASE") else rank), row.input
