"""Parity with the authors' released code (issue 19): avbench against golden values obtained by RUNNING pritamqu/
CrissCross and facebookresearch/AVID-CMA on a CPU (tests/golden/authors_code: how each value was made).

Measured errors (this machine, float32): log-mel max |diff| 9.5e-6 (relative L2 4.3e-7); both trunks identical
(max |diff| 0) in eval and train mode; the ESC-50 feature (last-axis L2) relative L2 1.3e-6 once their BatchNorm1d
factor is applied; SVM top-1 / top-5 equal at every C of the sweep; the DCASE linear head from their initial
weights: the same test top-1 at all 30 epochs, final softmax within 1.5e-8.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from avbench.protocols.base import ClipFeatures

GOLDEN = Path(__file__).resolve().parent / "golden" / "authors_code"
VALUES = json.loads((GOLDEN / "values.json").read_text())


@pytest.fixture(scope="module")
def arrays():
    with np.load(GOLDEN / "arrays.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def recipe_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The golden weights: every tensor drawn from its key and shape alone (values.json ``backbones.recipe``)."""
    out = {}
    for k, v in state.items():
        g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(k.encode()).digest()[:4], "little"))
        shape = tuple(v.shape)
        if k.endswith("num_batches_tracked"):
            out[k] = torch.zeros_like(v)
        elif k.endswith("running_mean"):
            out[k] = 0.1 * torch.randn(shape, generator=g)
        elif k.endswith("running_var"):
            out[k] = 0.5 + torch.rand(shape, generator=g)
        elif k.endswith("bias"):
            out[k] = 0.1 * torch.randn(shape, generator=g)
        elif v.dim() == 1:
            out[k] = 0.5 + torch.rand(shape, generator=g)
        else:
            out[k] = torch.randn(shape, generator=g) * math.sqrt(2.0 / (shape[1] * math.prod(shape[2:])))
    return out


@pytest.fixture(scope="module")
def golden_encoder():
    from avbench_baselines.crisscross import build

    enc = build()
    for m in ("video", "audio"):
        trunk = enc.trunk(m)
        trunk.load_state_dict(recipe_state(trunk.state_dict()), strict=True)
    return enc.eval()


def _stats(x: torch.Tensor) -> dict[str, float]:
    a = x.detach().double()
    return {"mean": float(a.mean()), "std": float(a.std()), "sum": float(a.sum())}


def test_logmel_of_a_seeded_waveform(arrays):
    """Their StrongAug(val) under librosa 0.8.1 vs avbench's LogMelFrontend: 80 x 201, max |diff| 9.5e-6."""
    from avbench.media.logmel import LogMelFrontend

    torch.manual_seed(0)
    wave = torch.randn(32000) * 0.1
    ours = LogMelFrontend()(wave[None])[0].numpy()
    ref = arrays["logmel_seed0_2s"]
    g = VALUES["logmel_2s"]
    assert list(ours.shape) == g["shape"] == list(ref.shape)
    assert np.abs(ours - ref).max() < 2e-5
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-6
    assert ours.astype(np.float64).mean() == pytest.approx(g["mean"], abs=1e-6)
    for where, value in g["entries[c,mel,frame]"].items():
        assert ours[tuple(json.loads(where.replace("(", "[").replace(")", "]")))] == pytest.approx(value, abs=2e-5)


