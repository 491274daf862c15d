"""``avbench cache ls|clear``: the feature store's entries."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from tabulate import tabulate


def cmd_cache(args: argparse.Namespace) -> int:
    from avbench.config import resolve_cache_dir
    from avbench.features.store import FeatureStore

    store = FeatureStore(resolve_cache_dir(args.cache_dir))
    if args.cache_cmd == "ls":
        rows = [[e["key"][:12], e["encoder"], e["task"], e["side"], e["shards"], "yes" if e["complete"] else "no",
                 f"{e['bytes'] / 1e6:.1f} MB", e["modified"]] for e in store.entries()]
        print(tabulate(rows, headers=["key", "encoder", "task", "side", "shards", "complete", "size", "modified"],
                       tablefmt="github") if rows else f"no cached features under {store.root}")
    else:
        if not args.all and not args.key:
            print("avbench cache clear: pass --key PREFIX or --all", file=sys.stderr)
            return 2
        print(f"removed {store.clear(None if args.all else args.key)} feature set(s) from {store.root}")
    return 0


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    c = sub.add_parser("cache", help="list or clear cached features")
    csub = c.add_subparsers(dest="cache_cmd", required=True)
    csub.add_parser("ls")
    cl = csub.add_parser("clear")
    cl.add_argument("--key", help="remove feature sets whose key starts with this")
    cl.add_argument("--all", action="store_true")
    c.add_argument("--cache-dir")
    c.set_defaults(func=cmd_cache)
