"""``avbench list models|tasks|datasets``."""
from __future__ import annotations

import argparse
from typing import Any

from tabulate import tabulate


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "tasks":
        from avbench.taskcard import card_names, load_card

        rows = []
        for name in card_names():
            c = load_card(name)
            rows.append([name, c.modality, c.dataset.name, f"{c.classifier.type}/{c.classifier.selection}",
                         c.description.split(";")[0][:70]])
        print(tabulate(rows, headers=["task", "modality", "dataset", "classifier", "description"], tablefmt="github"))
    elif args.what == "models":
        from avbench.registry import build_encoder, encoder_entries

        rows = []
        for name, entry in sorted(encoder_entries().items()):
            try:
                meta = build_encoder(name).meta
                params = ", ".join(f"{m} {n / 1e6:.1f}M" for m, n in meta.n_parameters.items())
                rows.append([name, "+".join(meta.modalities), params, meta.description[:60], entry.source])
            except Exception as exc:  # one broken plugin must not hide the others
                rows.append([name, "?", "?", f"failed to build: {exc}"[:60], entry.source])
        print(tabulate(rows, headers=["model", "modalities", "parameters", "description", "source"], tablefmt="github"))
        from avbench.registry import zoo_prefixes

        print("\nmodel-zoo adapters (any name the library provides; options after '?', e.g. "
              "'torchvision:r2plus1d_18?fps=16'):")
        for prefix, text in zoo_prefixes().items():
            print(f"  {prefix}:NAME  {text}")
    else:
        from avbench.datasets import dataset_names

        print("\n".join(dataset_names()))
    return 0


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    ls = sub.add_parser("list", help="list models, tasks or datasets")
    ls.add_argument("what", choices=["models", "tasks", "datasets"])
    ls.set_defaults(func=cmd_list)
