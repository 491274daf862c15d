"""The pieces of `avbench pretrain` on hand-checked cases: CrissCross relaxation windows, temporal-SSL views
(speed, direction, the audio covering the video's moments, order labels), the warm-up + cosine schedule, LARC,
optimiser state through safetensors, the AVCL fusion gate and the MLP heads of Tables S7/S8."""
from __future__ import annotations

import math

import pytest
import torch

from avbench.pretrain.heads import mlp
from avbench.pretrain.optim import LARC, flatten_state, lr_factor, unflatten_state
from avbench.pretrain.views import Decoded, cut_frames, cut_wave
from avbench_baselines.avcl.fusion import AttentionFusion
from avbench_baselines.crisscross.pretrain import CrissCrossConfig, CrissCrossViews
from avbench_baselines.temporal_ssl.pretrain import TemporalSSLConfig, TemporalViews


def _views(mode: str) -> CrissCrossViews:
    from avbench.media.logmel import LogMelConfig

    return CrissCrossViews(CrissCrossConfig(relaxation=mode), 16.0, (0.5,) * 3, (0.5,) * 3, LogMelConfig().to_dict())


@pytest.mark.parametrize("seed", range(5))
def test_crisscross_relaxation_windows(seed):
    g = lambda: torch.Generator().manual_seed(seed)  # noqa: E731
    length, dv, da = 10.0, 0.5, 2.0
    none = _views("none").starts(length, g())
    assert none["video"][0] == none["video"][1] == none["audio"][0] == none["audio"][1]
    mild = _views("mild").starts(length, g())  # 50 % overlap per modality, v1 and a1 start together
    assert mild["video"][0] == mild["audio"][0]
    assert mild["video"][1] - mild["video"][0] == pytest.approx(dv / 2)
    assert mild["audio"][1] - mild["audio"][0] == pytest.approx(da / 2)
    assert mild["audio"][1] + da <= length + 1e-9
    medium = _views("medium").starts(length, g())  # adjacent
    assert medium["video"][1] - medium["video"][0] == pytest.approx(dv)
    assert medium["audio"][1] - medium["audio"][0] == pytest.approx(da)
    extreme = _views("extreme").starts(length, g())  # first half / second half
    for m, d in (("video", dv), ("audio", da)):
        assert extreme[m][0] + d <= length / 2 + 1e-9 and extreme[m][1] >= length / 2
    mixed = _views("mixed").starts(length, g())
    assert all(0 <= s <= length - d for m, d in (("video", dv), ("audio", da)) for s in mixed[m])


def test_crisscross_views_have_the_configured_geometry():
    d = Decoded(torch.randint(0, 255, (64, 40, 48, 3), dtype=torch.uint8), 16.0, torch.randn(64000) * 0.1, 16000)
    cfg = CrissCrossConfig(crop=32, frames=4, audio_seconds=1.0)
    from avbench.media.logmel import LogMelConfig

    out = CrissCrossViews(cfg, 16.0, (0.5,) * 3, (0.5,) * 3, LogMelConfig().to_dict())(d, torch.Generator())
    assert out["v1"].shape == out["v2"].shape == (3, 4, 32, 32) and out["v1"].dtype == torch.float32
    assert out["a1"].shape == out["a2"].shape == (1, 80, 101)
    assert not torch.equal(out["v1"], out["v2"])  # augmented independently


def test_cut_frames_speed_and_direction():
    frames = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 2, 2, 3)
    d = Decoded(frames, 10.0, torch.zeros(100), 100)
    assert cut_frames(d, 0.5, 4, stride=2)[:, 0, 0, 0].tolist() == [5, 7, 9, 11]
    assert cut_frames(d, 0.5, 4, stride=2, reverse=True)[:, 0, 0, 0].tolist() == [11, 9, 7, 5]
    assert cut_frames(d, 1.8, 3)[:, 0, 0, 0].tolist() == [18, 19, 0]  # cyclic past the end
    assert cut_wave(d, 0.9, 0.2).tolist() == [0.0] * 20  # zero-padded past the end


