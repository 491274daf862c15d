"""Audio augmentations: per-clip parameters from per-clip generators, Table S2 ranges, mean-filled masks."""
import pytest
import torch

from avbench.media.audio_augment import (AudioAugmentConfig, MaskConfig, RandomResizeCropConfig, TimeWarpConfig,
                                         augment_spectrogram, augment_waveform, spec_params, volume_gain)
from avbench.media.seeding import generator_for

CARD = {  # the ESC-50 task card's block
    "volume_jitter": 0.2,
    "time_warp": {"window": 20},
    "freq_mask": {"max_width": 10, "num": 2},
    "time_mask": {"max_width": 20, "num": 2},
    "random_resize_crop": {"virtual_crop_scale": [1.0, 1.5], "freq_scale": [0.6, 1.5], "time_scale": [0.6, 1.5]},
}
OFF = {"volume_jitter": None, "time_warp": None, "freq_mask": None, "time_mask": None, "random_resize_crop": None}


def gens(n, seed=0, offset=0):
    return [generator_for(seed, "train", f"clip{offset + i}", "spec") for i in range(n)]


def test_config_from_dict_defaults_and_validation():
    cfg = AudioAugmentConfig.from_dict(CARD)
    assert cfg == AudioAugmentConfig()
    assert cfg.time_mask == MaskConfig(20, 2) and cfg.freq_mask == MaskConfig(10, 2)
    assert cfg.time_warp == TimeWarpConfig(20) and cfg.random_resize_crop == RandomResizeCropConfig((1.0, 1.5), (0.6, 1.5), (0.6, 1.5))
    assert AudioAugmentConfig.from_dict(cfg.to_dict()) == cfg
    off = AudioAugmentConfig.from_dict({"time_warp": None, "volume_jitter": False})
    assert off.time_warp is None and off.volume_jitter is None and off.freq_mask == MaskConfig(10, 2)
    with pytest.raises(ValueError, match="unknown audio augmentation key"):
        AudioAugmentConfig.from_dict({**CARD, "pitch_shift": 2})
    with pytest.raises(ValueError, match="unknown key"):
        AudioAugmentConfig.from_dict({"time_mask": {"max_width": 20, "count": 2}})
    for bad in ({"volume_jitter": 1.5}, {"freq_mask": {"max_width": 0}}, {"time_warp": {"window": 2.5}},
                {"random_resize_crop": {"freq_scale": [1.5, 0.6]}}, {"time_mask": 20}):
        with pytest.raises(ValueError):
            AudioAugmentConfig.from_dict(bad)


def test_same_seed_same_output_alone_or_in_a_batch_of_8():
    cfg = AudioAugmentConfig()
    spec = torch.randn(8, 1, 80, 201, generator=torch.Generator().manual_seed(0))
    batch = augment_spectrogram(spec, cfg, gens(8))
    for i in range(8):
        alone = augment_spectrogram(spec[i:i + 1], cfg, gens(1, offset=i))
        assert torch.equal(alone[0], batch[i]), i
    wave = torch.randn(8, 3200, generator=torch.Generator().manual_seed(1))
    wb = augment_waveform(wave, cfg, gens(8))
    for i in range(8):
        assert torch.equal(augment_waveform(wave[i:i + 1], cfg, gens(1, offset=i))[0], wb[i])


def test_clips_in_a_batch_get_different_parameters_and_the_global_rng_is_untouched():
    cfg = AudioAugmentConfig()
    params = [spec_params(cfg, 80, 201, g) for g in gens(8)]
    assert len({p.warp for p in params}) > 1 and len({p.crop for p in params}) > 1
    assert len({p.freq_masks for p in params}) > 1 and len({p.time_masks for p in params}) > 1
    gains = [volume_gain(cfg, g) for g in gens(8)]
    assert len(set(gains)) == 8 and all(0.8 <= g <= 1.2 for g in gains)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    augment_spectrogram(torch.randn(2, 1, 80, 201, generator=torch.Generator()), cfg, gens(2))
    augment_waveform(torch.ones(2, 100), cfg, gens(2))
    assert torch.equal(torch.rand(3), expected)


def test_volume_jitter_scales_each_clip_by_its_gain():
    cfg = AudioAugmentConfig.from_dict({**OFF, "volume_jitter": 0.2})
    wave = torch.rand(4, 1000) + 0.5
    out = augment_waveform(wave, cfg, gens(4))
    ratio = out / wave
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)
    assert all(0.8 <= r <= 1.2 for r in ratio[:, 0].tolist()) and len(set(ratio[:, 0].tolist())) == 4


