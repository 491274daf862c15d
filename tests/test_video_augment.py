"""Video augmentations: Table S1 parameters, temporally consistent, per-clip generators, batch independence."""
from dataclasses import replace

import pytest
import torch
from torchvision import transforms as T1
from torchvision.transforms import v2 as T2

from avbench.media.seeding import generator_for
from avbench.media.video_augment import (OFF_PARAMS, ClipParams, VideoAugmentConfig, apply_cutout, cutout_boxes,
                                         draw_clip_params, random_resized_crop_params, transform_clip, transform_clips)

H, W = 60, 80  # small source frames keep the tests fast
ALL_ON = VideoAugmentConfig(flip=1.0, blur=1.0)  # crop, flip, jitter, blur, cutout always; grayscale tested apart


def gen(*parts):
    return generator_for(0, "test", *parts)


def still_clip(t=4, h=H, w=W, seed=0):
    """``[T, H, W, 3]`` uint8: one random frame repeated."""
    frame = torch.randint(0, 256, (1, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return frame.expand(t, h, w, 3).contiguous()


def moving_clip(t=4, h=H, w=W, seed=0):
    """``[T, H, W, 3]`` uint8: a smooth random pattern shifting 3 px right per frame, plus a bright square."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4, (w + 3 * t) // 4, generator=g),
                                           size=(h, w + 3 * t), mode="bilinear", align_corners=False)[0]
    frames = torch.stack([base[:, :, 3 * i:3 * i + w] for i in range(t)])  # [T, 3, H, W]
    frames = (frames * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    frames[:, 10:20, 10:20] = 250
    return frames


# ---- configuration ----------------------------------------------------------------------------------------
def test_from_dict_lists_defaults_round_trip_and_rejects_unknown_keys_and_bad_ranges():
    cfg = VideoAugmentConfig.from_dict({"crop_scale": [0.08, 1.0], "color_jitter": [0.4, 0.4, 0.4, 0.2], "blur": 0.5})
    assert cfg == VideoAugmentConfig.preset("pretrain") and isinstance(cfg.crop_scale, tuple)
    assert VideoAugmentConfig.from_dict({}) == VideoAugmentConfig() == VideoAugmentConfig.from_dict(None)
    assert VideoAugmentConfig.from_dict(cfg.to_dict()) == cfg
    off = VideoAugmentConfig.from_dict({"crop_scale": None, "color_jitter": False})
    assert off.crop_scale is None and off.color_jitter is None
    with pytest.raises(ValueError, match=r"unknown video augmentation key.*'cutout_size'.*'solarize'"):
        VideoAugmentConfig.from_dict({"solarize": 0.2, "cutout_size": 20, "flip": 0.5})
    bad = [{"crop_scale": [1.0, 0.08]}, {"crop_scale": [0.0, 1.0]}, {"crop_scale": [0.5, 1.5]}, {"crop_scale": [0.5]},
           {"crop_ratio": [0.0, 1.0]}, {"flip": 1.5}, {"flip": -0.1}, {"flip": True}, {"grayscale": "0.2"},
           {"blur": 2}, {"color_jitter_p": -1}, {"color_jitter": [0.4, 0.4, 0.4]}, {"color_jitter": [0.4, 0.4, 0.4, 0.6]},
           {"color_jitter": [-0.1, 0.4, 0.4, 0.2]}, {"blur_sigma": [2.0, 0.1]}, {"blur_sigma": [0.0, 2.0]},
           {"cutout": -1}, {"cutout": 2.5}, {"cutout_patches": 0}, {"cutout_fill": "mean"}, {"flip": None}]
    for d in bad:
        with pytest.raises(ValueError):
            VideoAugmentConfig.from_dict(d)
    with pytest.raises(ValueError):
        VideoAugmentConfig(flip=2.0)  # direct construction is validated too


def test_presets_follow_the_visual_summary_table():
    pre, lin, ft = (VideoAugmentConfig.preset(n) for n in ("pretrain", "linear", "finetune"))
    for c in (pre, lin, ft):  # MSC, HF, CJ, GS, C in every stage (Table S1 values)
        assert c.crop_scale == (0.08, 1.0) and c.crop_ratio == pytest.approx((3 / 4, 4 / 3))
        assert c.flip == 0.5 and c.color_jitter == (0.4, 0.4, 0.4, 0.2) and c.color_jitter_p == 1.0
        assert c.grayscale == 0.2 and c.cutout == 20 and c.cutout_patches == 1 and c.cutout_fill == "reference"
    assert pre.blur == 0.5 and pre.blur_sigma == (0.1, 2.0)  # GB only in pretraining
    assert lin.blur == 0.0 and ft.blur == 0.0 and lin == ft
    with pytest.raises(ValueError, match="unknown video augmentation preset"):
        VideoAugmentConfig.preset("test")


# ---- parameters -------------------------------------------------------------------------------------------
def test_random_resized_crop_matches_torchvision_and_stays_in_bounds():
    scale, ratio = (0.08, 1.0), (3 / 4, 4 / 3)
    with torch.random.fork_rng():
        for seed in range(50):  # bit-identical to torchvision's algorithm fed the same random stream
            torch.manual_seed(seed)
            ref = T1.RandomResizedCrop.get_params(torch.empty(3, 240, 320), list(scale), list(ratio))
            assert random_resized_crop_params(240, 320, scale, ratio, torch.Generator().manual_seed(seed)) == ref
    g = gen("rrc")
    fractions = []
    for _ in range(2000):
        top, left, h, w = random_resized_crop_params(240, 320, scale, ratio, g)
        assert 0 <= top and 0 <= left and 0 < h and 0 < w and top + h <= 240 and left + w <= 320
        fallback = (h, w) == (240, 320) and (top, left) == (0, 0)
        if not fallback:
            # rounding h and w to integers moves the area and the ratio a little
            assert 0.08 * 0.9 <= h * w / (240 * 320) <= 1.0
            assert 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05
        fractions.append(h * w / (240 * 320))
    assert min(fractions) < 0.12 and max(fractions) > 0.9  # the whole range is used
    # an extreme aspect ratio forces the centre-crop fallback, clamped to the ratio range
    assert random_resized_crop_params(10, 400, (0.9, 1.0), ratio, gen("fallback")) == (0, 193, 10, 13)


def test_color_jitter_parameters_match_torchvision():
    cfg = VideoAugmentConfig(crop_scale=None, flip=0.0, grayscale=0.0, cutout=0)
    with torch.random.fork_rng():
        for seed in range(20):
            torch.manual_seed(seed)
            fn_idx, b, c, s, h = T1.ColorJitter.get_params([0.6, 1.4], [0.6, 1.4], [0.6, 1.4], [-0.2, 0.2])
            p = draw_clip_params(cfg, torch.Generator().manual_seed(seed), H, W, 32)
            assert p.jitter and p.jitter_order == tuple(fn_idx.tolist())
            assert (p.brightness, p.contrast, p.saturation, p.hue) == (b, c, s, h)
    # a zero strength drops that operation; color_jitter_p gates the whole jitter
    p = draw_clip_params(replace(cfg, color_jitter=(0.4, 0.0, 0.4, 0.0)), gen("cj"), H, W, 32)
    assert sorted(p.jitter_order) == [0, 2] and p.contrast == 1.0 and p.hue == 0.0
    gated = [draw_clip_params(replace(cfg, color_jitter_p=0.3), gen("cj", i), H, W, 32).jitter for i in range(1000)]
    assert 0.25 < sum(gated) / 1000 < 0.35


def test_flip_and_grayscale_rates_and_per_clip_parameters():
    cfg = VideoAugmentConfig.preset("pretrain")
    params = [draw_clip_params(cfg, gen("rates", i), 240, 320, 112) for i in range(2000)]
    assert 0.45 < sum(p.flip for p in params) / 2000 < 0.55
    assert 0.16 < sum(p.gray for p in params) / 2000 < 0.24
    assert 0.45 < sum(p.blur_sigma is not None for p in params) / 2000 < 0.55
    sigmas = [p.blur_sigma for p in params if p.blur_sigma is not None]
    assert 0.1 <= min(sigmas) < 0.2 and 1.9 < max(sigmas) <= 2.0
    assert all(p.jitter and sorted(p.jitter_order) == [0, 1, 2, 3] for p in params)  # always applied
    for p in params:
        assert 0.6 <= p.brightness <= 1.4 and 0.6 <= p.contrast <= 1.4 and 0.6 <= p.saturation <= 1.4
        assert -0.2 <= p.hue <= 0.2
    assert len({p.crop for p in params}) > 1900 and len({p.jitter_order for p in params}) == 24
    # no blur drawn outside pretraining; None = deterministic, all off
    assert all(draw_clip_params(VideoAugmentConfig.preset("linear"), gen("rates", i), 240, 320, 112).blur_sigma is None
               for i in range(200))
    assert draw_clip_params(None, gen("x"), 240, 320, 224) == OFF_PARAMS and OFF_PARAMS.crop is None


def test_the_global_rng_is_untouched():
    state = torch.random.get_rng_state()
    transform_clips(torch.stack([still_clip(), moving_clip()]), ALL_ON, [gen("a"), gen("b")], 32)
    assert torch.equal(state, torch.random.get_rng_state())


# ---- temporal consistency ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [ALL_ON, replace(ALL_ON, grayscale=1.0), replace(ALL_ON, crop_scale=None)])
def test_identical_frames_stay_identical_with_every_augmentation_on(cfg):
    clip = still_clip(t=5)
    for i in range(6):
        p = draw_clip_params(cfg, gen("still", i), H, W, 32)
        assert p.flip and p.jitter and p.blur_sigma is not None
        out = transform_clip(clip, p, 32)
        assert out.shape == (3, 5, 32, 32) and out.dtype == torch.uint8
        for t in range(1, 5):
            assert torch.equal(out[:, t], out[:, 0]), (i, t)


def test_moving_pattern_gets_the_same_box_flip_and_jitter_on_every_frame():
    clip = moving_clip(t=4)
    for i in range(6):
        p = draw_clip_params(ALL_ON, gen("moving", i), H, W, 32)
        out = transform_clip(clip, p, 32)
        for t in range(4):  # each frame alone with the clip's parameters gives the same frame
            assert torch.equal(transform_clip(clip[t:t + 1], p, 32)[:, 0], out[:, t]), (i, t)
        # the comparison can fail: a frame alone under other parameters differs
        other = draw_clip_params(ALL_ON, gen("moving", i + 100), H, W, 32)
        assert not torch.equal(transform_clip(clip[1:2], other, 32)[:, 0], out[:, 1])
    # a plain crop + flip is the box of each frame, mirrored (checked without any resampling)
    p = ClipParams(crop=(5, 7, 32, 32), flip=True, jitter_order=(), brightness=1.0, contrast=1.0, saturation=1.0,
                   hue=0.0, jitter=False, gray=False, blur_sigma=None, cutout=())
    expect = clip[:, 5:37, 7:39].flip(2).permute(3, 0, 1, 2)
    assert torch.equal(transform_clip(clip, p, 32), expect)


def test_grayscale_output_has_equal_channels():
    p = draw_clip_params(VideoAugmentConfig(grayscale=1.0), gen("gray"), H, W, 32)
    out = transform_clip(moving_clip(), p, 32)
    assert p.gray and torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert out.float().std() > 5  # not a constant image


# ---- batches ----------------------------------------------------------------------------------------------
def test_clips_get_their_own_parameters_and_do_not_depend_on_the_batch():
    cfg = VideoAugmentConfig.preset("pretrain")
    frames = still_clip(t=3, seed=3).unsqueeze(0).expand(8, -1, -1, -1, -1).contiguous()  # 8 clips, same content
    out, params = transform_clips(frames, cfg, [gen("clip", k) for k in range(8)], 32)
    assert out.shape == (8, 3, 3, 32, 32) and out.dtype == torch.uint8 and len(params) == 8
    assert len({p.crop for p in params}) == 8 and len({p.brightness for p in params}) == 8
    for a in range(8):
        for b in range(a + 1, 8):
            assert not torch.equal(out[a], out[b]), (a, b)
    for k in range(8):
        alone, p_alone = transform_clips(frames[k:k + 1], cfg, [gen("clip", k)], 32)
        assert p_alone[0] == params[k] and torch.equal(alone[0], out[k]), k
    with pytest.raises(ValueError, match="one generator per clip"):
        transform_clips(frames, cfg, [gen("clip", 0)], 32)


# ---- deterministic path -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size,resize", [(224, 256), (112, 128)])
def test_deterministic_path_matches_torchvision_resize_and_centre_crop(size, resize):
    frames = torch.randint(0, 256, (2, 2, 240, 320, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    out, params = transform_clips(frames, None, [gen("d", 0), gen("d", 1)], size)
    assert params == [OFF_PARAMS, OFF_PARAMS] and out.shape == (2, 3, 2, size, size)
    ref_tf = T2.Compose([T2.Resize(resize, antialias=True), T2.CenterCrop(size)])
    for k in range(2):
        for t in range(2):
            ref = ref_tf(frames[k, t].permute(2, 0, 1).contiguous())  # one [3, 240, 320] frame at a time
            assert ref.shape == (3, size, size) and torch.equal(out[k, :, t], ref), (k, t)
    # an explicit resize; the transform of a config without random crop still uses it
    explicit = transform_clip(frames[0], OFF_PARAMS, size, resize=size)
    assert torch.equal(explicit[:, 0], T2.CenterCrop(size)(T2.Resize(size)(frames[0, 0].permute(2, 0, 1).contiguous())))
    with pytest.raises(ValueError):
        transform_clip(frames[0], OFF_PARAMS, size, resize=size - 1)


# ---- cutout -----------------------------------------------------------------------------------------------
def test_cutout_boxes_inside_the_image_with_the_reference_side():
    sides = set()
    for i in range(2000):
        (top, left, h, w), = cutout_boxes(112, 20, 1, gen("cut", i))
        assert 0 <= top and 0 <= left and top + h <= 112 and left + w <= 112
        assert 0 <= h <= 20 and 0 <= w <= 20
        if 10 <= top and top + h <= 102 and 10 <= left and left + w <= 102:  # not clipped
            assert h == w and h % 2 == 0  # unclipped side 2 * (L // 2), L ~ U{1..20}, as the reference
            sides.add(h)
    assert sides == set(range(0, 21, 2))
    for i in range(20):  # several patches share the clip's L, each with its own centre
        boxes = draw_clip_params(VideoAugmentConfig(cutout_patches=3), gen("cut3", i), H, W, 1000).cutout
        assert len(boxes) == 3 and len({b[:2] for b in boxes}) == 3
        assert len({b[2:] for b in boxes if 10 <= min(b[0], b[1]) and max(b[0], b[1]) + 20 <= 990}) <= 1
    assert draw_clip_params(VideoAugmentConfig(cutout=0), gen("cut"), H, W, 32).cutout == ()


def test_cutout_zero_and_reference_fill():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 4, 16, 16, generator=g) + 0.5  # normalised clips
    box = (3, 5, 6, 4)
    params = [replace(OFF_PARAMS, cutout=(box,)), OFF_PARAMS]
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[3:9, 5:9] = True

    zero = apply_cutout(x, params, fill="zero")
    assert torch.all(zero[0][..., inside] == 0) and torch.equal(zero[0][..., ~inside], x[0][..., ~inside])
    assert torch.equal(zero[1], x[1]) and not torch.equal(zero[0], x[0])

    ref = apply_cutout(x, params, fill="reference")
    mean = x[0, :, 0].mean()  # first frame of the clip, all channels
    assert torch.allclose(ref[0][..., inside], x[0][..., inside] * mean)
    assert torch.equal(ref[0][..., ~inside], x[0][..., ~inside]) and torch.equal(ref[1], x[1])
    assert not torch.allclose(ref[0][..., inside], x[0][..., inside] * x[0].mean())  # not the whole clip's mean
    assert torch.equal(x, x.clone()) and not torch.equal(ref, x)  # input untouched, new tensor
    assert torch.equal(apply_cutout(x, [replace(OFF_PARAMS, cutout=((0, 0, 0, 0),)), OFF_PARAMS]), x)  # empty box
    with pytest.raises(ValueError):
        apply_cutout(x, params, fill="mean")


# ---- devices ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_stay_on_the_device_and_match_the_cpu():
    cfg = VideoAugmentConfig.preset("pretrain")
    frames = torch.stack([moving_clip(t=4, h=120, w=160, seed=s) for s in range(3)])
    gens = lambda: [gen("cuda", k) for k in range(3)]  # noqa: E731
    cpu, p_cpu = transform_clips(frames, cfg, gens(), 64)
    gpu, p_gpu = transform_clips(frames.cuda(), cfg, gens(), 64)
    assert gpu.device.type == "cuda" and gpu.dtype == torch.uint8 and p_gpu == p_cpu
    diff = (gpu.cpu().int() - cpu.int()).abs()
    assert diff.float().mean() < 1.0, diff.float().mean()  # float vs uint8 kernels round differently
    still = transform_clip(still_clip(t=3).cuda(), p_gpu[0], 64)
    assert all(torch.equal(still[:, t], still[:, 0]) for t in range(3))
    cut = apply_cutout(gpu.float(), p_gpu, fill="reference")
    assert cut.device.type == "cuda"
    det, _ = transform_clips(frames.cuda(), None, gens(), 64)
    assert (det.cpu().int() - transform_clips(frames, None, gens(), 64)[0].int()).abs().max() <= 1
