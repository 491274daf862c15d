"""Views of the identity world as each pretrainer draws them (issue 20, item 2): the two views of an intra-modal or
asynchronous pair come from different scenes, so class-free statistics (mean log-mel, colour mean/std) cannot
find one view from the other better than about chance; from the same scene they can (the control)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.media.seeding import generator_for
from avbench.pretrain.identity_source import IdentityRenderer
from avbench.pretrain.method import get_method, resolve_config
from avbench.pretrain.views import Decoded, pick_scenes, window_in_scene

N = 120  # clips; retrieval chance 1/N


def _views(method: str, overrides: dict, keys: tuple[str, str, str, str]) -> dict[str, np.ndarray]:
    """Class-free statistics of the views of N fresh clips: video -> per-channel mean and std (6), audio -> mean
    log-mel over time (F)."""
    cls = get_method(method)
    model = cls(resolve_config(cls, "world", overrides))
    sampler, arch = model.sampler(), model.encoder.arch
    render = IdentityRenderer(seed=5)
    stats: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for i in range(N):
        out = sampler(render(i, 0, arch.fps, arch.logmel().sample_rate), generator_for("test", i))
        for k in keys:
            x = out[k].float()
            if x.dim() == 4:  # video [3, T, S, S]
                stats[k].append(torch.cat([x.mean((1, 2, 3)), x.std((1, 2, 3))]).numpy())
            else:  # audio [1, F, T]
                stats[k].append(x[0].mean(1).numpy())
    return {k: np.stack(v) for k, v in stats.items()}


def retrieval_top1(query: np.ndarray, gallery: np.ndarray) -> float:
    """Fraction of queries whose nearest gallery row (Euclidean, after standardising with the pooled statistics) is
    the query's own clip."""
    both = np.concatenate([query, gallery])
    mu, sd = both.mean(0), both.std(0) + 1e-8
    q, g = (query - mu) / sd, (gallery - mu) / sd
    d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    return float((d.argmin(1) == np.arange(len(q))).mean())


@pytest.mark.parametrize("method,pairs", [
    ("crisscross", [("v1", "v2"), ("a1", "a2")]),   # the world preset's relaxation medium: adjacent scenes
    ("temporal-ssl", [("v_r", "v_s"), ("a_r", "a_s")]),
])
def test_pair_views_from_different_scenes_are_not_found_by_nuisance(method, pairs) -> None:
    """Intra-modal pairs; an asynchronous pair (v1, a2) has nothing class-free to compare across modalities, and
    its two views lie in the scenes of v1 and v2 (test_every_sampler_keeps_each_view_inside_one_scene)."""
    stats = _views(method, {}, tuple(k for p in pairs for k in p))
    for a, b in pairs:
        assert retrieval_top1(stats[a], stats[b]) <= 3 / N, (method, a, b)


def test_control_views_from_one_scene_are_found_by_nuisance() -> None:
    """The same statistics find the other view of a clip when both views are cut from ONE scene (relaxation
    ``mild``): the test above can fail."""
    stats = _views("crisscross", {"relaxation": "mild"}, ("v1", "v2", "a1", "a2"))
    assert retrieval_top1(stats["a1"], stats["a2"]) > 20 / N
    assert retrieval_top1(stats["v1"], stats["v2"]) > 10 / N


def test_scene_pickers_and_windows() -> None:
    g = generator_for("scenes", 0)
    for _ in range(200):
        i, j = pick_scenes(4, "adjacent", g)
        assert j == i + 1 and 0 <= i < 3
        i, j = pick_scenes(4, "halves", g)
        assert i in (0, 1) and j in (2, 3)
        i, j = pick_scenes(3, "distinct", g)
        assert i != j and {i, j} <= {0, 1, 2}
        i, j = pick_scenes(2, "same", g)
        assert i == j
    d = Decoded(torch.zeros(64, 4, 4, 3, dtype=torch.uint8), 16.0, torch.zeros(64000), 16000,
                segments=((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)))
    for _ in range(200):
        s = window_in_scene(d, 2, 0.5, g)
        first = round(s * 16)
        assert 2.0 <= s and first >= 32 and first + 8 <= 48  # all 8 frames inside scene 2
    assert window_in_scene(d, 1, 1.0, g) == 1.0  # a window as long as the scene starts at its cut
    with pytest.raises(ValueError):
        pick_scenes(1, "adjacent", g)


def test_every_sampler_keeps_each_view_inside_one_scene() -> None:
    """CrissCross records its view starts: with scene cuts, each video and audio window lies in one scene."""
    cls = get_method("crisscross")
    for relaxation in ("none", "mild", "medium", "extreme", "mixed"):
        sampler = cls(resolve_config(cls, "world", {"relaxation": relaxation})).sampler()
        render = IdentityRenderer(seed=1, scenes=4)
        for i in range(10):
            d = render(i, 0, 16.0, 16000)
            starts = sampler(d, generator_for("t", relaxation, i))["starts"].tolist()
            for s, length in zip(starts, (0.5, 0.5, 1.0, 1.0)):
                scene = int(s + 1e-6)
                assert s + length <= scene + 1 + 1e-6, (relaxation, starts)
            v1, v2, a1, a2 = (int(s + 1e-6) for s in starts)
            assert (v1, v2) == (a1, a2)  # synchronous pairs share a scene (and its events)
            assert (v1 != v2) == (relaxation in ("medium", "extreme", "mixed")), (relaxation, starts)
            if relaxation == "medium":
                assert v2 == v1 + 1
            if relaxation == "extreme":
                assert v1 < 2 <= v2


def test_avcl_other_scene_audio_is_the_scene_the_video_is_not_in() -> None:
    """AVCL's ``audio_scene: other`` diagnostic: the audio is exactly one scene's native log-mel, the scene the video
    clip is not in (so the pair shares the identity but no events); ``whole`` keeps the paper's whole-clip audio.
    Two scenes told apart by eye and ear: black frames + noise, then white frames + a 440-Hz tone."""
    from avbench.media.logmel import LogMelConfig, LogMelFrontend

    cls = get_method("avcl")
    arch = cls(resolve_config(cls, "world", {})).encoder.arch
    whole = cls(resolve_config(cls, "world", {})).sampler()
    other = cls(resolve_config(cls, "world", {"audio_scene": "other"})).sampler()
    front = LogMelFrontend(LogMelConfig(**arch.audio))
    sr, fps = arch.logmel().sample_rate, arch.fps
    frames = torch.zeros(int(2 * fps), 48, 48, 3, dtype=torch.uint8)
    frames[int(fps):] = 255
    t = torch.arange(sr) / sr
    wave = torch.cat([0.1 * torch.randn(sr, generator=torch.Generator().manual_seed(0)),
                      0.5 * torch.sin(2 * torch.pi * 440 * t)])
    d = Decoded(frames, fps, wave, sr, segments=((0.0, 1.0), (1.0, 2.0)))
    mels = [front(wave[None, :sr])[0], front(wave[None, sr:])[0]]
    seen = set()
    for i in range(40):
        assert torch.equal(whole(d, generator_for("t", i))["a"], front(wave[None])[0])
        out = other(d, generator_for("t", i))
        heard = [j for j in (0, 1) if mels[j].shape == out["a"].shape and torch.equal(mels[j], out["a"])]
        video_scene = int(out["v"].mean() > 0)  # normalised black frames are negative, white ones positive
        assert heard == [1 - video_scene], i
        seen.add(video_scene)
    assert seen == {0, 1}  # both orders drawn
