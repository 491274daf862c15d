"""`avbench data verify`: what an adapter found under a root, and which of those files actually decode."""
from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from .base import Manifest, Sample


@dataclass
class VerifyReport:
    """found / expected come from the manifest; missing lists its skips (id, path, reason); undecodable the
    found files that failed to decode (id, path, reason from MediaError); damaged the files that decoded
    with notes (truncation, dropped packets); durations summarises decoded lengths in seconds."""

    dataset: str
    root: str
    modality: str
    found: int
    expected: int
    decoded: bool
    missing: list[dict[str, str]] = field(default_factory=list)
    undecodable: list[dict[str, str]] = field(default_factory=list)
    damaged: list[dict[str, str]] = field(default_factory=list)
    durations: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.undecodable

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _check_audio(sample: Sample, sample_rate: int) -> tuple[float | None, str | None, str | None]:
    from ..media.audio_decode import load_audio
    from ..media.errors import MediaError

    try:
        d = load_audio(sample.path, sample_rate)
    except MediaError as exc:
        return None, exc.reason, None
    except Exception as exc:  # a decoder crash is a finding, not the end of the report
        return None, f"decoder failure: {type(exc).__name__}: {exc}", None
    return d.seconds, None, "; ".join(d.notes) or None


def _check_video(sample: Sample) -> tuple[float | None, str | None, str | None]:
    import av

    try:
        with av.open(str(sample.path)) as c:
            if not c.streams.video:
                return None, "no video stream", None
            s = c.streams.video[0]
            secs = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / av.time_base
            return secs, None, None
    except (av.error.FFmpegError, OSError) as exc:
        return None, f"cannot open container: {exc}", None


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "min": round(min(values), 4), "max": round(max(values), 4),
            "mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4),
            "total": round(sum(values), 3)}


def verify_manifest(manifest: Manifest, *, modality: str = "audio", decode: bool = True, sample_rate: int = 16000,
                    workers: int = 1) -> VerifyReport:
    """Check every sample of ``manifest``: with ``decode``, audio is fully decoded at ``sample_rate`` Hz (video
    containers are opened and probed); without, only the manifest's own counts are reported."""
    if modality not in ("audio", "video"):
        raise ValueError(f"modality must be 'audio' or 'video', got {modality!r}")
    report = VerifyReport(manifest.dataset, str(manifest.root), modality, manifest.found, manifest.expected, decode,
                          missing=[asdict(s) for s in manifest.skipped], notes=list(manifest.notes))
    if not decode:
        return report

    def check(s: Sample) -> tuple[float | None, str | None, str | None]:
        return _check_audio(s, sample_rate) if modality == "audio" else _check_video(s)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(check, manifest.samples))
    durations = []
    for s, (secs, error, damage) in zip(manifest.samples, results):
        if error is not None:
            report.undecodable.append({"id": s.id, "path": str(s.path), "reason": error})
            continue
        if damage:
            report.damaged.append({"id": s.id, "path": str(s.path), "reason": damage})
        if secs is not None:
            durations.append(secs)
    report.durations = _summary(durations)
    return report
