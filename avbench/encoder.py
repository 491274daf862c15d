"""The encoder contract: what every model evaluated by avbench provides.

An encoder is a ``torch.nn.Module`` subclass of :class:`Encoder` carrying an :class:`EncoderMeta`.
It owns only its normalisation and its audio front end; clip geometry (seconds, frames, resolution,
pooling, test crop) belongs to the task card, and :func:`check_geometry` rejects a mismatch before any
work starts.

Inputs
  video   ``[B, 3, T, H, W] uint8`` RGB frames at ``meta.video.fps``        -> :meth:`Encoder.video_preprocess`
  audio   ``[B, N] float32`` mono waveform in [-1, 1] at ``meta.audio.sample_rate`` Hz
                                                                           -> :meth:`Encoder.audio_frontend`

Outputs (:meth:`Encoder.encode_video` / :meth:`Encoder.encode_audio`): a dict from layer name to either a
:class:`FeatureMap` with NAMED axes, or, under the key ``"pooled"``, a ``[B, D]`` float tensor. A protocol
asks for the layers its task card names; an encoder that has no such layer (token or HEAR-style models)
answers with ``"pooled"`` only, and the protocol records that fallback in the result.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import torch
from torch import nn

MODALITIES = ("video", "audio")
POOLED = "pooled"

#: Canonical axis order protocols pool in. Encoders may return any order; :meth:`FeatureMap.canonical`
#: permutes. AVID's audio map is (time, freq), CrissCross's (freq, time): both become (channel, freq, time).
CANONICAL_AXES: dict[str, tuple[str, ...]] = {
    "video": ("batch", "channel", "time", "height", "width"),
    "audio": ("batch", "channel", "freq", "time"),
}


class UnknownEncoderError(KeyError):
    """No encoder by that name (registry name, zoo string or ``"pkg.module:factory"``); the message says what is
    known. Defined here, with the contract, so that the registry and the model zoo both import it from a leaf."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class GeometryError(ValueError):
    """A task card asks for a clip geometry the encoder does not support."""


@dataclass(frozen=True)
class FeatureMap:
    """A feature map with named axes, e.g. ``[B, C, t, h, w]`` named ("batch","channel","time","height","width")."""

    data: torch.Tensor
    axes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.data.dim() != len(self.axes):
            raise ValueError(f"FeatureMap has {self.data.dim()} dims but {len(self.axes)} axis names {self.axes}")
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f"FeatureMap axis names repeat: {self.axes}")

    def permute_to(self, axes: Sequence[str]) -> "FeatureMap":
        axes = tuple(axes)
        if set(axes) != set(self.axes):
            raise ValueError(f"cannot permute axes {self.axes} to {axes}")
        return FeatureMap(self.data.permute([self.axes.index(a) for a in axes]), axes)

    def canonical(self, modality: str) -> "FeatureMap":
        """Permute to :data:`CANONICAL_AXES` of ``modality``."""
        return self.permute_to(CANONICAL_AXES[modality])


@dataclass(frozen=True)
class VideoSpec:
    """What the video branch accepts and how it normalises.

    fps: frames per second the encoder expects frames sampled at (Hz).
    frames: clip lengths (frames) it supports; empty = any.
    min_size / max_size: supported square crop sizes (pixels), inclusive.
    mean / std: per-channel normalisation applied to frames scaled to [0, 1].
    layers: names of the feature maps :meth:`Encoder.encode_video` can return (plus ``"pooled"``).
    """

    fps: float = 16.0
    frames: tuple[int, ...] = ()
    min_size: int = 32
    max_size: int = 512
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    layers: tuple[str, ...] = (POOLED,)


@dataclass(frozen=True)
class AudioSpec:
    """What the audio branch accepts.

    sample_rate: Hz of the mono waveform the encoder takes.
    min_seconds / max_seconds: supported clip durations (seconds), inclusive.
    frontend: description of the model-owned front end, e.g. "logmel(n_mels=80,n_fft=1024,hop=160,slaney,ln)";
      "waveform" when the trunk takes raw samples.
    layers: names of the feature maps :meth:`Encoder.encode_audio` can return (plus ``"pooled"``).
    """

    sample_rate: int = 16000
    min_seconds: float = 0.5
    max_seconds: float = 30.0
    frontend: str = "waveform"
    layers: tuple[str, ...] = (POOLED,)


