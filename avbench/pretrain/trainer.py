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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from avbench.runtime import faults
from avbench.runtime.denormals import flushed_denormals
from avbench.config import resolve_cache_dir
from avbench.results import device_description, git_sha, packages
from avbench.pretrain.data import PretrainDataset, Sources, collate, resolve_sources
from avbench.pretrain.method import Pretrainer, get_method, resolve_config
from avbench.pretrain.checkpoints import atomic_write_text, latest_checkpoint, load_checkpoint, save_checkpoint
from avbench.pretrain.optim import LARC, build_optimizer, lr_factor, set_lr

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
    #: called on rank 0 after every optimizer step with that step's history row and the (unwrapped) model, e.g. to
    #: watch a head's weights (benchmarks/identity_diagnostics.py trace); it must not change the model
    on_step: Callable[[dict[str, Any], Any], None] | None = None


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


@dataclass
class PretrainRun:
    """Everything one pretraining run holds while it trains (built once by :func:`setup_run`)."""

    method: str
    preset: str
    opts: PretrainOptions
    out: Path
    rank: int
    world: int
    log: Callable[[str], None]
    sources: Sources
    cfg: Any
    device: torch.device
    amp_dtype: torch.dtype | None
    autocast: contextlib.AbstractContextManager
    model: Pretrainer
    base: Any  # the optimizer LARC wraps (or the optimizer itself)
    optimizer: Any
    resolved: dict[str, Any]
    cfg_hash: str
    dataset: PretrainDataset
    steps_per_epoch: int
    total_steps: int
    last_step: int
    warmup: int
    step: int = 0
    start_step: int = 0
    done_here: int = 0
    empty_steps: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def pretrain(method: str, *, preset: str = "paper", overrides: dict[str, Any] | None = None,
             options: PretrainOptions) -> Path | None:
    """Train ``method`` and export its encoder; returns ``OUT/encoder.safetensors`` (None on ranks > 0, or when
    stopped early by ``stop_after_steps``). See the module docstring for the output layout. On a CPU the steps run
    with subnormal floats flushed to zero (:mod:`avbench.runtime.denormals`; the caller's setting is restored)."""
    run = setup_run(method, preset, overrides, options)
    with flushed_denormals() if run.device.type == "cpu" else contextlib.nullcontext():
        return _train(run, method, preset)


def _train(run: PretrainRun, method: str, preset: str) -> Path | None:
    """Resume, train to ``run.last_step`` and export (``pretrain``'s body)."""
    _resume(run)
    tc, opts = run.cfg.train, run.opts
    net: nn.Module = run.model
    if run.world > 1:
        net = nn.parallel.DistributedDataParallel(run.model, find_unused_parameters=True,
                                                  device_ids=[run.device.index] if run.device.type == "cuda" else None)
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.amp_dtype == torch.float16)
    run.log(f"pretraining {method} ({preset}) on {run.sources.description}: {len(run.sources.items)} videos, "
            f"{run.steps_per_epoch} steps/epoch x {tc.epochs} epochs (batch {tc.batch_size}, {run.world} "
            f"process(es), {device_description(run.device)}, amp {run.amp_dtype or 'off'})")
    skips = _SkipWriter(run.out / f"skipped.rank{run.rank}.jsonl", run.log)
    t_start = time.perf_counter()
    with _progress(opts.progress and run.rank == 0, run.last_step, run.step) as advance:
        while run.step < run.last_step:
            for batch in _epoch_loader(run):
                stopped = _train_step(run, net, scaler, batch, skips, advance)
                if stopped:
                    if run.world > 1:
                        torch.distributed.barrier()
                    return None
    if run.world > 1:
        torch.distributed.barrier()
    if run.rank != 0:
        return None
    opts.extra_card.setdefault("steps_without_update_this_process", run.empty_steps)
    opts.extra_card.setdefault("steps_this_process", run.done_here)
    opts.extra_card.setdefault("resumed_from_step", run.start_step)
    return export(run.out, run.model, method=method, preset=preset, resolved=run.resolved, sources=run.sources,
                  history=run.history, wall=time.perf_counter() - t_start, device=run.device, opts=opts,
                  step=run.step, total_steps=run.total_steps)


