"""Check an encoder against the contract before anyone spends GPU hours on it (after HEAR's validator).

:func:`validate` builds the encoder (or takes one), feeds synthetic inputs through each declared modality and
returns a :class:`ValidationReport`: one :class:`Check` per rule below (``pass`` / ``fail`` / ``skip``) and one
:class:`Measurement` of speed and memory per modality.

====================  ============================================================================================
check                 rule
====================  ============================================================================================
``build``             the factory returns an :class:`~avbench.encoder.Encoder`
``meta``              ``meta`` is usable: positive sample rate / fps, min <= max, 3-channel mean/std with std > 0,
                      at least one layer, ``embedding_dims`` for every modality that offers ``"pooled"``
``eval_mode``         the factory returns every submodule in eval mode, and no forward switches one to train mode
``no_grad``           the factory leaves no ``.grad`` on any parameter; under ``torch.no_grad()`` no output
                      requires grad and no forward sets a ``.grad`` (no ``enable_grad`` / ``backward`` inside)
``forward``           the forward runs at every geometry: audio durations min, 1 s, 2.5 s and max (capped at 10 s);
                      video clips of 0.5, 1 and 2.5 s at ``meta.video.fps`` (or each declared frame count) at the
                      minimum crop and at 112 px (clamped to the declared sizes)
``shapes``            every declared layer is returned; ``"pooled"`` is ``[B, D]`` with ``D = embedding_dims``
``axes``              every other layer is a :class:`~avbench.encoder.FeatureMap` whose axis names are the
                      modality's canonical set and whose ``batch`` axis has B entries
``dtype``             the front end / preprocessing gives float32 and every output is float32 (float32 inputs;
                      avbench applies bf16 autocast itself)
``finite``            no NaN or inf in any output
``deterministic``     the same batch twice gives the same outputs, every layer (max |diff| <= ``DETERMINISM_RTOL``
                      x max(1, max |output|))
``batch_invariant``   the first and last clip alone (B=1) give what they give inside a batch of ``batch`` (default
                      8), in ``pooled`` and every feature map with valid axes: max |diff| <= atol + rtol x
                      max(1, max |B=1 output|), (atol, rtol) = ``BATCH_TOL`` (CPU: 1e-5, 1e-4; CUDA, where kernels
                      change with the batch size: 1e-4, 2e-3). Skipped when not deterministic.
``rates``             source files at other rates reach the encoder through avbench's own decoders: wav files at
                      8, 22.05, 44.1 and 48 kHz resampled to ``meta.audio.sample_rate``; videos at 10, 25, 29.97
                      and 50 fps resampled to ``meta.video.fps`` (nearest frame) give clips of the expected
                      length and the forward runs on them (its outputs are judged by shapes, axes, dtype, finite)
====================  ============================================================================================

Sample and frame rates: the contract fixes ONE rate per modality in ``meta`` (the waveform / frames carry no rate
of their own), so an encoder never sees another rate: avbench's decoders resample every file to the declared
rate, and a task card asking a different video fps is refused by :func:`avbench.encoder.check_geometry`. The
``rates`` check runs that real path (PyAV files written and decoded) instead of pretending the encoder could
be asked to handle a rate itself.

Measurements (not pass/fail): media-seconds encoded per wall-second (throughput) and peak memory per media-second
on the timed run (the repeat of the ``batch`` run, after a warm-up): CUDA ``max_memory_allocated`` above the
baseline, or on CPU the peak resident set above the baseline (Linux: the kernel's peak counter reset through
``/proc/self/clear_refs``; elsewhere the ``getrusage`` peak, a lower bound).

Forwards run under ``torch.no_grad()`` (not ``inference_mode``, under which the ``no_grad`` rule could not fail).
Each rule is checked on its own: a broken encoder fails the rule it breaks and no other (NaNs compare equal to
NaNs in the determinism and batch checks, so a NaN encoder fails ``finite`` only).
"""
from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from avbench.encoder import CANONICAL_AXES, POOLED, Encoder, FeatureMap
from avbench.validate.inputs import (
    SOURCE_FPS,
    SOURCE_SAMPLE_RATES,
    Geometry,
    MemoryProbe,
    decoded_rate_batch,
    geometries,
    synthetic_batch,
)
from avbench.validate.report import Check, Measurement, ValidationReport

__all__ = ["CHECKS", "BATCH_TOL", "DETERMINISM_RTOL", "Check", "Measurement", "ValidationReport", "Geometry",
           "geometries", "synthetic_batch", "validate", "validate_encoder"]

