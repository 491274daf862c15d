"""Decode a video file ONCE and cut all of its clips from that decode, at the encoder's frame rate.

Time model (all in seconds from the first presented frame):

* the file's frames are shown at their presentation timestamps ``t_0 < t_1 < ...`` (variable frame rate is
  fine: nothing assumes a constant rate);
* the clip sampler works on a *resampled timeline* of ``N = ceil(duration * fps)`` target frames at
  ``k / fps``; target frame ``k`` shows the source frame NEAREST to ``k / fps`` (the CrissCross/AVID loaders
  pick frames at timestamps spaced 1/fps by nearest frame), ties going to the earlier frame;
* a clip is ``frames`` consecutive target frames from a start index: K uniform starts
  ``linspace(0, N - frames, K).astype(int)`` (test) or N random starts drawn from per-clip generators
  (train), exactly as :mod:`avbench.media.clips` does for audio samples;
* a video shorter than one clip (``N < frames``) is padded by CYCLIC repetition of its target frames, as
  the reference ``pad_missing`` does; :attr:`DecodedClips.padded` says so and the record counts it.

Decode-once: the packets of the video stream are demuxed once (they are small: compressed), their
timestamps give the timeline, the clip windows are placed on it, and the packets are decoded once, converting
to RGB only the frames some clip uses. Frames stay ``uint8`` (``[K, T, H, W, 3]``) until the device. When the clips
need only part of the stream, only that part is decoded: from the keyframe before the first needed frame to the
last needed frame (:mod:`avbench.media.video_window`: bit-identical frames, or the whole file is decoded).

Orientation: a display matrix (phone videos; ``rotate`` metadata) is honoured as FFmpeg's command line does: frames
are turned by its rotation (a multiple of 90 degrees) so they are upright as a player shows them
(:attr:`DecodedClips.rotation`); a rotation that is not a multiple of 90 degrees is not applied and noted. This is
:data:`VIDEO_DECODE_POLICY`, part of :func:`avbench.media.audio_decode.decoder_version` (and so of every cache key).

Bounds (:mod:`avbench.media.limits`): a frame larger than ``limits.max_pixels``, or a stream longer than
``limits.max_seconds`` (declared by the header, or reached while demuxing: a timestamp jump) is a MediaError before
the memory is spent. The resampled timeline is never materialised: only the target frames the clips use are looked
up (a gap in the timestamps costs nothing).

Damage is kept and noted, never silent: packets the decoder rejects are dropped (counted), a demuxer that
gives up mid-file ends the stream there, and a stream much shorter than its header declares is "truncated".
Unusable files raise :class:`MediaError` with a specific reason (zero-byte, not a media file, no video
stream, no decodable frame).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np
import torch

from avbench.media.clips import clip_starts
from avbench.media.container import declared_seconds, demux_tolerant, open_container
from avbench.media.errors import MediaError
from avbench.media.limits import DEFAULT_LIMITS, MediaLimits
from avbench.media.video_window import decode_window, window_start

log = logging.getLogger("avbench.media")

#: how frames are oriented (see the module docstring); changes when that policy does.
VIDEO_DECODE_POLICY = "display-rotation-v1; window-v1"
#: a stream is "truncated" when it holds less than this fraction of its declared duration (and >= 0.5 s less).
_TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class VideoInfo:
    """Header facts of a file's first video stream (no decode).

    width / height: pixels; fps: average frame rate (Hz, None if unknown); seconds: declared duration
    (None if unknown); frames: declared frame count (0 if unknown); codec: FFmpeg decoder name;
    has_audio: whether the container has an audio stream.
    """

    width: int
    height: int
    fps: float | None
    seconds: float | None
    frames: int
    codec: str
    has_audio: bool


@dataclass(frozen=True)
class DecodedClips:
    """Clips cut from one decode.

    frames: ``[K, T, H, W, 3]`` uint8 RGB (channels last, as decoded);
    starts: K start indices on the resampled timeline (target frames at ``fps``);
    source_index: ``[K, T]`` int64, which decoded source frame each clip frame shows;
    n_target: N, the length of the resampled timeline (target frames);
    seconds: duration of the decoded stream (s); source_frames: frames the stream presented;
    padded: the video was shorter than one clip and was repeated cyclically;
    notes: damage worked around (dropped packets, truncation);
    rotation: degrees (counter-clockwise) the frames were turned to display upright (0: stored orientation);
    decoded_frames: frames the decoder produced (fewer than ``source_frames`` when only a window was decoded).
    """

    frames: torch.Tensor
    starts: tuple[int, ...]
    source_index: torch.Tensor
    n_target: int
    seconds: float
    source_frames: int
    padded: bool
    notes: tuple[str, ...] = ()
    rotation: int = 0
    decoded_frames: int = 0


def _video_stream(path: Path, container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        if container.streams.audio:
            raise MediaError(path, "no video stream (audio-only file)")
        raise MediaError(path, "no video stream")
    return container.streams.video[0]


def probe_video(path: str | PathLike[str]) -> VideoInfo:
    """Read the header of ``path``'s first video stream without decoding (raises MediaError)."""
    p = Path(path)
    with open_container(p) as container:
        stream = _video_stream(p, container)
        cc = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(width=int(cc.width or 0), height=int(cc.height or 0), fps=float(rate) if rate else None,
                         seconds=declared_seconds(container, stream), frames=int(stream.frames or 0),
                         codec=cc.name, has_audio=bool(container.streams.audio))


