"""Audio-visual late fusion: synced clip windows, the fused features, a case where neither modality alone
suffices, and an end-to-end run on a Kinetics-Sound-layout fixture with audio-less videos."""
from __future__ import annotations

import pytest
import torch

from avbench.media.clips import synced_starts
from avbench.media.seeding import generator_for
from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm import run_svm
from avbench.evaluation.runner import RunOptions, fuse, run
from avbench.synth.video_fixtures import write_kinetics400


def test_synced_starts_put_audio_and_video_windows_at_the_same_time():
    gens = lambda: [generator_for(3, "train", "vid", j, "start") for j in range(20)]  # noqa: E731
    audio = synced_starts(16000 * 7, 32000, 20, gens())  # 7 s at 16 kHz, 2-s windows (samples)
    video = synced_starts(16 * 7, 32, 20, gens())        # 7 s at 16 fps, 32-frame windows (frames)
    for a, v in zip(audio, video):
        assert abs(a / 16000 - v / 16) < 1 / 16 + 1e-9
    assert len(set(video)) > 5 and all(0 <= v <= 16 * 7 - 32 for v in video)


def _features(bits: torch.Tensor, dim: int, seed: int, modality: int) -> torch.Tensor:
    """One class direction per bit value (the same for train and test), plus per-sample noise."""
    directions = torch.randn(2, dim, generator=torch.Generator().manual_seed(100 + modality))
    noise = torch.randn(bits.numel(), dim, generator=torch.Generator().manual_seed(seed))
    return directions[bits] * 3.0 + noise


def test_fusion_solves_what_neither_modality_can_alone():
    """4 classes = (audio bit, video bit): audio alone tells 2 groups, video alone the other 2, fused all 4."""
    def clip_features(n: int, seed: int) -> tuple[ClipFeatures, ClipFeatures]:
        labels = torch.arange(n) % 4
        common = dict(sample_index=torch.arange(n), labels=labels, groups=[f"g{i}" for i in range(n)],
                      sample_ids=[f"s{i}" for i in range(n)])
        return (ClipFeatures(blocks=[_features(labels // 2, 16, seed, 0)], **common),
                ClipFeatures(blocks=[_features(labels % 2, 16, seed + 1, 1)], **common))

    (a_tr, v_tr), (a_te, v_te) = clip_features(200, 0), clip_features(80, 10)
    top1 = {}
    for name, tr, te in (("audio", a_tr, a_te), ("video", v_tr, v_te), ("fused", fuse(a_tr, v_tr), fuse(a_te, v_te))):
        res = run_svm(tr, te, costs=[1e-2, 1.0], backend="torch", n_classes=4)
        top1[name] = res.sweep[1]["test_top1"]
    assert top1["audio"] <= 55 and top1["video"] <= 55 and top1["fused"] >= 95, top1
    assert fuse(a_tr, v_tr).dim == 32


def test_fuse_refuses_rows_that_do_not_line_up():
    a = ClipFeatures(blocks=[torch.zeros(2, 3)], sample_index=torch.tensor([0, 1]), labels=torch.tensor([0, 1]),
                     groups=["a", "b"], sample_ids=["x", "y"])
    v = ClipFeatures(blocks=[torch.zeros(2, 3)], sample_index=torch.tensor([0, 1]), labels=torch.tensor([0, 1]),
                     groups=["a", "b"], sample_ids=["x", "z"])
    with pytest.raises(RuntimeError, match="line up"):
        fuse(a, v)


def test_ksounds_fusion_end_to_end(tmp_path):
    root = write_kinetics400(tmp_path / "ks", n_classes=3, train_per_class=4, val_per_class=2,
                             class_names=["playing_drums", "singing", "bowling"], seed=0)
    overrides = {"train": {"clips": 2}, "test": {"clips": 2}, "video": {"size": 64, "resize": 72, "frames": 8}}
    record, _ = run("crisscross", "ksounds-fusion", data_root=root, overrides=overrides,
                    options=RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None))
    assert [r.layer for r in record.runs] == ["video", "audio", "audio+video"]
    assert {"top1", "top1@audio", "top1@video", "fusion_gain"} <= set(record.metrics)
    assert record.features["seed0"]["train_video"]["dim"] == record.features["seed0"]["train_audio"]["dim"] == 2048
    av = record.runs[-1]
    best = max(record.metrics["top1@audio"].mean, record.metrics["top1@video"].mean)
    assert av.metrics["fusion_gain"] == pytest.approx(record.metrics["top1"].mean - best)
    no_audio = [s for s in record.data.skipped if s["reason"].startswith("audio: no audio stream")]
    assert no_audio and all(r.n_test_samples == av.n_test_samples for r in record.runs)
