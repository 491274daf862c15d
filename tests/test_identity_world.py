"""The identity world's invariants (issue 20): the class is the identity and nothing else; nuisance is redrawn at
every scene cut; event times are class-free and shared by both modalities; probe sets are fixed by their seed."""
from __future__ import annotations

import numpy as np
import pytest

from avbench.synth.identity_world import (AREA_RANGE, MIDDLE_PARTIAL, SHAPES, TOP_PARTIAL, IdentityWorldConfig,
                                          identity_rng, render_identity_clip, shape_distance, shape_radius)

CFG = IdentityWorldConfig()


def test_config_geometry() -> None:
    assert CFG.seconds == 4.0 and CFG.frames_per_segment == 16 and CFG.samples_per_segment == 16000
    assert CFG.segments() == ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0))
    clip = render_identity_clip(3, CFG, identity_rng("probe-test", 0, 3, 0))
    assert clip.frames.shape == (64, 48, 48, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (64000,) and clip.audio.dtype == np.float32 and np.abs(clip.audio).max() <= 1.0
    assert clip.segments.tolist() == [list(s) for s in CFG.segments()] and clip.label == 3
    with pytest.raises(ValueError):
        render_identity_clip(6, CFG, identity_rng("probe-test", 0))
    with pytest.raises(ValueError):
        IdentityWorldConfig(n_classes=7)


@pytest.mark.parametrize("area", [AREA_RANGE[0] * 1024, AREA_RANGE[1] * 1024])
def test_every_shape_has_the_same_area_and_fits_its_radius(area: float) -> None:
    """Matched area (so the object's pixel count carries no class) and a bounding radius that keeps it in frame."""
    g = np.linspace(-20, 20, 801)
    x, y = np.meshgrid(g, g)
    cell = (g[1] - g[0]) ** 2
    for shape in SHAPES:
        d = shape_distance(shape, x, y, area)
        assert (d <= 0).sum() * cell == pytest.approx(area, rel=0.02), shape
        assert np.hypot(x, y)[d <= 0].max() <= shape_radius(shape, area) + 0.06, shape


def test_class_free_timing_and_nuisance() -> None:
    """The same generator state gives the same events and the same per-scene nuisance whatever the class: only
    the shape and the middle partial depend on it."""
    clips = [render_identity_clip(k, CFG, identity_rng("pretrain", 7, 0, 11)) for k in range(6)]
    for c in clips[1:]:
        np.testing.assert_array_equal(c.events, clips[0].events)
        assert c.nuisance == clips[0].nuisance
        assert not np.array_equal(c.frames, clips[0].frames) and not np.array_equal(c.audio, clips[0].audio)


def test_nuisance_is_redrawn_in_every_scene() -> None:
    for i in range(5):
        clip = render_identity_clip(i % 6, CFG, identity_rng("pretrain", 1, 0, i))
        scenes = clip.nuisance
        for a in range(len(scenes)):
            for b in range(a + 1, len(scenes)):
                for key, value in scenes[a].items():
                    if isinstance(value, (float, list)) and key != "partial_amps":
                        assert value != scenes[b][key], (key, a, b)
        # and it shows: each scene's background colour (its frame's corner pixels) follows that scene's draw
        for s, nz in enumerate(scenes):
            corners = clip.frames[s * 16:(s + 1) * 16][:, [0, 0, -1, -1], [0, -1, 0, -1]].reshape(-1, 3).mean(0)
            assert np.abs(corners - np.asarray(nz["background_rgb"])).max() < nz["texture_amplitude"] * 3 + 12


def test_events_are_shared_by_both_modalities() -> None:
    """Every event is a flash onset in the video (the object brightens at the first frame at or after it) and an
    impact onset in the audio (energy jumps at its sample)."""
    clip = render_identity_clip(2, CFG, identity_rng("probe-train", 0, 2, 5))
    assert len(clip.events) >= 8 and np.all(np.diff(clip.events) >= 0.15 - 1e-9)
    frame_max = clip.frames.reshape(len(clip.frames), -1, 3).astype(float)
    sr = CFG.sample_rate
    for e in clip.events:
        f = int(np.ceil(e * CFG.fps - 1e-6))
        if f % 16 == 0:  # a flash on a scene's first frame has no frame before it in that scene
            continue
        # the object (pixels far from the background mean) gets brighter at the onset frame
        scene = int(e)
        bg = np.asarray(clip.nuisance[scene]["background_rgb"])
        obj = np.asarray(clip.nuisance[scene]["object_rgb"])
        near_obj = np.linalg.norm(frame_max[f - 1] - obj, axis=1) < np.linalg.norm(frame_max[f - 1] - bg, axis=1)
        assert frame_max[f][near_obj].mean() > frame_max[f - 1][near_obj].mean() + 5, e
        i = int(round(e * sr))
        before, after = clip.audio[i - 160:i - 10], clip.audio[i:i + 150]
        assert np.sqrt(np.mean(after ** 2)) > 2 * np.sqrt(np.mean(before ** 2)), e


def test_timbre_partials_follow_the_class() -> None:
    """The spectrum of one impact has peaks at f0, MIDDLE_PARTIAL[k] f0 and TOP_PARTIAL f0 of the scene's f0."""
    cfg = IdentityWorldConfig(n_segments=1)
    for k in range(6):
        clip = render_identity_clip(k, cfg, identity_rng("probe-test", 3, k))
        nz = clip.nuisance[0]
        spec = np.abs(np.fft.rfft(clip.audio * np.hanning(len(clip.audio))))
        freqs = np.fft.rfftfreq(len(clip.audio), 1 / cfg.sample_rate)
        f0 = nz["pitch_hz"]
        band = lambda f: spec[(freqs > f * 0.98) & (freqs < f * 1.02)].max()  # noqa: E731
        floor = np.median(spec)
        for ratio in (1.0, MIDDLE_PARTIAL[k], TOP_PARTIAL):
            assert band(f0 * ratio) > 10 * floor, (k, ratio)
        others = [r for r in MIDDLE_PARTIAL if abs(r - MIDDLE_PARTIAL[k]) > 0.1]
        assert max(band(f0 * r) for r in others) < band(f0 * MIDDLE_PARTIAL[k]) / 3, k


def test_probe_set_is_fixed_by_its_seed_and_disjoint_from_pretraining() -> None:
    from avbench.pretrain.probe import probe_clips

    cfg = IdentityWorldConfig(n_segments=2)
    a = probe_clips("probe-train", 2, cfg)
    b = probe_clips("probe-train", 2, cfg)
    test = probe_clips("probe-test", 2, cfg)
    assert [c.label for c in a] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.frames, y.frames)
        np.testing.assert_array_equal(x.audio, y.audio)
    pretrain = [render_identity_clip(k, cfg, identity_rng("pretrain", 0, 0, i)) for i, k in enumerate([0, 1])]
    seen = {c.audio.tobytes() for c in a}
    assert not seen & {c.audio.tobytes() for c in test} and not seen & {c.audio.tobytes() for c in pretrain}
    # geometry does not change the draws: the same clip at another frame rate has the same events and nuisance
    other = probe_clips("probe-train", 2, IdentityWorldConfig(n_segments=2, fps=25.0, sample_rate=24000))
    assert all(np.array_equal(x.events, y.events) and x.nuisance == y.nuisance for x, y in zip(a, other))
