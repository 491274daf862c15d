"""Decode any audio FFmpeg reads into one mono float32 waveform at a requested rate.

PyAV demuxes and decodes (every frame, planar or packed, any sample format and channel count); the
channels are averaged to mono here, and the rate is changed with ``torchaudio.functional.resample``
(not FFmpeg's swresample), so the resampler is a recorded, versioned piece of the pipeline
(:func:`decoder_version` names it and goes into cache keys and result provenance).

Policy for damaged files (recorded, never silent):

* missing, zero-byte, not a media file, no audio stream, or fewer than 10 ms of decoded audio
  -> :class:`MediaError` with a specific reason;
* a declared sample rate outside 1-384 kHz, or a duration beyond ``limits.max_seconds`` (declared, or reached while
  decoding) -> :class:`MediaError` before the memory is spent (:mod:`avbench.media.limits`);
* float samples beyond twice full scale (``|x| > 2``) are clipped to [-1, 1] before any conversion, and noted
  (a recorded repair); smaller codec overshoot is clamped after resampling, as always;
* a packet the decoder rejects mid-stream is dropped and decoding goes on (what the ffmpeg CLI does);
  the demuxer failing mid-file ends decoding there; a stream shorter than its header declares
  ("truncated") is kept as decoded. Each of these adds a note to :class:`DecodedAudio` and is logged at
  WARNING level on the ``avbench.media`` logger. ``strict=True`` turns any note into a MediaError.
"""
from __future__ import annotations

import functools
import logging
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import numpy as np
import torch
import torchaudio
import torchaudio.functional as AF
import torchaudio.functional.functional as _AFF

from avbench.media.container import declared_seconds
from avbench.media.container import open_container as _open
from avbench.media.errors import MediaError
from avbench.media.limits import DEFAULT_LIMITS, FLOAT_FULL_SCALE_LIMIT, MediaLimits
from avbench.media.threads import one_cpu_thread
from avbench.media.video_decode import VIDEO_DECODE_POLICY

log = logging.getLogger("avbench.media")

#: decodes shorter than this (in seconds of source audio) are errors, not samples.
MIN_DECODED_SECONDS = 0.010
#: a stream is "truncated" when it decodes to less than this fraction of its declared duration
#: (and at least 0.1 s less): compressed formats declare estimates, so small differences are normal.
_TRUNCATION_RATIO = 0.98

_RESAMPLE_KW = {"lowpass_filter_width": 6, "rolloff": 0.99, "resampling_method": "sinc_interp_hann"}


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of a file's first audio stream (no full decode).

    sample_rate: Hz; channels: count; seconds: declared duration (None if the container does not say);
    codec: FFmpeg decoder name (``pcm_s16le``, ``mp3float``, ``aac``, ...); container: FFmpeg demuxer name.
    """

    sample_rate: int
    channels: int
    seconds: float | None
    codec: str
    container: str


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file: ``wave`` ``[N]`` float32 mono in [-1, 1] at ``sample_rate`` Hz.

    source_rate: the file's rate in Hz; channels: channels averaged into ``wave``; declared_seconds: the
    header's duration (None if unknown); notes: what went wrong but was kept (truncation, dropped packets).
    """

    wave: torch.Tensor
    sample_rate: int
    source_rate: int
    channels: int
    declared_seconds: float | None
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.wave.numel() / self.sample_rate


def decoder_version() -> str:
    """PyAV, FFmpeg library and resampler versions and the video orientation policy
    (:data:`avbench.media.video_decode.VIDEO_DECODE_POLICY`): part of every feature-cache key and result record."""
    libs = ", ".join(f"{k} {'.'.join(map(str, v))}" for k, v in sorted(av.library_versions.items())
                     if k in ("libavcodec", "libavformat", "libavutil"))
    ffmpeg = getattr(av, "ffmpeg_version_info", "?")
    kw = ",".join(f"{k}={v}" for k, v in _RESAMPLE_KW.items())
    return (f"pyav {av.__version__} (ffmpeg {ffmpeg}; {libs}); resample torchaudio {torchaudio.__version__} ({kw}); "
            f"video {VIDEO_DECODE_POLICY}")


