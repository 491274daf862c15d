"""Video extraction speed: the full pipeline against the forward pass alone, and decode-once clip cutting.

Prints, in one run on one device:

1. clips/s of the full pipeline (PyAV decode in DataLoader workers + clip sampling + per-clip augmentation on
   the device + normalisation + forward + pooling into the feature store) and of the forward pass alone on
   random uint8 tensors, at 8x112^2 and 8x224^2, and their ratio (target on a GPU: >= 0.9, never data-bound);
2. the cost of cutting 10 uniform clips from one file (decode_clips) relative to one plain full decode of
   the same file to RGB (target: <= 1.3x).

Videos are written first: UCF101-like 320x240, 25 fps, 7 s, MPEG-4 Part 2 in AVI (what UCF101 ships).

    python benchmarks/extract_video.py                 # CPU here; on a GPU machine add --dtype bfloat16
    python benchmarks/extract_video.py --videos 64 --workers 8 --batch 64
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from tabulate import tabulate

from avbench.datasets.base import Sample
from avbench.features.extract import ExtractionSpec, extract_view
from avbench.features.spec import autocast
from avbench.media.video_decode import decode_clips
from avbench.features.pooling import features_from_output
from avbench.registry import build_encoder
from avbench.features.store import FeatureStore
from avbench.taskcard import ClipSampling, Features, Pooling, VideoClip

AUGMENT = {"crop_scale": [0.08, 1.0], "flip": 0.5, "color_jitter": [0.4, 0.4, 0.4, 0.2], "grayscale": 0.2,
           "blur": 0.0, "cutout": 20}


def write_video(path: Path, seed: int, seconds: float = 7.0, fps: int = 25, size: tuple[int, int] = (320, 240)) -> Path:
    """A textured moving scene (so the codec does real work), MPEG-4 in AVI."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 255, (h + 64, w + 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"qscale": "4"}
        for i in range(int(seconds * fps)):
            dx, dy = (i * 2) % 64, (i // 2) % 64
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[dy:dy + h, dx:dx + w]), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def full_decode_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            frame.to_ndarray(format="rgb24")
    return time.perf_counter() - t0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_only(encoder, size: int, batch: int, iters: int, device: torch.device, dtype: str) -> float:
    """clips/s of preprocess + trunk + pooling on random uint8 clips already on the device."""
    feats = Features(layer="conv5x", pool=Pooling(type="adaptive_max", output=(1, 4, 4)))
    x = torch.randint(0, 256, (batch, 3, 8, size, size), dtype=torch.uint8, device=device)
    if device.type == "cuda":
        encoder.to(memory_format=torch.channels_last_3d)

    def step() -> None:
        with torch.inference_mode(), autocast(device, dtype):
            z = encoder.video_preprocess(x)
            if device.type == "cuda":
                z = z.contiguous(memory_format=torch.channels_last_3d)
            features_from_output(encoder.encode_video(z, ["conv5x"]), "video", feats).float().cpu()

    step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    sync(device)
    return batch * iters / (time.perf_counter() - t0)


def pipeline(encoder, samples: list[Sample], size: int, clips: int, batch: int, workers: int, device: torch.device,
             dtype: str, cache: Path, augment: bool) -> float:
    """clips/s of extract_view (decode, sample, augment, forward, pooling, shard writes), cold cache."""
    view = ExtractionSpec(side="train" if augment else "test", modality="video",
                clip=VideoClip(frames=8, fps=16, size=size),
                sampling=ClipSampling(clips=clips, sampling="random" if augment else "uniform",
                                      augment=AUGMENT if augment else None),
                features=Features(layer="conv5x", pool=Pooling(type="adaptive_max", output=(1, 4, 4))),
                layer="conv5x", seed=0 if augment else None)
    entry = FeatureStore(cache).entry({"bench": time.time_ns(), "size": size, "augment": augment})
    sync(device)
    t0 = time.perf_counter()
    out = extract_view(encoder, samples, view, entry, device=device, dtype=dtype, batch_size=batch,
                       num_workers=workers, shard_size=max(1, len(samples) // 2))
    sync(device)
    seconds = time.perf_counter() - t0
    assert out.sample.numel() == len(samples) * clips, "every clip must reach the store"
    return len(samples) * clips / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8, help="videos written and extracted (default 8)")
    ap.add_argument("--clips", type=int, default=10, help="clips per video in the pipeline run (default 10)")
    ap.add_argument("--batch", type=int, default=32, help="clips per forward batch (default 32)")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader decode workers")
    ap.add_argument("--iters", type=int, default=3, help="forward-only iterations (default 3)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--sizes", default="112,224", help="crop sizes to measure (default 112,224)")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    encoder = build_encoder("crisscross", init_seed=0, modalities="video").to(device).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        paths = [write_video(tmpdir / f"v{i:03d}.avi", i) for i in range(args.videos)]
        samples = [Sample(id=p.stem, path=p, label=0, group="g") for p in paths]

        rows = []
        for size in [int(s) for s in args.sizes.split(",")]:
            fwd = forward_only(encoder, size, args.batch, args.iters, device, args.dtype)
            for augment in (False, True):
                pipe = pipeline(encoder, samples, size, args.clips, args.batch, args.workers, device, args.dtype,
                                tmpdir / "cache", augment)
                rows.append([f"8x{size}^2", "train (augmented)" if augment else "test (uniform)",
                             f"{pipe:.1f}", f"{fwd:.1f}", f"{pipe / fwd:.2f}"])
        print(f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
              f"dtype {args.dtype}, {args.workers} workers, batch {args.batch}, {args.videos} videos x {args.clips} clips")
        print(tabulate(rows, headers=["clip", "view", "pipeline clips/s", "forward-only clips/s", "ratio"],
                       tablefmt="github"))

        one, ten = [], []
        for p in paths:
            one.append(full_decode_seconds(p))
            t0 = time.perf_counter()
            decode_clips(p, fps=16, frames=8, clips=10)
            ten.append(time.perf_counter() - t0)
        print(f"\n10 uniform clips cut from one decode: {np.median(ten) * 1000:.1f} ms per 7-s 320x240 video; "
              f"one plain full decode to RGB: {np.median(one) * 1000:.1f} ms; ratio {np.median(ten) / np.median(one):.2f} "
              f"(target <= 1.3)")


if __name__ == "__main__":
    main()
