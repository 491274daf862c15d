"""CrissCross (Sarkar & Etemad, AAAI 2023) as an avbench encoder: R(2+1)D-18 video + ResNet-18 log-mel audio.

Weights (``build(weights=...)``), loaded strictly, every error naming the file:

(a) one ``.safetensors`` file with keys ``video.<trunk key>`` / ``audio.<trunk key>`` and the ``arch`` it was trained
    with in its metadata (see :func:`save_safetensors`), or the ``avbench pretrain --out`` directory holding it;
(b) a directory holding the released ``vid_crisscross_*.pth.tar[.zip]`` and/or ``aud_crisscross_*.pth.tar[.zip]``;
(c) ``"video=PATH,audio=PATH"`` (either may be omitted);
(d) one released file whose name starts with ``vid_`` or ``aud_``.

The released files are bare backbone state_dicts (``torch.save(model.video_backbone.state_dict())``); their keys
are the trunk keys of :class:`avbench.models.r2plus1d.R2Plus1D` / :class:`avbench.models.resnet_audio.ResNetAudio`.
With ``modalities=None`` the encoder has the modalities the weights cover (both for random init).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Sequence

from avbench.encoder import MODALITIES
from avbench.models.two_tower import (AUDIO_AXES, VIDEO_AXES, EncoderIdentity, TwoTowerArch, TwoTowerEncoder,  # noqa: F401 (re-exported)
                                      arch_with_options, build_two_tower, save_two_tower)
from avbench.models.weights import WeightsError, load_state_dict_file, load_strict, sha256_file

NAME = "crisscross"
VERSION = "1.0"
#: Dataset part of the released file names -> pretraining set.
PRETRAINING_SETS = {"kinetics_sound": "Kinetics-Sound", "kinetics400": "Kinetics-400", "kinetics_400": "Kinetics-400",
                    "audioset": "AudioSet"}
REFERENCE = ("P. Sarkar and A. Etemad, 'Self-Supervised Audio-Visual Representation Learning with Relaxed Cross-Modal "
             "Synchronicity', AAAI 2023; code and weights: https://github.com/pritamqu/CrissCross")
# pritamqu/CrissCross LICENSE (code and released weights): Creative Commons Attribution-NonCommercial 4.0.
LICENSE = "CC-BY-NC-4.0"
_RELEASED = re.compile(r"^(vid|aud)_(?:crisscross_)?(?P<data>.*?)\.(?:pth\.tar|pth|pt)(?:\.zip)?$")
_PREFIX = {"vid": "video", "aud": "audio"}
#: The paper's trunks: R(2+1)D-18 at 16 fps (8x112² in pretraining, ImageNet mean/std on [0, 1] frames as
#: crisscross/evaluate/datasets/augmentations/video_augmentations.py) and ResNet-18 over 80-bin log-mel at 16 kHz.
ARCH = TwoTowerArch(min_size=64)


class CrissCrossEncoder(TwoTowerEncoder):
    """CrissCross trunks (see :class:`avbench.models.two_tower.TwoTowerEncoder` for shapes and layers).

    With the default :data:`ARCH`: video ``pooled`` ``[B, 512]``, audio ``[B, 1, 80, T]`` log-mel -> ``[B, 512]``.
    """

    identity = EncoderIdentity(NAME, VERSION,
                        "CrissCross: AVID-variant R(2+1)D-18 video trunk (16 fps, pretrained on 8x112²) and "
                        "ResNet-18 audio trunk over 80-bin log-mel (16 kHz, pretrained on 2 s)", LICENSE, REFERENCE)

    def __init__(self, modalities: str | Sequence[str] = MODALITIES, *, arch: TwoTowerArch | None = None,
                 init_seed: int = 0) -> None:
        super().__init__(modalities, arch=arch or ARCH, init_seed=init_seed)


def _normalise_modalities(modalities: str | Sequence[str]) -> tuple[str, ...]:
    from avbench.models.two_tower import _normalise_modalities as norm

    return norm(NAME, modalities)


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
    if path.is_dir() and (path / "encoder.safetensors").is_file():  # an `avbench pretrain --out` directory
        return path / "encoder.safetensors", {}
    if path.is_dir():
        return None, _scan_directory(path)
    if path.name.lower().endswith(".safetensors"):
        return path, {}
    if path.name.startswith(("vid_", "aud_")):
        return None, {_PREFIX[path.name[:3]]: path}
    raise WeightsError(f"{path}: cannot tell which trunk this file is for; pass a .safetensors file, a directory "
                       "of released vid_/aud_crisscross files, a file named vid_*/aud_*, or 'video=PATH,audio=PATH'")


def build(weights: str | Path | None = None, init_seed: int = 0, modalities: str | Sequence[str] | None = None,
          **options: Any) -> CrissCrossEncoder:
    """Build CrissCross (eval mode).

    weights: None for a random init (seeded by ``init_seed``), else one of the forms in the module docstring.
    modalities: "video", "audio", both (a sequence or "video,audio"); None = those the weights cover, or both.
    options: ``pretraining_data`` (str) overrides the name recorded in ``meta``; architecture keys of
      :class:`TwoTowerArch` (e.g. ``audio_width=8``) for a random init or a released-format file of that size.
    """
    combined, files = (None, {}) if weights is None or str(weights) == "" else _parse_weights(weights)
    if not files:  # random init (architecture options allowed) or one avbench .safetensors file
        return build_two_tower(CrissCrossEncoder, name=NAME, default_arch=ARCH, weights=combined,
                               init_seed=init_seed, modalities=modalities, options=options)
    pretraining_override = options.pop("pretraining_data", None)
    # architecture keys (e.g. audio_width=8) describe a released-format file saved from a smaller trunk;
    # strict loading checks the file against that trunk. The released files are the default ARCH.
    arch = arch_with_options(ARCH, options, NAME)
    if options:
        raise TypeError(f"crisscross: unknown option(s) {sorted(options)} for released checkpoints; known: "
                        "modalities, pretraining_data and the architecture keys of TwoTowerArch (audio_width, ...)")
    mods = _normalise_modalities(list(files) if modalities is None else modalities)
    absent = [m for m in mods if m not in files]
    if absent:
        raise WeightsError(f"crisscross weights {str(weights)!r} give no {' or '.join(absent)} checkpoint "
                           f"(found: {', '.join(f'{m}={p}' for m, p in files.items()) or 'none'})")
    enc = CrissCrossEncoder(mods, arch=arch, init_seed=init_seed)
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


def save_safetensors(encoder: CrissCrossEncoder, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the encoder's trunks as one ``.safetensors`` file (keys ``video.*`` / ``audio.*``, metadata incl. the
    ``arch``); read back with ``build(weights=path)``. See :func:`avbench.models.two_tower.save_two_tower`."""
    return save_two_tower(encoder, path, card=card, format="avbench-crisscross-v1")
