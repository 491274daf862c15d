"""THE feature-dimension probe: one blank clip of a card's geometry through the encoder, measured instead of
guessed. Used for the columns of probed layers, the finetuning head's input size and the HEAR export's frame size;
and the card-against-encoder checks that ``avbench eval`` and ``avbench validate --task`` run before any decoding
(:func:`card_layers`, :func:`check_pooling`, :func:`check_augmentation`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from avbench.encoder import POOLED, Encoder
from avbench.features.pooling import features_from_output, resolve_layer
from avbench.taskcard import Features

__all__ = ["blank_output", "card_layers", "check_augmentation", "check_pooling", "pooled_dims"]


def blank_output(encoder: Encoder, modality: str, layers: tuple[str, ...], *, frames: int | None = None,
                 size: int | None = None, seconds: float | None = None,
                 device: torch.device | str = "cpu") -> dict[str, Any]:
    """The encoder's outputs (``layers``) for one all-zero clip: video ``[1, 3, frames, size, size]`` uint8 through
    ``video_preprocess``, or audio ``seconds`` of silence at the encoder's rate through ``audio_frontend``."""
    with torch.inference_mode():
        if modality == "video":
            x = encoder.video_preprocess(torch.zeros(1, 3, frames, size, size, dtype=torch.uint8, device=device))
            return encoder.encode_video(x, layers)
        sr = encoder.meta.audio.sample_rate
        x = encoder.audio_frontend(torch.zeros(1, int(round(seconds * sr)), device=device))
        return encoder.encode_audio(x, layers)


def pooled_dims(encoder: Encoder, modality: str, clip: Any, specs: Mapping[str, Features], layers: Sequence[str],
                device: torch.device | str = "cpu") -> dict[str, int]:
    """``{name: D}``: the pooled dimension of each spec (its layer, pooling and normalisation, as
    :func:`~avbench.features.pooling.features_from_output` applies them) at the geometry of ``clip`` (a card's
    VideoClip or AudioClip), from ONE forward pass requesting ``layers``."""
    geometry = ({"frames": clip.frames, "size": clip.size} if modality == "video" else {"seconds": clip.seconds})
    out = blank_output(encoder, modality, tuple(layers), device=device, **geometry)
    return {name: int(features_from_output(out, modality, spec).shape[1]) for name, spec in specs.items()}


#: the audio augmentations that run on the front end's output (the spectrogram), not on the waveform
SPECTROGRAM_AUGMENTS = ("time_warp", "freq_mask", "time_mask", "random_resize_crop")


def card_layers(encoder: Encoder, card: Any) -> tuple[dict[str, str], list[str]]:
    """(the encoder layer each modality of ``card`` requests, notes): :func:`~avbench.features.pooling.resolve_layer`
    with the encoder's ``layer_map``; :class:`~avbench.encoder.GeometryError` names the fix."""
    mods = ("video", "audio") if card.modality == "audiovisual" else (card.modality,)
    layers, notes = {}, []
    for m in mods:
        feats = card.features_audio if (m == "audio" and len(mods) == 2) else card.features
        layers[m], note = resolve_layer(encoder.layers(m), feats.layer, getattr(encoder, "layer_map", {}),
                                        f"encoder {encoder.meta.name!r} ({m})")
        if note:
            notes.append(f"{m}: {note}" if len(mods) == 2 else note)
    return layers, notes


def check_pooling(encoder: Encoder, modality: str, clip: Any, feats: Features, layer: str,
                  device: torch.device | str = "cpu") -> str | None:
    """Why the card's pooling and normalisation (``feats``, as the card states them) cannot run on the encoder's
    ``layer`` (the one :func:`card_layers` resolved) for one blank clip of ``clip``'s geometry, with the fix, or None.
    A failure of the forward pass itself is named the same way (it would fail on every clip). The encoder's own
    pooled vector (:data:`~avbench.encoder.POOLED`, a mapped fallback) takes no pooling: None."""
    if layer == POOLED:
        return None
    spec = Features(layer=layer, pool=feats.pool, normalize=feats.normalize)
    try:
        pooled_dims(encoder, modality, clip, {layer: spec}, [layer], device)
    except Exception as exc:
        return (f"{modality}: the card's pooling {feats.pool.model_dump(exclude_none=True)} on the encoder's layer "
                f"{layer!r} fails for one blank clip ({type(exc).__name__}: {exc}); fix: a layer_map entry for "
                f"{feats.layer!r} naming a larger map, or --set features.pool=...")
    return None


def check_augmentation(encoder: Encoder, card: Any, device: torch.device | str = "cpu") -> str | None:
    """Why the card's spectrogram augmentation cannot run on this encoder's audio front end, with the fix, or None:
    two clips of silence go through ``audio_frontend`` and the card's augmentation (no trunk)."""
    from avbench.media.audio_augment import AudioAugmentConfig, augment_spectrogram

    if card.modality != "audio" or card.audio is None:
        return None
    for side_name in ("train", "test"):
        side = getattr(card, side_name)
        cfg = AudioAugmentConfig.from_dict(side.augment) if side.augment else None
        if cfg is None or all(getattr(cfg, op) is None for op in SPECTROGRAM_AUGMENTS):
            continue
        sr = encoder.meta.audio.sample_rate
        with torch.inference_mode():
            spec = encoder.audio_frontend(torch.zeros(2, int(round(card.audio.seconds * sr)), device=device))
            shape = tuple(getattr(spec, "shape", ()))
            try:
                augment_spectrogram(spec.float(), cfg, [torch.Generator().manual_seed(j) for j in range(2)])
            except Exception as exc:
                ops = [op for op in SPECTROGRAM_AUGMENTS if getattr(cfg, op) is not None]
                return (f"card {card.name!r} augments spectrograms ({side_name}.augment: {', '.join(ops)}), which needs "
                        f"the encoder's audio_frontend to return [B, C, F, T]; encoder {encoder.meta.name!r} returned "
                        f"shape {shape} ({type(exc).__name__}: {exc}). Fix: return the spectrogram (e.g. a log-mel "
                        f"[B, 1, F, T]) from audio_frontend, or run without augmentation: --set {side_name}.augment=null")
    return None