def setup_run(method: str, preset: str, overrides: dict[str, Any] | None, opts: PretrainOptions) -> PretrainRun:
    """Resolve the config and the data, build the model, optimizer and data set; bad settings fail here, before
    any step. Writes nothing under ``OUT``: :func:`pretrain` trains what it returns, and diagnostics rebuild a
    run's model and view sampler with it (:func:`avbench.pretrain.inspect_run.load_run`)."""
    from avbench.runtime.sync_bn import sync_batchnorm
    from avbench.runtime.distributed import dist_context
    from avbench.taskcard import deep_merge

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
    base = build_optimizer(model.param_groups(), name=tc.optimizer, weight_decay=tc.weight_decay, betas=tc.betas,
                           momentum=tc.momentum)
    optimizer: Any = LARC(base, tc.larc_trust) if tc.larc else base
    resolved = {"method": method, "preset": preset, "config": cfg.model_dump(mode="json"),
                "data": opts.data, "seed": opts.seed, "init_seed": opts.init_seed, "world_size": world}

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
    return PretrainRun(method=method, preset=preset, opts=opts, out=Path(opts.out), rank=rank, world=world, log=log,
                       sources=sources, cfg=cfg, device=device, amp_dtype=amp_dtype, autocast=autocast, model=model,
                       base=base, optimizer=optimizer, resolved=resolved, cfg_hash=_config_hash(resolved),
                       dataset=dataset, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
                       last_step=min(total_steps, tc.max_steps or total_steps),
                       warmup=int(round(tc.warmup_epochs * steps_per_epoch)))


def _resume(run: PretrainRun) -> None:
    """Continue from ``OUT``'s latest checkpoint (refused, naming the differing keys, if its config differs); a
    fresh run clears this rank's stale history and skip files."""
    run.out.mkdir(parents=True, exist_ok=True)
    ckpt = latest_checkpoint(run.out)
    if ckpt is None:
        if run.rank == 0:
            for stale in ("history.jsonl", f"skipped.rank{run.rank}.jsonl"):
                (run.out / stale).unlink(missing_ok=True)
        return
    state = json.loads((ckpt / "state.json").read_text())
    if state["config_hash"] != run.cfg_hash:
        diff = _diff(state["resolved"], json.loads(json.dumps(run.resolved, default=str)))
        raise ValueError(f"{run.out} holds a run with another configuration ({'; '.join(diff[:6])}); "
                         "use a new --out or the same settings to resume")
    load_checkpoint(ckpt, run.model, run.optimizer)
    run.step = run.start_step = state["step"]
    run.log(f"resuming from {ckpt} (step {run.step} of {run.last_step})")
    run.history = _read_history(run.out / "history.jsonl", run.step)
    if run.rank == 0:
        atomic_write_text(run.out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in run.history))


def _epoch_loader(run: PretrainRun) -> torch.utils.data.DataLoader:
    """The batches left in the current epoch for this rank: the order is a function of (seed, epoch), so a resumed
    run sees exactly the batches the uninterrupted run would have."""
    tc = run.cfg.train
    epoch, in_epoch = divmod(run.step, run.steps_per_epoch)
    run.dataset.epoch = epoch
    perm = torch.randperm(len(run.dataset), generator=torch.Generator().manual_seed(run.opts.seed * 100003 + epoch))
    steps_left = min(run.steps_per_epoch, in_epoch + (run.last_step - run.step)) - in_epoch
    order = perm[in_epoch * tc.batch_size:(in_epoch + steps_left) * tc.batch_size]
    mine = order.view(steps_left, tc.batch_size)[:, run.rank::run.world].reshape(-1).tolist()
    return torch.utils.data.DataLoader(run.dataset, batch_size=tc.batch_size // run.world, sampler=mine,
                                       num_workers=run.opts.workers, collate_fn=collate, drop_last=False,
                                       persistent_workers=False)


