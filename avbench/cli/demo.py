"""``avbench demo``: the whole product on the embedded default, in minutes on a CPU.

It evaluates the checkpoint shipped in ``avbench/assets/`` (:data:`SHIPPED`; the exact ``avbench pretrain`` command
that made it is in its card), or any ``--weights`` made by ``avbench pretrain crisscross|avcl|temporal-ssl``, against
a random init of the same network (the encoder its card's ``method`` names, the same architecture and audio front-end
scale, the card's ``init_seed``: :func:`random_twin`), on the synthetic
ESC-50-layout and UCF101-layout sets of the world the checkpoint was pretrained on (:data:`WORLD_TASKS`, chosen
by the card's ``data``), through the ``esc50`` and ``ucf101-linear`` task cards, and prints the comparison table
with a verdict per row (:func:`verdict`, :data:`MARGIN`):

* the identity world (``--data identity-world``, :mod:`avbench.synth.identity_world`: the class is a cross-modal
  identity, an object shape and an impact timbre, that persists through scene cuts while every nuisance is
  redrawn): 300 clips in 5 folds and 306 videos in 3 splits. To stay within minutes on 2 cores the cards run with
  fewer clips: ESC-50 4 training crops and 4 test windows per clip instead of 10 and 10; UCF101 at the world's
  48² (resize 55), 3 training and 4 test clips per video instead of 25 and 10, and no cutout (a 20-px cutout
  would hide most of a 48² frame);
* the rhythm world (``--data world``, :mod:`avbench.synth.world`: the class is the rhythm of synchronised flashes
  and impacts): 60 clips and 54 videos; the video card at 112² (resize 128) with 5 training clips.

The records say so (``task.track: override``). The main process runs one torch thread per core left after the
decode workers (two threads spin against a worker on 2 cores). The numbers show the pipeline working end to end
and whether the checkpoint learned its world; they say nothing about real ESC-50 or UCF101.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from tabulate import tabulate

from avbench.cli.common import console, default_workers

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # avbench/assets (this file is avbench/cli/demo.py)
#: CrissCross with the NOT-the-paper options of README "Do they learn?" (`crisscross-infonce-head-wd6-async`: each
#: pair term an NT-Xent on the projector outputs, over a1a2 and the two asynchronous pairs only), seed 0, 1,920 steps
#: of the world preset; its card holds the `avbench pretrain` command
SHIPPED = ASSETS / "crisscross-identity-world.safetensors"
#: CrissCross (width 16) pretrained on the rhythm world (``--data world``): ``avbench demo --weights`` it for that
#: world's sets; the HEAR export tests load it
RHYTHM_CHECKPOINT = ASSETS / "crisscross-small-world.safetensors"
#: a row "beats random" when the gain is at least this many points and larger than the spread over splits
MARGIN = 15.0
#: per world a checkpoint was pretrained on (its card's ``data``): (task card, built-in synthetic set
#: (avbench.synth.defaults), card overrides that keep the demo within minutes on a CPU)
WORLD_TASKS: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
    "identity-world": (
        ("esc50", "identity_esc50", {"train": {"clips": 4}, "test": {"clips": 4}}),
        ("ucf101-linear", "identity_ucf101", {"video": {"size": 48, "resize": 55}, "test": {"clips": 4},
                                              "train": {"clips": 3, "augment": {"cutout": 0}}}),
    ),
    "world": (
        ("esc50", "world_esc50", {}),
        ("ucf101-linear", "world_ucf101", {"video": {"size": 112, "resize": 128}, "train": {"clips": 5}}),
    ),
}
#: architecture keys a random init copies from the checkpoint (everything else must already agree)
_ARCH_KEYS = ("video_width", "audio_width", "video_depth", "audio_depth", "min_size", "fps")
#: pretraining methods whose checkpoints the demo evaluates -> the name its table gives them
METHOD_NAMES = {"crisscross": "CrissCross", "avcl": "AVCL", "temporal-ssl": "temporal-SSL"}


def shipped_card(path: Path = SHIPPED) -> dict[str, Any]:
    """The pretraining card of a checkpoint: ``card.json`` of an ``avbench pretrain`` output folder, else the card
    stored in the safetensors file's metadata ({} when there is none)."""
    from avbench.models.two_tower import safetensors_metadata

    path = Path(path)
    if path.is_dir():
        card = path / "card.json"
        return json.loads(card.read_text()) if card.is_file() else {}
    _, meta = safetensors_metadata(path)
    return json.loads(meta.get("card", "{}"))


