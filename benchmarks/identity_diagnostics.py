"""Why a pretrainer does or does not learn the identity world (issue 20): three diagnostics. Not a test: CPU minutes.

``pairs RUN_DIR``: loads the run's last checkpoint (``RUN_DIR/checkpoints``, written by ``avbench pretrain``; its
``state.json`` gives the method and settings), draws ``--clips`` fresh world clips as the method's own view sampler
does (seed 7, a stream no run trains on) and prints, for each (prediction, target) pair of the method's loss, the
mean cosine of the TRUE pairs and of all other pairs of the batch, and the share of clips whose prediction is nearest
its own target (chance 1 / clips). Equal true and other cosines mean the term is met without telling clips apart.
Methods: crisscross (``p`` = predictor output, ``z`` = projector output; ``p_intra`` with ``intra_predictor``) and
temporal-ssl (``pred`` = phi(psi(F(x))), targets ``emb`` = psi(F(x)); ``pred_intra`` with ``intra_predictor``).

``trace``: trains CrissCross at ``--preset world`` (``--set`` overrides as ``avbench pretrain`` takes them) for
``--steps`` steps through ``avbench.pretrain.trainer.pretrain`` (its ``on_step`` hook) and prints, every 16 steps,
the loss, ``std_v`` and the mean absolute weights of the video predictor (first linear layer, its BatchNorm gamma,
last linear layer).

``simclr``: can a plain in-batch InfoNCE (SimCLR's NT-Xent: no predictor, no memory bank, no other term) across
scenes learn one modality's identity at the world preset's width, views and steps? It trains only that modality's
trunk of the world-preset CrissCross encoder (the supervised ceiling's trunks, init seed ``--seed``) on CrissCross's
own views (relaxation ``medium``: the two views of a clip lie in different scenes, so they share only the
identity), with a projector Linear-BN-ReLU-Linear 64-256-128, temperature ``--temperature``, Adam at 1e-3 with a
one-epoch warm-up and cosine decay, and probes the trunk with the evidence probe (calibrated floor -> trained)::

    python benchmarks/identity_diagnostics.py pairs /tmp/avbench-identity-evidence/seed0/temporal-ssl-k0-e10
    python benchmarks/identity_diagnostics.py trace --steps 320
    python benchmarks/identity_diagnostics.py trace --steps 192 --set train.weight_decay=0
    python benchmarks/identity_diagnostics.py simclr --modality video --steps 1920
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any

import torch
import torch.nn.functional as F

from avbench.pretrain.data import collate
from avbench.pretrain.inspect_run import load_run
from avbench.pretrain.trainer import PretrainOptions, pretrain
from avbench.runtime.denormals import flushed_denormals

#: the views of each modality in CrissCross's sampler (relaxation medium: different scenes)
VIEW_KEYS = {"video": ("v1", "v2"), "audio": ("a1", "a2")}

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


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss on ``[B, D]`` projections of two views: each of the 2B rows against the other 2B - 1, its
    partner the positive (chance: log(2B - 1))."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = len(z1)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, target)


def simclr(modality: str, steps: int, seed: int, temperature: float, out: Path | None, *, n_per_class: int = 100,
           calibration_clips: int = 500) -> tuple[dict[str, Any], Any, Any]:
    """Train, probe, print and append the row; returns (row, the trained encoder, the random one it started from
    with its BatchNorm statistics re-estimated)."""
    import sys

    from avbench.pretrain import trainer
    from avbench.pretrain.heads import mlp
    from avbench.pretrain.method import get_method
    from avbench.pretrain.optim import lr_factor
    from avbench.pretrain.probe import calibrate_batchnorm, calibration_windows, make_probe_data, probe_encoder

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="avbench-simclr-") as tmp:
        opts = PretrainOptions(out=Path(tmp), data="identity-world", seed=seed, init_seed=seed,
                               log=lambda _m: None, progress=False)
        run = trainer.setup_run("crisscross", "world", {"train": {"epochs": 10}}, opts)
    enc, k1, k2 = run.model.encoder, *VIEW_KEYS[modality]
    trunk = enc.trunk(modality)
    torch.manual_seed(seed + 1)
    head = mlp([enc.meta.embedding_dims[modality], 256, 128], bn_last=False)
    params = [*trunk.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-6)
    bs, per_epoch = run.cfg.train.batch_size, run.steps_per_epoch
    step, losses = 0, []
    trunk.train()
    head.train()
    with flushed_denormals():
        while step < steps:
            run.dataset.epoch = step // per_epoch
            loader = torch.utils.data.DataLoader(run.dataset, batch_size=bs, num_workers=1, collate_fn=collate,
                                                 sampler=range(per_epoch * bs))
            for batch in loader:
                for g in opt.param_groups:
                    g["lr"] = 1e-3 * lr_factor(step, total_steps=steps, warmup_steps=per_epoch, final_ratio=0.0)
                z1 = head(trunk(batch[k1], ["pool"])["pool"])
                z2 = head(trunk(batch[k2], ["pool"])["pool"])
                loss = nt_xent(z1, z2, temperature)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"simclr step {step}: loss {loss.item()}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                step += 1
                if step % 64 == 0:
                    print(f"step {step:5d}  nt-xent {mean(losses[-64:]):.3f}  (chance {math.log(2 * bs - 1):.3f})",
                          flush=True)
                if step >= steps:
                    break
    row: dict[str, Any] = {"name": f"simclr-{modality}", "diagnostic": "simclr", "modality": modality, "seed": seed,
                           "steps": steps, "batch_size": bs, "temperature": temperature,
                           "loss_first64": mean(losses[:64]), "loss_last64": mean(losses[-64:]),
                           "loss_per_epoch": [round(mean(losses[i:i + per_epoch]), 4)
                                              for i in range(0, len(losses), per_epoch)],
                           "command": " ".join(["python", *sys.argv])}
    data = make_probe_data(enc.arch.fps, enc.arch.logmel().sample_rate, n_per_class)
    row["trained"] = probe_encoder(enc, data, modality).top1
    random_enc = get_method("crisscross")(run.cfg, init_seed=seed).encoder  # the trunks this run started from
    calibrate_batchnorm(random_enc, calibration_windows(enc.arch.fps, enc.arch.logmel().sample_rate,
                                                        calibration_clips, modality), modality)
    row["random_cal"] = probe_encoder(random_enc, data, modality).top1
    row["wall_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    print(json.dumps(row), flush=True)
    if out is not None:
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    return row, enc, random_enc


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
    s = sub.add_parser("simclr", help="a plain in-batch InfoNCE across scenes on one modality, then the probe")
    s.add_argument("--modality", choices=sorted(VIEW_KEYS), default="video")
    s.add_argument("--steps", type=int, default=1920)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=float, default=0.1)
    s.add_argument("--out", type=Path, default=None, help="append the row (JSON) to this file")
    s.add_argument("--n-per-class", type=int, default=100, help="probe clips per class, train and test each")
    s.add_argument("--calibration-clips", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cmd == "pairs":
        pairs(args.run_dir, args.clips)
    elif args.cmd == "simclr":
        simclr(args.modality, args.steps, args.seed, args.temperature, args.out, n_per_class=args.n_per_class,
               calibration_clips=args.calibration_clips)
    else:
        overrides: dict[str, Any] = {}
        for text in args.set:
            overrides = deep_merge(overrides, parse_override(text))
        trace(args.steps, overrides)


if __name__ == "__main__":
    main()
