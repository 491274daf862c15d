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

from pathlib import Path
from typing import Any, Callable

import torch

from avbench.encoder import Encoder
from avbench.validate.forward import Watch, params_with_grad, training_modules
from avbench.validate.inputs import Geometry, geometries, synthetic_batch
from avbench.validate.modality import BATCH_TOL, DETERMINISM_RTOL, check_modality
from avbench.validate.report import Check, Measurement, ValidationReport
from avbench.validate.rules import meta_problems

__all__ = ["CHECKS", "BATCH_TOL", "DETERMINISM_RTOL", "Check", "Measurement", "ValidationReport", "Geometry",
           "geometries", "synthetic_batch", "validate", "validate_encoder"]

CHECKS = ("build", "meta", "eval_mode", "no_grad", "forward", "shapes", "axes", "dtype", "finite", "deterministic",
          "batch_invariant", "rates")


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
    report.checks.append(_build_check(enc))
    problems = meta_problems(enc)
    report.checks.append(Check(name="meta", status="fail" if problems else "pass",
                               detail="; ".join(problems) if problems else "specs, rates, sizes and embedding_dims usable"))
    trained_at_build = training_modules(enc)
    grads_at_build = params_with_grad(enc)
    enc.eval()  # as avbench's runner does; the flags seen at build are judged below
    enc.to(dev)
    watch = Watch()
    generator = torch.Generator().manual_seed(seed)
    for modality in meta.modalities if problems else ():
        report.checks.append(Check(name="forward", modality=modality, status="skip", detail="meta is unusable"))
    if not problems:
        for modality in meta.modalities:
            if log:
                log(f"validating {meta.name} {modality} on {dev}")
            checks, measurement = check_modality(enc, modality, dev, batch, watch, generator, video_size)
            report.checks.extend(checks)
            if measurement is not None:
                report.measurements.append(measurement)
    eval_mode, no_grad = _state_checks(trained_at_build, grads_at_build, watch)
    report.checks.insert(2, eval_mode)
    report.checks.insert(3, no_grad)
    return report


def _build_check(enc: Encoder) -> Check:
    """``build`` passed: the encoder's class, name, version, modalities, parameter count and weights."""
    meta = enc.meta
    n_params = sum(p.numel() for p in enc.parameters())
    return Check(name="build", status="pass",
                 detail=f"{type(enc).__name__} {meta.name} v{meta.version} ({'+'.join(meta.modalities)}), "
                        f"{n_params:,} parameters, weights "
                        + (meta.weights_sha256[:12] if meta.weights_sha256 else
                           f"random init (seed {meta.init_seed})" if meta.init_seed is not None else
                           "hash not recorded in meta"))


def _state_checks(trained_at_build: list[str], grads_at_build: list[str], watch: Watch) -> tuple[Check, Check]:
    """``eval_mode`` and ``no_grad`` from the module state the factory returned and what the forwards did."""
    bad_eval = ([f"the factory returned {len(trained_at_build)} module(s) in train mode ({', '.join(trained_at_build[:3])})"]
                if trained_at_build else []) + [f"forward switched to train mode {w}" for w in watch.train_after[:1]]
    eval_mode = Check(name="eval_mode", status="fail" if bad_eval else "pass",
                      detail="; ".join(bad_eval) if bad_eval else
                      "built in eval mode; no forward switched a module to train mode")
    bad_grad = ([f"the factory left .grad on {len(grads_at_build)} parameter(s) ({', '.join(grads_at_build[:3])})"]
                if grads_at_build else [])
    bad_grad += [f"a forward set .grad {w}" for w in watch.grad_after[:1]]
    bad_grad += [f"outputs require grad under torch.no_grad(): {w}" for w in watch.grad_outputs[:1]]
    no_grad = Check(name="no_grad", status="fail" if bad_grad else "pass",
                    detail="; ".join(bad_grad) if bad_grad else
                    "no .grad set; no output requires grad under torch.no_grad()")
    return eval_mode, no_grad


def validate_encoder(name_or_encoder: str | Encoder, weights: str | None = None) -> list[tuple[str, bool]]:
    """(check line, passed) for every check of :func:`validate` (a skipped check counts as passed)."""
    report = validate(name_or_encoder, weights=weights)
    return [(c.line, c.status != "fail") for c in report.checks]
