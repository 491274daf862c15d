"""The pretraining loop behind ``avbench pretrain``: DDP, AMP, warm-up + cosine, checkpoints, resume, export.

Output directory (``--out``)::

    checkpoints/step-<N>/{model,optimizer}.safetensors + state.json   the last two kept; LATEST names the newest
    history.jsonl            one line per step: loss, its terms, lr, clips/s (rank 0)
    skipped.jsonl            videos that could not be decoded, with the reason (all ranks, merged)
    encoder.safetensors      the trained trunks; ``avbench eval --model METHOD --weights OUT`` loads it
    card.json                the pretraining card: method, resolved config, data, steps, losses, versions, command
    loss_curve.png           the loss (and its terms) against the step

Resume: running the same command again continues from ``LATEST`` (the config must be identical; a different one
is refused, naming the differing keys). Data order and augmentation are functions of (seed, epoch, index), so a
resumed run sees exactly the batches the uninterrupted run would have. Checkpoints are written to a fresh folder
and only then named in ``LATEST`` (an atomic rename), so a kill at any point leaves the previous one usable.
The card counts the steps this process trained (``steps_this_process``) and where it started
(``resumed_from_step``). Fault points (:mod:`avbench.runtime.faults`): ``pretrain`` after every step (and its checkpoint,
when one was due), ``pretrain-checkpoint`` inside a checkpoint write, before it is published.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from avbench.runtime import faults
from avbench.config import resolve_cache_dir
from avbench.results import device_description, git_sha, packages
from avbench.pretrain.data import PretrainDataset, Sources, collate, resolve_sources
from avbench.pretrain.method import Pretrainer, get_method, resolve_config
from avbench.pretrain.optim import LARC, build_optimizer, flatten_state, lr_factor, set_lr, unflatten_state

KEEP_CHECKPOINTS = 2


@dataclass
class PretrainOptions:
    """Where and how to run. device None = CUDA when available; workers: DataLoader processes per rank."""

    out: Path
    data: str = "world"
    data_root: str | None = None
    cache_dir: str | None = None
    device: str | None = None
    workers: int = 0
    decode_cache_mb: float = 0  # keep decoded videos in memory up to this many MiB (PretrainDataset)
    seed: int = 0
    init_seed: int = 0
    command: str = ""
    log: Callable[[str], None] = print
    progress: bool = True
    stop_after_steps: int | None = None  # testing hook: stop (as if killed) after this many steps of THIS process
    extra_card: dict[str, Any] = field(default_factory=dict)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _config_hash(cfg: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


# ---- checkpoints ------------------------------------------------------------------------------------------------
def save_checkpoint(out: Path, model: nn.Module, optimizer: Any, state: dict[str, Any]) -> Path:
    """Write ``checkpoints/step-<N>`` (model + optimizer safetensors, state.json), then point ``LATEST`` at it."""
    from safetensors.torch import save_file

    ckpts = out / "checkpoints"
    final = ckpts / f"step-{state['step']:08d}"
    tmp = ckpts / f".step-{state['step']:08d}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model_state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(model_state, str(tmp / "model.safetensors"))
    tensors, meta = flatten_state(optimizer.state_dict())
    save_file(tensors, str(tmp / "optimizer.safetensors"), metadata={"optimizer": meta})
    (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
    faults.point("pretrain-checkpoint")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    _atomic_text(ckpts / "LATEST", final.name + "\n")
    for old in sorted(p for p in ckpts.glob("step-*") if p.is_dir())[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    pointer = out / "checkpoints" / "LATEST"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.json").is_file() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer: Any) -> dict[str, Any]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    with safe_open(str(path / "optimizer.safetensors"), framework="pt") as fh:
        meta = (fh.metadata() or {})["optimizer"]
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    optimizer.load_state_dict(unflatten_state(tensors, meta))
    return json.loads((path / "state.json").read_text())


# ---- the loop ----------------------------------------------------------------------------------------------------
def _autocast(device: torch.device, amp: str) -> tuple[contextlib.AbstractContextManager, torch.dtype | None]:
    """``train.amp`` -> (autocast context, dtype or None). 'auto' = bf16 on CUDA, off elsewhere.

    Mixed precision on the CPU is refused: with torch 2.11's CPU kernels the weight gradient of a (3, 1, 1)
    Conv3d under bf16 autocast on a 2-frame input is garbage (1e26 to 3e38 or NaN, varying from run to run;
    measured), and the R(2+1)D trunks have such layers after temporal down-sampling: every video loss of the
    small presets turned NaN within three steps."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return contextlib.nullcontext(), None
    if device.type == "cpu":
        raise ValueError(f"train.amp={amp} on the CPU is not supported: torch's CPU bf16/fp16 Conv3d backward "
                         "gives wrong weight gradients for the R(2+1)D temporal convolutions (the loss turns NaN "
                         "within a few steps); use train.amp=auto or off on the CPU")
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype), dtype


