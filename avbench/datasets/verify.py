"""`avbench data verify`: what an adapter found under a root, and which of those files actually decode."""
from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from avbench.datasets.base import Manifest, Sample

#: a video is "truncated" when it holds less than this fraction of its declared length (as media.video_decode).
_TRUNCATION_RATIO = 0.9


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
    from avbench.media.audio_decode import load_audio
    from avbench.media.errors import MediaError

    try:
        d = load_audio(sample.path, sample_rate)
    except MediaError as exc:
        return None, exc.reason, None
    except Exception as exc:  # a decoder crash is a finding, not the end of the report
        return None, f"decoder failure: {type(exc).__name__}: {exc}", None
    return d.seconds, None, "; ".join(d.notes) or None


def _check_video(sample: Sample) -> tuple[float | None, str | None, str | None]:
    """(seconds, error, damage) of a video file: the first frame must decode (PyAV); the rest is only demuxed,
    to measure the stream's length (s, from packet timestamps) against what the header declares."""
    import av

    from avbench.media.container import declared_seconds, demux_tolerant, open_container
    from avbench.media.errors import MediaError

    try:
        with open_container(sample.path) as c:
            if not c.streams.video:
                return None, "no video stream (audio-only file)" if c.streams.audio else "no video stream", None
            stream = c.streams.video[0]
            declared = declared_seconds(c, stream)
            declared_frames = int(stream.frames or 0)
            cc = stream.codec_context
            got_frame, errors, first_error, packets = False, 0, None, 0
            lo, hi, notes = None, None, []
            for packet in demux_tolerant(c, stream, notes):
                packets += 1
                if packet.pts is not None and stream.time_base is not None:
                    start = float(packet.pts * stream.time_base)
                    end = start + float((packet.duration or 0) * stream.time_base)
                    lo, hi = (start if lo is None else min(lo, start)), (end if hi is None else max(hi, end))
                if not got_frame:
                    try:
                        got_frame = bool(cc.decode(packet))
                    except av.error.FFmpegError as exc:
                        errors, first_error = errors + 1, first_error or str(exc)
            if not got_frame:
                try:
                    got_frame = bool(cc.decode(None))
                except av.error.FFmpegError as exc:
                    first_error = first_error or str(exc)
            if not got_frame:
                why = f" ({errors} packet(s) failed; first: {first_error})" if first_error else ""
                return None, f"no decodable video frame in {packets} packet(s){why}", None
    except MediaError as exc:
        return None, exc.reason, None
    except Exception as exc:  # a decoder crash is a finding, not the end of the report
        return None, f"decoder failure: {type(exc).__name__}: {exc}", None
    seconds = (hi - lo) if lo is not None and hi is not None and hi > lo else declared
    if errors:
        notes.append(f"{errors} packet(s) before the first frame failed to decode (first: {first_error})")
    if declared_frames and packets < declared_frames * _TRUNCATION_RATIO:  # AVI keeps its count when cut short
        notes.append(f"truncated: {packets} of {declared_frames} frames the header declares"
                     + (f" ({seconds:.3f} s present)" if seconds is not None else ""))
    elif declared is not None and seconds is not None and seconds < declared * _TRUNCATION_RATIO and declared - seconds >= 0.5:
        notes.append(f"truncated: {seconds:.3f} s of {declared:.3f} s declared")
    return seconds, None, "; ".join(notes) or None


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "min": round(min(values), 4), "max": round(max(values), 4),
            "mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4),
            "total": round(sum(values), 3)}


def verify_manifest(manifest: Manifest, *, modality: str = "audio", decode: bool = True, sample_rate: int = 16000,
                    workers: int = 1) -> VerifyReport:
    """Check every sample of ``manifest``: with ``decode``, audio is fully decoded at ``sample_rate`` Hz; video
    has its first frame decoded and its packets demuxed (length vs the header, truncation); without, only the
    manifest's own counts are reported."""
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
