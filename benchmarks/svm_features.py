"""Dump one split's SVM training and test rows from a real evaluation pipeline to an ``.npz`` for
``benchmarks/svm_sweep.py --features``.

The rows are exactly what the card's SVM protocol receives: the task card's clips, augmentations, layer and
pooling, through the feature store (decoded once, cached). Arrays written:

* ``X_train [n_train_rows, D]`` float32, ``y_train [n_train_rows]`` int64 (every clip row carries its sample's
  label), ``sample_train [n_train_rows]`` int64 (row -> training sample, for grouping);
* ``X_test [n_test_rows, D]``, ``y_test [n_test_rows]``, ``sample_test [n_test_rows]`` likewise (test decision
  values are averaged per sample, as the protocol does).

    python benchmarks/svm_features.py --task esc50 --model crisscross --out feats.npz --data-root /data/ESC-50
    python benchmarks/svm_features.py --task esc50 --model randproj --esc50-classes 10 --esc50-per-class 40 \
        --out randproj.npz       # the issue's 1,024-D random-projection encoder on a 400-clip synthetic set

``--model randproj`` is a 1 024-D random-projection audio encoder (log-mel -> fixed Gaussian projection -> ReLU),
defined here; any other value is resolved as ``avbench eval --model`` does. Without ``--data-root`` a synthetic
ESC-50 of ``--esc50-classes`` x ``--esc50-per-class`` clips is written (44.1 kHz, 5 s) and used.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from avbench.encoder import POOLED, AudioSpec, Encoder, EncoderMeta
from avbench.media.logmel import LogMelFrontend


class RandomProjection(Encoder):
    """Audio: ``[B, N]`` 16 kHz -> CrissCross log-mel ``[B, 1, 80, T]`` -> mean and max over time per mel band,
    concatenated with the 80 x 8 time-pooled map -> ``[B, 800]`` -> fixed Gaussian projection (seeded) -> ReLU ->
    ``pooled [B, dim]``. No trained parameter: features of the kind an untrained wide encoder gives."""

    def __init__(self, dim: int = 1024, init_seed: int = 0) -> None:
        super().__init__()
        self.front = LogMelFrontend()
        g = torch.Generator().manual_seed(init_seed)
        self.register_buffer("proj", torch.randn(800, dim, generator=g) / 800 ** 0.5)
        self.register_buffer("bias", 0.5 * torch.randn(dim, generator=g))
        self.meta = EncoderMeta(name="randproj", version="1", modalities=("audio",),
                                description="log-mel -> fixed random projection -> ReLU (benchmarks/svm_features.py)",
                                audio=AudioSpec(sample_rate=16000, frontend="crisscross logmel", layers=(POOLED,)),
                                embedding_dims={"audio": dim}, n_parameters={"audio": 0}, init_seed=init_seed)

    def trunk(self, modality: str) -> nn.Module:
        return self

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 at 16 kHz -> ``[B, 1, 80, 1 + N // 160]``."""
        return self.front(waveform)

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, Any]:
        m = x[:, 0]
        pooled = nn.functional.adaptive_avg_pool1d(m, 8).flatten(1)
        z = torch.cat([m.mean(-1), m.amax(-1), pooled], 1)[:, :800]
        return {POOLED: torch.relu(z @ self.proj + self.bias)}


def dump(model: str | Encoder, task: str, split: str, out: Path, *, data_root: str | None, overrides: dict,
         cache_dir: str | None, workers: int) -> dict[str, Any]:
    """Extract ``task``'s views through the feature store and write ``split``'s rows to ``out`` (module docstring)."""
    from avbench.evaluation.loops import extract_views
    from avbench.evaluation.options import RunOptions
    from avbench.evaluation.plan import make_plan
    from avbench.features.clips import select

    opts = RunOptions(cache_dir=cache_dir, num_workers=workers)
    plan = make_plan(model, task, data_root=data_root, overrides=overrides, seeds=None, weights=None, init_seed=0,
                     opts=opts)
    views = extract_views(plan, opts)
    (train_view, _), (test_view, _) = views[(plan.seeds[0], plan.mods[0])]
    sp = plan.manifest.splits[split]
    train = select(train_view, plan.train_samples, [i for i in sp["train"] if i in plan.by_id])
    test = select(test_view, plan.test_samples, [i for i in sp["test"] if i in plan.by_id])
    arrays = {}
    for side, f in (("train", train), ("test", test)):
        arrays[f"X_{side}"] = f.dense().numpy().astype(np.float32)
        arrays[f"y_{side}"] = f.row_labels.numpy().astype(np.int64)
        arrays[f"sample_{side}"] = f.sample_index.numpy().astype(np.int64)
    np.savez(out, **arrays)
    return {k: v.shape for k, v in arrays.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="esc50")
    p.add_argument("--model", default="crisscross", help="'randproj' (defined here) or any avbench --model value")
    p.add_argument("--split", default="fold1")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--data-root", help="the data set in its official layout (default: a synthetic ESC-50)")
    p.add_argument("--esc50-classes", type=int, default=10)
    p.add_argument("--esc50-per-class", type=int, default=40)
    p.add_argument("--cache-dir")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="task-card override")
    args = p.parse_args(argv)
    from avbench.taskcard import deep_merge, parse_override

    overrides: dict = {}
    for text in args.set:
        overrides = deep_merge(overrides, parse_override(text))
    model: str | Encoder = RandomProjection() if args.model == "randproj" else args.model
    root = args.data_root
    with tempfile.TemporaryDirectory() as tmp:
        if root is None:
            from avbench.synth.audio_fixtures import write_esc50

            root = str(write_esc50(Path(tmp) / "esc50", n_classes=args.esc50_classes,
                                   clips_per_class=args.esc50_per_class, variety=False))
        shapes = dump(model, args.task, args.split, args.out, data_root=root, overrides=overrides,
                      cache_dir=args.cache_dir, workers=args.workers)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()))


if __name__ == "__main__":
    main()
