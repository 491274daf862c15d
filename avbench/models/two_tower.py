"""A video trunk (R(2+1)D) and an audio trunk (ResNet over log-mel) behind the :class:`~avbench.encoder.Encoder`
contract: the shape the three reference pretrainers (CrissCross, AVCL, temporal-SSL) share.

:class:`TwoTowerArch` says which trunks (depth, width) and which audio front end; :class:`EncoderIdentity` says who the
encoder is (name, licence, reference). A pretrained two-tower encoder is ONE ``.safetensors`` file with keys
``video.<trunk key>`` / ``audio.<trunk key>`` and metadata ``arch`` (JSON of :class:`TwoTowerArch`), ``name``,
``pretraining_data`` and, from ``avbench pretrain``, ``card`` (the JSON pretraining card); see :func:`save_two_tower`
and :func:`load_two_tower`.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import torch
from torch import nn

from avbench.encoder import MODALITIES, POOLED, AudioSpec, Encoder, EncoderMeta, FeatureMap, VideoSpec
from avbench.media.logmel import LogMelConfig, LogMelFrontend
from avbench.models.weights import WeightsError, load_state_dict_file, load_strict, sha256_file
from avbench.models.r2plus1d import R2Plus1D
from avbench.models.resnet_audio import ResNetAudio

VIDEO_AXES = ("batch", "channel", "time", "height", "width")
AUDIO_AXES = ("batch", "channel", "freq", "time")
VIDEO_LAYERS = ("conv1", "conv2x", "conv3x", "conv4x", "conv5x", POOLED)
AUDIO_LAYERS = ("conv2x", "conv3x", "conv4x", "conv5x", POOLED)
FORMAT = "avbench-two-tower-v1"


@dataclass(frozen=True)
class TwoTowerArch:
    """Trunk sizes and input geometry. Units: Hz (fps), pixels (min/max size), seconds (audio lengths).

    video_depth / audio_depth: R(2+1)D 10|18, ResNet 10|18|34; *_width: stem channels (64 in the papers; the last
    stage has 8x, which is the embedding size). audio: the log-mel front end (:class:`LogMelConfig` fields).
    """

    video_depth: int = 18
    video_width: int = 64
    audio_depth: int = 18
    audio_width: int = 64
    fps: float = 16.0
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    min_size: int = 32
    max_size: int = 320
    audio_min_seconds: float = 0.5
    audio_max_seconds: float = 30.0
    audio: dict[str, Any] = field(default_factory=lambda: LogMelConfig().to_dict())

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TwoTowerArch":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown architecture key(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        for k in ("mean", "std"):
            if k in d:
                d[k] = tuple(float(x) for x in d[k])
        if "audio" in d:
            LogMelConfig(**d["audio"])  # validates the keys
        return cls(**d)

    def logmel(self) -> LogMelConfig:
        return LogMelConfig(**self.audio)


@dataclass(frozen=True)
class EncoderIdentity:
    """Who an encoder is: registry name, version, one-line description, licence, citation."""

    name: str
    version: str
    description: str
    license: str
    reference: str


def _normalise_modalities(name: str, modalities: str | Sequence[str]) -> tuple[str, ...]:
    items = [m.strip() for m in (modalities.replace("+", ",").split(",") if isinstance(modalities, str) else modalities)]
    bad = [m for m in items if m not in MODALITIES]
    if bad or not items:
        raise ValueError(f"{name}: modalities must be a non-empty subset of {MODALITIES}, got {modalities!r}")
    return tuple(m for m in MODALITIES if m in items)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class TwoTowerEncoder(Encoder):
    """R(2+1)D video trunk + ResNet log-mel audio trunk.

    Video: preprocessed ``[B, 3, T, H, W]`` (``arch.fps`` Hz, ``arch.mean/std``) -> conv1..conv5x FeatureMaps with
    axes (batch, channel, time, height, width) and ``pooled`` ``[B, 8*video_width]`` (global average of conv5x).
    Audio: ``[B, N]`` waveform at ``arch.audio["sample_rate"]`` -> :meth:`audio_frontend` -> ``[B, 1, n_mels, T]``
    -> conv2x..conv5x FeatureMaps (batch, channel, freq, time) and ``pooled`` ``[B, 8*audio_width]``.

    The random init is drawn under ``torch.random.fork_rng`` seeded with ``init_seed`` (separately per trunk, so
    the audio init does not depend on whether the video trunk was built); the global RNG is untouched.
    """

    identity = EncoderIdentity("two-tower", "1.0", "R(2+1)D video + ResNet audio", "Apache-2.0", "")

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__()
        self.arch = arch or TwoTowerArch()
        mods = _normalise_modalities(self.identity.name, modalities)
        self.video: R2Plus1D | None = None
        self.audio: ResNetAudio | None = None
        self.frontend: LogMelFrontend | None = None
        with torch.random.fork_rng(devices=[]):
            if "video" in mods:
                torch.manual_seed(init_seed)
                self.video = R2Plus1D(self.arch.video_depth, self.arch.video_width)
            if "audio" in mods:
                torch.manual_seed(init_seed)
                self.audio = ResNetAudio(self.arch.audio_depth, self.arch.audio_width)
        if self.audio is not None:
            self.frontend = LogMelFrontend(self.arch.logmel())
        self.meta = self._make_meta(mods, weights_sha256=None, init_seed=init_seed, pretraining_data="random-init")

    # ---- meta ---------------------------------------------------------------------------------------
    def _make_meta(self, mods: tuple[str, ...], *, weights_sha256: str | None, init_seed: int | None,
                   pretraining_data: str) -> EncoderMeta:
        a = self.arch
        video = audio = None
        if "video" in mods:
            video = VideoSpec(fps=a.fps, frames=(), min_size=a.min_size, max_size=a.max_size, mean=a.mean, std=a.std,
                              layers=VIDEO_LAYERS)
        if "audio" in mods:
            logmel = a.logmel()
            audio = AudioSpec(sample_rate=logmel.sample_rate, min_seconds=a.audio_min_seconds,
                              max_seconds=a.audio_max_seconds, frontend=logmel.describe(), layers=AUDIO_LAYERS)
        dims = {"video": 8 * a.video_width, "audio": 8 * a.audio_width}
        ident = self.identity
        return EncoderMeta(
            name=ident.name, version=ident.version, modalities=mods, description=ident.description,
            video=video, audio=audio, embedding_dims={m: dims[m] for m in mods},
            n_parameters={m: _count(self.trunk(m)) for m in mods},
            weights_sha256=weights_sha256, init_seed=init_seed, pretraining_data=pretraining_data,
            license=ident.license, reference=ident.reference)

    def mark_loaded(self, weights_sha256: str, pretraining_data: str) -> None:
        """Record in ``meta`` that weights were loaded (``init_seed`` becomes None)."""
        self.meta = dataclasses.replace(self.meta, weights_sha256=weights_sha256, init_seed=None,
                                        pretraining_data=pretraining_data)

    # ---- contract -----------------------------------------------------------------------------------
    def trunk(self, modality: str) -> nn.Module:
        """The R2Plus1D (``"video"``) or ResNetAudio (``"audio"``) module."""
        module = {"video": self.video, "audio": self.audio}.get(modality)
        if module is None:
            raise NotImplementedError(f"{self.identity.name} was built without a {modality!r} trunk "
                                      f"(modalities: {self.meta.modalities})")
        return module

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 waveform -> ``[B, 1, n_mels, 1 + N // hop]`` normalised log-mel."""
        if self.frontend is None:
            raise NotImplementedError(f"{self.identity.name} was built without an audio trunk")
        return self.frontend(waveform)

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Preprocessed ``[B, 3, T, H, W]`` -> {layer: FeatureMap ``[B, C, t, h, w]`` or ``[B, D]`` for "pooled"}."""
        trunk = self.trunk("video")
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"{self.identity.name} video expects [B, 3, T, H, W], got {tuple(x.shape)}")
        return self._encode(trunk, x, layers, VIDEO_LAYERS, VIDEO_AXES)

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """``[B, 1, n_mels, T]`` log-mel -> {layer: FeatureMap ``[B, C, freq, time]`` or ``[B, D]`` for "pooled"}."""
        trunk = self.trunk("audio")
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"{self.identity.name} audio expects a [B, 1, n_mels, T] log-mel, got {tuple(x.shape)}")
        return self._encode(trunk, x, layers, AUDIO_LAYERS, AUDIO_AXES)

    def _encode(self, trunk: nn.Module, x: torch.Tensor, layers: Sequence[str], known: tuple[str, ...],
                axes: tuple[str, ...]) -> dict[str, FeatureMap | torch.Tensor]:
        layers = tuple(layers)
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            raise ValueError(f"{self.identity.name} has no layer(s) {unknown}; available: {known}")
        out = trunk(x, ["pool" if layer == POOLED else layer for layer in layers])
        return {layer: out["pool"] if layer == POOLED else FeatureMap(out[layer], axes) for layer in layers}


# ---- safetensors ------------------------------------------------------------------------------------------
def safetensors_metadata(path: Path) -> tuple[list[str], dict[str, str]]:
    """(keys, metadata) of a safetensors file; WeightsError naming the file if it is missing or unreadable."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return list(fh.keys()), dict(fh.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file: {exc}") from exc


