"""``avbench data fixture|augvgg|verify``: fixture sets in the official layouts, AugVGG query sets, data checks."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


#: ``avbench data fixture`` names (kept as before the adapters wrote their own fixtures) -> data set
FIXTURE_NAMES = {"esc50": "esc50", "dcase": "dcase2013", "ucf101": "ucf101", "hmdb51": "hmdb51",
                 "kinetics400": "kinetics400", "kinetics_sound": "kinetics_sound", "vggsound": "vggsound"}


def _write_fixture(args: argparse.Namespace) -> None:
    """`avbench data fixture DATASET`: the adapter's own fixture writer (--classes / --per-class: None = its default)."""
    from avbench.datasets import get_dataset

    options = {"groups": args.groups} if args.dataset == "ucf101" else {}
    if args.dataset in ("kinetics400", "kinetics_sound", "vggsound"):
        options["layout"] = args.layout
    get_dataset(FIXTURE_NAMES[args.dataset]).write_fixture(Path(args.out), seed=args.seed, n_classes=args.classes,
                                                           per_class=args.per_class, **options)


def _augvgg(args: argparse.Namespace) -> int:
    """`avbench data augvgg`: write (or complete) an AugVGG query set; skips are recorded, not fatal."""
    from avbench.datasets.augvgg import generate_augvgg

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\raugvgg-{args.variant}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    info = generate_augvgg(args.root, args.out, args.variant, seed=args.seed, limit=args.limit, workers=args.workers,
                           csv=args.csv, progress=progress)
    n = info["counts"]
    print(f"{info['generator']}: {n['queries']} queries in {Path(args.out) / args.variant} ({n['written']} written, "
          f"{n['reused']} reused); skipped {n['missing']} missing and {n['undecodable']} undecodable test video(s)"
          f" (see info.json)")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_cmd == "augvgg":
        return _augvgg(args)
    if args.data_cmd == "fixture":
        try:
            _write_fixture(args)
        except ValueError as exc:  # a writer's parameter check (e.g. more classes than it has names for)
            print(f"avbench: error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote a synthetic {args.dataset} set in the official layout to {args.out}")
        return 0
    return _verify(args)


def _verify_target(target: str) -> tuple[str, dict[str, Any], str, list[str] | None]:
    """(data set, adapter options, what media to check: "audio" or "video", the card's splits or None for a data
    set name) for a task card name / .yaml path or a data set name; TaskCardError with a did-you-mean over both when
    it is neither."""
    from avbench.datasets import dataset_names, get_dataset
    from avbench.registry import did_you_mean
    from avbench.taskcard import TaskCardError, card_names, load_card

    splits: list[str] | None = None
    if target in dataset_names():
        name, options = target, {}
    elif target in card_names() or target.endswith((".yaml", ".yml")):
        card = load_card(target)
        name, options, splits = card.dataset.name, dict(card.dataset.options), list(card.splits)
    else:
        raise TaskCardError(f"{target!r} is neither a data set ({', '.join(dataset_names())}) nor a task card (avbench "
                            f"list tasks){did_you_mean(target, dataset_names() + card_names())}")
    return name, options, "audio" if get_dataset(name).modality == "audio" else "video", splits


def _verify(args: argparse.Namespace) -> int:
    from avbench.datasets import get_dataset
    from avbench.datasets.verify import verify_manifest

    name, options, media, splits = _verify_target(args.target)
    adapter = get_dataset(name)
    manifest = adapter.load_checked(Path(args.root), options, f"data set {name!r}")
    if splits is not None:  # a task card: only its splits are compared with the release
        manifest = manifest.restrict(splits)
    report = verify_manifest(manifest, modality=media, decode=not args.no_decode, sample_rate=args.sample_rate,
                             official=adapter.official, checksums=args.checksums)
    info = report.to_dict()
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(f"{name} at {args.root}: found {info['found']} of {info['expected']} listed")
        _print_verdict(info)
        for key in ("missing", "undecodable", "damaged"):
            items = info.get(key) or []
            print(f"{key}: {len(items)}")
            for it in items[:20]:
                print(f"  {it}")
    return 0 if report.ok else 1