@pytest.mark.parametrize("case", ["video_8x112_eval", "video_8x224_eval", "video_8x112_trainmode", "audio_80x201_eval"])
def test_trunks_reproduce_their_backbone_code(case, golden_encoder):
    """conv5x of their R2Plus1D(18) / ResNet(18) with the recipe weights: identical here (checked to 1e-6)."""
    import copy

    g = VALUES["backbones"][case]
    seed, shape = {"video_8x112_eval": (1, (2, 3, 8, 112, 112)), "video_8x224_eval": (4, (1, 3, 8, 224, 224)),
                   "video_8x112_trainmode": (1, (2, 3, 8, 112, 112)), "audio_80x201_eval": (2, (2, 1, 80, 201))}[case]
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    enc = copy.deepcopy(golden_encoder)
    if case.endswith("trainmode"):
        enc.trunk("video").train()
    with torch.no_grad():
        out = (enc.encode_audio if case.startswith("audio") else enc.encode_video)(x, ["conv5x"])["conv5x"].data
    assert list(out.shape) == g["conv5x"]["shape"]
    for k, v in _stats(out).items():
        assert v == pytest.approx(g["conv5x"][k], rel=1e-6)


def test_esc50_feature_reproduces_their_aud_wrapper(golden_encoder, arrays):
    """log-mel -> trunk -> max-pool (1,3)/(1,2) -> L2 over the last (time) axis -> flatten (``last_axis_l2``) vs
    their Aud_Wrapper; their eval-mode BatchNorm1d with default statistics divides by sqrt(1 + 1e-5)."""
    from avbench.features.pooling import features_from_output
    from avbench.taskcard import Features, Pooling

    torch.manual_seed(0)
    wave = torch.randn(32000) * 0.1
    spec = Features(layer="conv5x", pool=Pooling(type="max", kernel=(1, 3), stride=(1, 2)), normalize="last_axis_l2")
    with torch.no_grad():
        out = golden_encoder.encode_audio(golden_encoder.audio_frontend(wave[None]), ["conv5x"])
        for k, v in _stats(out["conv5x"].data).items():
            assert v == pytest.approx(VALUES["backbones"]["esc50_conv5x_end_to_end"]["conv5x"][k], rel=1e-5)
        feat = features_from_output(out, "audio", spec).numpy()
    ref = arrays["esc_feature_seed0_2s"] * np.sqrt(1 + 1e-5)
    assert feat.shape == ref.shape == (1, 4608)
    assert np.linalg.norm(feat - ref) / np.linalg.norm(ref) < 5e-6


def svm_fixture() -> tuple[ClipFeatures, ClipFeatures]:
    """research19 ``fixtures.py:svm_fixture``: 10 classes, D 64; 100 train samples x 4 clips, 50 test x 3."""
    g = torch.Generator().manual_seed(7)
    mu = torch.randn(10, 64, generator=g)
    ytr, yte = torch.arange(100) % 10, torch.arange(50) % 10
    xtr = torch.relu(0.2 * mu[ytr.repeat_interleave(4)] + torch.randn(400, 64, generator=g))
    xte = torch.relu(0.2 * mu[yte.repeat_interleave(3)] + torch.randn(150, 64, generator=g))

    def feats(x, y, k):
        n = int(y.numel())
        return ClipFeatures([x], torch.arange(n).repeat_interleave(k), y, [str(i) for i in range(n)],
                            [f"s{i}" for i in range(n)])

    return feats(xtr, ytr, 4), feats(xte, yte, 3)


def test_svm_sweep_matches_their_linearsvc(arrays):
    """Per C: the same top-1 and top-5 as their sweep; decision scores within 2e-5 (relative L2) where their dual
    solver converged and within 2e-4 at C = 1, where it stopped at max_iter."""
    from avbench.protocols.svm import run_svm

    train, test = svm_fixture()
    res = run_svm(train, test, costs=[e["C"] for e in VALUES["svm"]["sweep"]], n_classes=10)
    for mine, theirs in zip(res.sweep, VALUES["svm"]["sweep"]):
        assert mine["test_top1"] == pytest.approx(theirs["test_top1"]) and mine["test_top5"] == pytest.approx(theirs["test_top5"])
    from avbench.protocols.svm import fit_backend, sample_scores

    models, _ = fit_backend("torch", train, [e["C"] for e in VALUES["svm"]["sweep"]], n_classes=10)
    for m, theirs in zip(models, VALUES["svm"]["sweep"]):
        ref = arrays[f"svm_scores_C_{theirs['C']:g}"]
        err = np.linalg.norm(sample_scores(m, test).double().numpy() - ref) / np.linalg.norm(ref)
        assert err < (2e-5 if theirs["converged"] else 2e-4), (theirs["C"], err)