@pytest.mark.parametrize("axis", ["freq", "time"])
def test_masks_have_widths_within_the_maxima_and_the_clip_mean_as_fill(axis):
    key, max_width = ("freq_mask", 10) if axis == "freq" else ("time_mask", 20)
    cfg = AudioAugmentConfig.from_dict({**OFF, key: {"max_width": max_width, "num": 2}})
    k = 16
    # clip i sits around 10*i, so a batch-wide mean (or zero) fill would be visible
    spec = torch.randn(k, 1, 80, 201, generator=torch.Generator().manual_seed(2)) + 10 * torch.arange(k).view(k, 1, 1, 1)
    out = augment_spectrogram(spec, cfg, gens(k))
    assert out.shape == spec.shape
    any_masked = False
    for i, g in enumerate(gens(k)):
        p = spec_params(cfg, 80, 201, g)
        masks = p.freq_masks if axis == "freq" else p.time_masks
        assert len(masks) == 2 and all(0 <= w < max_width for _, w in masks)
        changed = (out[i] != spec[i]).any(dim=2 if axis == "freq" else 1)[0]  # [F] or [T]
        expected = torch.zeros_like(changed)
        for start, width in masks:
            expected[start:start + width] = True
        assert torch.equal(changed, expected)
        if expected.any():
            any_masked = True
            idx = expected.nonzero()[:, 0]
            fill = out[i, 0][idx] if axis == "freq" else out[i, 0][:, idx]
            assert torch.allclose(fill, spec[i].mean().expand_as(fill), atol=1e-5)
    assert any_masked


def test_time_warp_and_crop_parameters_stay_in_range_and_shapes_are_kept():
    cfg = AudioAugmentConfig()
    for g in gens(32):
        p = spec_params(cfg, 80, 201, g)
        c, b = p.warp
        assert 20 <= c < 181 and c - 19 <= b <= c + 20
        i, j, h, w = p.crop
        assert 1 <= h <= 80 and int(0.6 * 80) <= h and 1 <= w <= int(201 * 1.5) and int(0.6 * 201) <= w
        assert 0 <= i <= 80 - h and 0 <= j <= int(201 * 1.5) - w
    for shape in [(3, 1, 80, 201), (2, 1, 64, 100), (2, 1, 80, 30)]:  # T=30 <= 2W: no warp
        assert augment_spectrogram(torch.randn(shape), cfg, gens(shape[0])).shape == shape
    assert spec_params(cfg, 80, 30, gens(1)[0]).warp is None


def test_identity_crop_and_warp_only_change_what_they_should():
    ident = AudioAugmentConfig.from_dict({**OFF, "random_resize_crop": {"virtual_crop_scale": [1, 1], "freq_scale": [1, 1],
                                                                       "time_scale": [1, 1]}})
    spec = torch.randn(2, 1, 40, 100)
    assert torch.allclose(augment_spectrogram(spec, ident, gens(2)), spec, atol=1e-5)
    warp = AudioAugmentConfig.from_dict({**OFF, "time_warp": {"window": 20}})
    by_freq = torch.arange(40, dtype=torch.float32).view(1, 1, 40, 1).expand(1, 1, 40, 100).clone()
    assert torch.allclose(augment_spectrogram(by_freq, warp, gens(1)), by_freq, atol=1e-4)  # frequency is not warped
    ramp = torch.arange(100, dtype=torch.float32).expand(1, 1, 40, 100).clone()
    out = augment_spectrogram(ramp, warp, gens(1))
    c, b = spec_params(warp, 40, 100, gens(1)[0]).warp
    assert c != b and not torch.equal(out, ramp)
    assert torch.allclose(out[0, 0, 0], out[0, 0, 17])  # every bin gets the same time mapping
    # frame c of the input lands near frame b of the output
    assert abs(int((out[0, 0, 0] - c).abs().argmin()) - b) <= 1


def test_one_generator_per_clip_is_required():
    with pytest.raises(ValueError, match="one generator per clip"):
        augment_spectrogram(torch.zeros(3, 1, 8, 8), AudioAugmentConfig(), gens(2))
    with pytest.raises(ValueError, match="one generator per clip"):
        augment_waveform(torch.zeros(3, 8), AudioAugmentConfig(), gens(4))


def test_spectrogram_steps_run_in_the_crisscross_order(monkeypatch):
    from avbench.media import audio_augment as aa

    calls = []
    for name in ("_time_warp", "_resize_crop"):
        real = getattr(aa, name)
        monkeypatch.setattr(aa, name, lambda x, *a, _n=name, _r=real: calls.append(_n) or _r(x, *a))
    real_fill = aa._fill
    monkeypatch.setattr(aa, "_fill", lambda x, masks, axis: calls.append(("mask", axis)) or real_fill(x, masks, axis))
    augment_spectrogram(torch.randn(1, 1, 80, 201), AudioAugmentConfig(), gens(1))
    assert calls == ["_time_warp", ("mask", 1), ("mask", 2), "_resize_crop"]  # warp, freq masks, time masks, crop