def _print_verdict(info: dict[str, Any]) -> None:
    """The data identity (official / custom / synthetic, the differences) and the media check of a report."""
    what = {"official": "OFFICIAL: classes, splits and counts are the release's",
            "custom": "CUSTOM: an official layout, not the official set (not comparable with published numbers)",
            "synthetic": "SYNTHETIC: avbench's own data (says nothing about the benchmark)"}[info["kind"]]
    print(f"verdict: {what}")
    for line in info["differences"]:
        print(f"  differs: {line}")
    media = info.get("media")
    if media is None:
        print("media: not verified (give --checksums FILE to hash every file against a checksum manifest)")
    else:
        print(f"media: {'VERIFIED' if info['media_verified'] else 'NOT verified'} against {media['manifest']}: "
              f"{media['matched']} of {media['checked']} files match, {media['n_mismatched']} differ, "
              f"{media['n_unlisted']} not listed")
        for it in (media["mismatched"] + media["unlisted"])[:20]:
            print(f"  {it}")


def add_parser(sub: Any) -> None:
    """Register the subcommand on the top-level subparsers ``sub``."""
    d = sub.add_parser("data", help="write fixture data sets, verify a data root, write AugVGG query sets")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    fx = dsub.add_parser("fixture", help="write a small synthetic data set in the official layout")
    fx.add_argument("dataset", choices=list(FIXTURE_NAMES))
    fx.add_argument("--out", required=True)
    fx.add_argument("--classes", type=int, help="number of classes (default: 10 for audio sets, the writer's default for video)")
    fx.add_argument("--per-class", type=int, help="clips per class (ucf101: clips per group; kinetics: train clips "
                                                  "per class, val gets half)")
    fx.add_argument("--groups", type=int, help="ucf101 only: groups per class (>= 3; default 3)")
    fx.add_argument("--layout", choices=["class_folders", "flat", "video", "split"],
                    help="kinetics: class_folders (<split>/<label>/<id>.mp4, default) or flat (<split>/<id>.mp4); "
                         "vggsound: video (video/<id>.mp4, default), flat (<id>.mp4), split (<split>/<id>.mp4) or "
                         "class_folders")
    fx.add_argument("--seed", type=int, default=0)
    ag = dsub.add_parser("augvgg", help="write an AugVGG query set: augmented copies of the VGG-Sound test videos",
                         description="Augment every VGG-Sound test video once (H.264 + AAC) into OUT/VARIANT/, with "
                                     "manifest.jsonl (ops and parameters per query, sha256) and info.json. "
                                     "Deterministic per seed; re-running resumes.")
    ag.add_argument("--root", required=True, help="VGG-Sound root (vggsound.csv and the videos)")
    ag.add_argument("--out", required=True, help="output folder; the set goes to OUT/VARIANT/")
    ag.add_argument("--variant", required=True, choices=["ip", "s", "t", "c"],
                    help="ip: in-place, s: spatial, t: time, c: combined")
    ag.add_argument("--seed", type=int, default=0)
    ag.add_argument("--limit", type=int, help="only the first N test videos (sorted by id)")
    ag.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ag.add_argument("--csv", help="annotation file (default ROOT/vggsound.csv)")
    ag.add_argument("--quiet", action="store_true", help="no progress line")
    vf = dsub.add_parser("verify", help="report found/listed, missing and undecodable files of a data set, and whether it is the official set "
                                         "(official / custom / synthetic)",
                         description="Read a data set's annotation files under ROOT and check its media: audio files "
                                     "are decoded whole, videos have their first frame decoded and their packets "
                                     "demuxed (length against the header). Exit status 1 when a file is missing or "
                                     "undecodable.")
    vf.add_argument("target", metavar="DATASET_OR_TASK", help="a data set name (esc50, dcase2013, ucf101, hmdb51, "
                    "kinetics400, kinetics_sound, vggsound, augvgg) or a task card (avbench list tasks, or a .yaml "
                    "path), whose data set and its options are checked")
    vf.add_argument("--root", required=True, help="the data set's root in its official layout")
    vf.add_argument("--no-decode", action="store_true", help="only check that the listed files exist")
    vf.add_argument("--sample-rate", type=int, default=None, metavar="HZ", help="decode audio at HZ (default: each "
                    "file at its own rate, no resampling)")
    vf.add_argument("--json", action="store_true", help="print the report as one JSON document")
    vf.add_argument("--checksums", metavar="FILE", help="media checksum manifest (sha256sum format, paths relative "
                    "to the root): hash every media file; exit 1 unless all match")
    d.set_defaults(func=cmd_data)
