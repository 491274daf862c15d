"""The frame rate a video run samples at (issue 19, item 7): the card's ``video.rate`` against the encoder's
declared native rate (:attr:`avbench.encoder.Encoder.native_fps`).

``rate: card`` keeps the card's fps for every encoder that takes it; an encoder that declares a native rate different
from the card's runs at its own rate. ``rate: encoder`` always uses the native rate and is refused for an encoder
that declares none. At the encoder's rate the clip keeps the card's SPAN: ``frames = floor(card.frames * fps /
card.fps + 0.5)`` (round half up; at least 1), e.g. 8 frames at 16 fps (0.5 s) -> 13 frames at 25 fps (0.52 s),
32 -> 50 (2.0 s). The record carries what was used (``features.video_rate``).
"""
from __future__ import annotations

import math
from typing import Any

from avbench.encoder import Encoder, GeometryError
from avbench.taskcard import VideoClip

__all__ = ["resolve_video_rate"]


def resolve_video_rate(clip: VideoClip, enc: Encoder) -> tuple[VideoClip, dict[str, Any] | None]:
    """(the clip geometry the run samples, the record's ``video_rate`` entry or None when the card's rate is used)."""
    spec = enc.meta.video
    native = bool(getattr(type(enc), "native_fps", False)) and spec is not None
    if clip.rate == "encoder" and not native:
        raise GeometryError(f"video.rate: encoder needs an encoder that declares a native frame rate; "
                            f"{enc.meta.name!r} declares none (it takes the card's {clip.fps:g} fps)")
    if not native or abs(spec.fps - clip.fps) <= 1e-6:
        return clip, None
    frames = max(1, math.floor(clip.frames * spec.fps / clip.fps + 0.5))
    used = clip.model_copy(update={"fps": float(spec.fps), "frames": frames})
    info = {"rate": "encoder", "why": f"{enc.meta.name} declares a native rate of {spec.fps:g} fps",
            "card_fps": clip.fps, "card_frames": clip.frames, "fps": float(spec.fps), "frames": frames,
            "card_seconds": round(clip.frames / clip.fps, 6), "seconds": round(frames / spec.fps, 6),
            "rounding": "frames = floor(card_frames * fps / card_fps + 0.5)"}
    return used, info
