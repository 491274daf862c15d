"""Pretraining on the identity world (`--data identity-world`): a fresh rendered clip per sample, and a 20-step
smoke run of every method's `world` preset end to end (issue 20, item 1)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avbench.media.threads import one_cpu_thread
from avbench.pretrain.data import PretrainDataset, resolve_sources
from avbench.pretrain.identity_source import CLIPS_PER_EPOCH, IdentityRenderer
from avbench.pretrain.trainer import PretrainOptions, pretrain


def test_sources_render_a_fresh_labelled_clip_per_sample(tmp_path) -> None:
    src = resolve_sources("identity-world", cache_dir=tmp_path, log=lambda m: None)
    assert len(src.items) == CLIPS_PER_EPOCH >= 5000 and src.synthetic and src.renderer is not None
    assert [i.label for i in src.items[:8]] == [0, 1, 2, 3, 4, 5, 0, 1] and len(src.classes) == 6
    ds = PretrainDataset(src.items, lambda d, g: {"frames": d.frames, "wave": d.wave}, fps=16.0, sample_rate=16000,
                         seed=0, renderer=src.renderer)
    a = ds[7]
    assert a["label"].item() == 1 and a["frames"].shape == (32, 48, 48, 3) and a["wave"].shape == (32000,)
    assert torch.equal(ds[7]["frames"], a["frames"])  # deterministic for (epoch, index)
    assert not torch.equal(ds[8]["frames"], a["frames"])
    ds.epoch = 1
    assert not torch.equal(ds[7]["frames"], a["frames"])  # a fresh clip every epoch: nothing to memorise
    assert list(tmp_path.iterdir()) == []  # nothing written: rendered in memory
    d = IdentityRenderer(seed=0)(7, 0, 16.0, 16000)
    assert d.segments == ((0.0, 1.0), (1.0, 2.0)) and d.seconds == 2.0


@pytest.mark.parametrize("method", ["crisscross", "avcl", "temporal-ssl", "supervised"])
def test_world_preset_pretrains_20_steps(method, tmp_path) -> None:
    out = tmp_path / method
    from avbench.runtime.denormals import flush_denormal_enabled as flushing

    seen: list[tuple[dict, object, bool]] = []  # the public per-step hook: every step's history row and the model
    torch.set_flush_denormal(False)  # the caller's setting (conftest restores the suite's after the test)
    with one_cpu_thread("cpu"):  # on 2 shared cores, two torch threads spin against each other and other jobs
        path = pretrain(method, preset="world", overrides={"train": {"batch_size": 8, "max_steps": 20}},
                        options=PretrainOptions(out=out, data="identity-world", progress=False, log=lambda m: None,
                                                on_step=lambda row, model: seen.append((row, model, flushing()))))
    assert path == out / "encoder.safetensors" and path.is_file()
    card = json.loads((out / "card.json").read_text())
    assert card["steps"] == 20 and card["n_videos"] == CLIPS_PER_EPOCH and card["n_skipped"] == 0
    assert card["arch"]["video_width"] == 8 and card["arch"]["min_size"] == 32
    history = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 20 and np.isfinite([r["loss"] for r in history]).all()
    assert [r for r, _, _ in seen] == history and len({id(m) for _, m, _ in seen}) == 1
    # the CPU steps ran with subnormals flushed to zero (27.8x faster on them), and the caller's setting is back
    assert all(f for _, _, f in seen) and not flushing()
    from avbench.registry import build_encoder

    enc = build_encoder("crisscross" if method == "supervised" else method, weights=str(out))
    assert enc.meta.embedding_dims == {"video": 64, "audio": 64}
    if method == "crisscross":  # the evidence script's --at-step reads the trunks back from a checkpoint
        from tests._bench import load_benchmark

        ev = load_benchmark("identity_evidence")
        at = ev.checkpoint_encoder(out, 20).state_dict()
        final = enc.state_dict()
        assert at.keys() == final.keys() and all(torch.equal(at[k], final[k]) for k in final)
        with pytest.raises(FileNotFoundError, match="no checkpoint at step 10"):
            ev.checkpoint_encoder(out, 10)
    if method in ("crisscross", "temporal-ssl"):  # benchmarks/identity_diagnostics.py reads the run's checkpoint
        from avbench.pretrain.inspect_run import load_run

        model, dataset, resolved = load_run(out, seed=7)
        assert resolved["method"] == method and model.training and len(dataset) == CLIPS_PER_EPOCH
        trunk, final = model.encoder.state_dict(), enc.state_dict()
        assert all(torch.equal(trunk[k], final[k]) for k in final), "load_run: not the last checkpoint's trunks"
        _check_pairs_diagnostic(method, out)


def _check_pairs_diagnostic(method: str, out) -> None:
    import contextlib
    import io

    from tests._bench import load_benchmark

    diag = load_benchmark("identity_diagnostics")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        diag.pairs(out, clips=8)
    lines = [x for x in buf.getvalue().splitlines() if " true " in x]
    # every pair of the method's loss (no intra predictor here), each with finite cosines in [-1, 1]
    expected = [p for p in diag.PAIRS[method] if "intra" not in p[0]]
    assert len(lines) == len(expected), buf.getvalue()
    for line in lines:
        values = [float(t) for t in line.replace("(", " ").replace(")", " ").split() if t[0] in "+-"]
        assert values and all(-1.0001 <= v <= 1.0001 for v in values[:2]), line
