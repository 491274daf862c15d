"""The audio augmentations of the CrissCross supplementary, Table S2, with per-clip random parameters.

Waveform stage (before the front end): volume jitter, gain ~ U[1 - r, 1 + r].
Spectrogram stage (after the log-mel front end and its normalisation), in the order of the released
CrissCross ``StrongAug.__call__``: time warp -> frequency masks -> time masks -> random resize crop.

* Time warp (SpecAugment as in s3prl ``TimeWarp``): centre ``c ~ U{W, ..., T-W-1}``, new boundary
  ``w ~ U{c-W+1, ..., c+W}``; frames ``[0, c)`` are resized to ``w`` frames and ``[c, T)`` to ``T - w``
  (bicubic, align_corners=False). Skipped when ``T <= 2W``.
* Masks (s3prl ``MaskAlongAxis``, ``replace_with_zero=False``): ``num`` widths ``~ U{0, ..., max_width-1}``
  (``torch.randint``'s exclusive bound, as the code: ``fmask_len: [0, 10]`` gives widths 0..9), starts
  ``~ U{0, ..., max(1, D - widest) - 1}``; the masked bins/frames take the clip's mean at that stage
  (the frequency masks the mean after time warp, the time masks the mean after the frequency masks).
* Random resize crop (BYOL-A ``RandomResizeCrop``): the spectrogram is centred on a zero canvas of
  ``(int(F*vf), int(T*vt))``; a crop of ``h = clip(int(U(freq_scale)*F), 1, canvas_F)`` by
  ``w = clip(int(U(time_scale)*T), 1, canvas_T)`` at a uniform offset is resized back to ``(F, T)``
  (bicubic, align_corners=True).

Randomness: every clip has its own ``torch.Generator``; its parameters are drawn from it alone in a fixed
order (warp centre, warp boundary, frequency widths, frequency starts, time widths, time starts, crop
freq scale, crop time scale, crop offsets), so a clip's result never depends on the batch it is in.
Shapes: waveforms ``[K, N]`` (samples), spectrograms ``[K, C, F, T]`` (C channels, usually 1; F mel bins;
T frames); outputs have the input's shape.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from avbench.media.threads import one_cpu_thread


@dataclass(frozen=True)
class MaskConfig:
    """``num`` masks of width ``0 .. max_width-1`` bins or frames."""

    max_width: int
    num: int


@dataclass(frozen=True)
class TimeWarpConfig:
    """Time-warp window ``W`` in frames."""

    window: int = 20


@dataclass(frozen=True)
class RandomResizeCropConfig:
    """BYOL-A random resize crop: canvas scale (freq, time) and crop scale ranges relative to the input."""

    virtual_crop_scale: tuple[float, float] = (1.0, 1.5)
    freq_scale: tuple[float, float] = (0.6, 1.5)
    time_scale: tuple[float, float] = (0.6, 1.5)


_DEFAULT_TIME_MASK = MaskConfig(max_width=20, num=2)
_DEFAULT_FREQ_MASK = MaskConfig(max_width=10, num=2)


@dataclass(frozen=True)
class AudioAugmentConfig:
    """Which augmentations run and their parameters; ``None`` turns one off. Defaults are Table S2."""

    volume_jitter: float | None = 0.2
    time_mask: MaskConfig | None = _DEFAULT_TIME_MASK
    freq_mask: MaskConfig | None = _DEFAULT_FREQ_MASK
    time_warp: TimeWarpConfig | None = TimeWarpConfig(window=20)
    random_resize_crop: RandomResizeCropConfig | None = RandomResizeCropConfig()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "AudioAugmentConfig":
        """Build from a task card's plain dict; unknown keys (at any level) and bad values raise ValueError.

        A key left out takes its Table S2 default; ``null``/``false`` turns that augmentation off and ``true``
        turns it on with the defaults. Nested keys left out take the defaults of that augmentation.
        """
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown audio augmentation key(s) {unknown}; known: {sorted(known)}")
        base = cls()
        out: dict[str, Any] = {}
        for name, value in d.items():
            default = getattr(base, name)
            if value is None or value is False:
                out[name] = None
            elif value is True:
                out[name] = default
            elif name == "volume_jitter":
                if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
                    raise ValueError(f"volume_jitter must be a number in [0, 1), got {value!r}")
                out[name] = float(value)
            else:
                out[name] = _nested(name, default, value)
        return replace(base, **out)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = asdict(v) if hasattr(v, "__dataclass_fields__") else v
            if isinstance(out[f.name], dict):
                out[f.name] = {k: list(x) if isinstance(x, tuple) else x for k, x in out[f.name].items()}
        return out


def _nested(name: str, default: Any, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping, null, true or false; got {value!r}")
    known = {f.name for f in fields(default)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {name}; known: {sorted(known)}")
    cfg = replace(default, **{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
    if isinstance(cfg, MaskConfig):
        for k in ("max_width", "num"):
            v = getattr(cfg, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "max_width" else 0):
                raise ValueError(f"{name}.{k} must be an integer >= {1 if k == 'max_width' else 0}, got {v!r}")
    elif isinstance(cfg, TimeWarpConfig):
        if isinstance(cfg.window, bool) or not isinstance(cfg.window, int) or cfg.window < 1:
            raise ValueError(f"{name}.window must be an integer >= 1, got {cfg.window!r}")
    else:
        for k in ("virtual_crop_scale", "freq_scale", "time_scale"):
            v = getattr(cfg, k)
            ok = (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                                   and x > 0 for x in v) and v[0] <= v[1])
            if not ok or (k == "virtual_crop_scale" and min(v) < 1.0):
                lo = "1" if k == "virtual_crop_scale" else "0"
                raise ValueError(f"{name}.{k} must be two numbers lo <= hi (each > {lo}), got {v!r}")
        cfg = replace(cfg, **{k: tuple(float(x) for x in getattr(cfg, k))
                              for k in ("virtual_crop_scale", "freq_scale", "time_scale")})
    return cfg


# ---- parameters -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpecAugmentParams:
    """One clip's spectrogram-augmentation parameters (frames / bins of the input spectrogram).

    warp: (centre, boundary) or None; freq_masks / time_masks: ((start, width), ...);
    crop: (i, j, h, w) on the virtual canvas (freq offset, time offset, freq size, time size) or None.
    """

    warp: tuple[int, int] | None
    freq_masks: tuple[tuple[int, int], ...]
    time_masks: tuple[tuple[int, int], ...]
    crop: tuple[int, int, int, int] | None


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """Uniform on ``{low, ..., high - 1}`` from ``g``."""
    return int(torch.randint(low, high, (1,), generator=g).item())


def _uniform(low: float, high: float, g: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand(1, generator=g, dtype=torch.float64).item())


def volume_gain(cfg: AudioAugmentConfig, generator: torch.Generator) -> float:
    """The clip's volume-jitter gain, ``U[1 - r, 1 + r]`` (1.0 when off; then nothing is drawn)."""
    r = cfg.volume_jitter
    return 1.0 if not r else _uniform(1.0 - r, 1.0 + r, generator)