def _read_history(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= upto]


def pretrain(method: str, *, preset: str = "paper", overrides: dict[str, Any] | None = None,
             options: PretrainOptions) -> Path | None:
    """Train ``method`` and export its encoder; returns ``OUT/encoder.safetensors`` (None on ranks > 0, or when
    stopped early by ``stop_after_steps``). See the module docstring for the output layout."""
    from avbench.runtime.sync_bn import sync_batchnorm
    from avbench.runtime.distributed import dist_context
    from avbench.taskcard import deep_merge

    opts = options
    out = Path(opts.out)
    rank, world = dist_context()
    log = opts.log if rank == 0 else (lambda _m: None)
    cls = get_method(method)
    resolve_config(cls, preset, overrides)  # bad settings fail before any data is touched
    cache_dir = resolve_cache_dir(opts.cache_dir)
    sources: Sources = resolve_sources(opts.data, cache_dir=cache_dir, data_root=opts.data_root, log=log)
    if cls.needs_labels():
        if any(i.label < 0 for i in sources.items):
            raise ValueError(f"{method} needs labelled videos; {sources.description} has unlabelled ones")
        overrides = deep_merge(overrides or {}, {"n_classes": len(sources.classes)})
    cfg = resolve_config(cls, preset, overrides)
    tc = cfg.train
    if tc.batch_size % world:
        raise ValueError(f"train.batch_size {tc.batch_size} is not divisible by the {world} processes")
    if len(sources.items) * tc.clips_per_video < tc.batch_size:
        raise ValueError(f"{sources.description}: {len(sources.items)} videos x {tc.clips_per_video} clips is fewer "
                         f"than one batch of {tc.batch_size}; lower train.batch_size")

    device = torch.device(opts.device or (f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available()
                                          else "cpu"))
    autocast, amp_dtype = _autocast(device, tc.amp)
    model: Pretrainer = cls(cfg, init_seed=opts.init_seed)
    model.to(device)
    if world > 1:
        sync_batchnorm(model, device)
    groups = model.param_groups()
    base = build_optimizer(groups, name=tc.optimizer, weight_decay=tc.weight_decay, betas=tc.betas,
                           momentum=tc.momentum)
    optimizer: Any = LARC(base, tc.larc_trust) if tc.larc else base
    resolved = {"method": method, "preset": preset, "config": cfg.model_dump(mode="json"),
                "data": opts.data, "seed": opts.seed, "init_seed": opts.init_seed, "world_size": world}
    cfg_hash = _config_hash(resolved)

    dataset = PretrainDataset(sources.items, model.sampler(), fps=model.encoder.arch.fps,
                              sample_rate=model.encoder.arch.logmel().sample_rate, seed=opts.seed,
                              clips_per_video=tc.clips_per_video, cache_mb=opts.decode_cache_mb,
                              renderer=sources.renderer)
    if opts.decode_cache_mb > 0:
        t0 = time.perf_counter()
        n_cached, mib = dataset.warm()
        log(f"decode cache: {n_cached} of {len(sources.items)} videos in memory ({mib:.0f} MiB of "
            f"{opts.decode_cache_mb:g}, {time.perf_counter() - t0:.1f} s)")
    steps_per_epoch = len(dataset) // tc.batch_size
    total_steps = steps_per_epoch * tc.epochs
    last_step = min(total_steps, tc.max_steps or total_steps)
    warmup = int(round(tc.warmup_epochs * steps_per_epoch))
    final_ratio = tc.final_lr / tc.lr

    step = 0
    start_step = 0
    history: list[dict[str, Any]] = []
    out.mkdir(parents=True, exist_ok=True)
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        state = json.loads((ckpt / "state.json").read_text())
        if state["config_hash"] != cfg_hash:
            diff = _diff(state["resolved"], json.loads(json.dumps(resolved, default=str)))
            raise ValueError(f"{out} holds a run with another configuration ({'; '.join(diff[:6])}); "
                             "use a new --out or the same settings to resume")
        load_checkpoint(ckpt, model, optimizer)
        step = start_step = state["step"]
        log(f"resuming from {ckpt} (step {step} of {last_step})")
        history = _read_history(out / "history.jsonl", step)
        if rank == 0:
            _atomic_text(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    elif rank == 0:
        for stale in ("history.jsonl", f"skipped.rank{rank}.jsonl"):
            (out / stale).unlink(missing_ok=True)

    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                                  find_unused_parameters=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    log(f"pretraining {method} ({preset}) on {sources.description}: {len(sources.items)} videos, "
        f"{steps_per_epoch} steps/epoch x {tc.epochs} epochs (batch {tc.batch_size}, {world} process(es), "
        f"{device_description(device)}, amp {amp_dtype or 'off'})")

    skipped_path = out / f"skipped.rank{rank}.jsonl"
    skipped_seen = {json.loads(x)["id"] for x in skipped_path.read_text().splitlines()} if skipped_path.is_file() else set()
    t_start = time.perf_counter()
    done_here = 0
    empty_steps = 0
    progress_cm = _progress(opts.progress and rank == 0, last_step, step)
    with progress_cm as advance:
        while step < last_step:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            dataset.epoch = epoch
            perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(opts.seed * 100003 + epoch))
            steps_left = min(steps_per_epoch, in_epoch + (last_step - step)) - in_epoch
            order = perm[in_epoch * tc.batch_size:(in_epoch + steps_left) * tc.batch_size]
            mine = order.view(steps_left, tc.batch_size)[:, rank::world].reshape(-1).tolist()
            loader = torch.utils.data.DataLoader(dataset, batch_size=tc.batch_size // world, sampler=mine,
                                                 num_workers=opts.workers, collate_fn=collate, drop_last=False,
                                                 persistent_workers=False)
            net.train()
            for batch in loader:
                t0 = time.perf_counter()
                for sid, path, reason in batch.pop("skipped"):
                    if sid not in skipped_seen:
                        skipped_seen.add(sid)
                        with skipped_path.open("a") as fh:
                            fh.write(json.dumps({"id": sid, "path": path, "reason": reason}) + "\n")
                        log(f"skipped {path}: {reason}")
                n_good = int(batch["index"].numel()) if "index" in batch else 0
                usable = torch.tensor(int(n_good >= 2))
                if world > 1:  # every rank must agree, or the gradient all-reduce would hang
                    torch.distributed.all_reduce(usable, op=torch.distributed.ReduceOp.MIN)
                if not usable:
                    # BatchNorm needs two samples: the step is counted (the schedule and data order stay those of
                    # the uninterrupted run) but makes no update; the card counts such steps
                    step += 1
                    done_here += 1
                    empty_steps += 1
                    log(f"step {step}: fewer than 2 decodable videos in a batch; no update (see {skipped_path})")
                    faults.point("pretrain")
                    continue
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                set_lr(optimizer, lr_factor(step, total_steps=total_steps, warmup_steps=warmup,
                                            final_ratio=final_ratio))
                with autocast:
                    loss, terms = net(batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"step {step}: loss is {loss.item()}; terms {terms}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if tc.larc:
                    scaler.unscale_(base)
                    optimizer.step()
                    scaler.update()
                else:
                    scaler.step(optimizer)
                    scaler.update()
                model.after_step(batch)
                step += 1
                done_here += 1
                rate = n_good * world / max(1e-9, time.perf_counter() - t0)
                row = {"step": step, "epoch": epoch, "loss": float(loss.detach()), **terms,
                       "lr": optimizer.param_groups[0]["lr"], "clips_per_s": rate}
                if rank == 0:
                    history.append(row)
                    with (out / "history.jsonl").open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                advance(row)
                end_of_epoch = step % steps_per_epoch == 0
                due = tc.checkpoint_every and step % tc.checkpoint_every == 0
                if rank == 0 and (due or (not tc.checkpoint_every and end_of_epoch) or step == last_step):
                    save_checkpoint(out, model, optimizer, {"step": step, "epoch": epoch, "config_hash": cfg_hash,
                                                            "resolved": resolved})
                faults.point("pretrain")
                if opts.stop_after_steps is not None and done_here >= opts.stop_after_steps:
                    if world > 1:
                        torch.distributed.barrier()
                    return None
            del loader
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        return None
    wall = time.perf_counter() - t_start
    opts.extra_card.setdefault("steps_without_update_this_process", empty_steps)
    opts.extra_card.setdefault("steps_this_process", done_here)
    opts.extra_card.setdefault("resumed_from_step", start_step)
    return export(out, model, method=method, preset=preset, resolved=resolved, sources=sources, history=history,
                  wall=wall, device=device, opts=opts, step=step, total_steps=total_steps)


class _progress:
    """A rich progress bar showing the loss and the throughput; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int, start: int) -> None:
        self.enabled, self.total, self.start = enabled, total, start

    def __enter__(self) -> Callable[[dict[str, Any]], None]:
        if not self.enabled:
            return lambda _row: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.1f} clips/s"),
                            TimeRemainingColumn())
        self.bar.__enter__()
        self.task = self.bar.add_task("pretrain", total=self.total, completed=self.start, loss=float("nan"), rate=0.0)
        return lambda row: self.bar.update(self.task, advance=1, loss=row["loss"], rate=row["clips_per_s"])

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


def merged_skips(out: Path) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in sorted(out.glob("skipped.rank*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows.setdefault(r["id"], r)
    return [rows[k] for k in sorted(rows)]


def export(out: Path, model: Pretrainer, *, method: str, preset: str, resolved: dict[str, Any], sources: Sources,
           history: list[dict[str, Any]], wall: float, device: torch.device, opts: PretrainOptions, step: int,
           total_steps: int) -> Path:
    """Write ``encoder.safetensors``, ``card.json``, ``skipped.jsonl`` and ``loss_curve.png``."""
    from avbench.models.two_tower import save_two_tower
    from avbench.pretrain.plot import plot_history

    skipped = sources.skipped + merged_skips(out)
    (out / "skipped.jsonl").write_text("".join(json.dumps(s) + "\n" for s in skipped))
    tail = [r["loss"] for r in history[-10:]]
    card = {
        "format": "avbench-pretrain-card-v1", "method": method, "preset": preset, **resolved,
        "arch": model.encoder.arch.to_dict(),
        "data_description": sources.description, "synthetic_data": sources.synthetic,
        "n_videos": len(sources.items), "n_skipped": len(skipped), "skipped": skipped[:50],
        "steps": step, "total_steps": total_steps,
        "loss_first": history[0]["loss"] if history else None,
        "loss_last10_mean": sum(tail) / len(tail) if tail else None,
        "wall_seconds_this_process": round(wall, 1), "device": device_description(device),
        "packages": packages(), "git_sha": git_sha(), "command": opts.command, **opts.extra_card,
    }
    pretraining_data = ("synthetic world" if opts.data == "world" else sources.description)
    path = save_two_tower(model.encoder.cpu(), out / "encoder.safetensors", card=card,
                          pretraining_data=f"{method} on {pretraining_data}")
    card["encoder_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _atomic_text(out / "card.json", json.dumps(card, indent=1, sort_keys=True, default=str) + "\n")
    if history:
        plot_history(history, out / "loss_curve.png", title=f"{method} ({preset}) on {pretraining_data}")
    return path