def target_timeline(times: np.ndarray, fps: float, rule: str = "nearest") -> np.ndarray:
    """Source frame shown at each target time ``k / fps``: ``times`` ``[n]`` sorted presentation times
    (s, first = 0) -> ``[N]`` int64 source indices, ``N = max(1, ceil(duration * fps))`` where the duration
    runs to the end of the last frame (its start plus the median frame interval).

    rule "nearest" (default): the frame nearest to each target time (ties: the earlier). "floor": the released
    CrissCross / AVID decoders' reading (``av_wrappers.py:119-120``): the frame DISPLAYED at the target time (the
    last one starting at or before it) and ``N = max(1, int(duration * fps))``."""
    if times.ndim != 1 or times.size == 0:
        raise ValueError("target_timeline needs at least one frame time")
    if rule not in ("nearest", "floor"):
        raise ValueError(f"timeline rule must be 'nearest' or 'floor'; got {rule!r}")
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0 / fps
    duration = float(times[-1]) + step
    if rule == "floor":
        n_floor = max(1, int(duration * fps + 1e-6))
        shown = np.searchsorted(times, np.arange(n_floor) / fps + 1e-9, side="right") - 1
        return shown.clip(0, times.size - 1).astype(np.int64)
    n_target = max(1, int(np.ceil(duration * fps - 1e-6)))
    return nearest_frames(times, np.arange(n_target) / fps)


def clip_target_indices(n_target: int, frames: int, starts: Sequence[int]) -> np.ndarray:
    """``[K, frames]`` target-frame indices of clips starting at ``starts``; cyclic past the end (padding)."""
    return (np.asarray(starts, dtype=np.int64)[:, None] + np.arange(frames)[None, :]) % n_target