def _mask_params(m: MaskConfig | None, size: int, g: torch.Generator) -> tuple[tuple[int, int], ...]:
    if m is None or m.num == 0:
        return ()
    widths = [_randint(0, m.max_width, g) for _ in range(m.num)]
    hi = max(1, size - max(widths))
    starts = [_randint(0, hi, g) for _ in range(m.num)]
    return tuple(zip(starts, widths))


def spec_params(cfg: AudioAugmentConfig, n_freq: int, n_time: int, generator: torch.Generator) -> SpecAugmentParams:
    """Draw one clip's parameters for an ``F = n_freq`` by ``T = n_time`` spectrogram from ``generator``."""
    g = generator
    warp = None
    if cfg.time_warp is not None:
        w = cfg.time_warp.window
        if n_time - w > w:
            centre = _randint(w, n_time - w, g)
            warp = (centre, _randint(centre - w, centre + w, g) + 1)
    fm = _mask_params(cfg.freq_mask, n_freq, g)
    tm = _mask_params(cfg.time_mask, n_time, g)
    crop = None
    if cfg.random_resize_crop is not None:
        rc = cfg.random_resize_crop
        canvas_f, canvas_t = int(n_freq * rc.virtual_crop_scale[0]), int(n_time * rc.virtual_crop_scale[1])
        h = min(max(int(_uniform(*rc.freq_scale, g) * n_freq), 1), canvas_f)
        w_ = min(max(int(_uniform(*rc.time_scale, g) * n_time), 1), canvas_t)
        i = _randint(0, canvas_f - h + 1, g) if canvas_f > h else 0
        j = _randint(0, canvas_t - w_ + 1, g) if canvas_t > w_ else 0
        crop = (i, j, h, w_)
    return SpecAugmentParams(warp, fm, tm, crop)