def demo_tasks(card: dict[str, Any]) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """The demo's tasks for a checkpoint with pretraining ``card``: the sets of the world it was pretrained on (the
    identity world unless the card names the rhythm world ``world``)."""
    return WORLD_TASKS["world" if card.get("data") == "world" else "identity-world"]


def verdict(random_mean: float, random_std: float, ssl_mean: float, ssl_std: float, margin: float = 0.0) -> str:
    """"beats random" when the SSL gain (points) exceeds the larger split-to-split std and is at least ``margin``
    points; "gain under <margin> points" when it exceeds the spread but not the margin; else "within noise" (or
    "below random" when it loses by more than the spread)."""
    spread = max(random_std, ssl_std)
    gain = ssl_mean - random_mean
    if gain > spread:
        return "beats random" if gain >= margin else f"gain under {margin:g} points"
    return "below random" if gain < -spread else "within noise"


def run_demo(*, weights: Path = SHIPPED, cache_dir: str | None = None, out_dir: str = "avbench-results",
             workers: int = 0, log: Callable[[str], None] = print, progress: Any = None) -> str:
    """Evaluate random init vs the pretrained checkpoint on the demo tasks; returns the printed table."""
    import os

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - workers)))
    try:
        return _run_demo(weights=weights, cache_dir=cache_dir, out_dir=out_dir, workers=workers, log=log,
                         progress=progress)
    finally:
        torch.set_num_threads(threads)


def demo_encoder_name(card: dict[str, Any]) -> str:
    """The registered encoder a self-supervised checkpoint with pretraining ``card`` loads into: its ``method``
    (crisscross, avcl, temporal-ssl; a card without one is CrissCross's)."""
    method = card.get("method", "crisscross")
    if method not in METHOD_NAMES:
        raise ValueError(f"avbench demo: checkpoint method {method!r} is none of {', '.join(METHOD_NAMES)}")
    return method


def recipe_lines(card: dict[str, Any]) -> list[str]:
    """The header lines naming what the checkpoint's recipe changes from its method's preset, and saying so when a
    change is one its method's config documents as NOT the paper ([] when the card holds the preset as it is)."""
    from avbench.pretrain.recipe_deviations import not_the_paper, preset_deviations

    deviations = preset_deviations(card)
    if not deviations:
        return []
    changed = ", ".join(f"{k}={v!r}" for k, (_, v) in deviations.items())
    lines = [f"recipe: the {card['preset']!r} preset with {changed}"]
    off = not_the_paper(card, deviations)
    if off:
        lines.append(f"NOT the paper's recipe: {', '.join(off)} depart from {METHOD_NAMES[card['method']]}'s paper "
                     "(README, 'Do they learn?')")
    return lines


def _frontend_scale(enc: Any) -> tuple[Any, Any]:
    """The pretraining spectrogram scale an encoder's audio front end resamples to (None, None: native)."""
    return getattr(enc, "train_mel_size", None), getattr(enc, "train_clip_seconds", None)


def random_twin(pretrained: Any, name: str, init_seed: int) -> Any:
    """The same network as ``pretrained`` (architecture and audio front-end scale), randomly initialised with
    ``init_seed``; raises ValueError when the two would not be like for like."""
    from avbench.registry import build_encoder

    arch = pretrained.arch.to_dict()
    twin = build_encoder(name, init_seed=init_seed, **{k: arch[k] for k in _ARCH_KEYS})
    if hasattr(twin, "set_training_scale"):  # random init defaults to the paper's scale; the checkpoint's card rules
        twin.set_training_scale(*_frontend_scale(pretrained))
    if twin.arch != pretrained.arch or _frontend_scale(twin) != _frontend_scale(pretrained):
        raise ValueError(f"{name}: the random init differs from the checkpoint in more than the weights "
                         f"(architecture beyond {', '.join(_ARCH_KEYS)}, or the audio front-end scale)")
    return twin


