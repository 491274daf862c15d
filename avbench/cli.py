"""The ``avbench`` command line: eval, pretrain, list, validate, data, cache."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from tabulate import tabulate


def _console():
    from rich.console import Console

    return Console(stderr=True)


# ---- eval ---------------------------------------------------------------------------------------------
def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from .taskcard import deep_merge, parse_override

    out: dict[str, Any] = {}
    for text in args.set or []:
        out = deep_merge(out, parse_override(text))
    if args.selection:
        out = deep_merge(out, {"classifier": {"selection": args.selection}})
    if args.backend:
        out = deep_merge(out, {"classifier": {"backend": args.backend}})
    return out


def _summary_table(record: Any) -> str:
    rows = []
    splits = list(next(iter(record.metrics.values())).per_split)
    for sp in splits:
        runs = [r for r in record.runs if r.split == sp]
        sel = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in runs[0].selected.items())
        rows.append([sp, *[f"{record.metrics[m].per_split[sp]:.2f}" for m in record.metrics],
                     sel + (" (seed 0)" if len({r.seed for r in runs}) > 1 else ""), runs[0].n_test_samples])
    rows.append(["mean ± std", *[f"{m.mean:.2f} ± {m.std:.2f}" for m in record.metrics.values()], "", ""])
    first, summary = next(iter(record.metrics.items()))
    rows.append([f"{first} 95% CI", f"[{summary.ci95[0]:.2f}, {summary.ci95[1]:.2f}]", *[""] * (len(record.metrics) - 1), "", ""])
    return tabulate(rows, headers=["split", *record.metrics, "selected", "n test"], tablefmt="github")


def _leave_process_group() -> None:
    """Under torchrun, close this process's group before exiting. A rank that exits with gloo still connected
    can abort ("terminate called without an active exception", SIGABRT) while rank 0 is still classifying;
    seen once in a fresh-clone CI run of tests/test_distributed_extract.py."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .runner import RunOptions, run

    console = _console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=args.no_progress) as progress:

        def bar(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            return lambda n: progress.advance(task_id, n)

        opts = RunOptions(device=args.device, dtype=args.dtype, cache_dir=args.cache_dir, out_dir=args.out,
                          batch_size=args.batch_size,
                          num_workers=args.workers if args.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1)),
                          command="avbench " + " ".join(shlex.quote(a) for a in args.argv),
                          cache="refresh" if args.refresh else "off" if args.no_cache else "use",
                          log=lambda m: console.print(m, markup=False, highlight=False), progress=bar)
        record, path = run(args.model, args.task, data_root=args.data_root, overrides=_overrides(args),
                           seeds=args.seeds, weights=args.weights, init_seed=args.init_seed, options=opts)
    _leave_process_group()
    if record is None:  # a non-zero rank under torchrun: rank 0 reports
        return 0
    title = f"{record.encoder.name} on {record.task.name} ({record.protocol}, backend {record.runs[0].backend})"
    if record.data.synthetic:
        title += "  [SYNTHETIC DATA]"
    if record.encoder.weights_sha256 is None:
        title += f"  [RANDOM INIT (seed {record.encoder.init_seed}): no --weights given]"
    if record.task.track == "override":
        title += "  [OVERRIDDEN CARD: separate track]"
    if record.determinism is not None and record.determinism.checked and not record.determinism.deterministic:
        title += "  [NONDETERMINISTIC ENCODER]"
    print(title)
    print(_summary_table(record))
    if record.selection == "paper":
        print(f"note: selection=paper: {record.selection_note}")
    if record.data.skipped:
        print(f"skipped {len(record.data.skipped)} sample(s); first: {record.data.skipped[0]['id']}: {record.data.skipped[0]['reason']}")
    det = record.determinism
    if det is not None and det.checked and not det.deterministic:
        print(f"WARNING: the encoder is NOT deterministic: the same batch forwarded twice differed by up to "
              f"{det.max_abs_diff:.3g} (features up to {max(v.get('max_abs_feature', 0) for v in det.views.values()):.3g}); "
              "another run of this command can give another number")
    if record.cache is not None:
        print(f"feature cache ({record.cache.mode}): {record.cache.shards_reused} shard(s) reused, "
              f"{record.cache.shards_computed} computed")
    print(f"coverage {record.data.found}/{record.data.expected}; wall {record.provenance.wall_seconds:.1f} s")
    print(f"record: {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import SHIPPED, run_demo

    console = _console()
    workers = args.workers if args.workers is not None else min(8, max(0, (os.cpu_count() or 1) - 1))
    table = run_demo(weights=Path(args.weights) if args.weights else SHIPPED, cache_dir=args.cache_dir,
                     out_dir=args.out, workers=workers,
                     log=lambda m: console.print(m, markup=False, highlight=False))
    print(table)
    return 0


# ---- list ---------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "tasks":
        from .taskcard import card_names, load_card

        rows = []
        for name in card_names():
            c = load_card(name)
            rows.append([name, c.modality, c.dataset.name, f"{c.classifier.type}/{c.classifier.selection}",
                         c.description.split(";")[0][:70]])
        print(tabulate(rows, headers=["task", "modality", "dataset", "classifier", "description"], tablefmt="github"))
    elif args.what == "models":
        from .registry import build_encoder, encoder_entries

        rows = []
        for name, entry in sorted(encoder_entries().items()):
            try:
                meta = build_encoder(name).meta
                params = ", ".join(f"{m} {n / 1e6:.1f}M" for m, n in meta.n_parameters.items())
                rows.append([name, "+".join(meta.modalities), params, meta.description[:60], entry.source])
            except Exception as exc:  # one broken plugin must not hide the others
                rows.append([name, "?", "?", f"failed to build: {exc}"[:60], entry.source])
        print(tabulate(rows, headers=["model", "modalities", "parameters", "description", "source"], tablefmt="github"))
        from .registry import zoo_prefixes

        print("\nmodel-zoo adapters (any name the library provides; options after '?', e.g. "
              "'torchvision:r2plus1d_18?fps=16'):")
        for prefix, text in zoo_prefixes().items():
            print(f"  {prefix}:NAME  {text}")
    else:
        from .datasets import dataset_names

        print("\n".join(dataset_names()))
    return 0


# ---- validate -----------------------------------------------------------------------------------------
def _validate_target_kind(target: str) -> str:
    """"task" (a shipped card name or a .yaml path), "model" (registered name, pkg.module:factory, or a
    submission folder holding card.yaml), or "unknown"."""
    from .registry import encoder_entries
    from .submission.card import CARD_FILE
    from .taskcard import card_names

    path = Path(target)
    if path.is_dir() and (path / CARD_FILE).is_file():
        return "model"
    if target.endswith((".yaml", ".yml")) or target in card_names():
        return "task"
    if ":" in target or target in encoder_entries():
        return "model"
    return "unknown"


def cmd_validate(args: argparse.Namespace) -> int:
    from .submission.card import SubmissionError
    from .taskcard import load_card

    ok = True
    tasks: list[dict[str, Any]] = []
    models = [args.model] if args.model else []
    for target in args.targets:
        kind = _validate_target_kind(target)
        if kind == "model":
            models.append(target)
            continue
        try:
            if kind == "unknown":
                raise ValueError(f"{target!r} is neither a task card (avbench list tasks, or a .yaml path), a "
                                 "registered encoder (avbench list models), 'pkg.module:factory', nor a submission "
                                 "folder with card.yaml")
            card = load_card(target)
            tasks.append({"task": target, "ok": True, "detail": f"{card.name} v{card.version} ({card.sha256()[:12]})"})
        except Exception as exc:
            ok = False
            tasks.append({"task": target, "ok": False, "detail": str(exc)})
    if not args.json:
        for t in tasks:
            print(f"{'ok  ' if t['ok'] else 'FAIL'}  task {t['task']}: {t['detail']}")
    reports = []
    if models:
        from .validate import validate

        console = _console()
        for model in models:
            try:
                report = validate(model, weights=args.weights, init_seed=args.init_seed, device=args.device,
                                  batch=args.batch, video_size=args.size,
                                  log=None if args.json else (lambda m: console.print(m, markup=False, highlight=False)))
            except SubmissionError as exc:
                print(f"avbench: error: {exc}", file=sys.stderr)
                return 2
            ok &= report.ok
            reports.append(report)
            if not args.json:
                failed = report.failed()
                ident = f"{report.encoder} v{report.version} ({'+'.join(report.modalities)})" if report.version else report.encoder
                print(f"encoder {ident} from {report.source}, on {report.device}")
                print(report.tables())
                print(f"{len(report.checks) - len(failed)} of {len(report.checks)} checks passed or skipped"
                      + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if args.json:
        print(json.dumps({"ok": bool(ok), "tasks": tasks, "encoders": [r.to_json() for r in reports]}, indent=1))
    return 0 if ok else 1


# ---- data ---------------------------------------------------------------------------------------------
def _write_fixture(args: argparse.Namespace) -> None:
    """`avbench data fixture DATASET`: --classes / --per-class default per data set (None = the writer's own)."""
    from .synth import audio_fixtures, video_fixtures

    out = Path(args.out)
    if args.dataset == "vggsound":
        from .synth.vggsound_fixtures import write_vggsound

        per = {} if args.per_class is None else {"train_per_class": args.per_class,
                                                 "test_per_class": max(1, args.per_class // 2)}
        if args.classes is not None:
            per["n_classes"] = args.classes
        write_vggsound(out, seed=args.seed, layout=args.layout or "video", **per)
        return

    def given(**kw: object) -> dict:
        return {k: v for k, v in kw.items() if v is not None}

    if args.dataset == "esc50":
        audio_fixtures.write_esc50(out, n_classes=args.classes or 10, clips_per_class=args.per_class or 10, seed=args.seed)
    elif args.dataset == "dcase":
        audio_fixtures.write_dcase2013(out, n_classes=args.classes or 10, per_class=args.per_class or 10, seed=args.seed)
    elif args.dataset == "ucf101":
        video_fixtures.write_ucf101(out, seed=args.seed, **given(n_classes=args.classes, groups=args.groups,
                                                                 clips_per_group=args.per_class))
    elif args.dataset == "hmdb51":
        video_fixtures.write_hmdb51(out, seed=args.seed, **given(n_classes=args.classes, per_class=args.per_class))
    else:  # kinetics400 / kinetics_sound
        per = given(train_per_class=args.per_class,
                    val_per_class=None if args.per_class is None else max(1, args.per_class // 2))
        if args.dataset == "kinetics_sound":
            from .datasets.kinetics import KINETICS_SOUND_CLASSES

            n = args.classes or 4
            if not 1 <= n <= len(KINETICS_SOUND_CLASSES):
                raise ValueError(f"--classes must be 1..{len(KINETICS_SOUND_CLASSES)} for kinetics_sound")
            per["class_names"] = [c.replace("_", " ") for c in KINETICS_SOUND_CLASSES[:n]]
        elif args.classes is not None:
            per["n_classes"] = args.classes
        video_fixtures.write_kinetics400(out, seed=args.seed, layout=args.layout or "class_folders", **per)


def _augvgg(args: argparse.Namespace) -> int:
    """`avbench data augvgg`: write (or complete) an AugVGG query set; skips are recorded, not fatal."""
    from .augvgg import generate_augvgg

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
    from .datasets import get_dataset
    from .datasets.verify import verify_manifest
    from .taskcard import load_card

    card = load_card(args.task)
    manifest = get_dataset(card.dataset.name).load(Path(args.root), **card.dataset.options)
    sr = 16000
    report = verify_manifest(manifest, modality=card.modality, decode=not args.no_decode, sample_rate=sr)
    info = report.to_dict()
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(f"{card.dataset.name} at {args.root}: found {info['found']} of {info['expected']} expected")
        for key in ("missing", "undecodable", "damaged"):
            items = info.get(key) or []
            print(f"{key}: {len(items)}")
            for it in items[:20]:
                print(f"  {it}")
    return 0 if not (info.get("missing") or info.get("undecodable")) else 1


# ---- cache --------------------------------------------------------------------------------------------
def cmd_cache(args: argparse.Namespace) -> int:
    from .config import resolve_cache_dir
    from .store import FeatureStore

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


# ---- parser -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avbench", description="Downstream evaluation of self-supervised audio-visual encoders.")
    p.add_argument("--version", action="version", version=f"avbench {__import__('avbench').__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("eval", help="evaluate an encoder on a task and write a result record",
                       description="Evaluate an encoder on a task card; prints a table and writes a JSON record.")
    e.add_argument("--model", required=True, help="registered name (avbench list models), a zoo model "
                   "(torchvision:NAME, timm:NAME, hear:MODULE) or pkg.module:factory")
    e.add_argument("--task", required=True, help="task card name (avbench list tasks) or a path to a .yaml card")
    e.add_argument("--data-root", help="root of the data set in its official layout; default: AVBENCH_DATA_<DATASET>, "
                                       "the config file, else the built-in synthetic set ('synthetic' forces it)")
    e.add_argument("--weights", help="weights for the encoder (e.g. a .safetensors file or released checkpoints)")
    e.add_argument("--init-seed", type=int, default=0, help="seed of the random initialisation when no weights are given")
    e.add_argument("--seeds", type=int, help="run the stochastic parts with seeds 0..N-1 (default: the card's seeds)")
    e.add_argument("--selection", choices=["paper", "clean"], help="hyper-parameter selection: paper (on test, as published) or clean (inside train)")
    e.add_argument("--backend", choices=["torch", "sklearn", "cuml"], help="SVM backend (recorded; never switched silently)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a task-card key, e.g. train.clips=100 (repeatable)")
    e.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    e.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="compute dtype of the forward pass (bfloat16 autocast on CUDA only)")
    e.add_argument("--batch-size", type=int, help="clips per forward pass (default: the card's)")
    e.add_argument("--workers", type=int, default=None,
                   help="DataLoader decode workers, overlapping decode with the forward pass "
                        "(default: min(8, CPUs - 1); 0 decodes in the main process)")
    e.add_argument("--cache-dir", help="feature cache directory (default: AVBENCH_CACHE or the user cache dir)")
    e.add_argument("--out", default="avbench-results", help="directory for result records (default: ./avbench-results)")
    e.add_argument("--no-progress", action="store_true", help="no progress bars")
    cache = e.add_mutually_exclusive_group()
    cache.add_argument("--refresh", action="store_true", help="recompute every feature shard (and finetuning "
                       "checkpoint) of this run instead of reusing the cache; the new shards replace the old")
    cache.add_argument("--no-cache", action="store_true", help="neither read nor keep cached features: a temporary "
                       "store, removed after the run")
    e.set_defaults(func=cmd_eval)

    from . import cli_export, cli_leaderboard, cli_pretrain, cli_reproduce, cli_submit

    cli_pretrain.add_parser(sub)
    cli_leaderboard.add_parser(sub)
    cli_submit.add_parser(sub)
    cli_reproduce.add_parser(sub)
    cli_export.add_parser(sub)
    dm = sub.add_parser("demo", help="the embedded demo: shipped CrissCross checkpoint vs random init on synthetic "
                                     "ESC-50 and UCF101-layout sets",
                        description="Evaluate the small CrissCross checkpoint pretrained on the synthetic "
                                    "audio-visual world against random init (esc50 and ucf101-linear cards on "
                                    "world data; the video card at 112² with 5 training clips) and print the table.")
    dm.add_argument("--weights", help="another crisscross checkpoint to compare with random init (default: shipped)")
    dm.add_argument("--workers", type=int, default=None, help="decode workers (default: min(8, CPUs - 1))")
    dm.add_argument("--cache-dir")
    dm.add_argument("--out", default="avbench-results")
    dm.set_defaults(func=cmd_demo)

    ls = sub.add_parser("list", help="list models, tasks or datasets")
    ls.add_argument("what", choices=["models", "tasks", "datasets"])
    ls.set_defaults(func=cmd_list)

    v = sub.add_parser("validate", help="validate task cards and/or an encoder against the contract before spending compute",
                       description="Check task cards (they parse and resolve) and encoders against the encoder contract "
                                   "on synthetic inputs of several durations, frame and sample rates: shapes, named "
                                   "axes, float32 outputs, finite values, determinism, batch invariance (B=1 vs B=8), "
                                   "eval mode, no gradients; reports throughput (media-seconds per second) and peak "
                                   "memory per media-second. Exit status 1 when a check fails, 2 when a submission "
                                   "folder is unusable. See docs/submitting.md.")
    v.add_argument("targets", nargs="*", metavar="TASK_OR_MODEL",
                   help="task card names or .yaml paths, and/or encoders: a registered name (avbench list models), "
                        "pkg.module:factory, or a submission folder holding card.yaml")
    v.add_argument("--model", help="an encoder to check (same forms as a positional MODEL)")
    v.add_argument("--weights", help="weights passed to the encoder's factory (refused with a submission folder: its "
                                     "card names them)")
    v.add_argument("--init-seed", type=int, default=0, help="seed of a random initialisation (default 0)")
    v.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    v.add_argument("--batch", type=int, default=8, help="batch of the batch-invariance and timing runs (default 8)")
    v.add_argument("--size", type=int, help="video crop (px) of the batch and timing runs (default: the smallest "
                                            "crop tried; e.g. 224 for timing at the cards' size)")
    v.add_argument("--json", action="store_true", help="print one JSON document (tasks and encoder reports) instead "
                                                       "of tables")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("data", help="write fixture data sets, verify a data root, write AugVGG query sets")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    fx = dsub.add_parser("fixture", help="write a small synthetic data set in the official layout")
    fx.add_argument("dataset", choices=["esc50", "dcase", "ucf101", "hmdb51", "kinetics400", "kinetics_sound", "vggsound"])
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
    vf = dsub.add_parser("verify", help="report found/expected, missing and undecodable files of a task's data set")
    vf.add_argument("task")
    vf.add_argument("--root", required=True)
    vf.add_argument("--no-decode", action="store_true", help="only check that files exist")
    vf.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_data)

    c = sub.add_parser("cache", help="list or clear cached features")
    csub = c.add_subparsers(dest="cache_cmd", required=True)
    csub.add_parser("ls")
    cl = csub.add_parser("clear")
    cl.add_argument("--key", help="remove feature sets whose key starts with this")
    cl.add_argument("--all", action="store_true")
    c.add_argument("--cache-dir")
    c.set_defaults(func=cmd_cache)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded verbatim in the result's provenance
    from .datasets import DatasetError
    from .encoder import GeometryError
    from .registry import UnknownEncoderError
    from .taskcard import TaskCardError
    from .weights import WeightsError

    try:
        return int(args.func(args) or 0)
    except (TaskCardError, DatasetError, GeometryError, UnknownEncoderError, WeightsError, FileNotFoundError) as exc:
        print(f"avbench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
