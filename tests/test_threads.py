"""CPU thread choices: the torch SVM's (measured on its own C path, restored, recorded in the models) and the
per-clip augmentations' (one intra-op thread on the CPU, the same pixels as on two)."""
from __future__ import annotations

import pytest
import torch

from avbench.media.seeding import generator_for
from avbench.media.threads import one_cpu_thread
from avbench.media.video_augment import VideoAugmentConfig, draw_clip_params, transform_clip, transform_clips
from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_torch import _PathThreads, fit_squared_hinge_ovr


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_path_threads_trial_then_the_faster(two_threads):
    cpu = torch.device("cpu")
    t = _PathThreads(cpu, 1e9, n_costs=8)
    assert [t.count(0), t.count(1)] == [1, 2]  # the trial: one thread, then all
    t.record(0, 1.0, 10)
    t.record(1, 0.5, 10)  # all threads twice as fast per data pass
    assert t.count(2) == t.count(7) == 2
    t = _PathThreads(cpu, 1e9, n_costs=8)
    t.record(0, 1.0, 10)
    t.record(1, 0.95, 10)  # less than 10 % faster: one thread
    assert t.count(2) == 1
    assert _PathThreads(cpu, 1e3, n_costs=8).count(0) == 1  # tiny steps: one thread, no trial
    assert _PathThreads(cpu, 1e9, n_costs=2).count(1) == 2  # too short a path to try
    assert _PathThreads(torch.device("meta"), 1e9, n_costs=8).count(0) == 2  # not the CPU: untouched


def _features(n: int, dim: int, k: int) -> ClipFeatures:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % k
    x = torch.randn(n, dim, generator=g) + 2.0 * torch.nn.functional.one_hot(labels, dim).float()
    return ClipFeatures(blocks=[x], sample_index=torch.arange(n), labels=labels, groups=["g"] * n,
                        sample_ids=[str(i) for i in range(n)])


def test_fit_records_threads_and_restores_them(two_threads):
    feats = _features(400, 4096, 8)  # 4 n (dim + 1) k = 5.2e7 flops per step: large enough for the trial
    costs = [1e-5, 1e-4, 1e-3]
    models = fit_squared_hinge_ovr(feats, costs, n_classes=8)
    assert [m.info["cpu_threads"] for m in models[:2]] == [1, 2] and models[2].info["cpu_threads"] in (1, 2)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # a one-thread process is left alone
    ref = fit_squared_hinge_ovr(feats, costs, n_classes=8)
    assert all(m.info["cpu_threads"] == 1 for m in ref) and torch.get_num_threads() == 1
    for a, b in zip(models, ref):  # the thread count does not change the solution beyond rounding
        torch.testing.assert_close(a.weights, b.weights, rtol=1e-3, atol=1e-4)


def test_one_cpu_thread_only_on_cpu(two_threads):
    with one_cpu_thread("cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with one_cpu_thread(torch.device("meta")):  # not the CPU: left alone
        assert torch.get_num_threads() == 2


def test_transform_clips_on_one_thread_matches_two(two_threads):
    g = torch.Generator().manual_seed(3)
    frames = torch.randint(0, 256, (3, 4, 60, 80, 3), dtype=torch.uint8, generator=g)
    cfg = VideoAugmentConfig.preset("pretrain")  # crop, flip, jitter, grayscale, blur: every kernel
    gens = [generator_for(0, "train", "v", j, "augment") for j in range(3)]
    out, params = transform_clips(frames, cfg, gens, 32)
    assert torch.get_num_threads() == 2
    for i in range(3):  # the per-clip reference, run on two threads
        again = draw_clip_params(cfg, generator_for(0, "train", "v", i, "augment"), 60, 80, 32)
        assert again == params[i]
        assert torch.equal(out[i], transform_clip(frames[i], again, 32))