def decode_clips(path: str | PathLike[str], *, fps: float, frames: int, clips: int, sampling: str = "uniform",
                 generators: Sequence[torch.Generator] | None = None, trim_to_first_clip: bool = False,
                 strict: bool = False, timeline: str = "nearest", starts: str = "grid",
                 limits: MediaLimits | None = None, window: bool = True) -> DecodedClips:
    """Decode ``path`` once and cut ``clips`` clips of ``frames`` frames at ``fps`` Hz (module docstring).

    sampling: "uniform" (evenly spaced starts, deterministic), "random" (start j drawn from
    ``generators[j]`` alone, so a clip never depends on the others) or "synced" (start j at the fraction of the
    stream drawn from ``generators[j]``, so an audio clip cut with the same generators starts at the same time;
    see :func:`avbench.media.clips.synced_starts`). trim_to_first_clip: only the first clip
    length of the video is used. strict: any damage note raises MediaError instead of being kept. timeline: the
    target-frame rule of :func:`target_timeline` ("nearest" or the released decoders' "floor"). starts: "grid"
    (a clip starts on a target frame) or "continuous" (a random clip starts anywhere in continuous time, its
    frames at ``start + k / fps``: the released training clips, ERRATA D5; random sampling only). limits: the
    bounds (default :data:`~avbench.media.limits.DEFAULT_LIMITS`); beyond them, a MediaError. window: decode only
    what the clips need where provably the same (:mod:`avbench.media.video_window`); False decodes it all.
    Returns :class:`DecodedClips` with ``frames`` ``[K, T, H, W, 3]`` uint8.
    """
    if fps <= 0 or frames <= 0 or clips <= 0:
        raise ValueError(f"need fps > 0, frames > 0, clips > 0; got fps={fps}, frames={frames}, clips={clips}")
    p = Path(path)
    limits = limits or DEFAULT_LIMITS
    notes: list[str] = []
    plan_on = functools.partial(_plan, fps=fps, frames=frames, clips=clips, sampling=sampling, generators=generators,
                                trim=trim_to_first_clip, rule=timeline, continuous=starts == "continuous")
    with open_container(p) as container:
        stream = _video_stream(p, container)
        stream.thread_type = "AUTO"
        declared = declared_seconds(container, stream)
        cc = stream.codec_context
        problem = limits.check_area(int(cc.width or 0), int(cc.height or 0)) or limits.check_seconds(declared)
        if problem:
            raise MediaError(p, problem)
        declared_frames = int(stream.frames or 0)  # the header's count (AVI keeps it even when truncated)
        tb = float(stream.time_base) if stream.time_base else None
        packets = _bounded(p, demux_tolerant(container, stream, notes), tb, limits)  # a demuxer giving up ends it
        rate = stream.average_rate or stream.guessed_rate
        times = _packet_times(packets, tb)
        plan = None if times is None else plan_on(times)
        needed = None if plan is None else set(np.unique(plan[2]).tolist())
        # a window only on a stream that shows no damage (notes, truncation) and when not asked to check it all
        partial = (bool(needed) and times is not None and not strict and not notes
                   and not _truncated(_span(times, fps), declared, int(times.size), declared_frames)
                   and (min(needed) > 0 or max(needed) < times.size - 1))
        start = window_start(packets, min(needed)) if window and partial else None
        got = decode_window(p, cc, packets, start, needed, limits) if start is not None else None
        if got is not None:
            frames_out, rotation, decoded = got
            decoded_pts, n = [], int(times.size)
        elif start is None:
            frames_out, decoded_pts, n, rotation = _decode_packets(p, cc, packets, needed, tb, notes, limits)
            decoded = n
    if start is not None and got is None:  # the window could not be proven equal: decode the whole file afresh
        return decode_clips(path, fps=fps, frames=frames, clips=clips, sampling=sampling, generators=generators,
                            trim_to_first_clip=trim_to_first_clip, strict=strict, timeline=timeline, starts=starts,
                            limits=limits, window=False)
    if n == 0:
        raise MediaError(p, "no decodable video frames" + (f"; {'; '.join(notes)}" if notes else ""))
    if times is None or n != times.size:
        # Timeline from the decoded frames (no packet timestamps, or frames lost to damage): decode-order
        # frame times, or a constant rate when even those are missing. Re-plan on it (frames already kept
        # cover all of them when needed was None; otherwise decode-once kept a superset only if unchanged).
        times = _decoded_times(decoded_pts, n, float(rate or fps))
        plan = plan_on(times)
        missing = set(np.unique(plan[2]).tolist()) - frames_out.keys()
        if missing:  # rare (damaged stream): the needed set moved; a second decode is the honest fallback
            notes.append("timeline changed during decode (damaged stream); decoded a second time")
            frames_out = _decode_indices(p, missing, frames_out)
    assert plan is not None
    starts, n_target, source_index = plan
    seconds = _span(times, fps)
    turn = _note_damage(notes, seconds, declared, n, declared_frames, rotation)
    if notes:
        if strict:
            raise MediaError(p, "; ".join(notes))
        log.warning("%s: %s", p, "; ".join(notes))
    return DecodedClips(frames=_cut_clips(p, frames_out, source_index, turn), starts=tuple(starts),
                        source_index=torch.from_numpy(source_index), n_target=n_target, seconds=seconds,
                        source_frames=int(times.size), padded=n_target < frames, notes=tuple(notes),
                        rotation=90 * (turn or 0), decoded_frames=decoded)


def _bounded(p: Path, packets: Iterator[av.Packet], tb: float | None, limits: MediaLimits) -> list[av.Packet]:
    """The packets, refusing (MediaError) a stream whose timestamps run past ``limits.max_seconds`` from the first
    one: a timestamp jump, or a header that understates the length. Demuxing stops there."""
    out: list[av.Packet] = []
    first: float | None = None
    for pk in packets:
        stamp = pk.pts if pk.pts is not None else pk.dts
        if stamp is not None and tb is not None:
            t = float(stamp) * tb
            first = t if first is None else min(first, t)
            if (problem := limits.check_seconds(t - first, "timestamps reach")):
                raise MediaError(p, f"{problem} (packet {len(out)})")
        out.append(pk)
    return out


