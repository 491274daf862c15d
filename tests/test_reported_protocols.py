"""Every published number keyed to the protocol that produced it (issue 19, item 3).

A reported cell sits in a measured column only when its protocol id is that column's task card, so the mapping in
leaderboards/reported.yaml must name a card only where the card runs the protocol behind the number. Checked here
against facts of the released code (pritamqu/CrissCross@1fe8953, configs read for issue 19):

* ESC-50 (Tables 2, 4, 8): ``configs/downstream/esc50/config_fold*_{2s,5s}.yaml`` + ``audio_db.py:85-110`` +
  ``models/classifier.py:95-106``: 100 training crops, test windows cut from one log-mel, the 2-s test trimmed to the
  first 2 s, L2 along the time axis, the last of tied C values.
* Full finetuning (Table 6): ``configs/downstream/{ucf101,hmdb51}/{kinetics400,kinetics_sound,audioset}/
  full_ft_*_fold1.yaml`` (Kinetics-Sound files are identical to the Kinetics-400 ones).
* Numbers a CrissCross table quotes from OTHER papers were produced by their own protocols: never a card.
"""
from __future__ import annotations

import pytest

from avbench.leaderboard.reported import load_reported_file
from avbench.taskcard import card_names, load_card

REPORTED = load_reported_file()
OWN_METHOD = {"crisscross-paper": "CrissCross", "temporal-ssl-paper": "Temporal-SSL", "avcl-paper": "AVCL"}

# (dataset, frames, pretraining) -> (lr, gamma, milestones, dropout) of the released finetune configs
RELEASED_FINETUNE = {
    ("ucf101", 8, "K400"): (5e-4, 0.3, (6, 10, 14), 0.0), ("ucf101", 32, "K400"): (7e-5, 0.3, (8, 12, 16), 0.0),
    ("hmdb51", 8, "K400"): (5e-4, 0.1, (6, 10, 14), 0.0), ("hmdb51", 32, "K400"): (1e-4, 0.3, (8, 12, 16), 0.0),
    ("ucf101", 8, "AS"): (7e-5, 0.1, (8, 12, 16), 0.1), ("ucf101", 32, "AS"): (7e-5, 0.3, (8, 12, 16), 0.0),
    ("hmdb51", 8, "AS"): (1e-4, 0.1, (8, 12, 16), 0.5), ("hmdb51", 32, "AS"): (1e-4, 0.1, (6, 10, 14), 0.5),
}


def _own(cell) -> bool:
    return cell.method.startswith(OWN_METHOD.get(cell.source.split()[0], "\0"))


def _card_cells():
    return [c for c in REPORTED.cells if REPORTED.is_card(c.protocol)]


def test_quoted_numbers_never_sit_in_a_card_column():
    wrong = [(c.source, c.method, c.protocol) for c in _card_cells() if not _own(c)]
    assert not wrong, f"numbers quoted from other papers keyed to a card: {wrong[:5]}"


def test_esc50_cells_are_keyed_to_the_released_protocol():
    cells = [c for c in _card_cells() if c.protocol.startswith("esc50")]
    assert len(cells) == 4 + 3 + 2  # Table 2 (with and without L_async), Table 4, Table 8
    for c in cells:
        card = load_card(c.protocol)
        two_s = card.audio.seconds == 2.0
        assert (card.train.clips, card.test.windows, card.features.normalize, card.classifier.tie_break) == (
            100, "spectrogram", "last_axis_l2", "last"), (c.source, c.protocol)
        assert card.test.trim_to_first_clip == two_s and card.test.clips == (10 if two_s else 1)
        assert ("2 s" in c.input) == two_s
    # the paper-text cards run another protocol: no published number shares their columns
    assert not [c for c in REPORTED.cells if c.protocol in ("esc50", "esc50-5s")]


@pytest.mark.parametrize("cell", [c for c in _card_cells() if "finetune" in c.protocol], ids=str)
def test_finetune_cells_are_keyed_to_their_pretraining_sets_recipe(cell):
    card = load_card(cell.protocol)
    pt = "AS" if cell.pretraining.startswith("AudioSet") else "K400"  # Kinetics-Sound: the K400 files
    ds, frames = card.dataset.name, card.video.frames
    clf = card.classifier
    assert (clf.lr, clf.gamma, tuple(clf.milestones), clf.dropout) == RELEASED_FINETUNE[(ds, frames, pt)], cell


def test_every_card_cell_runs_its_own_columns_protocol():
    """No reported cell shares a column with a card that runs another protocol: every card-keyed cell is the
    quoting paper's own number, and each card's cells come from one source protocol family (checked above for the
    ESC-50 and finetune columns; the rest are the paper-text cards of the tables that state them)."""
    by_card: dict[str, set[str]] = {}
    for c in _card_cells():
        assert c.protocol in card_names()
        by_card.setdefault(c.protocol, set()).add(c.source.split()[0])
    assert all(len(papers) == 1 for papers in by_card.values()), by_card
    for pid in {c.protocol for c in REPORTED.cells if not REPORTED.is_card(c.protocol)}:
        assert pid not in card_names() and pid in REPORTED.protocols
