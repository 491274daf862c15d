"""Why a pretrainer does or does not learn the identity world (issue 20): four diagnostics. Not a test: CPU minutes.

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
identity), with a projector Linear-BN-ReLU-Linear 64-256-128, temperature ``--temperature``, Adam at ``--lr``
(1e-3) with a one-epoch warm-up and cosine decay, and probes the trunk with the evidence probe (calibrated floor ->
trained). ``--area LO HI`` renders every clip of the run (pretraining views, probe and BatchNorm calibration clips)
with objects covering LO-HI of the frame instead of the world's 8-18 % (``AREA_RANGE``): does a video trunk that
reads the shape better at random init learn it without labels? The row records the range. ``--modality av``
trains both trunks (a projector each, into one 128-D space) on the mean NT-Xent of the audio pair and the two
ASYNCHRONOUS cross-modal pairs (v1 with a2, v2 with a1: a scene's video with the other scene's audio), the pairs
that share only the identity, and probes both: can an audio trunk that learns the timbre teach the video trunk the
shape, as CrissCross's asynchronous terms are meant to (its Table 1)? ``--pairs`` sets the pairs by hand.
By default each view goes through its trunk in a call of its own, so BatchNorm normalises the two views of a pair
with different batch statistics; ``--one-pass`` concatenates the views of a modality into one call.

``escape RUN_DIR ...``: for runs of ``objective: infonce``, the step at which each loss term leaves chance
(``benchmarks/_identity/escape.py``: the first step whose trailing ``--window``-step mean of the term in
``history.jsonl`` lies ``--margin`` nats below ln(2B - 1)); reads only the run's files, so it works on a run still
training::

    python benchmarks/identity_diagnostics.py pairs /tmp/avbench-identity-evidence/seed0/temporal-ssl-k0-e10
    python benchmarks/identity_diagnostics.py escape /tmp/avbench-identity-evidence/seed*/crisscross-infonce-head-wd6-async-e10
    python benchmarks/identity_diagnostics.py trace --steps 320
    python benchmarks/identity_diagnostics.py trace --steps 192 --set train.weight_decay=0
    python benchmarks/identity_diagnostics.py simclr --modality video --steps 1920
    python benchmarks/identity_diagnostics.py simclr --modality video --area 0.15 0.25
    python benchmarks/identity_diagnostics.py simclr --modality av
    python benchmarks/identity_diagnostics.py simclr --modality video --one-pass
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from avbench.pretrain.data import collate
from avbench.pretrain.inspect_run import load_run
from avbench.pretrain.trainer import PretrainOptions, pretrain
from avbench.runtime.denormals import flushed_denormals
from avbench_baselines.crisscross.losses import nt_xent  # SimCLR's NT-Xent (the tests read it here too)

#: the modality of a view key's first letter
MODALITY = {"v": "video", "a": "audio"}
#: the view pairs a ``simclr`` run contrasts by default, per ``--modality``: ``av`` = the audio pair and the two
#: asynchronous cross-modal pairs (video of one scene with audio of the other), the pairs that share only the identity
SIMCLR_PAIRS = {"video": ("v1v2",), "audio": ("a1a2",), "av": ("a1a2", "v1a2", "v2a1")}

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


@contextlib.contextmanager
def world_variant(area: tuple[float, float] | None = None) -> Iterator[dict[str, Any]]:
    """Within the block, every identity-world clip is rendered with object areas drawn from ``area`` (fractions of
    the frame; None: the world's own :data:`~avbench.synth.identity_world.AREA_RANGE`); yields the range in force.
    Forked workers (the DataLoader's, the probe's renderers) inherit it; every shape keeps the area of the others,
    so the area says nothing about the class."""
    from avbench.synth import identity_world as world

    saved = world.AREA_RANGE
    if area is not None:
        lo, hi = area
        if not 0.0 < lo <= hi <= 0.25:  # the bar (length sqrt(3 * area)) stops fitting the frame above 0.25
            raise ValueError(f"--area {lo} {hi}: need 0 < LO <= HI <= 0.25 (fractions of the frame)")
        world.AREA_RANGE = (float(lo), float(hi))
    try:
        yield {"object_area": list(world.AREA_RANGE)}
    finally:
        world.AREA_RANGE = saved


def simclr(modality: str, steps: int, seed: int, temperature: float, out: Path | None, *, n_per_class: int = 100,
           calibration_clips: int = 500, lr: float = 1e-3, area: tuple[float, float] | None = None,
           pairs: list[str] | None = None, one_pass: bool = False) -> tuple[dict[str, Any], Any, Any]:
    """Train, probe, print and append the row; returns (row, the trained encoder, the random one it started from
    with its BatchNorm statistics re-estimated)."""
    with world_variant(area) as in_force:
        row, enc, random_enc = _simclr(modality, steps, seed, temperature, n_per_class=n_per_class,
                                       calibration_clips=calibration_clips, lr=lr, variant=in_force, pairs=pairs,
                                       one_pass=one_pass)
    print(json.dumps(row), flush=True)
    if out is not None:
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    return row, enc, random_enc


def view_pairs(modality: str, pairs: list[str] | None) -> list[tuple[str, str]]:
    """The (view, view) pairs a ``simclr`` run contrasts: ``pairs`` given as ``"a1a2"``-style strings, else the
    default of ``modality`` (:data:`SIMCLR_PAIRS`); raises ValueError on an unknown view key."""
    names = list(pairs or SIMCLR_PAIRS[modality])
    bad = [p for p in names if not {p[:2], p[2:]} <= {"v1", "v2", "a1", "a2"} or p[:2] == p[2:]]
    if bad:
        raise ValueError(f"--pairs {' '.join(bad)}: not two different views of v1, v2, a1, a2 (e.g. a1a2 v1a2)")
    return [(p[:2], p[2:]) for p in names]


def pair_modalities(pairs: list[tuple[str, str]]) -> list[str]:
    """The modalities (sorted) whose trunks the view ``pairs`` train."""
    return sorted({MODALITY[k[0]] for p in pairs for k in p})


def embed_views(enc: Any, heads: dict[str, Any], batch: dict[str, torch.Tensor], keys: list[str],
                one_pass: bool) -> dict[str, torch.Tensor]:
    """``[B, 128]`` projections of the views ``keys`` of ``batch``: each view through its own trunk and projector
    call, or (``one_pass``) all views of a modality concatenated into one call, so that BatchNorm (train mode)
    normalises them with the same batch statistics, as SimCLR's global BatchNorm does."""
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(MODALITY[k[0]], []).append(k)
    z: dict[str, torch.Tensor] = {}
    for m, ks in groups.items():
        calls = [ks] if one_pass else [[k] for k in ks]
        for call in calls:
            out = heads[m](enc.trunk(m)(torch.cat([batch[k] for k in call]), ["pool"])["pool"])
            z.update(zip(call, out.chunk(len(call))))
    return z


def _train_simclr(run: Any, pairs: list[tuple[str, str]], steps: int, seed: int, temperature: float,
                  lr: float, one_pass: bool = False) -> list[float]:
    """Train the trunks of the views in ``pairs`` (with one projector per modality) for ``steps`` steps on the
    mean NT-Xent over the pairs; returns the loss per step."""
    from avbench.pretrain.heads import mlp
    from avbench.pretrain.optim import lr_factor

    enc = run.model.encoder
    mods = pair_modalities(pairs)
    keys = sorted({k for p in pairs for k in p})
    torch.manual_seed(seed + 1)
    heads = {m: mlp([enc.meta.embedding_dims[m], 256, 128], bn_last=False) for m in mods}
    params = [q for m in mods for q in (*enc.trunk(m).parameters(), *heads[m].parameters())]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=1e-6)
    bs, per_epoch = run.cfg.train.batch_size, run.steps_per_epoch
    losses: list[float] = []
    for m in mods:
        enc.trunk(m).train()
        heads[m].train()
    with flushed_denormals():
        while len(losses) < steps:
            run.dataset.epoch = len(losses) // per_epoch
            loader = torch.utils.data.DataLoader(run.dataset, batch_size=bs, num_workers=1, collate_fn=collate,
                                                 sampler=range(per_epoch * bs))
            for batch in loader:
                for g in opt.param_groups:
                    g["lr"] = lr * lr_factor(len(losses), total_steps=steps, warmup_steps=per_epoch, final_ratio=0.0)
                z = embed_views(enc, heads, batch, keys, one_pass)
                loss = torch.stack([nt_xent(z[a], z[b], temperature) for a, b in pairs]).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"simclr step {len(losses)}: loss {loss.item()}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if len(losses) % 64 == 0:
                    print(f"step {len(losses):5d}  nt-xent {mean(losses[-64:]):.3f}  "
                          f"(chance {math.log(2 * bs - 1):.3f})", flush=True)
                if len(losses) >= steps:
                    break
    return losses


