"""Clip windows on a decoded waveform: where they start, and cutting them out.

Units: everything here counts *samples* of the decoded waveform (audio frames at the decode rate, e.g.
16000 per second), never seconds or spectrogram frames: a 2-s clip at 16 kHz is ``clip_len=32000``.

Reference behaviour (CrissCross ``audio_db.py``, dense test): K windows at
``np.linspace(0, n - clip_len, K).astype(int)``; an input no longer than one clip gives K copies of the
whole (padded) input. Short inputs are padded with zeros at the end, as its ``AudioPrep(trim_pad=True)``
does (``np.pad(..., constant_values=0)``); ``pad="cyclic"`` repeats the waveform instead.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch

Pad = Literal["zeros", "cyclic"]


def uniform_starts(n_total: int, clip_len: int, k: int) -> list[int]:
    """``k`` evenly spaced window starts (samples) covering ``[0, n_total)``: first at 0, last at
    ``n_total - clip_len``; all zeros when the input is not longer than one clip."""
    _check(n_total, clip_len, k)
    if n_total <= clip_len:
        return [0] * k
    return [int(s) for s in np.linspace(0, n_total - clip_len, k).astype(int)]


def random_starts(n_total: int, clip_len: int, n: int, generators: Sequence[torch.Generator]) -> list[int]:
    """``n`` window starts (samples), each uniform on ``{0, ..., n_total - clip_len}``, clip ``j`` drawn from
    ``generators[j]`` alone (one draw each), so a clip's start never depends on the other clips.
    All zeros when the input is not longer than one clip (no draw is made then)."""
    _check(n_total, clip_len, n)
    if len(generators) != n:
        raise ValueError(f"random_starts needs one generator per clip: {n} clips, {len(generators)} generators")
    if n_total <= clip_len:
        return [0] * n
    high = n_total - clip_len + 1
    return [int(torch.randint(0, high, (1,), generator=g).item()) for g in generators]


def synced_starts(n_total: int, clip_len: int, n: int, generators: Sequence[torch.Generator]) -> list[int]:
    """``n`` window starts (in this stream's units) at the same FRACTION of every stream: clip ``j`` starts at
    ``floor(u_j * (n_total - clip_len + 1))`` with ``u_j ~ U[0, 1)`` drawn from ``generators[j]`` alone. Given the
    same generators, the audio window (samples) and the video window (frames) of a clip start at the same time,
    to within one frame, which is what audio-visual clips need. All zeros when the input is not longer than one clip."""
    _check(n_total, clip_len, n)
    if len(generators) != n:
        raise ValueError(f"synced_starts needs one generator per clip: {n} clips, {len(generators)} generators")
    if n_total <= clip_len:
        return [0] * n
    span = n_total - clip_len + 1
    return [min(span - 1, int(float(torch.rand(1, generator=g, dtype=torch.float64)) * span)) for g in generators]


def clip_starts(sampling: str, n_total: int, clip_len: int, k: int,
                generators: Sequence[torch.Generator] | None) -> list[int]:
    """``k`` window starts by the card's sampling: "uniform" (:func:`uniform_starts`), "random"
    (:func:`random_starts`) or "synced" (:func:`synced_starts`); the random kinds need one generator per clip."""
    if sampling == "uniform":
        return uniform_starts(n_total, clip_len, k)
    if sampling not in ("random", "synced"):
        raise ValueError(f"sampling must be 'uniform', 'random' or 'synced', got {sampling!r}")
    if generators is None:
        raise ValueError(f"{sampling} clip sampling needs one generator per clip")
    return (synced_starts if sampling == "synced" else random_starts)(n_total, clip_len, k, generators)


def cut_clips(wave: torch.Tensor, starts: Sequence[int], clip_len: int, pad: Pad = "zeros") -> torch.Tensor:
    """Cut ``wave`` ``[N]`` into ``[K, clip_len]`` windows at ``starts`` (samples).

    A window running past the end is padded: ``"zeros"`` appends silence (the reference code's trim_pad,
    default); ``"cyclic"`` continues with the waveform from its start (wraps around).
    """
    if wave.dim() != 1:
        raise ValueError(f"cut_clips expects a 1-D waveform [N], got shape {tuple(wave.shape)}")
    if clip_len <= 0:
        raise ValueError(f"clip_len must be positive, got {clip_len}")
    if pad not in ("zeros", "cyclic"):
        raise ValueError(f"pad must be 'zeros' or 'cyclic', got {pad!r}")
    n = wave.numel()
    if n == 0:
        raise ValueError("cut_clips got an empty waveform")
    out = wave.new_zeros((len(starts), clip_len))
    for i, s in enumerate(starts):
        if s < 0:
            raise ValueError(f"negative window start {s}")
        if pad == "cyclic":
            idx = torch.arange(s, s + clip_len, device=wave.device) % n
            out[i] = wave[idx]
        else:
            piece = wave[s: s + clip_len]
            out[i, : piece.numel()] = piece
    return out


def _check(n_total: int, clip_len: int, k: int) -> None:
    if n_total < 0 or clip_len <= 0 or k <= 0:
        raise ValueError(f"need n_total >= 0, clip_len > 0, k > 0; got n_total={n_total}, clip_len={clip_len}, k={k}")
