"""Exclusive wall time per stage of the extraction pipeline: :class:`StageTimers` and :func:`instrumented`, which
puts them around the real functions the pipeline calls (decode, augment, frontend, forward)."""
from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict
from typing import Any, Callable, Iterator

import torch
from extract_video import sync

import avbench.features.audio as extract_audio
import avbench.features.video as extract_video
from avbench.encoder import Encoder


class StageTimers:
    """Exclusive wall time per stage: a timed call nested in another is charged to its own stage only.

    ``device`` is synchronised at every region boundary, so asynchronous CUDA work lands in the stage that
    launched it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.media_seconds = 0.0
        self._stack: list[list[float]] = []  # [start, nested seconds]

    @contextlib.contextmanager
    def region(self, stage: str) -> Iterator[None]:
        sync(self.device)
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            sync(self.device)
            total = time.perf_counter() - frame[0]
            self._stack.pop()
            self.seconds[stage] += total - frame[1]
            self.calls[stage] += 1
            if self._stack:
                self._stack[-1][1] += total

    def wrap(self, fn: Callable, stage: str, media: bool = False) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.region(stage):
                out = fn(*args, **kwargs)
            if media:  # DecodedAudio / DecodedClips know their duration in seconds
                self.media_seconds += float(out.seconds)
            return out
        return timed


@contextlib.contextmanager
def instrumented(timers: StageTimers, encoder: Encoder) -> Iterator[None]:
    """Put ``timers`` around the functions the extraction pipeline calls, for the duration of the block."""
    patches: list[tuple[Any, str, str, bool]] = [  # (owner, attribute, stage, counts media seconds)
        (extract_audio, "load_audio", "decode", True),
        (extract_audio.AudioClipSource, "cut", "augment", False),
        (extract_audio, "augment_spectrogram", "augment", False),
        (extract_audio.AudioPath, "prepare", "augment", False),
        (extract_audio.AudioPath, "forward", "forward", False),
        (extract_video, "decode_clips", "decode", True),
        (extract_video.VideoPath, "prepare", "augment", False),
        (extract_video, "apply_cutout", "augment", False),
        (extract_video.VideoPath, "forward", "forward", False),
    ]
    if getattr(encoder, "frontend", None) is not None:
        patches.append((encoder, "audio_frontend", "frontend", False))
    saved = []
    for owner, name, stage, media in patches:
        if not hasattr(owner, name):
            raise RuntimeError(f"{getattr(owner, '__name__', owner)} has no {name!r}: the pipeline changed; update "
                               "benchmarks/_e2e/timers.py:instrumented")
        had_own = name in vars(owner)
        saved.append((owner, name, vars(owner).get(name), had_own))
        setattr(owner, name, timers.wrap(getattr(owner, name), stage, media))
    try:
        yield
    finally:
        for owner, name, original, had_own in reversed(saved):
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
