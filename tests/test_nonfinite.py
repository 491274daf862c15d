"""Non-finite values never become a number (issue 15, cases 1 and 2).

Before: a NaN score lost every ``>=`` comparison, so the sample counted as a HIT (one float wav holding NaN turned
73.3 % into 100 %; the leaderboard's recomputation agreed, sharing the function). Non-finite encoder outputs were
found only after the whole extraction, named nothing, and were cached, so every rerun after a fix failed again.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from avbench.datasets import get_dataset
from avbench.features.extract import NonFiniteFeaturesError
from avbench.leaderboard.recompute import RecomputeError, _hits
from avbench.leaderboard.records import load_results
from avbench.metrics import NonFiniteScoresError, correct_at_k, topk_accuracy
from avbench.results import NonFiniteValueError, read_sidecar, write_sidecar
from avbench.evaluation.runner import RunOptions, run
from tests._lb_records import esc50_groups, make_record
from tests._toys import ToyAudio
from tests.conftest import BAD_ROWS_GATE

NAN, INF = math.nan, math.inf
FAST = {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"], "classifier": {"costs": [0.01, 1.0]}}


# ---- the evaluation core's hits -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_a_non_finite_score_is_never_a_hit(bad):
    scores = torch.tensor([[bad, 0.2, 0.1], [0.1, 0.9, 0.0]])  # sample 0: its true class 1 would "win" against NaN
    labels = torch.tensor([1, 1])
    with pytest.raises(NonFiniteScoresError, match="1 of 2 rows hold non-finite"):
        topk_accuracy(scores, labels, 1)
    with pytest.raises(NonFiniteScoresError):
        correct_at_k(scores, labels, 2)


def test_finite_scores_and_ties_are_unchanged():
    scores = torch.tensor([[0.5, 0.5, 0.0], [0.1, 0.9, 0.0], [-1e30, -1e31, -1e32]])
    labels = torch.tensor([0, 1, 0])
    assert correct_at_k(scores, labels, 1).tolist() == [False, True, True]  # a tie counts against the true class
    assert correct_at_k(scores, labels, 2).tolist() == [True, True, True]


# ---- the verifier's own hit definition ----------------------------------------------------------------------
def _rows(scores, labels):
    return [{"split": "s", "seed": 0, "id": f"i{n}", "label": y, "scores": list(r)} for n, (r, y) in
            enumerate(zip(scores, labels))]


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_the_verifier_rejects_non_finite_scores(bad):
    with pytest.raises(RecomputeError, match="non-finite scores"):
        _hits("top1", _rows([[bad, 0.2], [0.3, 0.1]], [1, 0]), "t")


def test_the_verifier_counts_ties_as_an_interval():
    lo, hi = _hits("top1", _rows([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]], [0, 0, 0]), "t")
    assert lo.tolist() == [0.0, 100.0, 0.0] and hi.tolist() == [100.0, 100.0, 0.0]


def test_a_record_whose_sidecar_holds_nan_is_rejected_by_the_board(tmp_path):
    """The forged record says 100 %; its sidecar's wrong sample was replaced by NaN scores, which the old
    recomputation counted as a hit and accepted as "100.0 ± 0.0, recomputed"."""
    rec = make_record(tmp_path, model="m", task="esc50", groups=esc50_groups(0, [4, 4, 4, 4, 4]),
                      weights_sha256=None, init_seed=0)
    record = json.loads(rec.read_text())
    side = rec.parent / record["sidecar"]["path"]
    rows = read_sidecar(side)
    rows[0]["scores"] = [NAN] * len(rows[0]["scores"])
    payload = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()  # json writes NaN
    side.write_bytes(gzip.compress(payload))
    record["sidecar"]["sha256"] = hashlib.sha256(side.read_bytes()).hexdigest()
    rec.write_text(json.dumps(record))
    accepted, rejected = load_results(tmp_path)
    assert not accepted
    assert "non-finite" in rejected[0].reason, rejected[0].reason


def test_writers_refuse_non_finite_values(tmp_path):
    with pytest.raises(NonFiniteValueError, match=r"row \[0\]\.scores\[1\]"):
        write_sidecar(tmp_path / "p.jsonl.gz", [{"id": "a", "scores": [0.1, NAN]}])
    assert not list(tmp_path.iterdir())  # nothing written


# ---- extraction ------------------------------------------------------------------------------------------
def _opts(tmp_path, **kw):
    kw.setdefault("min_coverage", BAD_ROWS_GATE)  # esc50_root lists files that are missing or do not decode
    return RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None, **kw)


def test_extraction_stops_at_the_first_non_finite_output_and_caches_nothing_of_it(esc50_root, tmp_path):
    # batches of 4 clips, shards of 8 samples (1 clip each): call 0 is eval's blank-clip pooling check (before any
    # decoding), then the first shard takes forward calls 1-3 (call 1 is the determinism probe's repeat of the
    # first batch), so NaN from call 4 on is in the second shard's first batch
    broken = ToyAudio(name="nan-toy", nan_from_call=4)
    with pytest.raises(NonFiniteFeaturesError) as err:
        run(broken, "esc50", data_root=esc50_root, overrides=FAST, options=_opts(tmp_path, batch_size=4, shard_size=8))
    msg = str(err.value)
    assert "'nan-toy'" in msg and "'conv5x'" in msg and "avbench validate nan-toy" in msg and "clip 0" in msg
    manifest = get_dataset("esc50").load(esc50_root).restrict(["fold1"])
    train_ids = set(manifest.splits["fold1"]["train"])
    second_shard = [s for s in manifest.samples if s.id in train_ids][8:16]
    named = msg.split("for sample ")[1].split(" ")[0]
    assert named in [s.id for s in second_shard] and str(esc50_root) in msg
    key = msg.split("entry ")[1][:16]
    shards = sorted((tmp_path / "cache" / "features").rglob("shard-*.safetensors"))
    assert [(p.parent.name[:16], p.name) for p in shards] == [(key, "shard-00000.safetensors")]  # nothing else
    assert torch.isfinite(load_file(str(shards[0]))["features"]).all()

    fixed = ToyAudio(name="nan-toy")  # the same weights and code path, fixed: the rerun reuses shard 0 only
    record, _ = run(fixed, "esc50", data_root=esc50_root, overrides=FAST,
                    options=_opts(tmp_path, batch_size=4, shard_size=8))
    train = record.features["seed0"]["train"]
    assert train["shards_reused"] == 1 and train["shards_computed"] == train["shards"] - 1
    assert all(math.isfinite(v) for v in record.metrics["top1"].per_split.values())


def test_a_wav_holding_nan_is_a_named_skip_not_a_hit(esc50_root, tmp_path):
    """The reported case: one float wav with NaN samples. It is skipped with the reason; the others score."""
    import shutil

    root = tmp_path / "esc"
    shutil.copytree(esc50_root, root)
    victim = sorted((root / "audio").glob("1-*.wav"))[0]
    wave, sr = sf.read(victim, dtype="float32")
    wave[1000:1100] = np.nan
    sf.write(victim, wave, sr, subtype="FLOAT")
    # the victim is one more unusable fold-1 test clip than the fixture's bad rows: 9 of 11, under BAD_ROWS_GATE
    record, _ = run(ToyAudio(), "esc50", data_root=root, overrides=FAST, options=_opts(tmp_path, min_coverage=0.8))
    reasons = {s["id"]: s["reason"] for s in record.data.skipped}
    assert "non-finite sample value" in reasons[victim.stem], reasons
    assert record.metrics["top1"].mean < 100.0
