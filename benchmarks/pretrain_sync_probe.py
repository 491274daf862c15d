"""Did CrissCross learn its pretext task? Cross-modal retrieval through its own projector and predictor.

For each CrissCross run directory written by ``benchmarks/pretrain_evidence.py`` (``OUT/seed*/crisscross*``), on
the world's 60 held-out videos: one synchronised pair per video (video: 8 frames at 16 fps from t = 1.0 s,
short side 73 then centre 64²; audio: the 1-s window from the same instant, through the encoder's front end),
embedded as in training (trunk -> projector -> predictor). Query with the video prediction p_v against all audio
targets z_a (cosine) and with p_a against z_v; R@1 and R@5 of the matching video (chance 1/60 = 1.7 % and
8.3 %), and the matched-minus-mismatched mean cosine (0 = nothing instance-specific). The same network before training (same init seed) is the baseline. A SimSiam cross-modal loss that falls
without this retrieval rising would mean the predictor maps everything to a shared constant direction.

    python benchmarks/pretrain_sync_probe.py --runs evidence/

Prints a markdown table and writes ``RUNS/sync_probe_<split>.json``; ``--split train`` asks the same of the
180 pretraining videos (chance 0.6 % / 2.8 %).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torchaudio.functional import resample

from avbench.config import resolve_cache_dir
from avbench.media.video_augment import OFF_PARAMS, transform_clip
from avbench.pretrain.data import decode_item, read_world
from avbench.pretrain.method import get_method
from avbench.pretrain.trainer import latest_checkpoint
from avbench.synth.defaults import synthetic_root


@torch.no_grad()
def pairs(model, decoded, start_s: float = 1.0) -> dict[str, torch.Tensor]:
    """{p_v, z_v, p_a, z_a}: ``[N, d]`` embeddings of one synchronised pair per video."""
    model.eval()
    a = model.encoder.arch
    mean, std = torch.tensor(a.mean).view(1, 3, 1, 1, 1), torch.tensor(a.std).view(1, 3, 1, 1, 1)
    sr = a.logmel().sample_rate
    clips, waves = [], []
    for d in decoded:
        first = int(round(start_s * d.fps))
        clips.append(transform_clip(d.frames[first:first + 8], OFF_PARAMS, 64, 73))
        wave = resample(d.wave, d.sample_rate, sr) if sr != d.sample_rate else d.wave
        waves.append(wave[int(start_s * sr):int(start_s * sr) + sr])
    video = (torch.stack(clips).float() / 255 - mean) / std
    audio = model.encoder.audio_frontend(torch.stack(waves))
    p_v, z_v = model._embed("video", video)
    p_a, z_a = model._embed("audio", audio)
    return {"p_v": p_v, "z_v": z_v, "p_a": p_a, "z_a": z_a}


def recall(query: torch.Tensor, gallery: torch.Tensor, k: int) -> float:
    """% of queries whose own index is among the k most cosine-similar gallery rows."""
    sim = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(gallery, dim=1).T
    top = sim.topk(k, dim=1).indices
    return float((top == torch.arange(len(query)).unsqueeze(1)).any(1).float().mean() * 100)


def cosine_gap(query: torch.Tensor, gallery: torch.Tensor) -> float:
    """Mean cosine of matched pairs minus mean cosine of mismatched pairs: the instance-level signal (0 when the
    prediction ignores which video it came from, e.g. a shared direction)."""
    sim = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(gallery, dim=1).T
    n = len(sim)
    diag = sim.diag().mean()
    return float(diag - (sim.sum() - sim.diag().sum()) / (n * n - n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="the --out of benchmarks/pretrain_evidence.py")
    ap.add_argument("--split", default="test", choices=("train", "test"),
                    help="the world's held-out videos (default) or the 180 the encoders were pretrained on")
    args = ap.parse_args()
    runs = Path(args.runs)
    root = synthetic_root("world", resolve_cache_dir(None), log=lambda m: None)
    items = read_world(root, args.split).items
    rows = []
    for run in sorted(runs.glob("seed*/crisscross*")):
        card = json.loads((run / "card.json").read_text())
        cls = get_method("crisscross")
        cfg = cls.Config.model_validate(card["config"])
        row = {"run": run.name, "seed": card["seed"], "steps": card["steps"], "split": args.split,
               "n": len(items)}
        for tag in ("random", "trained"):
            model = cls(cfg, init_seed=card["init_seed"])
            if tag == "trained":
                model.load_state_dict(load_file(str(latest_checkpoint(run) / "model.safetensors")), strict=True)
            else:
                arch = model.encoder.arch
                decoded = [decode_item(i.path, arch.fps, arch.logmel().sample_rate) for i in items]
            e = pairs(model, decoded)
            for k in (1, 5):
                row[f"v2a_R{k}_{tag}"] = recall(e["p_v"], e["z_a"], k)
                row[f"a2v_R{k}_{tag}"] = recall(e["p_a"], e["z_v"], k)
            row[f"v2a_gap_{tag}"] = cosine_gap(e["p_v"], e["z_a"])
            row[f"a2v_gap_{tag}"] = cosine_gap(e["p_a"], e["z_v"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    (runs / f"sync_probe_{args.split}.json").write_text(json.dumps(rows, indent=1))
    print("\n| run | seeds | steps | video->audio R@1 / R@5: random -> trained (%) | "
          "audio->video R@1 / R@5: random -> trained (%) | matched - mismatched cosine (v->a; a->v): "
          "random -> trained |")
    print("|---|---|---|---|---|---|")
    for name in sorted({r["run"] for r in rows}):
        rs = [r for r in rows if r["run"] == name]

        def ms(key: str) -> str:
            v = np.array([r[key] for r in rs])
            return f"{v.mean():.1f} ± {v.std():.1f}"

        def ms3(key: str) -> str:
            v = np.array([r[key] for r in rs])
            return f"{v.mean():.3f} ± {v.std():.3f}"
        print(f"| {name} | {len(rs)} | {rs[0]['steps']} | {ms('v2a_R1_random')} / {ms('v2a_R5_random')} -> "
              f"{ms('v2a_R1_trained')} / {ms('v2a_R5_trained')} | {ms('a2v_R1_random')} / {ms('a2v_R5_random')} "
              f"-> {ms('a2v_R1_trained')} / {ms('a2v_R5_trained')} | {ms3('v2a_gap_random')}; "
              f"{ms3('a2v_gap_random')} -> {ms3('v2a_gap_trained')}; {ms3('a2v_gap_trained')} |")


if __name__ == "__main__":
    main()