CHECKS = ("build", "meta", "eval_mode", "no_grad", "forward", "shapes", "axes", "dtype", "finite", "deterministic",
          "batch_invariant", "rates")
#: (atol, rtol) of the batch-invariance check, per device type.
BATCH_TOL = {"cpu": (1e-5, 1e-4), "cuda": (1e-4, 2e-3)}
#: relative tolerance of the determinism check, per device type (CPU kernels are bit-reproducible).
DETERMINISM_RTOL = {"cpu": 1e-6, "cuda": 1e-4}


# ---- running ------------------------------------------------------------------------------------------------
@dataclass
class Observation:
    """One forward: its geometry, batch size, front-end output and layer outputs (None when it raised)."""

    geom: Geometry
    batch: int
    frontend: torch.Tensor | None = None
    out: dict[str, Any] | None = None
    error: str | None = None
    wall: float = 0.0


@dataclass
class _Watch:
    """State violations seen after each forward (eval_mode, no_grad)."""

    train_after: list[str] = field(default_factory=list)
    grad_after: list[str] = field(default_factory=list)
    grad_outputs: list[str] = field(default_factory=list)


def _training_modules(enc: torch.nn.Module) -> list[str]:
    return [name or type(enc).__name__ for name, m in enc.named_modules() if m.training]


def _params_with_grad(enc: torch.nn.Module) -> list[str]:
    return [name for name, p in enc.named_parameters() if p.grad is not None]


