"""Bounds on what a decoder will allocate for one file: declared or decoded parameters beyond them make the file
a named skip (:class:`~avbench.media.errors.MediaError`), before the memory is spent.

* sample rate outside ``min_rate``..``max_rate`` Hz (1 kHz - 384 kHz: a 20 KB wav declaring 1 Hz would otherwise
  be resampled into 160 million samples per declared second);
* duration beyond ``max_seconds`` (declared by the header, or reached while decoding or demuxing: a header can lie),
  a task card's ``dataset.max_seconds`` (default 600 s: every clip of the supported data sets is far shorter);
* frame area beyond ``max_pixels`` (``dataset.max_pixels``, default 3840x2160: one 4K UHD frame; a 7680x4320
  frame is 100 MB as RGB).

Timestamp gaps cost nothing: a video's timeline is never materialised, only the frames the clips use
(:mod:`avbench.media.video_decode`). Float samples beyond :data:`FLOAT_FULL_SCALE_LIMIT` are clipped before any
conversion and recorded as a repair (:mod:`avbench.media.audio_decode`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MediaLimits", "DEFAULT_LIMITS", "FLOAT_FULL_SCALE_LIMIT"]

#: float PCM is nominally in [-1, 1]; lossy codecs overshoot a little (clamped after resampling, as always).
#: Samples beyond this magnitude (6 dB over full scale) are out of range: clipped at the source and recorded.
FLOAT_FULL_SCALE_LIMIT = 2.0


@dataclass(frozen=True)
class MediaLimits:
    """``max_seconds`` (s), ``max_pixels`` (width x height of one frame), ``min_rate`` / ``max_rate`` (Hz)."""

    max_seconds: float = 600.0
    max_pixels: int = 3840 * 2160
    min_rate: int = 1_000
    max_rate: int = 384_000

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_rate(self, rate: int) -> str | None:
        """Why a declared sample rate (Hz) is refused, or None."""
        if not self.min_rate <= rate <= self.max_rate:
            return f"sample rate {rate} Hz outside {self.min_rate}-{self.max_rate} Hz"
        return None

    def check_seconds(self, seconds: float | None, what: str = "declared duration") -> str | None:
        """Why a duration (s) is refused, or None."""
        if seconds is not None and seconds > self.max_seconds:
            return f"{what} {seconds:.1f} s beyond max_seconds {self.max_seconds:g} s (dataset.max_seconds)"
        return None

    def check_area(self, width: int, height: int) -> str | None:
        """Why a frame size (px) is refused, or None."""
        if width * height > self.max_pixels:
            return (f"frame size {width}x{height} ({width * height / 1e6:.1f} MP) beyond max_pixels "
                    f"{self.max_pixels} ({self.max_pixels / 1e6:.1f} MP; dataset.max_pixels)")
        return None


DEFAULT_LIMITS = MediaLimits()
