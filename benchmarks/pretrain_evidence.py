"""Do the reference pretrainers learn? Random init vs SSL vs a supervised ceiling on the synthetic world.

For each seed: pretrain CrissCross (all terms), CrissCross without the asynchronous terms, AVCL and temporal-SSL
with ``avbench pretrain --preset small`` (``--epochs`` overrides the preset's 30), and the supervised ceiling
(the CrissCross trunks trained with the world's labels). Then a linear probe on the world's held-out split: pooled
trunk features averaged over 4 uniform clips per video (video: 8 frames at 16 fps, short side 73 then centre 64²;
audio: 1-s windows through each encoder's own front end), standardised, logistic regression fitted on the train
split, top-1 on the test split. Also the collapse monitor: the mean per-dimension std of the L2-normalised
test embeddings (a collapsed encoder gives ~0; well-spread d-dim embeddings give ~1/sqrt(d)).

    python benchmarks/pretrain_evidence.py --seeds 2 --epochs 4 --out evidence/

Prints a markdown table and writes ``OUT/results.json``. Chance is 1/6. CPU minutes per run are printed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from avbench.config import resolve_cache_dir
from avbench.media.video_augment import OFF_PARAMS, transform_clip
from avbench.pretrain.data import decode_item, read_world
from avbench.pretrain.trainer import PretrainOptions, pretrain
from avbench.registry import build_encoder
from avbench.synth.defaults import synthetic_root

NO_ASYNC = ["v1v2", "a1a2", "v1a1", "v2a2"]
RUNS = {  # label -> (method, encoder name, overrides)
    "crisscross": ("crisscross", "crisscross", {}),
    "crisscross w/o async": ("crisscross", "crisscross", {"terms": NO_ASYNC}),
    "avcl": ("avcl", "avcl", {}),
    "temporal-ssl": ("temporal-ssl", "temporal-ssl", {}),
    "supervised (crisscross trunks)": ("supervised", "crisscross", {}),
}


@torch.no_grad()
def embed(enc, decoded, n_clips: int = 4, device: str = "cpu") -> dict[str, np.ndarray]:
    """Pooled trunk features per video, averaged over ``n_clips`` uniform clips: {modality: [N, D]} (fp32)."""
    enc.eval().to(device)
    out = {"video": [], "audio": []}
    a = enc.arch
    mean = torch.tensor(a.mean, device=device).view(1, 3, 1, 1, 1)
    std = torch.tensor(a.std, device=device).view(1, 3, 1, 1, 1)
    for d in decoded:
        n = d.frames.shape[0]
        starts = np.linspace(0, max(0, n - 8), n_clips).astype(int)
        clips = torch.stack([transform_clip(d.frames[s:s + 8], OFF_PARAMS, 64, 73) for s in starts]).to(device) / 255
        out["video"].append(enc.encode_video((clips - mean) / std)["pooled"].mean(0).cpu().numpy())
        sr = enc.arch.logmel().sample_rate
        from torchaudio.functional import resample

        wave = resample(d.wave, d.sample_rate, sr) if sr != d.sample_rate else d.wave
        w0 = np.linspace(0, max(0, wave.numel() - sr), n_clips).astype(int)
        windows = torch.stack([wave[s:s + sr] for s in w0]).to(device)
        out["audio"].append(enc.encode_audio(enc.audio_frontend(windows))["pooled"].mean(0).cpu().numpy())
    return {m: np.stack(v) for m, v in out.items()}


def probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    scaler = StandardScaler().fit(train)
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(scaler.transform(train), y_train)
    return float((clf.predict(scaler.transform(test)) == y_test).mean() * 100)


def spread(x: np.ndarray) -> float:
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    return float(z.std(0).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="how many seeds, counting from --first-seed")
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds FIRST .. FIRST+SEEDS-1 (split a sweep)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--out", default="evidence", help="results.json goes here")
    ap.add_argument("--work", default=None, help="pretraining run directories (default: --out)")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--decode-cache-mb", type=float, default=1024,
                    help="decoded videos kept in memory (the world's 180 take 188 MiB; results do not change)")
    ap.add_argument("--runs", nargs="*", default=list(RUNS))
    ap.add_argument("--clips-per-video", type=int, default=1,
                    help="train.clips_per_video: views per video per epoch (steps per epoch x this)")
    ap.add_argument("--probe-device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="where the probe's embeddings are computed (fp32 either way)")
    ap.add_argument("--amp", default="auto", choices=("auto", "off", "bf16", "fp16"),
                    help="train.amp of every run (auto: bf16 on CUDA, off on the CPU)")
    args = ap.parse_args()
    out = Path(args.out)
    work = Path(args.work) if args.work else out
    root = synthetic_root("world", resolve_cache_dir(None))
    train_src, test_src = read_world(root, "train"), read_world(root, "test")
    decoded = {s: [decode_item(i.path, 16.0, 16000) for i in src.items] for s, src in
               (("train", train_src), ("test", test_src))}
    labels = {s: np.array([i.label for i in src.items]) for s, src in (("train", train_src), ("test", test_src))}
    results = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for label in args.runs:
            method, enc_name, over = RUNS[label]
            run_dir = work / f"seed{seed}" / (label.split(" ")[0] + ("-noasync" if "async" in label else ""))
            t0, w0 = time.process_time(), time.perf_counter()
            pretrain(method, preset="small", overrides={**over, "train": {"epochs": args.epochs, "amp": args.amp,
                                                                 "clips_per_video": args.clips_per_video}},
                     options=PretrainOptions(out=run_dir, data="world", seed=seed, init_seed=seed,
                                             workers=args.workers, decode_cache_mb=args.decode_cache_mb,
                                             progress=False, log=lambda m: None))
            cpu_min, wall_min = (time.process_time() - t0) / 60, (time.perf_counter() - w0) / 60
            trained = build_encoder(enc_name, weights=str(run_dir))
            arch = trained.arch.to_dict()
            random = build_encoder(enc_name, init_seed=seed, video_width=arch["video_width"],
                                   audio_width=arch["audio_width"])
            row = {"run": label, "seed": seed, "epochs": args.epochs, "clips_per_video": args.clips_per_video,
                   "cpu_minutes": round(cpu_min, 1),
                   "wall_minutes": round(wall_min, 1)}
            for tag, enc in (("random", random), ("trained", trained)):
                emb = {s: embed(enc, decoded[s], device=args.probe_device) for s in ("train", "test")}
                for m in ("video", "audio"):
                    row[f"{m}_{tag}"] = probe(emb["train"][m], labels["train"], emb["test"][m], labels["test"])
                    row[f"{m}_{tag}_std"] = spread(emb["test"][m])
            card = json.loads((run_dir / "card.json").read_text())
            row["loss_first"], row["loss_last10"] = card["loss_first"], card["loss_last10_mean"]
            row["steps"], row["device"] = card.get("steps"), card.get("device")
            row["amp"] = card.get("train", {}).get("amp")
            results.append(row)
            print(json.dumps(row), flush=True)
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| run | seeds | video probe: random -> trained | audio probe: random -> trained | "
          "std of normalised emb. (v, a; 1/sqrt(d) = %.3f) | loss first -> last |" % (1 / np.sqrt(128)))
    print("|---|---|---|---|---|---|")
    for label in args.runs:
        rows = [r for r in results if r["run"] == label]

        def ms(key: str) -> str:
            v = np.array([r[key] for r in rows])
            return f"{v.mean():.1f} ± {v.std():.1f}"
        print(f"| {label} | {len(rows)} | {ms('video_random')} -> {ms('video_trained')} | "
              f"{ms('audio_random')} -> {ms('audio_trained')} | "
              f"{np.mean([r['video_trained_std'] for r in rows]):.3f}, {np.mean([r['audio_trained_std'] for r in rows]):.3f} | "
              f"{np.mean([r['loss_first'] for r in rows]):.3f} -> {np.mean([r['loss_last10'] for r in rows]):.3f} |")


if __name__ == "__main__":
    main()