def _packet_times(packets: Sequence[av.Packet], tb: float | None) -> np.ndarray | None:
    """Presentation times (s from the first) of the packets, sorted (= presentation order), so that pass 1 has the
    timeline before decoding; None when a packet has no timestamp or the stream no time base."""
    stamps = [pk.pts if pk.pts is not None else pk.dts for pk in packets]
    if not packets or any(s is None for s in stamps) or tb is None:
        return None  # no usable packet timestamps: fall back to the decoded frames' own
    times = np.unique(np.asarray(stamps, dtype=np.float64)) * tb
    return times - times[0]


def _decode_packets(p: Path, cc: av.codec.context.CodecContext, packets: Sequence[av.Packet],
                    needed: set[int] | None, tb: float | None, notes: list[str],
                    limits: MediaLimits) -> tuple[dict[int, np.ndarray], list[float], int, int | None]:
    """Decode every packet once, keeping the RGB ``[H, W, 3]`` uint8 frames (decode order) in ``needed`` (all when
    None). Returns (kept frames, decoded frame times in s, frames decoded, display rotation of the first frame);
    packets the decoder rejects are dropped and counted in ``notes``; a frame beyond ``limits.max_pixels`` (a size
    the header did not declare) is a MediaError before it is converted."""
    frames_out: dict[int, np.ndarray] = {}
    decoded_pts: list[float] = []
    dropped, first_drop, n = 0, None, 0
    rotation: int | None = None
    for packet in [*packets, None]:
        try:
            out = cc.decode(packet)
        except av.error.FFmpegError as exc:
            dropped += 1
            first_drop = first_drop or str(exc)
            continue
        for frame in out:
            if (problem := limits.check_area(frame.width, frame.height)):
                raise MediaError(p, problem)
            if rotation is None:  # VideoFrame.rotation: the display matrix (PyAV >= 14; older PyAV: none)
                rotation = int(getattr(frame, "rotation", 0) or 0)
            if needed is None or n in needed:
                frames_out[n] = frame.to_ndarray(format="rgb24")
            if frame.pts is not None and tb is not None:
                decoded_pts.append(float(frame.pts) * tb)
            n += 1
    if dropped:
        notes.append(f"{dropped} undecodable packet(s) dropped (first: {first_drop})")
    return frames_out, decoded_pts, n, rotation


def _decoded_times(decoded_pts: list[float], n: int, rate: float) -> np.ndarray:
    """Frame times (s) from the decoded frames' own timestamps (sorted when out of order), or ``n`` frames at
    ``rate`` Hz when some frames had none."""
    if len(decoded_pts) == n:
        times = np.asarray(decoded_pts) - decoded_pts[0]
        if np.any(np.diff(times) <= 0):
            times = np.sort(times)
        return times
    return np.arange(n) / rate


def _span(times: np.ndarray, fps: float) -> float:
    """Duration (s) of a stream of frames at ``times`` (s): the last one's start plus the median interval."""
    return float(times[-1]) + (float(np.median(np.diff(times))) if times.size > 1 else 1.0 / fps)


def _truncated(seconds: float, declared: float | None, n: int, declared_frames: int) -> str | None:
    """The truncation note for ``seconds`` / ``n`` frames found against the header's, or None."""
    if declared is not None and seconds < declared * _TRUNCATION_RATIO and declared - seconds >= 0.5:
        return f"truncated: decoded {seconds:.3f} s of {declared:.3f} s declared"
    if declared_frames and n < declared_frames * _TRUNCATION_RATIO:
        return f"truncated: decoded {n} of {declared_frames} frames the header declares"
    return None


def _note_damage(notes: list[str], seconds: float, declared: float | None, n: int, declared_frames: int,
                 rotation: int | None) -> int | None:
    """Add the truncation and rotation notes; returns the display quarter turns (None: not a multiple of 90)."""
    if (short := _truncated(seconds, declared, n, declared_frames)):
        notes.append(short)
    turn = display_turns(rotation or 0)
    if turn is None:
        notes.append(f"display rotation {rotation} degrees is not a multiple of 90: frames used as stored")
    return turn


