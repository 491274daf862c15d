"""``avbench pretrain METHOD --data ROOT_OR_TASK --out DIR``: train a reference pretrainer and export its encoder."""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

EPILOG = """examples:
  avbench pretrain crisscross --data world --out runs/cc --preset small        # synthetic world, CPU, minutes
  avbench pretrain crisscross --data /data/kinetics_sound --out runs/cc-ks     # Table S10 recipe (GPU)
  avbench pretrain crisscross --data world --out runs/cc --set relaxation=none --set terms=[v1a1,v2a2]
  torchrun --nproc_per_node 8 -m avbench pretrain temporal-ssl --data kinetics400 --out runs/tssl
  avbench eval --model crisscross --weights runs/cc --task esc50

Running the same command again resumes from the last checkpoint in --out."""


def add_parser(sub: Any) -> None:
    from avbench.pretrain.method import method_names

    p = sub.add_parser("pretrain", help="pretrain a reference method (crisscross, avcl, temporal-ssl) and export it",
                       description="Self-supervised pretraining with one of the reference methods; the output "
                                   "directory is a registered encoder's weights (--weights DIR).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=method_names(), help="pretraining method ('supervised' is the labelled ceiling)")
    p.add_argument("--data", default="world",
                   help="'world' (the synthetic audio-visual world), a data set with audio (kinetics400, "
                        "kinetics_sound, vggsound) or a task using one, or a directory (Kinetics / VGG-Sound / "
                        "world layout, or any folder of videos); default: world")
    p.add_argument("--out", required=True, help="output directory (checkpoints, history, encoder.safetensors, card.json)")
    p.add_argument("--preset", default="paper", help="named recipe: 'paper' (the paper's values), 'small' "
                                                     "(width-reduced, CPU-sized), method-specific others")
    p.add_argument("--config", help="YAML file of config overrides (the method's keys, train:, arch:)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config key, e.g. train.epochs=10 or relaxation=none (repeatable)")
    p.add_argument("--data-root", help="root of the --data data set (default: as for avbench eval)")
    p.add_argument("--cache-dir", help="where synthetic data is written (default: AVBENCH_CACHE or the user cache dir)")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader decode workers per process (default: min(8, CPUs - 1))")
    p.add_argument("--decode-cache-mb", type=float, default=0, metavar="MIB",
                   help="keep decoded videos in memory up to MIB per process, decoded once before training "
                        "(default 0 = off; a set that fits, like the 188-MiB synthetic world, then decodes once "
                        "instead of every epoch; results are identical)")
    p.add_argument("--seed", type=int, default=0, help="seed of data order, views and augmentation")
    p.add_argument("--init-seed", type=int, default=0, help="seed of the network initialisation")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import sys

    from avbench.runtime.denormals import flush_denormals_for_process

    flush_denormals_for_process()  # before any torch thread pool exists, so its threads flush too (module docstring)

    from avbench.config import load_yaml
    from avbench.pretrain.trainer import PretrainOptions, pretrain
    from avbench.taskcard import deep_merge, parse_override

    overrides: dict[str, Any] = {}
    try:  # a bad --config file or --set value is a one-line error (both raise ValueError subclasses)
        if args.config:
            overrides = load_yaml(Path(args.config)) or {}
            if not isinstance(overrides, dict):
                raise ValueError(f"{args.config}: a pretraining config must be a YAML mapping of keys to values")
        for text in args.set or []:
            overrides = deep_merge(overrides, parse_override(text))
    except ValueError as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    workers = args.workers if args.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
    opts = PretrainOptions(out=Path(args.out), data=args.data, data_root=args.data_root, cache_dir=args.cache_dir,
                           device=args.device, workers=workers, decode_cache_mb=args.decode_cache_mb,
                           seed=args.seed, init_seed=args.init_seed,
                           command="avbench " + " ".join(shlex.quote(a) for a in args.argv),
                           progress=not args.no_progress,
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    try:
        path = pretrain(args.method, preset=args.preset, overrides=overrides, options=opts)
    except (ValueError, FileNotFoundError) as exc:  # pydantic ValidationError is a ValueError
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2
    if path is not None:
        out = path.parent
        print(f"encoder: {path}\ncard: {out / 'card.json'}\nloss curve: {out / 'loss_curve.png'}")
        print(f"evaluate: avbench eval --model {args.method if args.method != 'supervised' else '<family>'} "
              f"--weights {out} --task <task>")
    return 0
