"""Why a pretrainer does or does not learn the identity world (issue 20): two diagnostics. Not a test: CPU minutes.

``pairs RUN_DIR``: loads the run's last checkpoint (``RUN_DIR/checkpoints``, written by ``avbench pretrain``; its
``state.json`` gives the method and settings), draws ``--clips`` fresh world clips as the method's own view sampler
does (seed 7, a stream no run trains on) and prints, for each (prediction, target) pair of the method's loss, the
mean cosine of the TRUE pairs and of all other pairs of the batch, and the share of clips whose prediction is nearest
its own target (chance 1 / clips). Equal true and other cosines mean the term is met without telling clips apart.
Methods: crisscross (``p`` = predictor output, ``z`` = projector output; ``p_intra`` with ``intra_predictor``) and
temporal-ssl (``pred`` = phi(psi(F(x))), targets ``emb`` = psi(F(x)); ``pred_intra`` with ``intra_predictor``).

``trace``: trains CrissCross at ``--preset world`` (``--set`` overrides as ``avbench pretrain`` takes them) for
``--steps`` steps through ``avbench.pretrain.trainer.pretrain`` (its ``on_step`` hook) and prints, every 16 steps, the loss, ``std_v`` and the mean
absolute weights of the video predictor (first linear layer, its BatchNorm gamma, last linear layer)::

    python benchmarks/identity_diagnostics.py pairs /tmp/avbench-identity-evidence/seed0/temporal-ssl-k0-e10
    python benchmarks/identity_diagnostics.py trace --steps 320
    python benchmarks/identity_diagnostics.py trace --steps 192 --set train.weight_decay=0
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from avbench.pretrain.data import collate
from avbench.pretrain.inspect_run import load_run
from avbench.pretrain.trainer import PretrainOptions, pretrain

#: (prediction key, target key) per method; keys of :func:`embed`'s output
PAIRS = {"crisscross": [("p_v1", "z_v2"), ("p_v1", "z_a1"), ("p_v1", "z_a2"), ("p_a1", "z_a2"), ("p_a1", "z_v1"),
                        ("p_intra_v1", "z_v2"), ("p_intra_a1", "z_a2"), ("z_v1", "z_a1"), ("z_v1", "z_v2")],
         "temporal-ssl": [("pred_v_r", "emb_v_s"), ("pred_v_r", "emb_a_r"), ("pred_a_r", "emb_a_s"),
                          ("pred_a_r", "emb_v_r"), ("pred_intra_v_r", "emb_v_s"), ("pred_intra_a_r", "emb_a_s"),
                          ("emb_v_r", "emb_a_r")]}


@torch.no_grad()
def embed(method: str, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """L2-normalised ``[B, D]`` outputs of every head the method's loss compares, keyed as in :data:`PAIRS`."""
    out: dict[str, torch.Tensor] = {}
    if method == "crisscross":
        for key in ("v1", "v2", "a1", "a2"):
            m = "video" if key[0] == "v" else "audio"
            p, z = model._embed(m, batch[key])
            out[f"p_{key}"], out[f"z_{key}"] = p, z
            if hasattr(model, "intra_predictor"):
                out[f"p_intra_{key}"] = model.intra_predictor[m](z)
    else:
        for key in ("v_r", "v_s", "a_r", "a_s"):
            m = "video" if key[0] == "v" else "audio"
            emb = model.projector[m](model.encoder.trunk(m)(batch[key], ["pool"])["pool"])
            out[f"emb_{key}"], out[f"pred_{key}"] = emb, model.predictor[m](emb)
            if hasattr(model, "intra_predictor"):
                out[f"pred_intra_{key}"] = model.intra_predictor[m](emb)
    return {k: F.normalize(v.float(), dim=1) for k, v in out.items()}


def pair_stats(a: torch.Tensor, b: torch.Tensor) -> str:
    """True-pair vs other-pair cosine of ``[B, D]`` rows, and the share of rows nearest their own partner."""
    c = a @ b.T
    off = c[~torch.eye(len(c), dtype=torch.bool)]
    top1 = (c.argmax(1) == torch.arange(len(c))).float().mean()
    return f"true {c.diag().mean():+.3f}  others {off.mean():+.3f} (sd {off.std():.3f})  nearest-own {top1:.2f}"


def pairs(run_dir: Path, clips: int) -> None:
    model, dataset, resolved = load_run(run_dir, seed=7)
    method = resolved["method"]
    out = embed(method, model, collate([dataset[i] for i in range(clips)]))
    print(f"{run_dir} ({method}, {clips} clips; chance nearest-own {1 / clips:.2f})")
    for a, b in PAIRS[method]:
        if a in out and b in out:
            print(f"  {a:>15} . {b:<8} {pair_stats(out[a], out[b])}")


def trace(steps: int, overrides: dict[str, Any]) -> None:
    from avbench.taskcard import deep_merge

    def show(row: dict[str, Any], model: Any) -> None:
        if row["step"] % 16 == 0:
            pred = model.predictor["video"]
            print(f"step {row['step']:5d}  loss {row['loss']:+.3f}  std_v {row['std_v']:.3f}  |W1| "
                  f"{pred[0].weight.abs().mean():.2e}  |gamma| {pred[1].weight.abs().mean():.2e}  |W2| "
                  f"{pred[3].weight.abs().mean():.2e}", flush=True)

    with tempfile.TemporaryDirectory(prefix="avbench-trace-") as out:
        opts = PretrainOptions(out=Path(out), data="identity-world", seed=0, log=lambda _m: None, progress=False,
                               stop_after_steps=steps, on_step=show)
        pretrain("crisscross", preset="world", overrides=deep_merge({"train": {"epochs": 10}}, overrides),
                 options=opts)


def main() -> None:
    from avbench.taskcard import deep_merge, parse_override

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs", help="true vs other cosines of a run's last checkpoint")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--clips", type=int, default=64)
    t = sub.add_parser("trace", help="CrissCross's video predictor weights during world-preset training")
    t.add_argument("--steps", type=int, default=320)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cmd == "pairs":
        pairs(args.run_dir, args.clips)
    else:
        overrides: dict[str, Any] = {}
        for text in args.set:
            overrides = deep_merge(overrides, parse_override(text))
        trace(args.steps, overrides)


if __name__ == "__main__":
    main()