E = TypeVar("E", bound=TwoTowerEncoder)


def arch_from_metadata(path: Path, metadata: dict[str, str], default: TwoTowerArch) -> TwoTowerArch:
    """The ``arch`` recorded in a file's metadata (``default`` when the file predates it)."""
    if "arch" not in metadata:
        return default
    try:
        return TwoTowerArch.from_dict(json.loads(metadata["arch"]))
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: bad 'arch' metadata: {exc}") from exc


def load_two_tower(cls: Callable[..., E], path: Path, *, modalities: str | Sequence[str] | None, init_seed: int,
                   default_arch: TwoTowerArch, name: str) -> tuple[E, str]:
    """Build ``cls`` with the arch recorded in ``path`` and load its ``video.*`` / ``audio.*`` keys strictly.

    Returns (encoder, pretraining_data from the metadata). A file written for another encoder (metadata ``name``)
    is refused, naming both.
    """
    keys, metadata = safetensors_metadata(path)
    if metadata.get("name") and metadata["name"] != name:
        raise WeightsError(f"{path}: holds a {metadata['name']!r} encoder, not {name!r}; "
                           f"use --model {metadata['name']}")
    stray = [k for k in keys if k.split(".", 1)[0] not in MODALITIES]
    if stray:
        raise WeightsError(f"{path}: keys must start with 'video.' or 'audio.'; found {len(stray)} that do not: "
                           + ", ".join(stray[:10]))
    if modalities is None:
        modalities = [m for m in MODALITIES if any(k.startswith(m + ".") for k in keys)] or list(MODALITIES)
    enc = cls(_normalise_modalities(name, modalities), arch=arch_from_metadata(path, metadata, default_arch),
              init_seed=init_seed)
    state = load_state_dict_file(path)
    for modality in enc.meta.modalities:
        sub = {k[len(modality) + 1:]: v for k, v in state.items() if k.startswith(modality + ".")}
        if not sub:
            raise WeightsError(f"{path}: holds no '{modality}.' weights but the {modality} trunk was asked for")
        load_strict(enc.trunk(modality), sub, source=f"{path} [{modality}.*]")
    enc.mark_loaded(sha256_file(path), metadata.get("pretraining_data", "unknown"))
    return enc, metadata.get("pretraining_data", "unknown")


