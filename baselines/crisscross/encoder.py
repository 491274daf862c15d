"""CrissCross (Sarkar & Etemad, AAAI 2023) as an avbench encoder: R(2+1)D-18 video + ResNet-18 log-mel audio.

Weights (``build(weights=...)``), loaded strictly, every error naming the file:

(a) one ``.safetensors`` file with keys ``video.<trunk key>`` / ``audio.<trunk key>`` (see :func:`save_safetensors`);
(b) a directory holding the released ``vid_crisscross_*.pth.tar[.zip]`` and/or ``aud_crisscross_*.pth.tar[.zip]``;
(c) ``"video=PATH,audio=PATH"`` (either may be omitted);
(d) one released file whose name starts with ``vid_`` or ``aud_``.

The released files are bare backbone state_dicts (``torch.save(model.video_backbone.state_dict())``); their keys
are the trunk keys of :class:`avbench.models.r2plus1d.R2Plus1D` / :class:`avbench.models.resnet_audio.ResNetAudio`.
With ``modalities=None`` the encoder has the modalities the weights cover (both for random init).
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from avbench.encoder import MODALITIES, POOLED, AudioSpec, Encoder, EncoderMeta, FeatureMap, VideoSpec
from avbench.media.logmel import LogMelConfig, LogMelFrontend
from avbench.models.r2plus1d import R2Plus1D
from avbench.models.resnet_audio import ResNetAudio
from avbench.weights import WeightsError, load_state_dict_file, load_strict, sha256_file

NAME = "crisscross"
VERSION = "1.0"
VIDEO_AXES = ("batch", "channel", "time", "height", "width")
AUDIO_AXES = ("batch", "channel", "freq", "time")
VIDEO_LAYERS = ("conv1", "conv2x", "conv3x", "conv4x", "conv5x", POOLED)
AUDIO_LAYERS = ("conv2x", "conv3x", "conv4x", "conv5x", POOLED)
#: Dataset part of the released file names -> pretraining set.
PRETRAINING_SETS = {"kinetics_sound": "Kinetics-Sound", "kinetics400": "Kinetics-400", "kinetics_400": "Kinetics-400",
                    "audioset": "AudioSet"}
REFERENCE = ("P. Sarkar and A. Etemad, 'Self-Supervised Audio-Visual Representation Learning with Relaxed Cross-Modal "
             "Synchronicity', AAAI 2023; code and weights: https://github.com/pritamqu/CrissCross")
# pritamqu/CrissCross LICENSE (code and released weights): Creative Commons Attribution-NonCommercial 4.0.
LICENSE = "CC-BY-NC-4.0"
_RELEASED = re.compile(r"^(vid|aud)_(?:crisscross_)?(?P<data>.*?)\.(?:pth\.tar|pth|pt)(?:\.zip)?$")
_PREFIX = {"vid": "video", "aud": "audio"}


def _normalise_modalities(modalities: str | Sequence[str]) -> tuple[str, ...]:
    items = [m.strip() for m in (modalities.replace("+", ",").split(",") if isinstance(modalities, str) else modalities)]
    bad = [m for m in items if m not in MODALITIES]
    if bad or not items:
        raise ValueError(f"crisscross: modalities must be a non-empty subset of {MODALITIES}, got {modalities!r}")
    return tuple(m for m in MODALITIES if m in items)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class CrissCrossEncoder(Encoder):
    """CrissCross trunks behind the avbench :class:`~avbench.encoder.Encoder` contract.

    Video: preprocessed ``[B, 3, T, H, W]`` (16 fps, ImageNet mean/std) -> conv1..conv5x FeatureMaps with axes
    (batch, channel, time, height, width) and ``pooled`` ``[B, 512]`` (the trunk's global average pool).
    Audio: ``[B, N]`` 16 kHz waveform -> :meth:`audio_frontend` -> ``[B, 1, 80, T]`` -> conv2x..conv5x FeatureMaps
    with axes (batch, channel, freq, time) and ``pooled`` ``[B, 512]``.

    Construction draws the random init under ``torch.random.fork_rng`` seeded with ``init_seed`` (separately per
    trunk, so the audio init does not depend on whether the video trunk was built); the global RNG is untouched.
    """

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, init_seed: int = 0) -> None:
        super().__init__()
        mods = _normalise_modalities(modalities)
        self.video: R2Plus1D | None = None
        self.audio: ResNetAudio | None = None
        self.frontend: LogMelFrontend | None = None
        with torch.random.fork_rng(devices=[]):
            if "video" in mods:
                torch.manual_seed(init_seed)
                self.video = R2Plus1D(18)
            if "audio" in mods:
                torch.manual_seed(init_seed)
                self.audio = ResNetAudio(18)
        if self.audio is not None:
            self.frontend = LogMelFrontend(LogMelConfig())
        self.meta = self._make_meta(mods, weights_sha256=None, init_seed=init_seed, pretraining_data="random-init")

    # ---- meta ---------------------------------------------------------------------------------------
    def _make_meta(self, mods: tuple[str, ...], *, weights_sha256: str | None, init_seed: int | None,
                   pretraining_data: str) -> EncoderMeta:
        video = audio = None
        if "video" in mods:
            # ImageNet mean/std on [0, 1] frames: crisscross/evaluate/datasets/augmentations/video_augmentations.py
            video = VideoSpec(fps=16.0, frames=(), min_size=64, max_size=320, mean=(0.485, 0.456, 0.406),
                              std=(0.229, 0.224, 0.225), layers=VIDEO_LAYERS)
        if "audio" in mods:
            audio = AudioSpec(sample_rate=16000, min_seconds=0.5, max_seconds=30.0,
                              frontend=LogMelConfig().describe(), layers=AUDIO_LAYERS)
        return EncoderMeta(
            name=NAME, version=VERSION, modalities=mods,
            description="CrissCross: AVID-variant R(2+1)D-18 video trunk (16 fps, pretrained on 8x112²) and "
                        "ResNet-18 audio trunk over 80-bin log-mel (16 kHz, pretrained on 2 s)",
            video=video, audio=audio,
            embedding_dims={m: 512 for m in mods},
            n_parameters={m: _count(self.trunk(m)) for m in mods},
            weights_sha256=weights_sha256, init_seed=init_seed, pretraining_data=pretraining_data,
            license=LICENSE, reference=REFERENCE)

    def mark_loaded(self, weights_sha256: str, pretraining_data: str) -> None:
        """Record in ``meta`` that weights were loaded (``init_seed`` becomes None)."""
        self.meta = dataclasses.replace(self.meta, weights_sha256=weights_sha256, init_seed=None,
                                        pretraining_data=pretraining_data)

    # ---- contract -----------------------------------------------------------------------------------
    def trunk(self, modality: str) -> nn.Module:
        """The R2Plus1D (``"video"``) or ResNetAudio (``"audio"``) module."""
        module = {"video": self.video, "audio": self.audio}.get(modality)
        if module is None:
            raise NotImplementedError(f"crisscross was built without a {modality!r} trunk (modalities: {self.meta.modalities})")
        return module

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 16 kHz waveform -> ``[B, 1, 80, 1 + N // 160]`` normalised log-mel."""
        if self.frontend is None:
            raise NotImplementedError("crisscross was built without an audio trunk")
        return self.frontend(waveform)

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Preprocessed ``[B, 3, T, H, W]`` -> {layer: FeatureMap ``[B, C, t, h, w]`` or ``[B, 512]`` for "pooled"}."""
        trunk = self.trunk("video")
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"crisscross video expects [B, 3, T, H, W], got {tuple(x.shape)}")
        return self._encode(trunk, x, layers, VIDEO_LAYERS, VIDEO_AXES)

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """``[B, 1, 80, T]`` log-mel -> {layer: FeatureMap ``[B, C, freq, time]`` or ``[B, 512]`` for "pooled"}."""
        trunk = self.trunk("audio")
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"crisscross audio expects a [B, 1, 80, T] log-mel, got {tuple(x.shape)}")
        return self._encode(trunk, x, layers, AUDIO_LAYERS, AUDIO_AXES)

    @staticmethod
    def _encode(trunk: nn.Module, x: torch.Tensor, layers: Sequence[str], known: tuple[str, ...],
                axes: tuple[str, ...]) -> dict[str, FeatureMap | torch.Tensor]:
        layers = tuple(layers)
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            raise ValueError(f"crisscross has no layer(s) {unknown}; available: {known}")
        out = trunk(x, ["pool" if layer == POOLED else layer for layer in layers])
        return {layer: out["pool"] if layer == POOLED else FeatureMap(out[layer], axes) for layer in layers}


# ---- weights ------------------------------------------------------------------------------------------
def _released_modality(path: Path) -> tuple[str, str] | None:
    """``vid_crisscross_kinetics_sound.pth.tar.zip`` -> ("video", "Kinetics-Sound"); None if not a released name."""
    m = _RELEASED.match(path.name)
    if m is None:
        return None
    data = m.group("data")
    return _PREFIX[m.group(1)], PRETRAINING_SETS.get(data.lower(), data or "unknown")


def _scan_directory(directory: Path) -> dict[str, Path]:
    found: dict[str, dict[str, Path]] = {"video": {}, "audio": {}}
    for path in sorted(directory.iterdir()):
        parsed = _released_modality(path) if path.is_file() and path.name.startswith(("vid_crisscross_", "aud_crisscross_")) else None
        if parsed is None:
            continue
        stem = path.name[: -len(".zip")] if path.name.endswith(".zip") else path.name
        # the unzipped copy of a release wins over its zip
        if stem not in found[parsed[0]] or not path.name.endswith(".zip"):
            found[parsed[0]][stem] = path
    out: dict[str, Path] = {}
    for modality, by_stem in found.items():
        if len(by_stem) > 1:
            raise WeightsError(f"{directory}: several {modality} checkpoints ({', '.join(sorted(by_stem))}); "
                               f"name one with '{modality}=PATH'")
        out.update({modality: p for p in by_stem.values()})
    if not out:
        raise WeightsError(f"{directory}: no vid_crisscross_*.pth.tar[.zip] or aud_crisscross_*.pth.tar[.zip] files")
    return out


def _parse_weights(weights: str | Path) -> tuple[Path | None, dict[str, Path]]:
    """-> (combined safetensors file or None, {modality: released file})."""
    text = str(weights)
    if "=" in text and not Path(text).exists():
        files: dict[str, Path] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in MODALITIES or not value.strip():
                raise WeightsError(f"crisscross weights {text!r}: expected 'video=PATH,audio=PATH', got {part!r}")
            files[key.strip()] = Path(value.strip()).expanduser()
        return None, files
    path = Path(text).expanduser()
    if path.is_dir():
        return None, _scan_directory(path)
    if path.name.lower().endswith(".safetensors"):
        return path, {}
    if path.name.startswith(("vid_", "aud_")):
        return None, {_PREFIX[path.name[:3]]: path}
    raise WeightsError(f"{path}: cannot tell which trunk this file is for; pass a .safetensors file, a directory "
                       "of released vid_/aud_crisscross files, a file named vid_*/aud_*, or 'video=PATH,audio=PATH'")


def _safetensors_keys(path: Path) -> list[str]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return list(fh.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file: {exc}") from exc


def _load_combined(enc: CrissCrossEncoder, path: Path) -> str:
    """Load ``video.*`` / ``audio.*`` keys of an avbench safetensors file; returns its pretraining_data metadata."""
    state = load_state_dict_file(path)
    stray = [k for k in state if k.split(".", 1)[0] not in MODALITIES]
    if stray:
        raise WeightsError(f"{path}: keys must start with 'video.' or 'audio.'; found {len(stray)} that do not: "
                           + ", ".join(stray[:10]))
    for modality in enc.meta.modalities:
        sub = {k[len(modality) + 1:]: v for k, v in state.items() if k.startswith(modality + ".")}
        if not sub:
            raise WeightsError(f"{path}: holds no '{modality}.' weights but the {modality} trunk was asked for")
        load_strict(enc.trunk(modality), sub, source=f"{path} [{modality}.*]")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return (fh.metadata() or {}).get("pretraining_data", "unknown")


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> CrissCrossEncoder:
    """Build CrissCross (eval mode).

    weights: None for a random init (seeded by ``init_seed``), else one of the forms in the module docstring.
    modalities: "video", "audio", both (a sequence or "video,audio"); None = those the weights cover, or both.
    options: ``pretraining_data`` (str) overrides the name recorded in ``meta``.
    """
    pretraining_override = options.pop("pretraining_data", None)
    if options:
        raise TypeError(f"crisscross: unknown option(s) {sorted(options)}; known: modalities, pretraining_data")
    if weights is None or str(weights) == "":
        mods = _normalise_modalities(MODALITIES if modalities is None else modalities)
        enc = CrissCrossEncoder(mods, init_seed=init_seed)
        if pretraining_override:
            raise ValueError("crisscross: pretraining_data given without weights")
        return enc.eval()

    combined, files = _parse_weights(weights)
    if combined is not None:
        if modalities is None:
            keys = _safetensors_keys(combined)
            modalities = [m for m in MODALITIES if any(k.startswith(m + ".") for k in keys)] or list(MODALITIES)
        enc = CrissCrossEncoder(_normalise_modalities(modalities), init_seed=init_seed)
        pretraining = _load_combined(enc, combined)
        sha = sha256_file(combined)
    else:
        mods = _normalise_modalities(list(files) if modalities is None else modalities)
        absent = [m for m in mods if m not in files]
        if absent:
            raise WeightsError(f"crisscross weights {str(weights)!r} give no {' or '.join(absent)} checkpoint "
                               f"(found: {', '.join(f'{m}={p}' for m, p in files.items()) or 'none'})")
        enc = CrissCrossEncoder(mods, init_seed=init_seed)
        shas: dict[str, str] = {}
        datasets: dict[str, str] = {}
        for modality in mods:
            path = files[modality]
            load_strict(enc.trunk(modality), load_state_dict_file(path), source=str(path))
            shas[modality] = sha256_file(path)
            parsed = _released_modality(path)
            datasets[modality] = parsed[1] if parsed else "unknown"
        if len(shas) == 1:
            sha = next(iter(shas.values()))
        else:
            sha = hashlib.sha256(",".join(f"{m}:{s}" for m, s in shas.items()).encode()).hexdigest()
        values = set(datasets.values())
        pretraining = values.pop() if len(values) == 1 else ",".join(f"{m}:{d}" for m, d in datasets.items())
    enc.mark_loaded(sha, pretraining_override or pretraining)
    return enc.eval()


def save_safetensors(encoder: CrissCrossEncoder, path: str | Path) -> Path:
    """Write the encoder's trunks as one ``.safetensors`` file (keys ``video.*`` / ``audio.*``) with metadata.

    Metadata: format, name, version, modalities, pretraining_data, source_weights_sha256, init_seed.
    Returns the path. Read back with ``build(weights=path)``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {f"{m}.{k}": v.detach().cpu().contiguous().clone()
             for m in encoder.meta.modalities for k, v in encoder.trunk(m).state_dict().items()}
    meta = encoder.meta
    metadata = {"format": "avbench-crisscross-v1", "name": meta.name, "version": meta.version,
                "modalities": ",".join(meta.modalities), "pretraining_data": meta.pretraining_data,
                "source_weights_sha256": meta.weights_sha256 or "",
                "init_seed": "" if meta.init_seed is None else str(meta.init_seed)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    return path