def _audio_stream(path: Path, container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        if container.streams.video:
            raise MediaError(path, "no audio stream (video-only file)")
        raise MediaError(path, "no audio stream")
    return container.streams.audio[0]


#: FFmpeg options for opening a RIFF/WAVE file. The header holds every stream parameter, but by default
#: avformat_find_stream_info reads packets up to ``probesize`` (5 MB: a whole ESC-50 clip) before decoding starts.
#: Measured (2-core EPYC, PyAV 18.1, FFmpeg 8.1): opening a 5-s 44.1 kHz mono wav took 9.5-16 ms, 70-77 % of
#: load_audio's 13.7 ms per file; with probesize 32 it takes 0.25-0.4 ms and the decoded audio, rates, channels,
#: declared durations and damage notes are identical (ESC-50 fixture and every file of write_corrupt_audio).
_WAV_OPEN = {"probesize": "32"}


def _is_riff_wave(path: Path) -> bool:
    """The file starts with a RIFF/WAVE header (``RIFF....WAVE``)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _riff_data_seconds(path: Path) -> tuple[float, float] | None:
    """(declared, present) seconds of a RIFF/WAVE file's data chunk from its header and the file size;
    None for other files or when the header leaves the size open (0 or 0xFFFFFFFF, as streaming writers do)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            for _ in range(64):  # a few chunks (fmt, fact, LIST, ...) before data
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(size)
                    byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else 0
                    f.seek(size & 1, 1)
                elif cid == b"data":
                    if not byte_rate or size in (0, 0xFFFFFFFF):
                        return None
                    present = max(0, path.stat().st_size - f.tell())
                    return size / byte_rate, min(size, present) / byte_rate
                else:
                    f.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None


def probe_audio(path: str | PathLike[str]) -> AudioInfo:
    """Read the header of ``path``'s first audio stream without decoding it (raises MediaError)."""
    p = Path(path)
    with _open(p) as container:
        stream = _audio_stream(p, container)
        cc = stream.codec_context
        return AudioInfo(sample_rate=int(cc.sample_rate or 0), channels=int(cc.channels or len(cc.layout.channels)),
                         seconds=declared_seconds(container, stream), codec=cc.name, container=container.format.name)


def _to_mono(frame: av.AudioFrame, clipped: list | None = None) -> np.ndarray:
    """One decoded frame -> ``[samples]`` float32 mono in [-1, 1] (full scale of its integer format). Float samples
    beyond :data:`~avbench.media.limits.FLOAT_FULL_SCALE_LIMIT` are clipped to [-1, 1] first (in their own
    precision, so a 1e300 never becomes an infinity); ``clipped`` ``[count, peak]`` counts them."""
    a = frame.to_ndarray()
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):  # NaN / inf stay as they are: the non-finite check refuses them
            out = np.isfinite(a) & (np.abs(a) > FLOAT_FULL_SCALE_LIMIT)
        if out.any():
            if clipped is not None:
                clipped[0] += int(out.sum())
                clipped[1] = max(clipped[1], float(np.nanmax(np.abs(a[out]))))
            a = np.where(out, np.sign(a), a)
    n_ch = max(1, len(frame.layout.channels))
    if not frame.format.is_planar:  # packed: (1, samples * channels), interleaved
        a = a.reshape(-1, n_ch).T
    a = a[:, : frame.samples]
    if a.dtype == np.uint8:
        x = (a.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(a.dtype, np.integer):
        x = a.astype(np.float32) / float(2 ** (8 * a.dtype.itemsize - 1))
    else:
        x = a.astype(np.float32, copy=False)
    return x.mean(axis=0) if x.shape[0] > 1 else x[0]


def _check_header(p: Path, stream: av.audio.stream.AudioStream, declared: float | None, limits: MediaLimits) -> None:
    """Refuse a stream whose declared sample rate or duration is beyond ``limits`` (before any decoding)."""
    problem = limits.check_rate(int(stream.codec_context.sample_rate or 0)) or limits.check_seconds(declared)
    riff = _riff_data_seconds(p)
    problem = problem or (limits.check_seconds(riff[0], "declared duration") if riff else None)
    if problem:
        raise MediaError(p, problem)


def load_audio(path: str | PathLike[str], sample_rate: int, *, strict: bool = False,
               limits: MediaLimits | None = None, resampler: str = "sinc") -> DecodedAudio:
    """Decode ``path`` to mono float32 at ``sample_rate`` Hz, with notes on anything kept despite damage.

    resampler: "sinc" (channel mean, torchaudio windowed sinc, float) or "swresample" (the released CrissCross
    settings, :func:`swresample_wave`: the checks and notes are the same, only the samples differ).

    Raises MediaError for unusable files and files beyond ``limits`` (default
    :data:`~avbench.media.limits.DEFAULT_LIMITS`; see the module docstring); ``strict`` raises on any note too.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    limits = limits or DEFAULT_LIMITS
    p = Path(path)
    notes: list[str] = []
    clipped = [0, 0.0]  # out-of-range float samples, their peak
    with _open(p, _WAV_OPEN if _is_riff_wave(p) else None) as container:
        stream = _audio_stream(p, container)
        declared = declared_seconds(container, stream)
        _check_header(p, stream, declared, limits)
        segments, channels = _decode_stream(p, container, stream, declared, limits, notes, clipped)
    source_rate = segments[0][0] if segments else 0
    decoded = _seconds(segments)
    riff = _riff_data_seconds(p)
    if riff is not None and riff[1] < riff[0]:  # FFmpeg's wav demuxer quietly clamps the size to the file
        declared = riff[0]
        notes.append(f"truncated: the wav header declares {riff[0]:.3f} s, the file holds {riff[1]:.3f} s")
    elif declared is not None and decoded < declared * _TRUNCATION_RATIO and declared - decoded > 0.1:
        notes.append(f"truncated: decoded {decoded:.3f} s of {declared:.3f} s declared")
    if decoded < MIN_DECODED_SECONDS:
        what = "no audio samples decoded" if decoded == 0 else f"only {decoded * 1000:.1f} ms of audio decoded"
        raise MediaError(p, f"{what} (< {MIN_DECODED_SECONDS * 1000:.0f} ms)" + (f"; {'; '.join(notes)}" if notes else ""))
    if clipped[0]:
        notes.append(f"{clipped[0]} sample(s) outside [-1, 1] full scale (peak {clipped[1]:.3g}) clipped to [-1, 1]")
    if len(segments) > 1:
        notes.append(f"sample rate changes mid-stream ({sorted({r for r, _ in segments})} Hz); each run resampled")
    if notes:
        if strict:
            raise MediaError(p, "; ".join(notes))
        log.warning("%s: %s", p, "; ".join(notes))
    # one thread, as in a DataLoader worker: measured on the shared 2-core EPYC with two busy processes beside it,
    # load_audio of a 5-s 44.1 kHz wav took 3-11 ms per file on 1 thread and 8-66 ms on 2 (the same samples)
    raw = [(rate, np.concatenate(chunks)) for rate, chunks in segments]
    n_bad = sum(int(np.count_nonzero(~np.isfinite(x))) for _, x in raw)
    if n_bad:  # a float file holding NaN / inf: no feature or score may be computed from it
        raise MediaError(p, f"{n_bad} non-finite sample value(s) (NaN or inf) in the decoded audio")
    if resampler == "swresample":
        wave = swresample_wave(p, sample_rate)
    elif resampler != "sinc":
        raise ValueError(f"resampler must be 'sinc' or 'swresample', got {resampler!r}")
    else:
        with one_cpu_thread("cpu"):
            pieces = [_resample(x, rate, sample_rate) for rate, x in raw]
        wave = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
    wave = wave.clamp_(-1.0, 1.0).contiguous()
    return DecodedAudio(wave, sample_rate, source_rate, channels, declared, tuple(notes))


def swresample_wave(path: Path, sample_rate: int) -> torch.Tensor:
    """``[N]`` float32: the released CrissCross decoder's settings (``av_wrappers.py:156,164,179,198``) through the
    installed PyAV / FFmpeg: every frame of the first audio stream through ``AudioResampler(s16p, mono,
    sample_rate)`` (FFmpeg swresample's downmix and filter), then ``/ 32767``; whole file (their per-crop seeks are
    not reproduced)."""
    try:
        with _open(path, _WAV_OPEN if _is_riff_wave(path) else None) as container:
            rs = av.audio.resampler.AudioResampler(format="s16p", layout="mono", rate=sample_rate)
            chunks = []
            for packet in container.demux(container.streams.audio[0]):
                try:  # a packet the sinc path dropped (its notes say so) is dropped here too
                    decoded = packet.decode()
                except (av.error.FFmpegError, ValueError):
                    continue
                chunks += [f.to_ndarray() for fr in decoded for f in rs.resample(fr)]
            chunks += [f.to_ndarray() for f in rs.resample(None)]
    except (av.error.FFmpegError, ValueError) as exc:  # damage the sinc path's decoder tolerated
        raise MediaError(path, f"swresample decode failed: {exc}") from None
    if not chunks:
        raise MediaError(path, "swresample produced no samples")
    return torch.from_numpy(np.concatenate(chunks, axis=1)[0].astype(np.float32) / 32767.0)


def _decode_stream(p: Path, container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                   declared: float | None, limits: MediaLimits, notes: list[str],
                   clipped: list) -> tuple[list[tuple[int, list[np.ndarray]]], int]:
    """(runs of equal source rate ``[(rate Hz, [mono float32 chunks])]``, the most channels seen) of ``stream``;
    damage goes to ``notes``, out-of-range float samples to ``clipped``; a rate or a length beyond ``limits`` is a
    MediaError as soon as it is seen."""
    segments: list[tuple[int, list[np.ndarray]]] = []
    channels, dropped, so_far = 0, 0, 0.0
    first_drop: str | None = None
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:  # the demuxer gave up: keep what was decoded so far
            notes.append(f"demux error after {_seconds(segments):.3f} s, rest of file dropped: {exc}")
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            dropped += 1
            first_drop = first_drop or f"{exc}"
            continue
        for frame in frames:
            if frame.samples == 0:
                continue
            channels = max(channels, len(frame.layout.channels))
            rate = int(frame.sample_rate)
            if not segments or segments[-1][0] != rate:
                if limits.check_rate(rate):
                    raise MediaError(p, f"{limits.check_rate(rate)} (mid-stream)")
                segments.append((rate, []))
            segments[-1][1].append(_to_mono(frame, clipped))
            so_far += frame.samples / rate
        if so_far > limits.max_seconds:
            raise MediaError(p, f"{limits.check_seconds(so_far, 'decoded audio')}; the header "
                                f"declares {'no duration' if declared is None else f'{declared:.1f} s'}")
    if dropped:
        notes.append(f"{dropped} undecodable packet(s) dropped (first: {first_drop})")
    return segments, channels


def decode_audio(path: str | PathLike[str], sample_rate: int) -> torch.Tensor:
    """``path`` -> ``[N]`` float32 mono waveform in [-1, 1] at ``sample_rate`` Hz (see :func:`load_audio`).

    N = ceil(source samples * sample_rate / source rate). Raises MediaError for unusable files; damage that
    still leaves audio (truncation, dropped packets) is logged at WARNING level and the audio is kept.
    """
    return load_audio(path, sample_rate).wave


def _seconds(segments: list[tuple[int, list[np.ndarray]]]) -> float:
    return sum(sum(c.shape[0] for c in chunks) / rate for rate, chunks in segments)


@functools.lru_cache(maxsize=32)
def _sinc_kernel(orig: int, new: int) -> tuple[torch.Tensor, int] | None:
    """torchaudio's own resampling kernel for a reduced rate pair, built once per pair.

    ``AF.resample`` rebuilds it on every call: 0.17 s of a 0.18-s call for a 5-s 44.1 kHz file (441/160 taps
    phases); cached, the call takes ~5 ms and gives bit-identical output. None if torchaudio moved the helper.
    """
    build = getattr(_AFF, "_get_sinc_resample_kernel", None)
    if build is None or getattr(_AFF, "_apply_sinc_resample_kernel", None) is None:
        return None
    return build(orig, new, 1, dtype=torch.float32, **_RESAMPLE_KW)


def _resample(x: np.ndarray, orig: int, new: int) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if orig == new:
        return t
    g = math.gcd(orig, new)
    cached = _sinc_kernel(orig // g, new // g)
    if cached is not None:
        kernel, width = cached
        out = _AFF._apply_sinc_resample_kernel(t, orig // g, new // g, 1, kernel, width)
    else:
        out = AF.resample(t, orig // g, new // g, **_RESAMPLE_KW)
    expected = math.ceil(Fraction(t.numel() * new, orig))
    return out[:expected]