def _cut_clips(p: Path, frames_out: dict[int, np.ndarray], source_index: np.ndarray, turn: int | None) -> torch.Tensor:
    """``[K, T, H, W, 3]`` uint8 clips of the kept frames at ``source_index`` ``[K, T]``, turned upright."""
    uniq, inverse = np.unique(source_index, return_inverse=True)
    shapes = {frames_out[int(i)].shape for i in uniq}
    if len(shapes) > 1:
        raise MediaError(p, f"frame size changes mid-stream ({sorted(shapes)}); re-encode the file")
    stack = torch.from_numpy(np.stack([frames_out[int(i)] for i in uniq]))
    if turn:
        stack = torch.rot90(stack, turn, dims=(1, 2))  # [n, H, W, 3] -> upright, as a player shows it
    return stack[torch.from_numpy(inverse.reshape(source_index.shape))]


def display_turns(rotation: int) -> int | None:
    """Quarter turns (counter-clockwise, 0..3) that show a frame upright, for a display-matrix ``rotation`` in
    degrees counter-clockwise (``VideoFrame.rotation``; FFmpeg's autorotate turns the same way); None when
    ``rotation`` is not a multiple of 90."""
    if rotation % 90:
        return None
    return (rotation // 90) % 4


def _plan(times: np.ndarray, fps: float, frames: int, clips: int, sampling: str,
          generators: Sequence[torch.Generator] | None, trim: bool, rule: str = "nearest", continuous: bool = False
          ) -> tuple[list[int], int, np.ndarray]:
    """(starts, N, ``[K, T]`` source indices) for a timeline of source frame ``times`` (s). Equal to indexing
    :func:`target_timeline` (same ``rule``), without materialising it: only the K x T target frames the clips use
    are looked up (a timestamp gap never allocates a timeline)."""
    if times.ndim != 1 or times.size == 0:
        raise ValueError("a clip plan needs at least one frame time")
    if rule not in ("nearest", "floor"):
        raise ValueError(f"timeline rule must be 'nearest' or 'floor'; got {rule!r}")
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0 / fps
    duration = float(times[-1]) + step
    if rule == "floor":
        n_target = max(1, int(duration * fps + 1e-6))
    else:
        n_target = max(1, int(np.ceil(duration * fps - 1e-6)))
    if trim:
        n_target = min(n_target, frames)
    if continuous and sampling == "random" and generators is not None and n_target > frames:
        if len(generators) != clips:
            raise ValueError(f"random clip sampling needs one generator per clip: {clips} clips, {len(generators)}")
        # start j uniform on [0, (N - frames) / fps) s, one draw from generators[j] (the released video_db.py)
        t0 = np.array([float(torch.rand((), generator=g)) for g in generators]) * (n_target - frames) / fps
        starts = [int(t * fps) for t in t0]
        targets = t0[:, None] + np.arange(frames)[None, :] / fps
    else:
        starts = clip_starts(sampling, n_target, frames, clips, generators)
        targets = clip_target_indices(n_target, frames, starts) / fps
    if rule == "floor":  # the frame displayed at each target time (target_timeline's "floor")
        shown = np.searchsorted(times, targets + 1e-9, side="right") - 1
        return starts, n_target, shown.clip(0, times.size - 1).astype(np.int64)
    return starts, n_target, nearest_frames(times, targets)


def nearest_frames(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Source frame shown at each target time: ``times`` ``[n]`` sorted presentation times (s), ``targets`` any
    shape (s) -> int64 indices of the same shape; the nearest frame, a tie going to the earlier one."""
    right = np.searchsorted(times, targets, side="left").clip(0, times.size - 1)
    left = (right - 1).clip(0)
    use_left = np.abs(targets - times[left]) <= np.abs(times[right] - targets)
    return np.where(use_left, left, right).astype(np.int64)


def _decode_indices(path: Path, wanted: set[int], have: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Decode ``path`` again, adding the frames (decode order) in ``wanted`` to ``have``."""
    out = dict(have)
    with open_container(path) as container:
        stream = _video_stream(path, container)
        n = 0
        try:
            for frame in container.decode(stream):
                if n in wanted:
                    out[n] = frame.to_ndarray(format="rgb24")
                n += 1
        except av.error.FFmpegError:
            pass
    lacking = wanted - out.keys()
    if lacking:
        raise MediaError(path, f"frames {sorted(lacking)[:5]} could not be decoded on a second pass")
    return out