def _simclr(modality: str, steps: int, seed: int, temperature: float, *, n_per_class: int, calibration_clips: int,
            lr: float, variant: dict[str, Any], pairs: list[str] | None,
            one_pass: bool) -> tuple[dict[str, Any], Any, Any]:
    import sys

    from avbench.pretrain import trainer
    from avbench.pretrain.method import get_method
    from avbench.pretrain.probe import calibrate_batchnorm, calibration_windows, make_probe_data, probe_encoder

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="avbench-simclr-") as tmp:
        opts = PretrainOptions(out=Path(tmp), data="identity-world", seed=seed, init_seed=seed,
                               log=lambda _m: None, progress=False)
        run = trainer.setup_run("crisscross", "world", {"train": {"epochs": 10}}, opts)
    chosen = view_pairs(modality, pairs)
    losses = _train_simclr(run, chosen, steps, seed, temperature, lr, one_pass)
    enc, per_epoch = run.model.encoder, run.steps_per_epoch
    row: dict[str, Any] = {"name": f"simclr-{modality}", "diagnostic": "simclr", "modality": modality, "seed": seed,
                           "pairs": ["".join(p) for p in chosen],
                           "steps": steps, "batch_size": run.cfg.train.batch_size, "temperature": temperature,
                           "lr": lr, **variant, "one_pass": one_pass,
                           "loss_first64": mean(losses[:64]), "loss_last64": mean(losses[-64:]),
                           "loss_per_epoch": [round(mean(losses[i:i + per_epoch]), 4)
                                              for i in range(0, len(losses), per_epoch)],
                           "command": " ".join(["python", *sys.argv]), "probe": {}}
    fps, rate = enc.arch.fps, enc.arch.logmel().sample_rate
    data = make_probe_data(fps, rate, n_per_class)
    random_enc = get_method("crisscross")(run.cfg, init_seed=seed).encoder  # the trunks this run started from
    for m in pair_modalities(chosen):
        calibrate_batchnorm(random_enc, calibration_windows(fps, rate, calibration_clips, m), m)
        row["probe"][m] = {"random_cal": probe_encoder(random_enc, data, m).top1,
                           "trained": probe_encoder(enc, data, m).top1}
    if len(row["probe"]) == 1:  # the single-modality rows' keys, as before
        row.update(next(iter(row["probe"].values())))
    row["wall_minutes"] = round((time.perf_counter() - t0) / 60, 1)
    return row, enc, random_enc