def save_two_tower(encoder: TwoTowerEncoder, path: str | Path, *, card: dict[str, Any] | None = None,
                   pretraining_data: str | None = None, format: str = FORMAT) -> Path:
    """Write the trunks as one ``.safetensors`` (keys ``video.*`` / ``audio.*``) with metadata, atomically.

    Metadata: format, name, version, modalities, arch (JSON), pretraining_data, source_weights_sha256, init_seed
    and, when given, card (JSON). Returns the path.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {f"{m}.{k}": v.detach().cpu().contiguous().clone()
             for m in encoder.meta.modalities for k, v in encoder.trunk(m).state_dict().items()}
    meta = encoder.meta
    metadata = {"format": format, "name": meta.name, "version": meta.version, "modalities": ",".join(meta.modalities),
                "arch": json.dumps(encoder.arch.to_dict(), sort_keys=True),
                "pretraining_data": pretraining_data or meta.pretraining_data,
                "source_weights_sha256": meta.weights_sha256 or "",
                "init_seed": "" if meta.init_seed is None else str(meta.init_seed)}
    if card is not None:
        metadata["card"] = json.dumps(card, sort_keys=True, default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)
    return path


def arch_with_options(base: TwoTowerArch, options: dict[str, Any], name: str) -> TwoTowerArch:
    """``base`` with the architecture keys found in ``options`` (popped) applied: video_width=16 etc."""
    keys = {f.name for f in dataclasses.fields(TwoTowerArch)}
    chosen = {k: options.pop(k) for k in list(options) if k in keys}
    if not chosen:
        return base
    try:
        return TwoTowerArch.from_dict({**base.to_dict(), **chosen})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: bad architecture option(s) {chosen}: {exc}") from exc


def build_two_tower(cls: Callable[..., E], *, name: str, default_arch: TwoTowerArch, weights: str | Path | None,
                    init_seed: int, modalities: str | Sequence[str] | None, options: dict[str, Any]) -> E:
    """The ``build`` of an encoder whose weights are avbench ``.safetensors`` files (or ``avbench pretrain`` output
    directories): random init (with architecture options such as ``video_width=16``) or strict loading."""
    options = dict(options)
    override = options.pop("pretraining_data", None)
    arch = arch_with_options(default_arch, options, name)
    if options:
        raise TypeError(f"{name}: unknown option(s) {sorted(options)}; known: modalities, pretraining_data and the "
                        "architecture keys of avbench.models.two_tower.TwoTowerArch (video_width, ...)")
    if weights is None or str(weights) == "":
        if override:
            raise ValueError(f"{name}: pretraining_data given without weights")
        return cls(_normalise_modalities(name, MODALITIES if modalities is None else modalities), arch=arch,
                   init_seed=init_seed).eval()
    if arch != default_arch:
        raise ValueError(f"{name}: architecture options apply to a random init only; weights carry their own")
    path = Path(str(weights)).expanduser()
    if path.is_dir():
        path = path / "encoder.safetensors"
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: {name} weights are an avbench .safetensors file or an `avbench pretrain` "
                           "output directory")
    enc, _ = load_two_tower(cls, path, modalities=modalities, init_seed=init_seed, default_arch=default_arch,
                            name=name)
    if override:
        enc.meta = dataclasses.replace(enc.meta, pretraining_data=override)
    return enc.eval()


#: the name before the redesign (kept for one release)
Identity = EncoderIdentity
