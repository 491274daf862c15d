"""CPU thread choices: the torch SVM's (a rule of problem size and torch's thread count, never timing; restored,
recorded in the models) and the
per-clip augmentations' (one intra-op thread on the CPU, the same pixels as on two)."""
from __future__ import annotations

import pytest
import torch

from avbench.media.seeding import generator_for
from avbench.media.threads import one_cpu_thread
from avbench.media.video_augment import VideoAugmentConfig, draw_clip_params, transform_clip, transform_clips
from avbench.protocols.base import ClipFeatures
from avbench.protocols.svm_torch import decision_function, fit_squared_hinge_ovr, path_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_path_threads_is_a_rule_of_size_and_torch_threads(two_threads):
    cpu = torch.device("cpu")
    assert path_threads(cpu, 1e9) == 2  # large steps: torch's intra-op count
    assert path_threads(cpu, 1e3) == 1  # tiny steps: one thread
    assert path_threads(torch.device("meta"), 1e3) == 2  # not the CPU: untouched
    torch.set_num_threads(1)
    assert path_threads(cpu, 1e9) == 1


def _features(n: int, dim: int, k: int) -> ClipFeatures:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % k
    x = torch.randn(n, dim, generator=g) + 2.0 * torch.nn.functional.one_hot(labels, dim).float()
    return ClipFeatures(blocks=[x], sample_index=torch.arange(n), labels=labels, groups=["g"] * n,
                        sample_ids=[str(i) for i in range(n)])


def test_fit_records_threads_and_restores_them(two_threads):
    feats = _features(400, 4096, 8)  # 4 n (dim + 1) k = 5.2e7 flops per step: all threads
    costs = [1e-5, 1e-4, 1e-3]
    models = fit_squared_hinge_ovr(feats, costs, n_classes=8)
    assert all(m.info["cpu_threads"] == 2 for m in models)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)  # a one-thread process is left alone
    ref = fit_squared_hinge_ovr(feats, costs, n_classes=8)
    assert all(m.info["cpu_threads"] == 1 for m in ref) and torch.get_num_threads() == 1
    for a, b in zip(models, ref):  # the thread count does not change the solution beyond rounding
        torch.testing.assert_close(a.weights, b.weights, rtol=1e-3, atol=1e-4)


def _skewed_clock(slow_while_threads: int):
    """A ``time.perf_counter`` that advances 10 s per call while torch runs on ``slow_while_threads`` threads and
    0.01 s otherwise: a machine whose load makes the other thread count look faster."""
    state = {"t": 0.0}

    def clock() -> float:
        state["t"] += 10.0 if torch.get_num_threads() == slow_while_threads else 0.01
        return state["t"]

    return clock


def test_same_input_same_predictions_whatever_the_timing(two_threads, monkeypatch):
    """The thread count (and so the rounding of every GEMM) must not follow the clock: under two clocks that each
    make the other thread count look faster, the fitted models are bit-identical and record the same count.
    (The timed ``_PathThreads`` of 0.5.0 took 1 thread under one clock and 2 under the other.)"""
    from avbench.protocols import svm_torch

    feats = _features(400, 4096, 8)
    costs = [1e-5, 1e-4, 1e-3, 1e-2]
    fits = []
    for slow in (1, 2):
        monkeypatch.setattr(svm_torch.time, "perf_counter", _skewed_clock(slow))
        fits.append(fit_squared_hinge_ovr(feats, costs, n_classes=8))
    for a, b in zip(*fits):
        assert a.info["cpu_threads"] == b.info["cpu_threads"] == 2
        assert torch.equal(a.weights, b.weights) and torch.equal(a.bias, b.bias)
        assert torch.equal(decision_function(a, feats), decision_function(b, feats))


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