def escape(run_dirs: list[Path], margin: float, window: int, out: Path | None = None) -> list[str]:
    """One printed line per run: its steps so far and the step each active term left chance ("never"); with
    ``out``, also one JSON row per run appended there (run_dir, steps, left_chance_at with null for never, margin,
    window)."""
    here = str(Path(__file__).resolve().parent)  # holds _identity
    if here not in sys.path:
        sys.path.insert(0, here)
    from _identity.escape import run_escapes

    lines = []
    for run_dir in run_dirs:
        n, steps = run_escapes(run_dir, margin=margin, window=window)
        lines.append(f"{run_dir} ({n} steps): left chance at " + ", ".join(
            f"{t} {'never' if s is None else s}" for t, s in steps.items()))
        print(lines[-1])
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps({"run_dir": str(run_dir), "steps": n, "left_chance_at": steps, "margin": margin,
                                    "window": window}) + "\n")
    return lines


def main(argv: list[str] | None = None) -> None:
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
    s.add_argument("--modality", choices=sorted(SIMCLR_PAIRS), default="video",
                   help="the trunk(s) to train: video, audio, or av (both, default pairs a1a2 v1a2 v2a1)")
    s.add_argument("--pairs", nargs="+", default=None, metavar="PAIR",
                   help="view pairs to contrast instead of the modality's default, e.g. a1a2 v1a2 v2a1 v1v2")
    s.add_argument("--one-pass", action="store_true",
                   help="all views of a modality through the trunk in one call (shared BatchNorm statistics)")
    s.add_argument("--steps", type=int, default=1920)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--temperature", type=float, default=0.1)
    s.add_argument("--lr", type=float, default=1e-3, help="Adam's peak rate (default 1e-3)")
    s.add_argument("--area", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="object area range, fractions of the frame (default: the world's 0.08 0.18)")
    s.add_argument("--out", type=Path, default=None, help="append the row (JSON) to this file")
    s.add_argument("--n-per-class", type=int, default=100, help="probe clips per class, train and test each")
    s.add_argument("--calibration-clips", type=int, default=500)
    e = sub.add_parser("escape", help="the step at which each term of objective-infonce runs left chance")
    e.add_argument("run_dirs", type=Path, nargs="+")
    e.add_argument("--margin", type=float, default=0.14, help="nats below chance (default 0.14)")
    e.add_argument("--window", type=int, default=48, help="trailing steps averaged (default 48)")
    e.add_argument("--out", type=Path, default=None, help="append a JSON row per run to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.cmd == "escape":
        try:
            escape(args.run_dirs, args.margin, args.window, args.out)
        except (ValueError, OSError) as exc:  # a stop-gradient run, or a folder that is no pretraining output
            raise SystemExit(f"identity_diagnostics escape: {exc}") from None
    elif args.cmd == "pairs":
        pairs(args.run_dir, args.clips)
    elif args.cmd == "simclr":
        simclr(args.modality, args.steps, args.seed, args.temperature, args.out, n_per_class=args.n_per_class,
               calibration_clips=args.calibration_clips, lr=args.lr,
               area=tuple(args.area) if args.area else None, pairs=args.pairs, one_pass=args.one_pass)
    else:
        overrides: dict[str, Any] = {}
        for text in args.set:
            overrides = deep_merge(overrides, parse_override(text))
        trace(args.steps, overrides)


if __name__ == "__main__":
    main()