@dataclass(frozen=True)
class EncoderMeta:
    """Metadata every encoder carries (recorded verbatim in each result)."""

    name: str
    version: str
    modalities: tuple[str, ...]
    description: str = ""
    video: VideoSpec | None = None
    audio: AudioSpec | None = None
    embedding_dims: Mapping[str, int] = field(default_factory=dict)  # pooled dim per modality
    n_parameters: Mapping[str, int] = field(default_factory=dict)  # per modality trunk
    weights_sha256: str | None = None  # None = random init (then init_seed matters)
    init_seed: int | None = None
    pretraining_data: str = "none"
    license: str = "unknown"
    reference: str = ""
    #: optional: a version string the author changes when the encoder's computation changes in a way avbench's
    #: code hash cannot see (compiled extensions, downloaded code); part of every feature-cache key
    code_version: str | None = None

    def __post_init__(self) -> None:
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ValueError(f"encoder {self.name!r}: modalities must be a non-empty subset of {MODALITIES}, got {self.modalities}")
        for m in self.modalities:
            if getattr(self, m) is None:
                raise ValueError(f"encoder {self.name!r} declares modality {m!r} but has no {m} spec")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


class Encoder(nn.Module):
    """Base class of every avbench encoder. Subclasses set ``meta`` and implement the methods of their modalities."""

    meta: EncoderMeta
    #: set by subclasses that accept a mismatched geometry on purpose (e.g. 32-frame clips on an 8-frame model).
    geometry_tolerant: ClassVar[bool] = False

    # ---- video -------------------------------------------------------------------------------------
    def video_preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W] uint8`` -> ``[B, 3, T, H, W]`` float, scaled to [0, 1] and normalised by meta mean/std."""
        spec = self.meta.video
        if spec is None:
            raise NotImplementedError(f"{self.meta.name} has no video branch")
        if frames.dtype != torch.uint8:
            raise TypeError(f"video_preprocess expects uint8 frames, got {frames.dtype}")
        x = frames.float().div_(255.0)
        mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1, 1)
        return (x - mean) / std

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Preprocessed ``[B, 3, T, H, W]`` -> {layer: FeatureMap or ``[B, D]`` for "pooled"}."""
        raise NotImplementedError(f"{self.meta.name} has no video branch")

    # ---- audio -------------------------------------------------------------------------------------
    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N] float32`` at meta sample rate -> trunk input (e.g. ``[B, 1, F, T]`` normalised log-mel).

        Spectrogram augmentations run on this output, between front end and trunk. Default: identity.
        """
        return waveform

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Front-end output -> {layer: FeatureMap or ``[B, D]`` for "pooled"}."""
        raise NotImplementedError(f"{self.meta.name} has no audio branch")

    # ---- finetuning --------------------------------------------------------------------------------
    def trunk(self, modality: str) -> nn.Module:
        """The nn.Module a finetuning protocol trains for ``modality``."""
        raise NotImplementedError(f"{self.meta.name} exposes no trunk for {modality}")

    # ---- helpers -----------------------------------------------------------------------------------
    def layers(self, modality: str) -> tuple[str, ...]:
        spec = getattr(self.meta, modality)
        return spec.layers if spec is not None else ()


def check_geometry(meta: EncoderMeta, modality: str, *, seconds: float | None = None, frames: int | None = None,
                   size: int | None = None, fps: float | None = None) -> None:
    """Raise :class:`GeometryError` when a task's clip geometry is outside what ``meta`` declares."""
    if modality not in meta.modalities:
        raise GeometryError(f"encoder {meta.name!r} has no {modality} branch (modalities: {', '.join(meta.modalities)})")
    if modality == "audio":
        spec = meta.audio
        assert spec is not None
        if seconds is not None and not (spec.min_seconds <= seconds <= spec.max_seconds):
            raise GeometryError(f"encoder {meta.name!r} takes {spec.min_seconds}-{spec.max_seconds} s audio clips; the task asks {seconds} s")
    else:
        spec_v = meta.video
        assert spec_v is not None
        if frames is not None and spec_v.frames and frames not in spec_v.frames:
            raise GeometryError(f"encoder {meta.name!r} takes clips of {spec_v.frames} frames; the task asks {frames}")
        if size is not None and not (spec_v.min_size <= size <= spec_v.max_size):
            raise GeometryError(f"encoder {meta.name!r} takes {spec_v.min_size}-{spec_v.max_size} px crops; the task asks {size}")
        if fps is not None and abs(fps - spec_v.fps) > 1e-6:
            raise GeometryError(f"encoder {meta.name!r} expects frames at {spec_v.fps} fps; the task asks {fps}")


def state_dict_sha256(module: nn.Module) -> str:
    """Hash of a live state_dict (names, dtypes, shapes and bytes), for models passed in from Python."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def encoder_fingerprint(encoder: Encoder) -> dict[str, Any]:
    """Everything about the encoder that changes a feature: meta, weights hash (or live state hash), init seed."""
    # The live state is hashed even when a weights file is named: it is what actually computes the features
    # (about 0.3 s for a 33 M-parameter model on CPU).
    return {"name": encoder.meta.name, "version": encoder.meta.version,
            "weights_sha256": encoder.meta.weights_sha256, "state_sha256": state_dict_sha256(encoder),
            "init_seed": encoder.meta.init_seed, "meta": encoder.meta.to_dict()}