def test_svm_released_selection_and_solver():
    """Their ``if top1 >= best`` keeps the LAST of tied C values (0.005 and 0.01 tie at 60 here): ``tie_break: last``.
    ``backend: sklearn, dual: true`` runs their solver, which stops unconverged at 1000 iterations at C = 1."""
    from avbench.protocols.svm import SVMProtocol, SVMSettings

    train, test = svm_fixture()
    costs = tuple(e["C"] for e in VALUES["svm"]["sweep"])
    last = SVMProtocol().classify(SVMSettings(type="svm", costs=costs, tie_break="last"), train, test, seed=0,
                                  device="cpu", n_classes=10)
    first = SVMProtocol().classify(SVMSettings(type="svm", costs=costs), train, test, seed=0, device="cpu", n_classes=10)
    assert last.selected["C"] == VALUES["svm"]["best"]["C"] == 0.01 and first.selected["C"] == 0.005
    released = SVMProtocol().classify(SVMSettings(type="svm", costs=costs, backend="sklearn", dual=True,
                                                  tie_break="last"), train, test, seed=0, device="cpu", n_classes=10)
    assert released.backend == "sklearn-liblinear-dual"
    at_one = released.sweep[-1]
    assert at_one["C"] == 1.0 and at_one["iterations"] == 1000 and at_one["converged"] is False
    assert all(e["converged"] for e in released.sweep[:-1])
    for mine, theirs in zip(released.sweep, VALUES["svm"]["sweep"]):
        assert mine["test_top1"] == pytest.approx(theirs["test_top1"])


def fc_fixture() -> tuple[ClipFeatures, ClipFeatures]:
    """research19 ``fixtures.py:fc_fixture``: maps [16, 3, 4] max-pooled (1,3)/(1,2) to 48-D; 20 recordings x 60."""
    g = torch.Generator().manual_seed(11)
    mu = torch.randn(10, 16, 3, 4, generator=g)
    y = torch.arange(20) % 10
    maps = [torch.relu(0.12 * mu[y.repeat_interleave(60)] + torch.randn(1200, 16, 3, 4, generator=g)) for _ in range(2)]
    rows = [torch.nn.functional.max_pool2d(m, (1, 3), (1, 2)).flatten(1) for m in maps]
    return tuple(ClipFeatures([r], torch.arange(20).repeat_interleave(60), y, [str(i) for i in range(20)],
                              [f"r{i}" for i in range(20)]) for r in rows)


def test_dcase_linear_head_from_their_initial_weights(arrays):
    """Their fc-tune (L2 -> Linear, Adam 7e-3, wd 1e-5), full batch, no dropout, 30 epochs, started from THEIR initial
    weights: the same test top-1 at every epoch and the final softmax within 1e-6."""
    from avbench.protocols.linear import LinearHead, _train

    train, test = fc_fixture()
    model = LinearHead(48, 10, dropout=0.0, l2_normalize=True, batchnorm=False, generator=torch.Generator())
    with torch.no_grad():
        model.fc.weight.copy_(torch.from_numpy(arrays["fc_fullbatch_w0"]))
        model.fc.bias.copy_(torch.from_numpy(arrays["fc_fullbatch_b0"]))
    opt = torch.optim.Adam(model.parameters(), lr=7e-3, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[])
    sweep, best, _ = _train(model, opt, sched, [train], test, None, epochs=30, batch_size=1200,
                            gen=torch.Generator().manual_seed(0), dev=torch.device("cpu"))
    assert [e["test_top1"] for e in sweep] == pytest.approx(VALUES["fc_fullbatch"]["test_top1"])
    from avbench.protocols.linear import _probabilities

    probs = _probabilities(model, test, torch.device("cpu")).numpy()
    assert np.abs(probs - arrays["fc_fullbatch_test_probs_final"]).max() < 1e-6