def _tensors(out: dict[str, Any]) -> list[tuple[str, torch.Tensor]]:
    items = []
    for layer, value in out.items():
        t = value.data if isinstance(value, FeatureMap) else value
        if isinstance(t, torch.Tensor):
            items.append((layer, t))
    return items


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _forward(enc: Encoder, modality: str, x: torch.Tensor, device: torch.device, watch: _Watch,
             geom: Geometry) -> Observation:
    obs = Observation(geom, int(x.shape[0]))
    x = x.to(device, copy=True)  # a copy: an encoder writing into its input must not change later runs' inputs
    try:
        with torch.no_grad():
            _sync(device)
            t0 = time.perf_counter()
            if modality == "audio":
                z = enc.audio_frontend(x)
                out = enc.encode_audio(z, layers=enc.layers("audio"))
            else:
                z = enc.video_preprocess(x)
                out = enc.encode_video(z, layers=enc.layers("video"))
            _sync(device)
            obs.wall = time.perf_counter() - t0
        if not isinstance(out, dict):
            raise TypeError(f"encode_{modality} returned {type(out).__name__}, not a dict of layer outputs")
        obs.frontend, obs.out = z, out
    except Exception as exc:  # any failure of the encoder's code is a finding, not a crash of the validator
        obs.error = f"{geom.label}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    where = f"{modality} {geom.label} B={obs.batch}"
    if trained := _training_modules(enc):
        watch.train_after.append(f"after {where}: {', '.join(trained[:3])}")
    if grads := _params_with_grad(enc):
        watch.grad_after.append(f"after {where}: {len(grads)} parameter(s) ({', '.join(grads[:3])})")
    if obs.out is not None:
        req = [layer for layer, t in _tensors(obs.out) if t.requires_grad]
        if isinstance(obs.frontend, torch.Tensor) and obs.frontend.requires_grad:
            req.insert(0, "front end")
        if req:
            watch.grad_outputs.append(f"{where}: {', '.join(req)}")
    return obs


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| where equal values (NaN with NaN, inf with inf) count as 0; shape mismatch = inf."""
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    if a.shape != b.shape:
        return math.inf
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    d = torch.where(same, torch.zeros_like(a), (a - b).abs())
    d = torch.nan_to_num(d, nan=math.inf)
    return float(d.max()) if d.numel() else 0.0


def _scale(t: torch.Tensor) -> float:
    t = t.detach().float()
    finite = t[torch.isfinite(t)]
    return max(1.0, float(finite.abs().max())) if finite.numel() else 1.0


# ---- rules --------------------------------------------------------------------------------------------------
def _meta_problems(enc: Encoder) -> list[str]:
    meta, problems = enc.meta, []
    for m in meta.modalities:
        spec = getattr(meta, m)
        if not spec.layers:
            problems.append(f"{m}: no layers declared")
        if POOLED in spec.layers and not meta.embedding_dims.get(m):
            problems.append(f"{m}: offers 'pooled' but meta.embedding_dims has no {m!r} entry")
    if "audio" in meta.modalities:
        a = meta.audio
        if not isinstance(a.sample_rate, int) or a.sample_rate <= 0:
            problems.append(f"audio: sample_rate {a.sample_rate!r} is not a positive integer (Hz)")
        if not 0 < a.min_seconds <= a.max_seconds:
            problems.append(f"audio: need 0 < min_seconds <= max_seconds, got {a.min_seconds}, {a.max_seconds}")
    if "video" in meta.modalities:
        v = meta.video
        if not v.fps > 0:
            problems.append(f"video: fps {v.fps!r} is not positive")
        if not 0 < v.min_size <= v.max_size:
            problems.append(f"video: need 0 < min_size <= max_size, got {v.min_size}, {v.max_size}")
        if len(v.mean) != 3 or len(v.std) != 3 or any(s <= 0 for s in v.std):
            problems.append(f"video: mean/std must be 3 values with std > 0, got {v.mean}, {v.std}")
        if any(int(f) <= 0 for f in v.frames):
            problems.append(f"video: frames {v.frames} must be positive")
    return problems


def _check_outputs(enc: Encoder, modality: str, observations: Sequence[Observation]) -> list[Check]:
    """shapes, axes, dtype and finite over every successful forward."""
    done = [o for o in observations if o.out is not None]
    if not done:
        return [Check(name=n, modality=modality, status="skip", detail="no forward succeeded")
                for n in ("shapes", "axes", "dtype", "finite")]
    shape_bad: list[str] = []
    axes_bad: list[str] = []
    dtype_bad: list[str] = []
    nonfinite: list[str] = []
    dim = enc.meta.embedding_dims.get(modality)
    dims_seen: set[int] = set()
    canonical = set(CANONICAL_AXES[modality])
    for o in done:
        where = f"{o.geom.label} B={o.batch}"
        front = o.frontend
        if not isinstance(front, torch.Tensor) or front.dtype != torch.float32:
            what = "front end" if modality == "audio" else "video_preprocess"
            dtype_bad.append(f"{what} gave {getattr(front, 'dtype', type(front).__name__)} ({where})")
        for layer in enc.layers(modality):
            if layer not in o.out:
                shape_bad.append(f"declared layer {layer!r} missing ({where}; got {sorted(o.out)})")
                continue
            value = o.out[layer]
            if layer == POOLED:
                if not isinstance(value, torch.Tensor):
                    shape_bad.append(f"pooled is a {type(value).__name__}, not a [B, D] tensor ({where})")
                    continue
                shape = tuple(value.shape)
                if value.dim() != 2 or shape[0] != o.batch or (dim is not None and shape[1] != dim):
                    shape_bad.append(f"pooled is {shape}, expected ({o.batch}, {dim if dim else 'D'}) ({where})")
                elif value.dim() == 2:
                    dims_seen.add(shape[1])
                t = value
            else:
                if not isinstance(value, FeatureMap):
                    axes_bad.append(f"layer {layer!r} is a {type(value).__name__}, not a FeatureMap with named axes")
                    t = value if isinstance(value, torch.Tensor) else None
                else:
                    t = value.data
                    if set(value.axes) != canonical:
                        axes_bad.append(f"layer {layer!r} axes {value.axes}; expected the names {CANONICAL_AXES[modality]} "
                                        "in any order")
                    elif value.data.shape[value.axes.index("batch")] != o.batch:
                        axes_bad.append(f"layer {layer!r}: its 'batch' axis has {value.data.shape[value.axes.index('batch')]} "
                                        f"entries for B={o.batch} (axes mislabelled?) ({where})")
            if t is None:
                continue
            if t.dtype != torch.float32:
                dtype_bad.append(f"layer {layer!r} is {t.dtype} ({where})")
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                n = int((~torch.isfinite(t.detach())).sum())
                nonfinite.append(f"layer {layer!r}: {n} of {t.numel()} values NaN/inf ({where})")
    if dim is None and len(dims_seen) > 1:
        shape_bad.append(f"pooled dimension changes with the input: {sorted(dims_seen)}")

    def verdict(name: str, bad: list[str], good: str) -> Check:
        if bad:
            more = f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""
            return Check(name=name, modality=modality, status="fail", detail="; ".join(dict.fromkeys(bad[:2])) + more)
        return Check(name=name, modality=modality, status="pass", detail=good)

    layers = [x for x in enc.layers(modality) if x != POOLED]
    n = len(done)
    return [
        verdict("shapes", shape_bad, f"all {len(enc.layers(modality))} declared layer(s) on {n} input(s)"
                + (f"; pooled [B, {dim}]" if POOLED in enc.layers(modality) else "")),
        verdict("axes", axes_bad, f"{len(layers)} feature map(s) named {CANONICAL_AXES[modality]} (any order)"
                if layers else "no feature maps declared (pooled only)"),
        verdict("dtype", dtype_bad, "front end and every output float32"),
        verdict("finite", nonfinite, f"no NaN/inf in {n} forward(s)"),
    ]


def _check_rates(enc: Encoder, modality: str, geom: Geometry, device: torch.device,
                 watch: _Watch) -> tuple[Check, Observation | None]:
    """The ``rates`` check, and the forward on the decoded files (judged by shapes/axes/dtype/finite too)."""
    declared = (f"{enc.meta.audio.sample_rate} Hz" if modality == "audio" else f"{enc.meta.video.fps:g} fps")
    sources = (", ".join(f"{r / 1000:g}k" for r in SOURCE_SAMPLE_RATES) + " Hz" if modality == "audio"
               else ", ".join(f"{n / d:.4g}" for n, d in SOURCE_FPS) + " fps")
    try:
        with tempfile.TemporaryDirectory(prefix="avbench-validate-") as tmp:
            x, problems = decoded_rate_batch(modality, geom, Path(tmp))
    except Exception as exc:
        return Check(name="rates", modality=modality, status="fail",
                     detail=f"cannot decode {sources} sources to the declared {declared}: {type(exc).__name__}: {exc}"), None
    obs = _forward(enc, modality, x, device, watch, geom)
    if obs.error:
        problems.append(f"forward on the decoded files failed: {obs.error}")
    if problems:
        return Check(name="rates", modality=modality, status="fail", detail="; ".join(problems[:3])), obs
    return Check(name="rates", modality=modality, status="pass",
                 detail=f"files at {sources} decoded to the declared {declared} by avbench and encoded "
                        f"({geom.label})"), obs


def _check_modality(enc: Encoder, modality: str, device: torch.device, batch: int, watch: _Watch,
                    generator: torch.Generator, video_size: int | None) -> tuple[list[Check], Measurement | None]:
    sweep, default = geometries(enc, modality, video_size)
    observations = [_forward(enc, modality, synthetic_batch(g, 2, generator), device, watch, g) for g in sweep]
    xb = synthetic_batch(default, batch, generator)
    first = _forward(enc, modality, xb, device, watch, default)
    observations.append(first)
    rates, rates_obs = _check_rates(enc, modality, default, device, watch)
    if rates_obs is not None and rates_obs.out is not None:
        observations.append(rates_obs)
    checks: list[Check] = []
    errors = [o.error for o in observations if o.error and o is not rates_obs]
    checks.append(Check(name="forward", modality=modality, status="fail" if errors else "pass",
                        detail="; ".join(errors[:2]) + (f" (+{len(errors) - 2} more)" if len(errors) > 2 else "")
                        if errors else f"{len(observations)} forwards at " + ", ".join(
                            dict.fromkeys(o.geom.label.split(' (')[0] for o in observations))))
    measurement = None
    if first.error:
        checks.extend(_check_outputs(enc, modality, observations))
        checks += [Check(name=n, modality=modality, status="skip", detail=f"the B={batch} forward failed")
                   for n in ("deterministic", "batch_invariant")]
    else:
        with MemoryProbe(device) as probe:
            again = _forward(enc, modality, xb, device, watch, default)
            peak = probe.peak()
        observations.append(again)
        checks.extend(_check_outputs(enc, modality, observations))
        rtol = DETERMINISM_RTOL[device.type if device.type in DETERMINISM_RTOL else "cpu"]
        a = dict(_tensors(first.out))
        b = dict(_tensors(again.out)) if again.out is not None else {}
        if not a:
            det = Check(name="deterministic", modality=modality, status="skip", detail="no tensor output to compare")
        elif again.error or set(a) != set(b):
            det = Check(name="deterministic", modality=modality, status="fail",
                        detail=again.error or f"the same batch twice gave layers {sorted(a)} then {sorted(b)}")
        else:
            layer, diff, bound = max(((k, _maxdiff(a[k], b[k]), rtol * _scale(a[k])) for k in a),
                                     key=lambda t: t[1] / t[2])
            det = Check(name="deterministic", modality=modality, status="pass" if diff <= bound else "fail",
                        detail=f"same B={batch} batch twice: max |diff| = {diff:.2e} (layer {layer}; tolerance "
                               f"{rtol:g} x scale)")
        checks.append(det)
        checks.append(_batch_check(enc, modality, device, batch, watch, xb, first, det, default))
        clip_s = default.seconds
        media = batch * clip_s
        measurement = Measurement(
            modality=modality, device=str(device), geometry=f"B={batch} x {default.label}", batch=batch,
            clip_seconds=round(clip_s, 6), media_seconds=round(media, 6), wall_seconds=round(again.wall, 6),
            throughput=round(media / max(again.wall, 1e-9), 3), peak_bytes=peak,
            peak_bytes_per_media_second=None if peak is None else round(peak / media, 1), memory_method=probe.method)
    checks.append(rates)
    return checks, measurement


def _batch_check(enc: Encoder, modality: str, device: torch.device, batch: int, watch: _Watch, xb: torch.Tensor,
                 first: Observation, det: Check, geom: Geometry) -> Check:
    if det.status != "pass":
        return Check(name="batch_invariant", modality=modality, status="skip",
                     detail="not assessable: the encoder is not deterministic" if det.status == "fail" else det.detail)
    atol, rtol = BATCH_TOL[device.type if device.type in BATCH_TOL else "cpu"]
    batched = _batch_first(first.out, modality, batch)
    worst, detail = -1.0, ""
    for i in sorted({0, batch - 1}):
        alone = _forward(enc, modality, xb[i:i + 1], device, watch, geom)
        if alone.error:
            return Check(name="batch_invariant", modality=modality, status="fail", detail=f"B=1 forward failed: {alone.error}")
        single = _batch_first(alone.out, modality, 1)
        for layer in sorted(set(single) & set(batched)):
            diff = _maxdiff(single[layer][0], batched[layer][i])
            bound = atol + rtol * _scale(single[layer])
            if diff > bound:
                return Check(name="batch_invariant", modality=modality, status="fail",
                             detail=f"NOT batch invariant: clip {i}, layer {layer}: max |B=1 - B={batch}| = {diff:.2e} "
                                    f"> tolerance {bound:.1e}: outputs depend on the other clips in the batch")
            if diff / bound > worst:
                worst, detail = diff / bound, (f"worst clip {i}, layer {layer}: max |B=1 - B={batch}| = {diff:.2e} "
                                               f"(tolerance {bound:.1e})")
    if not detail:
        return Check(name="batch_invariant", modality=modality, status="skip", detail="no comparable output")
    return Check(name="batch_invariant", modality=modality, status="pass", detail=f"batch invariant: {detail}")


def _batch_first(out: dict[str, Any], modality: str, batch: int) -> dict[str, torch.Tensor]:
    """Layers whose batch axis is known, batch axis first: ``pooled`` and feature maps with valid axis names
    (a map the ``axes`` check rejects is not compared here)."""
    res: dict[str, torch.Tensor] = {}
    for layer, v in out.items():
        if isinstance(v, FeatureMap):
            if set(v.axes) == set(CANONICAL_AXES[modality]) and v.data.shape[v.axes.index("batch")] == batch:
                res[layer] = v.data.movedim(v.axes.index("batch"), 0)
        elif isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == batch:
            res[layer] = v
    return res


# ---- entry points -------------------------------------------------------------------------------------------
def _build(target: str | Path | Encoder, weights: str | None, init_seed: int,
           options: dict[str, Any]) -> tuple[Any, str]:
    """-> (the factory's return value, a description of where it came from). Never calls ``.eval()``."""
    from avbench.submission.loader import resolve_encoder

    found = resolve_encoder(target, weights, init_seed, options)
    return found.obj, found.source


def validate(target: str | Path | Encoder, *, weights: str | None = None, init_seed: int = 0, device: str | None = None,
             batch: int = 8, video_size: int | None = None, seed: int = 0, options: dict[str, Any] | None = None,
             log: Callable[[str], None] | None = None) -> ValidationReport:
    """Check ``target`` against the encoder contract (module docstring) and measure it.

    target: a registered name, ``"pkg.module:factory"``, a submission folder (``card.yaml``; loaded with
      :func:`avbench.submission.loader.load_submission`, which raises SubmissionError for an unusable folder), or an
      :class:`Encoder` instance (checked as given: not put in eval mode first).
    weights / init_seed / options: passed to the factory. device: default cuda if available, else cpu.
    batch: the batch of the batch-invariance and timing runs (B=1 vs B=``batch``; >= 2).
    video_size: crop (px) of the video batch / timing run (default: the smallest crop of the sweep).
    seed: seed of the synthetic inputs.
    """
    if batch < 2:
        raise ValueError(f"batch must be >= 2 to compare B=1 with a batch, got {batch}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tolerances = {"batch_atol_rtol": BATCH_TOL, "determinism_rtol": DETERMINISM_RTOL}
    name = getattr(getattr(target, "meta", None), "name", None) or str(target)
    try:
        built, source = _build(target, weights, init_seed, dict(options or {}))
    except Exception as exc:
        from avbench.submission.card import SubmissionError

        if isinstance(exc, SubmissionError):
            raise
        report = ValidationReport(encoder=name, source=str(target), device=str(dev), batch=batch, tolerances=tolerances)
        report.checks.append(Check(name="build", status="fail", detail=f"{type(exc).__name__}: {exc}"))
        return report
    if not isinstance(built, Encoder):
        report = ValidationReport(encoder=name, source=source, device=str(dev), batch=batch, tolerances=tolerances)
        report.checks.append(Check(name="build", status="fail",
                                   detail=f"the factory returned {type(built).__name__}, not an avbench Encoder"))
        return report
    enc = built
    meta = enc.meta
    report = ValidationReport(encoder=meta.name, version=meta.version, modalities=list(meta.modalities), source=source,
                              device=str(dev), batch=batch, tolerances=tolerances)
    n_params = sum(p.numel() for p in enc.parameters())
    report.checks.append(Check(name="build", status="pass",
                               detail=f"{type(enc).__name__} {meta.name} v{meta.version} ({'+'.join(meta.modalities)}), "
                                      f"{n_params:,} parameters, weights "
                                      + (meta.weights_sha256[:12] if meta.weights_sha256 else
                                         f"random init (seed {meta.init_seed})" if meta.init_seed is not None else
                                         "hash not recorded in meta")))
    problems = _meta_problems(enc)
    report.checks.append(Check(name="meta", status="fail" if problems else "pass",
                               detail="; ".join(problems) if problems else "specs, rates, sizes and embedding_dims usable"))
    trained_at_build = _training_modules(enc)
    grads_at_build = _params_with_grad(enc)
    enc.eval()  # as avbench's runner does; the flags seen at build are judged below
    enc.to(dev)
    watch = _Watch()
    generator = torch.Generator().manual_seed(seed)
    for modality in meta.modalities if problems else ():
        report.checks.append(Check(name="forward", modality=modality, status="skip", detail="meta is unusable"))
    if not problems:
        for modality in meta.modalities:
            if log:
                log(f"validating {meta.name} {modality} on {dev}")
            checks, measurement = _check_modality(enc, modality, dev, batch, watch, generator, video_size)
            report.checks.extend(checks)
            if measurement is not None:
                report.measurements.append(measurement)
    bad_eval = ([f"the factory returned {len(trained_at_build)} module(s) in train mode ({', '.join(trained_at_build[:3])})"]
                if trained_at_build else []) + [f"forward switched to train mode {w}" for w in watch.train_after[:1]]
    report.checks.insert(2, Check(name="eval_mode", status="fail" if bad_eval else "pass",
                                  detail="; ".join(bad_eval) if bad_eval else
                                  "built in eval mode; no forward switched a module to train mode"))
    bad_grad = ([f"the factory left .grad on {len(grads_at_build)} parameter(s) ({', '.join(grads_at_build[:3])})"]
                if grads_at_build else [])
    bad_grad += [f"a forward set .grad {w}" for w in watch.grad_after[:1]]
    bad_grad += [f"outputs require grad under torch.no_grad(): {w}" for w in watch.grad_outputs[:1]]
    report.checks.insert(3, Check(name="no_grad", status="fail" if bad_grad else "pass",
                                  detail="; ".join(bad_grad) if bad_grad else
                                  "no .grad set; no output requires grad under torch.no_grad()"))
    return report


def validate_encoder(name_or_encoder: str | Encoder, weights: str | None = None) -> list[tuple[str, bool]]:
    """(check line, passed) for every check of :func:`validate` (a skipped check counts as passed)."""
    report = validate(name_or_encoder, weights=weights)
    return [(c.line, c.status != "fail") for c in report.checks]
