"""The video augmentations of the CrissCross supplementary, Table S1, temporally consistent and drawn per clip.

Pipeline (the released CrissCross ``StrongTransforms``, train mode), every frame of a clip sharing the SAME
parameters (Section 4.5 of the paper: per-frame randomness costs about 14 points):

1. Multi-scale crop (``RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3))``): torchvision's parameter
   algorithm (10 attempts with a log-uniform aspect ratio, then the centre-crop fallback), then a bilinear,
   antialiased resize of the box to ``size x size`` (the reference resized PIL images, which antialias).
2. Horizontal flip, ``p = 0.5``.
3. Colour jitter (brightness 0.4, contrast 0.4, saturation 0.4, hue 0.2), applied always (no probability gate in
   the reference); factors ``U[max(0, 1 - b), 1 + b]`` and so on, hue ``U[-h, h]``, the four operations in a random
   order (a permutation drawn like torchvision's ``ColorJitter``).
4. Grayscale, ``p = 0.2``, three equal output channels.
5. Gaussian blur, ``p = 0.5`` in pretraining only (Table S3; off for linear evaluation and finetuning), kernel
   ``size // 20 * 2 + 1`` px (11 at 112, 23 at 224), sigma ``U(0.1, 2.0)`` px, the same in x and y.
6. (after ``ToTensor`` and the ImageNet mean/std normalisation, which the caller does) Cutout: one square of side
   ``L ~ U{1, ..., 20}`` px centred uniformly in the output image and clipped at its borders, the same box on
   every frame; see :func:`apply_cutout`.

Steps 1 to 5 run on ``uint8`` frames with ``torchvision.transforms.v2.functional`` kernels, one call per clip on a
``[T, 3, H, W]`` tensor so that a single call covers all frames; they run on whatever device the frames are on.

Deterministic (test) path, ``params.crop is None``: resize the short side to ``round(size / 0.875)`` px (256 for
224, 128 for 112; bilinear, antialiased) and centre-crop ``size x size``, as the reference ``val`` transform.

Randomness: one CPU ``torch.Generator`` per clip (see :func:`avbench.media.seeding.generator_for`); a clip's
parameters are drawn from it alone, in the fixed order crop, flip, jitter (gate if ``color_jitter_p < 1``,
permutation, brightness, contrast, saturation, hue), grayscale, blur (gate, sigma), cutout (side, then centre
``y, x`` per patch). A draw is skipped when its augmentation is off (probability 0, range ``None`` or zero
strength), so the result of a clip never depends on the batch it is in, and the global RNG is never touched.

Known differences from the released reference code, all deliberate:

* The reference calls ``gaussian_blur(img, k, sigma=(0.1, 2.0))``, which torchvision reads as the FIXED
  anisotropic sigma ``(sigma_x, sigma_y) = (0.1, 2.0)``; here sigma is drawn ``U(0.1, 2.0)`` per clip, the SimCLR
  augmentation the paper cites (Chen et al. 2020).
* The reference adjusts colour on PIL images (rounding) while torchvision's ``uint8`` kernels truncate; pixel
  values can differ by one grey level.
* The reference ``Cutout`` crashes for more than one patch (``torch.from_numpy`` on a tensor); here several
  patches multiply their union once.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Mapping, Sequence

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from avbench.media.threads import one_cpu_thread

#: ``jitter_order`` indices, as torchvision's ``ColorJitter``: 0 brightness, 1 contrast, 2 saturation, 3 hue.
JITTER_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")

_CUTOUT_FILLS = ("reference", "zero")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _pair(name: str, v: Any, lo: float | None, hi: float | None, strict_lo: bool) -> tuple[float, float]:
    """Validate a ``(low, high)`` range with ``low <= high`` inside ``[lo, hi]`` (``lo`` exclusive if ``strict_lo``)."""
    ok = isinstance(v, tuple) and len(v) == 2 and all(_is_number(x) for x in v) and v[0] <= v[1]
    if ok and lo is not None:
        ok = v[0] > lo if strict_lo else v[0] >= lo
    if ok and hi is not None:
        ok = v[1] <= hi
    if not ok:
        bounds = f"{'(' if strict_lo else '['}{lo}, {hi}]" if lo is not None else "(-inf, inf)"
        raise ValueError(f"{name} must be two numbers low <= high within {bounds}, got {v!r}")
    return float(v[0]), float(v[1])


def _prob(name: str, v: Any) -> float:
    if not _is_number(v) or not 0.0 <= float(v) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {v!r}")
    return float(v)


@dataclass(frozen=True)
class VideoAugmentConfig:
    """Which video augmentations run and their parameters (defaults: Table S1 without blur, i.e. the
    linear-evaluation / finetuning setting; see :meth:`preset`).

    crop_scale: RandomResizedCrop area fraction range ``(lo, hi)`` with ``0 < lo <= hi <= 1``; ``None`` = no random
        crop (the deterministic resize + centre crop instead).
    crop_ratio: aspect-ratio (width / height) range, sampled log-uniformly.
    flip: horizontal-flip probability.
    color_jitter: ``(brightness, contrast, saturation, hue)`` strengths (``>= 0``; hue ``<= 0.5``); ``None`` = off.
    color_jitter_p: probability that the jitter runs at all (1.0 in the reference).
    grayscale: grayscale probability.
    blur: Gaussian-blur probability (0.5 in pretraining, 0 otherwise); kernel ``size // 20 * 2 + 1`` px.
    blur_sigma: blur sigma range in output pixels, ``U(lo, hi)``.
    cutout: maximum cutout side ``L`` in output pixels (``L ~ U{1, ..., cutout}``); 0 = off.
    cutout_patches: number of cutout squares per clip (same ``L``, own centres).
    cutout_fill: ``"reference"`` (multiply the box by the first frame's mean) or ``"zero"``; see :func:`apply_cutout`.
    """

    crop_scale: tuple[float, float] | None = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    color_jitter: tuple[float, float, float, float] | None = (0.4, 0.4, 0.4, 0.2)
    color_jitter_p: float = 1.0
    grayscale: float = 0.2
    blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    cutout: int = 20
    cutout_patches: int = 1
    cutout_fill: Literal["reference", "zero"] = "reference"

    def __post_init__(self) -> None:
        """Validate every field (ValueError) and normalise lists to float tuples."""
        set_ = object.__setattr__
        for name in ("crop_scale", "crop_ratio", "color_jitter", "blur_sigma"):
            v = getattr(self, name)
            if isinstance(v, list):
                set_(self, name, tuple(v))
        if self.crop_scale is not None:
            set_(self, "crop_scale", _pair("crop_scale", self.crop_scale, 0.0, 1.0, strict_lo=True))
        set_(self, "crop_ratio", _pair("crop_ratio", self.crop_ratio, 0.0, None, strict_lo=True))
        for name in ("flip", "color_jitter_p", "grayscale", "blur"):
            set_(self, name, _prob(name, getattr(self, name)))
        cj = self.color_jitter
        if cj is not None:
            ok = (isinstance(cj, tuple) and len(cj) == 4 and all(_is_number(x) and x >= 0 for x in cj)
                  and cj[3] <= 0.5)
            if not ok:
                raise ValueError("color_jitter must be four numbers (brightness, contrast, saturation, hue), "
                                 f"each >= 0 and hue <= 0.5, or null; got {cj!r}")
            set_(self, "color_jitter", tuple(float(x) for x in cj))
        set_(self, "blur_sigma", _pair("blur_sigma", self.blur_sigma, 0.0, None, strict_lo=True))
        for name, lo in (("cutout", 0), ("cutout_patches", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.cutout_fill not in _CUTOUT_FILLS:
            raise ValueError(f"cutout_fill must be one of {_CUTOUT_FILLS}, got {self.cutout_fill!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "VideoAugmentConfig":
        """Build from a task card's plain dict. Keys left out take the defaults; lists become tuples; ``null`` (or
        ``false``) turns ``crop_scale`` / ``color_jitter`` off. Unknown keys and bad values raise ValueError."""
        d = dict(d or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown video augmentation key(s) {unknown}; known: {sorted(known)}")
        out: dict[str, Any] = {}
        for k, v in d.items():
            if v is False and k in ("crop_scale", "color_jitter"):
                v = None
            elif v is None and k not in ("crop_scale", "color_jitter"):
                raise ValueError(f"{k} cannot be null")
            out[k] = tuple(v) if isinstance(v, list) else v
        return cls(**out)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists); round-trips through :meth:`from_dict`."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def preset(cls, name: str) -> "VideoAugmentConfig":
        """The Table S1 parameters with the per-stage switches of the visual summary table (printed as "Table S3"
        in the supplementary; its caption is swapped with Table S4's):

        * ``"pretrain"``: multi-scale crop, flip, colour jitter, grayscale, Gaussian blur (p 0.5), cutout;
        * ``"linear"`` and ``"finetune"``: the same without Gaussian blur.
        """
        if name == "pretrain":
            return cls(blur=0.5)
        if name in ("linear", "finetune"):
            return cls(blur=0.0)
        raise ValueError(f"unknown video augmentation preset {name!r}; known: ['finetune', 'linear', 'pretrain']")


@dataclass(frozen=True)
class ClipParams:
    """Everything random about one clip, drawn once and applied to all its frames.

    crop: ``(top, left, height, width)`` of the RandomResizedCrop box in SOURCE pixels, or ``None`` for the
        deterministic resize + centre crop.
    flip: horizontal flip.
    jitter_order: the order in which the jitter operations run (indices into :data:`JITTER_OPS`:
        0 brightness, 1 contrast, 2 saturation, 3 hue); ``()`` when no jitter.
    brightness, contrast, saturation: multiplicative factors (1.0 = unchanged); hue: shift in turns (0.0 = none).
    jitter: whether the colour jitter runs.
    gray: grayscale (3 equal channels).
    blur_sigma: Gaussian-blur sigma in output pixels, or ``None`` for no blur.
    cutout: ``(top, left, height, width)`` boxes in OUTPUT pixels, already clipped at the borders (a side can be
        0, see :func:`draw_clip_params`).
    """

    crop: tuple[int, int, int, int] | None
    flip: bool
    jitter_order: tuple[int, ...]
    brightness: float
    contrast: float
    saturation: float
    hue: float
    jitter: bool
    gray: bool
    blur_sigma: float | None
    cutout: tuple[tuple[int, int, int, int], ...]


OFF_PARAMS = ClipParams(crop=None, flip=False, jitter_order=(), brightness=1.0, contrast=1.0, saturation=1.0,
                        hue=0.0, jitter=False, gray=False, blur_sigma=None, cutout=())


# ---- parameters -------------------------------------------------------------------------------------------
def _uniform(low: float, high: float, g: torch.Generator) -> float:
    """``U[low, high)`` drawn as torchvision does (``torch.empty(1).uniform_``, float32) but from ``g``."""
    return float(torch.empty(1).uniform_(low, high, generator=g).item())


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """Uniform on ``{low, ..., high - 1}`` from ``g``."""
    return int(torch.randint(low, high, (1,), generator=g).item())


def _bernoulli(p: float, g: torch.Generator) -> bool:
    """``torch.rand(1) < p`` from ``g`` (torchvision's coin); nothing is drawn when ``p == 0``."""
    return p > 0.0 and bool(torch.rand(1, generator=g).item() < p)


def random_resized_crop_params(height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
                               generator: torch.Generator) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` drawing from ``generator``: ``(top, left, h, w)`` in pixels
    of a ``height x width`` image. Up to 10 attempts of area ``U(scale) * H * W`` and log-uniform aspect ratio
    (w / h); if none fits, the centre crop of the whole image clamped to ``ratio``. Bit-identical to torchvision
    when ``generator`` has the state the global generator would have."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    lr0, lr1 = float(log_ratio[0]), float(log_ratio[1])
    for _ in range(10):
        target_area = area * _uniform(scale[0], scale[1], generator)
        aspect_ratio = float(torch.exp(torch.empty(1).uniform_(lr0, lr1, generator=generator)).item())
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = _randint(0, height - h + 1, generator)
            j = _randint(0, width - w + 1, generator)
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def cutout_boxes(size: int, max_side: int, patches: int, generator: torch.Generator) -> tuple[tuple[int, int, int, int], ...]:
    """The Cutout boxes (uoguelph-mlrg ``Cutout`` as in CrissCross) on a ``size x size`` image, drawn from
    ``generator``: one length ``L ~ U{1, ..., max_side}`` for the clip, then per patch a centre
    ``y, x ~ U{0, ..., size - 1}`` and the box ``[y - L//2, y + L//2) x [x - L//2, x + L//2)`` clipped to the
    image, returned as ``(top, left, height, width)``. As in the reference, the unclipped side is ``2 * (L // 2)``:
    ``L`` for even ``L``, ``L - 1`` for odd ``L`` (so ``L = 1`` gives an empty box)."""
    if max_side <= 0 or patches <= 0:
        return ()
    length = _randint(1, max_side + 1, generator)
    half = length // 2
    boxes = []
    for _ in range(patches):
        y = _randint(0, size, generator)
        x = _randint(0, size, generator)
        y1, y2 = min(max(y - half, 0), size), min(max(y + half, 0), size)
        x1, x2 = min(max(x - half, 0), size), min(max(x + half, 0), size)
        boxes.append((y1, x1, y2 - y1, x2 - x1))
    return tuple(boxes)


def draw_clip_params(config: VideoAugmentConfig | None, generator: torch.Generator, height: int, width: int,
                     size: int) -> ClipParams:
    """Draw one clip's parameters from ``generator`` (a CPU ``torch.Generator``; nothing else is touched).

    height, width: source frame size in pixels; size: output square side in pixels (it sets the cutout range).
    ``config is None`` gives :data:`OFF_PARAMS` (deterministic resize + centre crop, nothing else) and draws nothing.
    Draw order: crop, flip, jitter (gate when ``color_jitter_p < 1``, permutation of the 4 ops, then the factors
    of the non-zero strengths), grayscale, blur (coin, sigma), cutout.
    """
    if height <= 0 or width <= 0 or size <= 0:
        raise ValueError(f"height, width and size must be positive, got {height}, {width}, {size}")
    if config is None:
        return OFF_PARAMS
    g = generator
    crop = None
    if config.crop_scale is not None:
        crop = random_resized_crop_params(height, width, config.crop_scale, config.crop_ratio, g)
    flip = _bernoulli(config.flip, g)

    order: tuple[int, ...] = ()
    factors = [1.0, 1.0, 1.0, 0.0]
    jitter = False
    cj = config.color_jitter
    if cj is not None and any(x > 0 for x in cj) and config.color_jitter_p > 0:
        jitter = config.color_jitter_p >= 1.0 or _bernoulli(config.color_jitter_p, g)
        if jitter:
            order = tuple(int(i) for i in torch.randperm(4, generator=g).tolist())
            for k in range(3):
                if cj[k] > 0:
                    factors[k] = _uniform(max(0.0, 1.0 - cj[k]), 1.0 + cj[k], g)
            if cj[3] > 0:
                factors[3] = _uniform(-cj[3], cj[3], g)
            # operations of zero strength are left out, as torchvision's ColorJitter does
            order = tuple(i for i in order if cj[i] > 0)

    gray = _bernoulli(config.grayscale, g)
    blur_sigma = _uniform(*config.blur_sigma, g) if _bernoulli(config.blur, g) else None
    cutout = cutout_boxes(size, config.cutout, config.cutout_patches, g)
    return ClipParams(crop=crop, flip=flip, jitter_order=order, brightness=factors[0], contrast=factors[1],
                      saturation=factors[2], hue=factors[3], jitter=jitter, gray=gray, blur_sigma=blur_sigma,
                      cutout=cutout)


# ---- application ------------------------------------------------------------------------------------------
def default_resize(size: int) -> int:
    """The test-time short-side resize for an output side ``size``: ``round(size / 0.875)`` (256 for 224)."""
    return int(round(size / 0.875))


def blur_kernel_size(size: int) -> int:
    """The Gaussian-blur kernel side for output side ``size``: ``size // 20 * 2 + 1`` (11 at 112, 23 at 224)."""
    return size // 20 * 2 + 1


def transform_clip(frames: torch.Tensor, params: ClipParams, size: int, resize: int | None = None) -> torch.Tensor:
    """Apply one clip's parameters to all its frames at once.

    frames: ``[T, H, W, 3]`` uint8 RGB (as decoded, channels last) on any device.
    Returns ``[3, T, size, size]`` uint8 on the same device (contiguous).
    ``params.crop is None``: resize the short side to ``resize`` px (default :func:`default_resize`; bilinear,
    antialiased) and centre-crop ``size``. Otherwise crop the box and resize it to ``size x size`` (bilinear,
    antialiased). Then flip, colour jitter in ``params.jitter_order``, grayscale, blur; cutout is NOT applied here
    (it runs after normalisation, :func:`apply_cutout`).
    """
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"transform_clip expects [T, H, W, 3] frames, got shape {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"transform_clip expects uint8 frames, got {frames.dtype}")
    x = frames.permute(0, 3, 1, 2)  # [T, 3, H, W], channels-last memory: the fast layout for uint8 resizing
    if params.crop is None:
        r = default_resize(size) if resize is None else int(resize)
        if r < size:
            raise ValueError(f"resize ({r}) must be >= size ({size})")
        x = TF.resize(x, [r], interpolation=InterpolationMode.BILINEAR, antialias=True)
        x = TF.center_crop(x, [size, size])
    else:
        top, left, h, w = params.crop
        x = TF.resized_crop(x, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR,
                            antialias=True)
    x = x.contiguous()  # the colour kernels are faster on the standard layout
    if params.flip:
        x = TF.horizontal_flip(x)
    if params.jitter:
        for op in params.jitter_order:
            if op == 0:
                x = TF.adjust_brightness(x, params.brightness)
            elif op == 1:
                x = TF.adjust_contrast(x, params.contrast)
            elif op == 2:
                x = TF.adjust_saturation(x, params.saturation)
            else:
                x = TF.adjust_hue(x, params.hue)
    if params.gray:
        x = TF.rgb_to_grayscale(x, num_output_channels=3)
    if params.blur_sigma is not None:
        k = blur_kernel_size(size)
        x = TF.gaussian_blur(x, [k, k], [params.blur_sigma, params.blur_sigma])
    return x.permute(1, 0, 2, 3).contiguous()


def transform_clips(frames: torch.Tensor, config: VideoAugmentConfig | None, generators: Sequence[torch.Generator],
                    size: int, resize: int | None = None) -> tuple[torch.Tensor, list[ClipParams]]:
    """Augment ``K`` clips of one source video, clip ``k`` with parameters drawn from ``generators[k]`` only.

    frames: ``[K, T, H, W, 3]`` uint8 (channels last) on any device. config: ``None`` = deterministic test
    transform. Returns (``[K, 3, T, size, size]`` uint8 on the frames' device, the K :class:`ClipParams`).
    Clip ``k``'s output equals ``transform_clip(frames[k], draw_clip_params(config, generators[k], H, W, size), ...)``
    whatever else is in the batch.
    """
    if frames.dim() != 5 or frames.shape[-1] != 3:
        raise ValueError(f"transform_clips expects [K, T, H, W, 3] frames, got shape {tuple(frames.shape)}")
    k, t, h, w, _ = frames.shape
    if len(generators) != k:
        raise ValueError(f"need one generator per clip: {k} clips, {len(generators)} generators")
    params = [draw_clip_params(config, g, h, w, size) for g in generators]
    if k == 0:
        return frames.new_empty((0, 3, t, size, size)), params
    out = torch.empty((k, 3, t, size, size), dtype=torch.uint8, device=frames.device)
    with one_cpu_thread(frames.device):  # 13-25 ms per 112^2 clip on 1 thread vs 84-958 ms on 2 (shared cores)
        for i, p in enumerate(params):
            out[i] = transform_clip(frames[i], p, size, resize)
    return out, params


def apply_cutout(x: torch.Tensor, params: Sequence[ClipParams], fill: str = "reference") -> torch.Tensor:
    """Cutout on normalised clips (the reference applies it after ``ToTensor`` and mean/std normalisation).

    x: ``[K, 3, T, S, S]`` float (normalised); params: one :class:`ClipParams` per clip (their ``cutout`` boxes).
    fill ``"reference"``: the uoguelph-mlrg ``Cutout`` as CrissCross uses it: the box region of every frame is
        MULTIPLIED by the mean of the clip's first frame (``x[k, :, 0].mean()`` over channels and pixels, taken
        before cutout); after normalisation that mean is near 0, so the box is roughly zeroed.
    fill ``"zero"``: the box region is set to 0.
    The same boxes apply to every frame of a clip; several boxes act as their union. Returns a new tensor.
    """
    if x.dim() != 5:
        raise ValueError(f"apply_cutout expects [K, 3, T, S, S], got shape {tuple(x.shape)}")
    if len(params) != x.shape[0]:
        raise ValueError(f"need one ClipParams per clip: {x.shape[0]} clips, {len(params)} params")
    if fill not in _CUTOUT_FILLS:
        raise ValueError(f"fill must be one of {_CUTOUT_FILLS}, got {fill!r}")
    out = x.clone()
    hh, ww = x.shape[-2:]
    with one_cpu_thread(x.device):
        for k, p in enumerate(params):
            boxes = [b for b in p.cutout if b[2] > 0 and b[3] > 0]
            if not boxes:
                continue
            mask = torch.zeros((hh, ww), dtype=torch.bool, device=x.device)
            for top, left, h, w in boxes:
                mask[top:top + h, left:left + w] = True
            if fill == "zero":
                out[k].masked_fill_(mask, 0.0)
            else:
                mean = x[k, :, 0].mean()
                out[k] = torch.where(mask, x[k] * mean, x[k])
    return out
