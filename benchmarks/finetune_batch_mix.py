"""Finetuning batch composition (issue 19, item 1): distinct videos per batch, throughput and peak memory of one
training epoch's batches (decode + clip cut + augmentation on the CPU, no model step), on fixture videos in the
UCF101 layout.

    python benchmarks/finetune_batch_mix.py --out /tmp/ucf_mix [--old FILE]

``--old FILE`` loads ``train_batches`` from another copy of ``avbench/protocols/finetune/data.py`` (e.g. the
tree before the change: ``git show HEAD~1:avbench/protocols/finetune/data.py > /tmp/old_data.py``). Prints one JSON
line: batches, mean / min distinct videos per full batch, clips per second, peak RSS (MiB, ``ru_maxrss``: the
process's high-water mark, decode in the main process, ``workers=0``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="fixture folder (written when absent)")
    ap.add_argument("--old", type=Path, help="another data.py to take train_batches from")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--per-group", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=112, help="crop size (px); the cards use 224")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from avbench.datasets import get_dataset
    from avbench.features.spec import ExtractionSpec
    from avbench.features.video import VideoPath
    from avbench.synth.video_fixtures import write_ucf101
    from avbench.taskcard import load_card
    from avbench_baselines.crisscross import build

    if not args.out.exists():
        write_ucf101(args.out, n_classes=args.classes, groups=args.groups, clips_per_group=args.per_group, seed=0)
    if args.old:
        spec = importlib.util.spec_from_file_location("old_finetune_data", args.old)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        train_batches = mod.train_batches
    else:
        from avbench.protocols.finetune.data import train_batches
    card = load_card("ucf101-finetune", {"video": {"size": args.size, "resize": round(args.size / 0.875)}})
    manifest = get_dataset("ucf101").load(args.out).restrict(["split1"])
    ids = set(manifest.splits["split1"]["train"])
    train = [s for s in manifest.samples if s.id in ids]
    view = ExtractionSpec(side="train", modality="video", clip=card.video, sampling=card.train,
                          features=card.features, layer="conv5x", seed=0)
    path = VideoPath(build(modalities="video"), view, torch.device("cpu"), "float32")
    t0, clips, distinct = time.perf_counter(), 0, []
    for b in train_batches(path, train, [s.label for s in train], seed=0, epoch=0, batch_size=args.batch):
        clips += int(b.clips.shape[0])
        if b.clips.shape[0] == args.batch:
            distinct.append(len(set(b.sample.tolist())))
    seconds = time.perf_counter() - t0
    print(json.dumps({"code": str(args.old or "this tree"), "videos": len(train), "clips": clips,
                      "full_batches": len(distinct), "distinct_mean": round(sum(distinct) / len(distinct), 2),
                      "distinct_min": min(distinct), "clips_per_s": round(clips / seconds, 1),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