def _run_demo(*, weights: Path, cache_dir: str | None, out_dir: str, workers: int, log: Callable[[str], None],
              progress: Any) -> str:
    from avbench.config import resolve_cache_dir
    from avbench.datasets.roots import data_root
    from avbench.evaluation.runner import RunOptions, run
    from avbench.registry import build_encoder

    cache = resolve_cache_dir(cache_dir)
    card = shipped_card(weights)
    name = demo_encoder_name(card)
    pretrained = build_encoder(name, weights=str(weights))
    random_init = random_twin(pretrained, name, int(card.get("init_seed", 0)))
    arch = pretrained.arch.to_dict()
    trained_label = f"{METHOD_NAMES[name]} pretrained"
    rows = []
    for task, world_set, overrides in demo_tasks(card):
        root, _ = data_root(world_set, "synthetic", cache_dir=cache, log=log)
        results = {}
        for label, enc in (("random init", random_init), (trained_label, pretrained)):
            opts = RunOptions(cache_dir=str(cache), out_dir=out_dir, num_workers=workers, log=log, progress=progress,
                              command=f"avbench demo ({label})")
            record, path = run(enc, task, data_root=root, overrides=overrides or None, options=opts)
            results[label] = record
            log(f"{task} / {label}: record {path}")
        metric = next(iter(results["random init"].metrics))
        a, b = (results[k].metrics[metric] for k in ("random init", trained_label))
        runs = results["random init"].runs
        rows.append([task, f"{len(runs)} splits, {sum(r.n_test_samples for r in runs)} test clips", metric,
                     f"{a.mean:.1f} ± {a.std:.1f}", f"{b.mean:.1f} ± {b.std:.1f}", f"{b.mean - a.mean:+.1f}",
                     verdict(a.mean, a.std, b.mean, b.std, margin=MARGIN)])
    world = ("the synthetic rhythm world (avbench.synth.world; classes: rhythms)" if card.get("data") == "world" else
             "the synthetic identity world (avbench.synth.identity_world; classes: 6 identities, shape + timbre)")
    head = (f"{METHOD_NAMES[name]} (width {arch['video_width']}) pretrained on {world} vs the same network randomly "
            f"initialised (init seed {card.get('init_seed', 0)}); SYNTHETIC data from that world in the official "
            "ESC-50 and UCF101 layouts, chance 16.7 %")
    table = tabulate(rows, headers=["task", "evaluated", "metric", "random init", trained_label, "gain", "verdict"],
                     tablefmt="github")
    lines = [head, *recipe_lines(card), table,
             f"'beats random': the gain is at least {MARGIN:g} points and larger than the spread over splits "
             "(README, 'Do they learn?')."]
    if card.get("command"):
        lines.append(f"checkpoint: {weights.name}, made by: {card['command']}")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    con = console()
    workers = args.workers if args.workers is not None else default_workers()
    table = run_demo(weights=Path(args.weights) if args.weights else SHIPPED, cache_dir=args.cache_dir,
                     out_dir=args.out, workers=workers,
                     log=lambda m: con.print(m, markup=False, highlight=False))
    print(table)
    return 0


def add_parser(sub: Any) -> None:
    """Register ``avbench demo`` on the top-level subparsers ``sub``."""
    dm = sub.add_parser("demo", help="the embedded demo: the shipped checkpoint vs random init on synthetic "
                                     "ESC-50 and UCF101-layout sets",
                        description="Evaluate the checkpoint shipped in avbench/assets (or --weights) against "
                                    "random init of the same network (the method its card names) on the synthetic "
                                    "ESC-50 and UCF101-layout sets of the world it was pretrained on (its card's "
                                    "data: the identity world, or the rhythm world 'world'), through the esc50 and "
                                    "ucf101-linear cards with fewer clips (the records mark the override), and print "
                                    "the table with a verdict per row ('beats random' needs a gain of at least "
                                    f"{MARGIN:g} points that also exceeds the spread over splits).")
    dm.add_argument("--weights", help="another checkpoint of avbench pretrain crisscross, avcl or temporal-ssl "
                                      "(an output folder or its safetensors file) to compare with random init "
                                      "(default: shipped)")
    dm.add_argument("--workers", type=int, default=None, help="decode workers (default: min(8, CPUs - 1))")
    dm.add_argument("--cache-dir")
    dm.add_argument("--out", default="avbench-results")
    dm.set_defaults(func=cmd_demo)