# ---- application ------------------------------------------------------------------------------------------
def _time_warp(x: torch.Tensor, centre: int, boundary: int) -> torch.Tensor:
    """``x`` ``[C, F, T]``: resize frames ``[0, centre)`` to ``boundary`` frames and the rest to ``T - boundary``."""
    _, n_f, n_t = x.shape
    x4 = x.unsqueeze(0)
    left = F.interpolate(x4[..., :centre], size=(n_f, boundary), mode="bicubic", align_corners=False)
    right = F.interpolate(x4[..., centre:], size=(n_f, n_t - boundary), mode="bicubic", align_corners=False)
    return torch.cat([left, right], dim=-1)[0]


def _fill(x: torch.Tensor, masks: tuple[tuple[int, int], ...], axis: int) -> torch.Tensor:
    if not masks or all(w == 0 for _, w in masks):
        return x
    size = x.shape[axis]
    ar = torch.arange(size, device=x.device)
    sel = torch.zeros(size, dtype=torch.bool, device=x.device)
    for start, width in masks:
        sel |= (ar >= start) & (ar < start + width)
    shape = [1, 1, 1]
    shape[axis] = size
    return x.masked_fill(sel.view(shape), x.mean())


def _resize_crop(x: torch.Tensor, crop: tuple[int, int, int, int], cfg: RandomResizeCropConfig) -> torch.Tensor:
    c, n_f, n_t = x.shape
    canvas_f, canvas_t = int(n_f * cfg.virtual_crop_scale[0]), int(n_t * cfg.virtual_crop_scale[1])
    canvas = x.new_zeros((c, canvas_f, canvas_t))
    y0, x0 = (canvas_f - n_f) // 2, (canvas_t - n_t) // 2
    canvas[:, y0:y0 + n_f, x0:x0 + n_t] = x
    i, j, h, w = crop
    piece = canvas[:, i:i + h, j:j + w].unsqueeze(0)
    return F.interpolate(piece, size=(n_f, n_t), mode="bicubic", align_corners=True)[0]


def apply_spec_params(spec: torch.Tensor, params: SpecAugmentParams, cfg: AudioAugmentConfig) -> torch.Tensor:
    """Apply one clip's parameters to ``spec`` ``[C, F, T]``; returns a new ``[C, F, T]`` tensor."""
    x = spec.clone()
    if params.warp is not None:
        x = _time_warp(x, *params.warp)
    x = _fill(x, params.freq_masks, axis=1)
    x = _fill(x, params.time_masks, axis=2)
    if params.crop is not None and cfg.random_resize_crop is not None:
        x = _resize_crop(x, params.crop, cfg.random_resize_crop)
    return x


def _check_gens(k: int, generators: Sequence[torch.Generator]) -> None:
    if len(generators) != k:
        raise ValueError(f"need one generator per clip: {k} clips, {len(generators)} generators")


def augment_waveform(wave: torch.Tensor, cfg: AudioAugmentConfig, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Volume jitter on ``wave`` ``[K, N]`` (samples): clip ``k`` is scaled by its own gain from ``generators[k]``."""
    if wave.dim() != 2:
        raise ValueError(f"augment_waveform expects [K, N], got shape {tuple(wave.shape)}")
    _check_gens(wave.shape[0], generators)
    if not cfg.volume_jitter:
        return wave.clone()
    gains = torch.tensor([volume_gain(cfg, g) for g in generators], dtype=wave.dtype, device=wave.device)
    return wave * gains[:, None]


def augment_spectrogram(spec: torch.Tensor, cfg: AudioAugmentConfig, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Time warp, frequency masks, time masks, random resize crop on ``spec`` ``[K, C, F, T]``; clip ``k``
    uses parameters drawn from ``generators[k]`` only. Returns ``[K, C, F, T]``."""
    if spec.dim() != 4:
        raise ValueError(f"augment_spectrogram expects [K, C, F, T], got shape {tuple(spec.shape)}")
    k, _, n_f, n_t = spec.shape
    _check_gens(k, generators)
    if k == 0:
        return spec.clone()
    with one_cpu_thread(spec.device):  # small per-clip operations: see avbench.media.threads
        return torch.stack([apply_spec_params(spec[i], spec_params(cfg, n_f, n_t, g), cfg)
                            for i, g in enumerate(generators)])
