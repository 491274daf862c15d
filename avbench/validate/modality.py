"""The checks of one modality (``forward``, the output rules, ``deterministic``, ``batch_invariant``, ``rates``) and
its :class:`~avbench.validate.report.Measurement` of throughput (media-seconds per wall-second) and peak memory."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from avbench.encoder import CANONICAL_AXES, Encoder, FeatureMap
from avbench.validate.forward import Observation, Watch, layer_tensors, max_diff, run_forward, value_scale
from avbench.validate.inputs import (
    SOURCE_FPS,
    SOURCE_SAMPLE_RATES,
    Geometry,
    MemoryProbe,
    decoded_rate_batch,
    geometries,
    synthetic_batch,
)
from avbench.validate.report import Check, Measurement
from avbench.validate.rules import check_outputs

#: (atol, rtol) of the batch-invariance check, per device type.
BATCH_TOL = {"cpu": (1e-5, 1e-4), "cuda": (1e-4, 2e-3)}
#: relative tolerance of the determinism check, per device type (CPU kernels are bit-reproducible).
DETERMINISM_RTOL = {"cpu": 1e-6, "cuda": 1e-4}


def _check_rates(enc: Encoder, modality: str, geom: Geometry, device: torch.device,
                 watch: Watch) -> tuple[Check, Observation | None]:
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
    obs = run_forward(enc, modality, x, device, watch, geom)
    if obs.error:
        problems.append(f"forward on the decoded files failed: {obs.error}")
    if problems:
        return Check(name="rates", modality=modality, status="fail", detail="; ".join(problems[:3])), obs
    return Check(name="rates", modality=modality, status="pass",
                 detail=f"files at {sources} decoded to the declared {declared} by avbench and encoded "
                        f"({geom.label})"), obs


def check_modality(enc: Encoder, modality: str, device: torch.device, batch: int, watch: Watch,
                   generator: torch.Generator, video_size: int | None) -> tuple[list[Check], Measurement | None]:
    """Every check of one modality, in report order (forward, shapes, axes, dtype, finite, deterministic,
    batch_invariant, rates), and its measurement (None when the B=``batch`` forward failed)."""
    sweep, default = geometries(enc, modality, video_size)
    observations = [run_forward(enc, modality, synthetic_batch(g, 2, generator), device, watch, g) for g in sweep]
    xb = synthetic_batch(default, batch, generator)
    first = run_forward(enc, modality, xb, device, watch, default)
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
        checks.extend(check_outputs(enc, modality, observations))
        checks += [Check(name=n, modality=modality, status="skip", detail=f"the B={batch} forward failed")
                   for n in ("deterministic", "batch_invariant")]
    else:
        with MemoryProbe(device) as probe:
            again = run_forward(enc, modality, xb, device, watch, default)
            peak = probe.peak()
        observations.append(again)
        checks.extend(check_outputs(enc, modality, observations))
        det = _determinism_check(modality, device, batch, first, again)
        checks.append(det)
        checks.append(_batch_check(enc, modality, device, batch, watch, xb, first, det, default))
        measurement = _measurement(modality, device, batch, default, again, peak, probe.method)
    checks.append(rates)
    return checks, measurement


def _determinism_check(modality: str, device: torch.device, batch: int, first: Observation,
                       again: Observation) -> Check:
    """``deterministic``: the same batch twice, every layer within ``DETERMINISM_RTOL`` x max(1, max |output|)."""
    rtol = DETERMINISM_RTOL[device.type if device.type in DETERMINISM_RTOL else "cpu"]
    a = dict(layer_tensors(first.out))
    b = dict(layer_tensors(again.out)) if again.out is not None else {}
    if not a:
        return Check(name="deterministic", modality=modality, status="skip", detail="no tensor output to compare")
    if again.error or set(a) != set(b):
        return Check(name="deterministic", modality=modality, status="fail",
                     detail=again.error or f"the same batch twice gave layers {sorted(a)} then {sorted(b)}")
    layer, diff, bound = max(((k, max_diff(a[k], b[k]), rtol * value_scale(a[k])) for k in a),
                             key=lambda t: t[1] / t[2])
    return Check(name="deterministic", modality=modality, status="pass" if diff <= bound else "fail",
                 detail=f"same B={batch} batch twice: max |diff| = {diff:.2e} (layer {layer}; tolerance "
                        f"{rtol:g} x scale)")


def _measurement(modality: str, device: torch.device, batch: int, geom: Geometry, timed: Observation,
                 peak: int | None, memory_method: str) -> Measurement:
    """Throughput (media-seconds per wall-second) and peak bytes per media-second of the timed forward."""
    clip_s = geom.seconds
    media = batch * clip_s
    return Measurement(
        modality=modality, device=str(device), geometry=f"B={batch} x {geom.label}", batch=batch,
        clip_seconds=round(clip_s, 6), media_seconds=round(media, 6), wall_seconds=round(timed.wall, 6),
        throughput=round(media / max(timed.wall, 1e-9), 3), peak_bytes=peak,
        peak_bytes_per_media_second=None if peak is None else round(peak / media, 1), memory_method=memory_method)


def _batch_check(enc: Encoder, modality: str, device: torch.device, batch: int, watch: Watch, xb: torch.Tensor,
                 first: Observation, det: Check, geom: Geometry) -> Check:
    """``batch_invariant``: the first and last clip alone (B=1) against the B=``batch`` outputs, within ``BATCH_TOL``."""
    if det.status != "pass":
        return Check(name="batch_invariant", modality=modality, status="skip",
                     detail="not assessable: the encoder is not deterministic" if det.status == "fail" else det.detail)
    atol, rtol = BATCH_TOL[device.type if device.type in BATCH_TOL else "cpu"]
    batched = _batch_first(first.out, modality, batch)
    worst, detail = -1.0, ""
    for i in sorted({0, batch - 1}):
        alone = run_forward(enc, modality, xb[i:i + 1], device, watch, geom)
        if alone.error:
            return Check(name="batch_invariant", modality=modality, status="fail", detail=f"B=1 forward failed: {alone.error}")
        single = _batch_first(alone.out, modality, 1)
        for layer in sorted(set(single) & set(batched)):
            diff = max_diff(single[layer][0], batched[layer][i])
            bound = atol + rtol * value_scale(single[layer])
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