@pytest.mark.parametrize("case,seed,n,seconds,k,trim", [("esc50_2s_test", 1, 80000, 2.0, 10, True),
                                                        ("esc50_5s_test", 1, 80000, 5.0, 1, False),
                                                        ("dcase_test", 2, 480000, 1.0, 60, False)])
def test_released_dense_test_windows(case, seed, n, seconds, k, trim):
    """``windows: spectrogram``: one log-mel of the whole (trimmed) recording, windows cut in frames exactly where
    their ``AudioDataset(mode='video')`` cuts them (ESC-50 2 s: 200 of 201 frames at 0 x 9 and 1; 5 s: 500 of 501;
    DCASE: 100-frame windows of the 3001-frame map), and the same values (window sums within 1e-5 relative)."""
    from avbench.features.audio import spectrogram_windows
    from avbench.media.logmel import LogMelFrontend

    g = VALUES["test_windows"][case]
    torch.manual_seed(seed)
    wave = torch.randn(n) * 0.1
    if trim:
        wave = wave[:int(seconds * 16000)]
    spec = LogMelFrontend()(wave[None])[0]
    assert list(spec.shape) == g["full_spectrogram_shape"]
    windows = spectrogram_windows(spec, wave.numel(), 16000, seconds, k)
    assert windows.shape == (k, 1, 80, g["window_frames"])
    for w, off, ref_sum in zip(windows, g["window_offsets_frames"], g["window_sums"]):
        assert torch.equal(w, spec[..., off:off + g["window_frames"]])
        assert float(w.double().sum()) == pytest.approx(ref_sum, rel=1e-5)


def test_released_esc50_card_extracts_the_released_windows(tmp_path):
    """The esc50-released card through the audio media path: the first 2 s of each test clip, 10 windows of 200
    frames, the first nine identical and the tenth one frame later."""
    from avbench.datasets import get_dataset
    from avbench.features.audio import AudioPath
    from avbench.features.spec import ExtractionSpec
    from avbench.synth.audio_fixtures import write_esc50
    from avbench.taskcard import load_card
    from avbench_baselines.crisscross import build

    card = load_card("esc50-released")
    root = write_esc50(tmp_path / "esc50", n_classes=2, clips_per_class=2, seed=0)
    sample = get_dataset("esc50").load(root).samples[0]
    enc = build().eval()
    view = ExtractionSpec(side="test", modality="audio", clip=card.audio, sampling=card.test, features=card.features,
                          layer="conv5x", seed=None)
    path = AudioPath(enc, view, torch.device("cpu"), "float32")
    item = path.source([sample], [0])[0]
    assert item.clips.shape == (1, 32000)  # trimmed to the first 2 s
    windows, _ = path.prepare(item, sample)
    spec = enc.audio_frontend(item.clips)[0]
    assert windows.shape == (10, 1, 80, 200)
    assert all(torch.equal(w, spec[..., :200]) for w in windows[:9]) and torch.equal(windows[9], spec[..., 1:201])
    feats = path.forward(windows, [None] * 10)
    assert feats.shape == (10, 4608)


def test_released_dcase_head_drops_the_last_partial_batch():
    """Their DCASE config (batch 512, ``drop_last: true``) takes 2 steps per epoch over the fixture's 1200 rows."""
    from avbench.protocols.linear import train_linear_head

    train, test = fc_fixture()
    res = train_linear_head(train, test, epochs=2, lr=7e-3, weight_decay=1e-5, batch_size=512, dropout=0.1,
                            l2_normalize=True, drop_last=True)
    assert [e["steps"] for e in res.sweep] == [VALUES["fc_released"]["steps_per_epoch"]] * 2
