"""Is mixed precision safe for the reference pretrainers on this device? One batch, fp32 against autocast.

For each method: build the model (``--preset``, same init), cut one batch of ``--batch`` videos from the synthetic
world with the method's own view sampler, and run forward + backward twice on ``--device``: in fp32 and under
``torch.autocast(dtype=--dtype)``. Prints the two losses, every loss term, how many parameter gradients are not
finite under autocast, the cosine between the fp32 and autocast gradient vectors (1.0 = same direction; only
finite entries) and the ratio of their largest absolute entries (1.0 expected; garbage shows as 1e20 and up).
On the CPU the trainer refuses mixed precision (``avbench/pretrain/trainer.py: _autocast`` says why); this script
still runs it there, which is how that was measured.

    python benchmarks/pretrain_amp_check.py --device cuda
    python benchmarks/pretrain_amp_check.py --device cuda --preset paper --batch 8
"""
from __future__ import annotations

import argparse
import json

import torch

from avbench.config import resolve_cache_dir
from avbench.pretrain.data import PretrainDataset, collate, read_world
from avbench.pretrain.method import get_method, resolve_config
from avbench.synth.defaults import synthetic_root


def one_step(model: torch.nn.Module, batch: dict, dtype: torch.dtype | None) -> tuple[float, dict, torch.Tensor, int]:
    """(loss, terms, flattened gradient [P] float32, number of parameters with a non-finite gradient)."""
    model.zero_grad(set_to_none=True)
    device = next(model.parameters()).device.type
    with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss, terms = model(batch)
    loss.backward()
    grads = [p.grad.float().flatten() for p in model.parameters() if p.grad is not None]
    bad = sum(int(not torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
    return float(loss.detach()), {k: round(float(v), 5) for k, v in terms.items()}, torch.cat(grads), bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="*", default=["crisscross", "avcl", "temporal-ssl", "supervised"])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16"))
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    root = synthetic_root("world", resolve_cache_dir(None), log=lambda m: None)
    src = read_world(root, "train")
    for name in args.methods:
        cls = get_method(name)
        over = {"n_classes": len({i.label for i in src.items})} if name == "supervised" else {}
        cfg = resolve_config(cls, args.preset, over)
        model = cls(cfg, init_seed=0).to(args.device).train()
        ds = PretrainDataset(src.items, model.sampler(), fps=model.encoder.arch.fps,
                             sample_rate=model.encoder.arch.logmel().sample_rate, seed=0)
        batch = collate([ds[i] for i in range(args.batch)])
        batch.pop("skipped")
        batch = {k: v.to(args.device) for k, v in batch.items()}
        state = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm running stats move in train()
        loss32, terms32, g32, _ = one_step(model, batch, None)
        model.load_state_dict(state)
        loss16, terms16, g16, bad = one_step(model, batch, dtype)
        ok = torch.isfinite(g16)
        cos = float(torch.nn.functional.cosine_similarity(g32[ok], g16[ok], dim=0)) if ok.any() else float("nan")
        ratio = float(g16[ok].abs().max() / g32.abs().max()) if ok.any() else float("nan")
        print(json.dumps({"method": name, "preset": args.preset, "device": args.device, "dtype": args.dtype,
                          "loss_fp32": round(loss32, 5), "loss_amp": round(loss16, 5),
                          "nonfinite_grad_params": bad, "grad_cosine": round(cos, 4),
                          "grad_max_ratio": float(f"{ratio:.3g}"),
                          "terms_fp32": terms32, "terms_amp": terms16}), flush=True)


if __name__ == "__main__":
    main()
