"""benchmarks/pretrain_gpu.py --dry-run (issue 20, item 5): the GPU evidence script runs end to end on the CPU at
toy sizes, every method through the GPU view path, with probes at two checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avbench.pretrain.gpu_views import GpuViews, video_batch
from tests._bench import load_benchmark


def _script():
    return load_benchmark("pretrain_gpu")


@pytest.mark.slow
def test_dry_run_trains_every_method_and_probes_twice(tmp_path) -> None:
    out = tmp_path / "rows.jsonl"
    rows = _script().main(["--dry-run", "--out", str(out)])
    assert [(r["run"], r["step"]) for r in rows] == [(m, s) for m in ("crisscross", "avcl", "temporal-ssl",
                                                                        "supervised") for s in (1, 2)]
    for r in rows:
        for k in ("video_random", "video_random_cal", "video_trained", "audio_random", "audio_random_cal",
                  "audio_trained", "loss_first", "loss_last10"):
            assert np.isfinite(r[k]), (r["run"], k)
        assert r["clip_samples"] == r["step"] * 8 and r["device"] == "cpu"
    assert [json.loads(x) for x in out.read_text().splitlines()] == rows


def test_gpu_views_draw_per_sample_parameters_and_method_batches() -> None:
    script = _script()
    pool = script.render_pool(6, 48, torch.device("cpu"), workers=1)
    assert pool.frames.shape == (6, 64, 48, 48, 3) and pool.audio.dtype == torch.float16
    assert pool.frames_per_scene == 16 and pool.samples_per_scene == 16000
    g = torch.Generator().manual_seed(0)
    clip = torch.tensor([0, 0, 0, 0])  # the same clip and frames four times: only the augmentation differs
    x = video_batch(pool, clip, torch.zeros(4, dtype=torch.long), 8, g, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert x.shape == (4, 3, 8, 48, 48)
    assert all(not torch.allclose(x[0], x[i]) for i in (1, 2, 3))  # a crop / flip / jitter per sample
    plain = video_batch(pool, clip[:1], torch.zeros(1, dtype=torch.long), 8, g, mean=(0.0,) * 3, std=(1.0,) * 3,
                        augment=False)
    assert torch.allclose(plain[0, :, 0].permute(1, 2, 0) * 255, pool.frames[0, 0].float(), atol=1e-3)
    shapes = {"crisscross": {"v1": (2, 3, 8, 48, 48), "a2": (2, 1, 80, 101)},
              "avcl": {"v": (2, 3, 8, 48, 48), "a": (2, 1, 256, 201)},
              "temporal-ssl": {"v_s": (2, 3, 8, 48, 48), "a_r": (2, 1, 80, 51), "order": (2, 4)},
              "supervised": {"v1": (2, 3, 8, 48, 48), "label": (2,)}}
    for method, want in shapes.items():
        model = script.build_model(method, 4, 2, 2)
        batch = GpuViews(method, model, torch.device("cpu"))(pool, torch.tensor([1, 4]), g)
        for k, shape in want.items():
            assert tuple(batch[k].shape) == shape, (method, k)
        if method == "temporal-ssl":
            assert set(batch["order"].unique().tolist()) <= {0, 2}  # r and s never share a scene
        loss, _ = model(batch)
        assert torch.isfinite(loss)


def test_evidence_run_names_build_that_runs_config_at_the_gpu_width() -> None:
    script = _script()
    model = script.build_model("crisscross-infonce-head-wd6-async", 4, 8, 2)
    cfg = model.cfg
    assert cfg.objective == "infonce" and list(cfg.terms) == ["a1a2", "v1a2", "a1v2"]
    assert cfg.train.weight_decay == 1e-6 and cfg.train.batch_size == 8 and cfg.arch["video_width"] == 4
    assert script.build_model("crisscross", 4, 8, 2).cfg.objective == "simsiam"
    with pytest.raises(SystemExit, match="no-such-run"):
        script.main(["--dry-run", "--methods", "no-such-run"])


def test_dry_run_of_an_evidence_run_trains_its_terms() -> None:
    rows = _script().main(["--dry-run", "--methods", "crisscross-infonce-head-wd6-async"])
    assert [(r["run"], r["step"]) for r in rows] == [("crisscross-infonce-head-wd6-async", s) for s in (1, 2)]
    over = rows[0]["overrides"]  # the resolved overrides, so a row stays true if RUNS later changes
    assert rows[0]["method"] == "crisscross" and over["objective"] == "infonce"
    assert over["terms"] == ["a1a2", "v1a2", "a1v2"] and over["train"]["weight_decay"] == 1e-6
    assert all(np.isfinite(r["loss_last10"]) for r in rows)