class _SkipWriter:
    """Appends each newly skipped video of this rank to ``skipped.rank<R>.jsonl`` (once per id) and logs it."""

    def __init__(self, path: Path, log: Callable[[str], None]) -> None:
        self.path, self.log = path, log
        self.seen = {json.loads(x)["id"] for x in path.read_text().splitlines()} if path.is_file() else set()

    def add(self, skipped: list[tuple[str, str, str]]) -> None:
        for sid, path, reason in skipped:
            if sid not in self.seen:
                self.seen.add(sid)
                with self.path.open("a") as fh:
                    fh.write(json.dumps({"id": sid, "path": path, "reason": reason}) + "\n")
                self.log(f"skipped {path}: {reason}")


def _train_step(run: PretrainRun, net: nn.Module, scaler: torch.amp.GradScaler, batch: dict[str, Any],
                skips: _SkipWriter, advance: Callable[[dict[str, Any]], None]) -> bool:
    """One optimizer step (or a counted step without update when fewer than 2 videos decoded), its history row
    and its checkpoint when due; True when ``stop_after_steps`` says to stop here."""
    tc, opts = run.cfg.train, run.opts
    t0 = time.perf_counter()
    epoch = run.step // run.steps_per_epoch
    skips.add(batch.pop("skipped"))
    n_good = int(batch["index"].numel()) if "index" in batch else 0
    usable = torch.tensor(int(n_good >= 2))
    if run.world > 1:  # every rank must agree, or the gradient all-reduce would hang
        torch.distributed.all_reduce(usable, op=torch.distributed.ReduceOp.MIN)
    if not usable:
        # BatchNorm needs two samples: the step is counted (the schedule and data order stay those of the
        # uninterrupted run) but makes no update; the card counts such steps
        run.step += 1
        run.done_here += 1
        run.empty_steps += 1
        run.log(f"step {run.step}: fewer than 2 decodable videos in a batch; no update (see {skips.path})")
        faults.point("pretrain")
        return False
    batch = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
    set_lr(run.optimizer, lr_factor(run.step, total_steps=run.total_steps, warmup_steps=run.warmup,
                                    final_ratio=tc.final_lr / tc.lr))
    with run.autocast:
        loss, terms = net(batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"step {run.step}: loss is {loss.item()}; terms {terms}")
    run.optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if tc.larc:
        scaler.unscale_(run.base)
        run.optimizer.step()
    else:
        scaler.step(run.optimizer)
    scaler.update()
    run.model.after_step(batch)
    run.step += 1
    run.done_here += 1
    rate = n_good * run.world / max(1e-9, time.perf_counter() - t0)
    row = {"step": run.step, "epoch": epoch, "loss": float(loss.detach()), **terms,
           "lr": run.optimizer.param_groups[0]["lr"], "clips_per_s": rate}
    if run.rank == 0:
        run.history.append(row)
        with (run.out / "history.jsonl").open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        if opts.on_step is not None:
            opts.on_step(row, run.model)
    advance(row)
    end_of_epoch = run.step % run.steps_per_epoch == 0
    due = tc.checkpoint_every and run.step % tc.checkpoint_every == 0
    if run.rank == 0 and (due or (not tc.checkpoint_every and end_of_epoch) or run.step == run.last_step):
        save_checkpoint(run.out, run.model, run.optimizer, {"step": run.step, "epoch": epoch,
                                                            "config_hash": run.cfg_hash, "resolved": run.resolved})
    faults.point("pretrain")
    return opts.stop_after_steps is not None and run.done_here >= opts.stop_after_steps


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
    atomic_write_text(out / "card.json", json.dumps(card, indent=1, sort_keys=True, default=str) + "\n")
    if history:
        plot_history(history, out / "loss_curve.png", title=f"{method} ({preset}) on {pretraining_data}")
    return path