def test_temporal_views_audio_covers_the_video_moments():
    """An impulse at t = 1 s: a forward 2x view starting at 0.5 s spans 0.5-1.5 s of the source (8 frames at 16
    fps x 2), so the impulse must land in the MIDDLE of its 0.5-s audio view (time 0.25 s); backwards, it lands at
    the mirrored time. Order labels follow the two views' intervals."""
    from avbench.media.logmel import LogMelConfig

    cfg = TemporalSSLConfig(frames=8, crop=32, speeds=[2], antialias=False, spec_size=None)  # native log-mel
    sr = 16000
    wave = torch.zeros(4 * sr)
    wave[sr] = 1.0
    views = TemporalViews(cfg, 16.0, (0.5,) * 3, (0.5,) * 3, LogMelConfig().to_dict())
    n_out = int(0.5 * sr)
    sped = views.speed_up(cut_wave(Decoded(torch.zeros(64, 4, 4, 3, dtype=torch.uint8), 16.0, wave, sr), 0.5, 1.0),
                          2, n_out, sr)
    assert sped.numel() == n_out and int(sped.abs().argmax()) == n_out // 2
    d = Decoded(torch.randint(0, 255, (64, 40, 40, 3), dtype=torch.uint8), 16.0, torch.randn(4 * sr) * 0.1, sr)
    for seed in range(6):
        out = views(d, torch.Generator().manual_seed(seed))
        assert out["v_r"].shape == (3, 8, 32, 32) and out["a_r"].shape == (1, 80, 51)
        assert out["speed"].tolist() == [0, 0] and set(out["direction"].tolist()) <= {0, 1}
        assert out["order"].shape == (4,) and len(set(out["order"].tolist())) == 1


def test_warmup_cosine_schedule():
    f = [lr_factor(s, total_steps=10, warmup_steps=2, final_ratio=0.5) for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0  # linear ramp (step + 1) / warmup
    assert f[2] == pytest.approx(1.0)
    assert f[6] == pytest.approx(0.5 + 0.5 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert all(a >= b for a, b in zip(f[2:], f[3:]))


def test_larc_scales_each_gradient_by_its_trust_ratio():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))  # |w| = 5
    w.grad = torch.tensor([0.6, 0.8])  # |g| = 1
    opt = LARC(torch.optim.SGD([{"params": [w], "lr": 0.1, "weight_decay": 0.0}]), trust_coefficient=0.01)
    opt.step()
    # local = 0.01 * 5 / 1 = 0.05; clip: min(0.05 / 0.1, 1) = 0.5 -> w -= 0.1 * 0.5 * g
    assert torch.allclose(w.detach(), torch.tensor([3.0 - 0.03, 4.0 - 0.04]))
    assert opt.param_groups[0]["weight_decay"] == 0.0


def test_optimizer_state_round_trips_through_flat_tensors():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = flatten_state(opt.state_dict())
    again = torch.optim.Adam(model.parameters(), lr=1e-2)
    again.load_state_dict(unflatten_state(tensors, meta))
    a, b = opt.state_dict(), again.state_dict()
    for pid in a["state"]:
        for k, v in a["state"][pid].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b["state"][pid][k]))


def test_avcl_fusion_gate():
    fusion = AttentionFusion(4, gate="relu")
    v, a = torch.randn(3, 4), torch.randn(3, 4)
    fv, fa = fusion(v, a)
    e = fusion.excite(fusion.squeeze(torch.cat([v, a], 1)))
    assert torch.allclose(fv, torch.relu(e) * v) and torch.allclose(fa, torch.relu(e) * a)
    assert fusion.squeeze.out_features == 4  # c_u = (4 + 4) / 2
    sig = AttentionFusion(4, gate="sigmoid")
    sig.load_state_dict(fusion.state_dict())
    assert torch.allclose(sig(v, a)[0], torch.sigmoid(e) * v)


def test_projector_and_predictor_follow_tables_s7_s8():
    proj, pred = mlp([512, 2048, 2048, 2048], bn_last=True), mlp([2048, 512, 2048], bn_last=False)
    kinds = [type(m).__name__ for m in proj]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    assert [type(m).__name__ for m in pred] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert pred[0].out_features == 512 and pred[-1].out_features == 2048


def test_mixed_precision_is_refused_on_the_cpu_and_auto_means_off_there():
    from avbench.pretrain.trainer import _autocast

    ctx, dtype = _autocast(torch.device("cpu"), "auto")
    assert dtype is None
    for amp in ("bf16", "fp16"):
        with pytest.raises(ValueError, match=r"train.amp=.* on the CPU is not supported.*Conv3d"):
            _autocast(torch.device("cpu"), amp)
