"""The ops of one AugVGG query: which ops it gets (:func:`draw_ops`, seeded per (seed, variant, id)) and applying
them to the decoded streams (:func:`apply_ops`: frames ``[T, H, W, 3]`` uint8, wave ``[N]`` float32). The ops
themselves are in :mod:`.video_ops` and :mod:`.audio_ops`."""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np
import torch

from avbench.datasets.augvgg import audio_ops as A
from avbench.datasets.augvgg import video_ops as V
from avbench.media.seeding import derive_seed

VARIANTS = ("ip", "s", "t", "c")
#: speed factors are drawn log-uniformly with |log2 f| in [log2 1.25, 1] and rounded to p/q with q <= this.
SPEED_MAX_DENOMINATOR = 16
_AUGLY_T = {"speed": "augly.video.change_video_speed + augly.audio.speed",
            "time_crop": "augly.video.time_crop + augly.audio.clip"}



def _op(family: str, stream: str, name: str, augly: str, params: dict) -> dict:
    return {"family": family, "stream": stream, "op": name, "augly": augly, "params": params}


def _frame_op(rng: np.random.Generator, family: str) -> dict:
    options = V.names(family)
    name = options[int(rng.integers(len(options)))]
    fam, draw, _, augly = V.VIDEO_OPS[name]
    return _op(fam, "video", name, augly, draw(rng))


def _wave_op(rng: np.random.Generator, family: str) -> dict:
    options = A.names(family)
    name = options[int(rng.integers(len(options)))]
    fam, draw, _, augly = A.AUDIO_OPS[name]
    return _op(fam, "audio", name, augly, draw(rng))


def _time_op(rng: np.random.Generator) -> dict:
    name = ("speed", "time_crop")[int(rng.integers(2))]
    if name == "speed":
        exponent = float(rng.choice([-1.0, 1.0])) * rng.uniform(math.log2(1.25), 1.0)
        f = Fraction(2 ** exponent).limit_denominator(SPEED_MAX_DENOMINATOR)
        params = {"factor": round(float(f), 4), "p": f.numerator, "q": f.denominator}
    else:
        params = {"keep": round(float(rng.uniform(0.5, 0.9)), 4), "offset": round(float(rng.uniform(0, 1)), 4)}
    return _op("t", "both", name, _AUGLY_T[name], params)


def draw_ops(variant: str, seed: int, sample_id: str) -> list[dict]:
    """The ops of one query, in application order; each ``{"family", "stream", "op", "augly", "params"}``.

    ip / s: one frame op and one waveform op of that family (uniform choices); t: one time op on both streams
    (speed or time_crop, 50/50); c: a time op, then an S op and an IP op on different streams (S on video and IP
    on audio, or the reverse, 50/50), so each stream gets one spatial-or-in-place change on top of the time change.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rng = np.random.default_rng(derive_seed(seed, variant, sample_id))
    if variant in ("ip", "s"):
        return [_frame_op(rng, variant), _wave_op(rng, variant)]
    if variant == "t":
        return [_time_op(rng)]
    time_op = _time_op(rng)
    if rng.random() < 0.5:
        return [time_op, _frame_op(rng, "s"), _wave_op(rng, "ip")]
    return [time_op, _wave_op(rng, "s"), _frame_op(rng, "ip")]


def apply_ops(frames: np.ndarray, fps: Fraction, wave: torch.Tensor, sample_rate: int,
              ops: Sequence[dict]) -> tuple[np.ndarray, torch.Tensor]:
    """Apply ``ops`` in order to ``frames`` ``[T, H, W, 3]`` uint8 (constant rate ``fps``) and ``wave`` ``[N]``
    float32 at ``sample_rate``; time ops cut / resample both streams in sync. Returns (frames, wave)."""
    for op in ops:
        name, params = op["op"], op["params"]
        if op["stream"] == "both":
            if name == "speed":
                frames = V.change_speed(frames, p=params["p"], q=params["q"])
                wave = A.change_speed(wave, p=params["p"], q=params["q"])
            elif name == "time_crop":
                start, count = V.crop_segment(frames.shape[0], keep=params["keep"], offset=params["offset"])
                frames = V.time_crop(frames, start=start, count=count)
                wave = A.time_crop(wave, sample_rate, start_s=float(start / fps), seconds=float(count / fps))
            else:
                raise ValueError(f"unknown time op {name!r}")
        elif op["stream"] == "video":
            frames = V.VIDEO_OPS[name][2](frames, **params)
        elif op["stream"] == "audio":
            wave = A.AUDIO_OPS[name][2](wave, sample_rate, **params)
        else:
            raise ValueError(f"unknown stream {op['stream']!r}")
    return frames, wave
