"""Windowed video decoding: decode only the packets a clip plan needs (issue 17, "decoders read only what the card
needs").

:func:`avbench.media.video_decode.decode_clips` demuxes every packet (compressed, small: their timestamps are the
timeline the clips are placed on), then, when the clips need only part of the stream, :func:`decode_window` feeds
the decoder from the last keyframe at or before the first needed frame up to the last needed frame, and stops
there. Frames before the window are never decoded, frames after it never reached.

The caller tries a window only on a stream that shows no damage while demuxing (no demux error, not shorter than its
header declares) and not with ``strict`` (which asks for every packet to be checked).

Exactness: a keyframe packet starts an independently decodable run (an IDR picture in H.264, an I-VOP in MPEG-4
part 2), so the frames decoded from it are bit-identical to those of a decode from the start of the file. The window
is used only when the stream proves it is plain: every packet has a distinct presentation timestamp, no packet
before the start keyframe (decode order) is presented at or after it, and every frame decoded in the window arrives
in presentation order with exactly the timestamp the packets predict, without a decoder error. Anything else
returns None, and the caller decodes the whole file as before. What a window cannot see is damage entirely outside
it (a packet the decoder would reject after the last needed frame): the whole-file decode notes it, the windowed one
does not (the frames it returns are the same unless that damage moves the timeline).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import av
import numpy as np

from avbench.media.errors import MediaError
from avbench.media.limits import MediaLimits

__all__ = ["decode_window", "window_start"]


def window_start(packets: Sequence[av.Packet], first: int) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(index in decode order of the packet to start decoding at, ``[n]`` sorted distinct packet pts, ``[n]``
    presentation rank of each packet) for a window whose first needed frame has presentation rank ``first``; None when
    the stream is not plain enough to start mid-way (module docstring)."""
    if not packets or any(pk.pts is None for pk in packets):
        return None
    pts = np.fromiter((pk.pts for pk in packets), dtype=np.int64, count=len(packets))
    uniq = np.unique(pts)
    if uniq.size != pts.size:
        return None
    rank = np.searchsorted(uniq, pts)
    before = np.maximum.accumulate(np.concatenate([[-1], rank[:-1]]))  # latest rank among the earlier packets
    for i in range(len(packets) - 1, -1, -1):
        if packets[i].is_keyframe and rank[i] <= first and before[i] < rank[i]:
            return i, uniq, rank
    return None


def decode_window(p: Path, cc: av.codec.context.CodecContext, packets: Sequence[av.Packet],
                  found: tuple[int, np.ndarray, np.ndarray], needed: set[int],
                  limits: MediaLimits) -> tuple[dict[int, np.ndarray], int | None, int] | None:
    """Decode ``packets`` only from ``found`` (:func:`window_start` of the first frame of ``needed``, presentation
    ranks) up to the last frame of ``needed``. Returns (RGB ``[H, W, 3]`` uint8 frames of ``needed`` by rank, the
    display rotation of the first decoded frame, frames decoded), or None when the decoded frames do not prove the
    window equal to a whole-file decode (module docstring; ``cc`` is then used up: decode again with a fresh one).
    A frame beyond ``limits.max_pixels`` is a MediaError."""
    last = max(needed)
    start, uniq, rank = found
    expect = int(rank[start])
    frames_out: dict[int, np.ndarray] = {}
    rotation: int | None = None
    decoded = 0
    for packet in [*packets[start:], None]:
        try:
            out = cc.decode(packet)
        except av.error.FFmpegError:
            return None  # damage inside the window: the whole-file decode notes it as it always did
        for frame in out:
            decoded += 1
            j = int(np.searchsorted(uniq, frame.pts)) if frame.pts is not None else -1
            if j < 0 or j >= uniq.size or uniq[j] != frame.pts:
                return None
            if j < rank[start]:
                continue  # a leading picture of an open GOP (presented before the keyframe): not in the window
            if j != expect:
                return None
            if (problem := limits.check_area(frame.width, frame.height)):
                raise MediaError(p, problem)
            if rotation is None:
                rotation = int(getattr(frame, "rotation", 0) or 0)
            if j in needed:
                frames_out[j] = frame.to_ndarray(format="rgb24")
            expect += 1
            if j == last:
                return frames_out, rotation, decoded
    return None
