"""torchvision's video classifiers as avbench video encoders: ``--model torchvision:NAME``.

Models (torchvision >= 0.25): ``r2plus1d_18``, ``r3d_18``, ``mc3_18`` (VideoResNet), ``s3d``, ``mvit_v1_b``,
``mvit_v2_s``, ``swin3d_t``, ``swin3d_s``, ``swin3d_b``. The classifier head is kept in the module (so released
state_dicts load strictly) but never used.

Preprocessing comes from the weight enum's ``transforms()`` (mean/std; MViT's fixed crop and clip length) and the
frame rate from the enum's documented evaluation setting (``frame_rate=15`` / ``7.5``); a random init uses the
``DEFAULT`` enum's values, so it sees exactly what the pretrained model would. ``fps=`` overrides the frame rate
(e.g. ``torchvision:r2plus1d_18?fps=16`` to run the 16-fps task cards unchanged).

Weights (``--weights``): a weight enum ``R2Plus1D_18_Weights.KINETICS400_V1``, its member name ``KINETICS400_V1``,
``DEFAULT``, or a local ``.pth``/``.safetensors`` state_dict. An enum's file is read from the torch hub cache
(``$TORCH_HOME/hub/checkpoints/<file>``) and downloaded there when missing (never with ``AVBENCH_OFFLINE=1``);
a failed download raises :class:`~avbench.models.weights.WeightsError` naming the enum, its URL and the cache path.

Layers (FeatureMaps with axes batch, channel, time, height, width; ``pooled`` is ``[B, D]``):
  VideoResNet  conv1 (stem), conv2x..conv5x (layer1..layer4); pooled = global average of conv5x, D = 512
  S3D          conv1, conv2c, mixed3c, mixed4f, mixed5c; pooled = global average of mixed5c, D = 1024 (clips
               shorter than 5 frames are padded to 5 by cyclic repetition: S3D's temporal strides need 5)
  MViT         stage1..stage4 (tokens without the class token, before the final norm); pooled = normed class token
  Swin3D       patch_embed, stage1..stage4 (before the final norm); pooled = average of the normed last stage
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

import torch
from torch import nn

from avbench.encoder import POOLED, Encoder, EncoderMeta, FeatureMap, VideoSpec
from avbench.encoder import UnknownEncoderError
from avbench.models.weights import WeightsError, load_state_dict_file, load_strict, sha256_file
from avbench.zoo import offline

AXES = ("batch", "channel", "time", "height", "width")
FAMILIES: dict[str, str] = {"r2plus1d_18": "resnet", "r3d_18": "resnet", "mc3_18": "resnet", "s3d": "s3d",
                            "mvit_v1_b": "mvit", "mvit_v2_s": "mvit", "swin3d_t": "swin", "swin3d_s": "swin",
                            "swin3d_b": "swin"}
LAYERS: dict[str, tuple[str, ...]] = {
    "resnet": ("conv1", "conv2x", "conv3x", "conv4x", "conv5x", POOLED),
    "s3d": ("conv1", "conv2c", "mixed3c", "mixed4f", "mixed5c", POOLED),
    "mvit": ("stage1", "stage2", "stage3", "stage4", POOLED),
    "swin": ("patch_embed", "stage1", "stage2", "stage3", "stage4", POOLED),
}
#: S3D ``features`` index after which each named map is taken.
S3D_TAPS = {0: "conv1", 3: "conv2c", 6: "mixed3c", 12: "mixed4f", 15: "mixed5c"}
#: S3D's temporal strides leave nothing for MaxPool_5a (kernel 2) below 5 input frames; shorter clips are padded
#: by cyclic repetition of their frames (as avbench pads videos shorter than a clip).
S3D_MIN_FRAMES = 5
FALLBACK_FPS = 15.0  # torchvision's video_classification reference default (--frame-rate 15)


def available_models() -> list[str]:
    """The torchvision video models this adapter knows and the installed torchvision ships."""
    from torchvision.models import list_models
    from torchvision.models import video as tv_video

    shipped = set(list_models(module=tv_video))
    return [n for n in FAMILIES if n in shipped]


def _check_name(name: str) -> None:
    if name not in available_models():
        raise UnknownEncoderError(f"torchvision:{name}: not a torchvision video model this adapter knows; "
                         f"available: {', '.join(available_models())}")


def resolve_weights_enum(name: str, text: str) -> Any:
    """``"R2Plus1D_18_Weights.KINETICS400_V1"``, ``"KINETICS400_V1"`` or ``"DEFAULT"`` -> the enum member of
    ``name``'s weights. Raises WeightsError listing the valid names when ``text`` is none of them."""
    from torchvision.models import get_model_weights

    _check_name(name)
    enum_cls = get_model_weights(name)
    valid = [f"{enum_cls.__name__}.{m.name}" for m in enum_cls] + [f"{enum_cls.__name__}.DEFAULT"]
    cls_name, dot, member = text.rpartition(".")
    if dot and cls_name != enum_cls.__name__:
        raise WeightsError(f"{text}: not a weight enum of torchvision:{name}; valid: {', '.join(valid)}")
    try:
        return enum_cls[member if dot else text]
    except KeyError:
        raise WeightsError(f"{text}: not a weight enum of torchvision:{name}; valid: {', '.join(valid)}") from None


def enum_label(enum: Any) -> str:
    return f"{type(enum).__name__}.{enum.name}"


def cache_path(enum: Any) -> Path:
    """Where torch hub keeps (and looks for) the enum's file: ``$TORCH_HOME/hub/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(enum.url).path).name


def fetch_enum_file(enum: Any) -> Path:
    """The enum's checkpoint in the torch hub cache, downloading it (hash-checked) when missing."""
    path = cache_path(enum)
    if path.is_file():
        return path
    label = enum_label(enum)
    if offline():
        raise WeightsError(f"{label}: weights not in the torch hub cache and AVBENCH_OFFLINE is set; download "
                           f"{enum.url} and place the file at {path}")
    match = torch.hub.HASH_REGEX.search(path.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(enum.url, str(path), hash_prefix=match.group(1) if match else None,
                                       progress=False)
    except Exception as exc:  # network, proxy, disk, hash mismatch: all end the same way for the user
        raise WeightsError(f"{label}: could not download {enum.url} ({type(exc).__name__}: {exc}); download it on "
                           f"a machine with internet access and place the file at {path} (the torch hub cache, "
                           "set by TORCH_HOME)") from exc
    return path


def _frame_rate(enum: Any) -> float:
    """The evaluation frame rate torchvision documents for ``enum`` (``frame_rate=15`` in its meta docs)."""
    found = re.search(r"frame_rate=([0-9.]+)", str(enum.meta.get("_docs", "")))
    return float(found.group(1)) if found else FALLBACK_FPS


def _pretraining(enum: Any) -> str:
    sets = {"KINETICS400": "Kinetics-400", "IMAGENET22K": "ImageNet-22k", "IMAGENET1K": "ImageNet-1k"}
    found = [label for key, label in sets.items() if key in enum.name]
    return " + ".join(reversed(found)) if found else enum.name


class TorchvisionVideoEncoder(Encoder):
    """A torchvision video classifier behind the encoder contract (see the module docstring for the layers).

    Input: preprocessed ``[B, 3, T, H, W]`` float (frames at ``meta.video.fps`` Hz, normalised by the enum's
    mean/std). MViT takes exactly its pretraining geometry (16 x 224²); the convolutional families take any clip
    length and 32-512 px crops.
    """

    def __init__(self, name: str, *, fps: float | None = None, init_seed: int = 0) -> None:
        super().__init__()
        from torchvision.models import get_model_builder, get_model_weights

        _check_name(name)
        self.model_name = name
        self.family = FAMILIES[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.net: nn.Module = get_model_builder(name)(weights=None)
        default = get_model_weights(name).DEFAULT
        self._spec_enum = default
        self.fps = float(fps) if fps is not None else _frame_rate(default)
        self.meta = self._make_meta(None, init_seed=init_seed)

    # ---- meta ---------------------------------------------------------------------------------------
    def fixed_geometry(self) -> tuple[int, int] | None:
        """(frames, size) MViT's positional encoding is built for; None for the convolutional families."""
        if self.family != "mvit":
            return None
        pe, stride = self.net.pos_encoding, self.net.conv_proj.stride
        return pe.temporal_size * stride[0], pe.spatial_size[0] * stride[1]

    def embedding_dim(self) -> int:
        if self.family == "resnet":
            return self.net.fc.in_features
        if self.family == "s3d":
            return self.net.classifier[-1].in_channels
        if self.family == "mvit":
            return self.net.norm.normalized_shape[0]
        return self.net.num_features

    def _make_meta(self, enum: Any | None, *, init_seed: int | None, weights_sha256: str | None = None,
                   source: str | None = None) -> EncoderMeta:
        spec_enum = enum if enum is not None else self._spec_enum
        tf = spec_enum.transforms()
        fixed = self.fixed_geometry()
        video = VideoSpec(fps=self.fps, frames=(fixed[0],) if fixed else (),
                          min_size=fixed[1] if fixed else 32, max_size=fixed[1] if fixed else 512,
                          mean=tuple(float(v) for v in tf.mean), std=tuple(float(v) for v in tf.std),
                          layers=LAYERS[self.family])
        origin = source or (enum_label(enum) if enum is not None else "random init")
        description = (f"torchvision {self.model_name} ({origin}); {enum_label(spec_enum)} preprocessing: "
                       f"resize {list(tf.resize_size)}, crop {list(tf.crop_size)}, {self.fps:g} fps")
        return EncoderMeta(
            name=f"torchvision:{self.model_name}", version="1.0", modalities=("video",), description=description,
            video=video, embedding_dims={"video": self.embedding_dim()},
            n_parameters={"video": sum(p.numel() for p in self.net.parameters())},
            weights_sha256=weights_sha256, init_seed=init_seed,
            pretraining_data=(_pretraining(enum) if enum is not None else ("unknown" if source else "random-init")),
            license="BSD-3-Clause (torchvision code); weights: see the recipe's data-set terms",
            reference=str(spec_enum.meta.get("recipe", "https://pytorch.org/vision/stable/models.html#video-classification")))

    def load(self, weights: str | Path) -> None:
        """Load a weight enum (by name) or a local state_dict file strictly; updates ``meta``."""
        text = str(weights)
        path = Path(text).expanduser()
        if path.is_file():
            load_strict(self.net, load_state_dict_file(path), source=str(path))
            self.meta = self._make_meta(None, init_seed=None, weights_sha256=sha256_file(path), source=str(path))
            return
        if text.endswith((".pth", ".pt", ".safetensors", ".tar")) or "/" in text:
            raise WeightsError(f"{path}: weights file not found")
        enum = resolve_weights_enum(self.model_name, text)
        file = fetch_enum_file(enum)
        load_strict(self.net, load_state_dict_file(file), source=f"{file} ({enum_label(enum)})")
        self.meta = self._make_meta(enum, init_seed=None, weights_sha256=sha256_file(file))

    # ---- contract -----------------------------------------------------------------------------------
    def trunk(self, modality: str) -> nn.Module:
        if modality != "video":
            raise NotImplementedError(f"torchvision:{self.model_name} has no {modality} trunk")
        return self.net

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Preprocessed ``[B, 3, T, H, W]`` -> {layer: FeatureMap ``[B, C, t, h, w]`` or ``[B, D]`` for "pooled"}."""
        known = LAYERS[self.family]
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            raise ValueError(f"torchvision:{self.model_name} has no layer(s) {unknown}; available: {known}")
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"torchvision:{self.model_name} expects [B, 3, T, H, W], got {tuple(x.shape)}")
        fixed = self.fixed_geometry()
        if fixed and (x.shape[2] != fixed[0] or x.shape[3] != fixed[1] or x.shape[4] != fixed[1]):
            raise ValueError(f"torchvision:{self.model_name} takes exactly {fixed[0]} x {fixed[1]}² clips "
                             f"(its positional encoding), got {tuple(x.shape[2:])}")
        wanted = set(layers)
        maps: dict[str, torch.Tensor] = {}
        run: Callable[[torch.Tensor, set[str], dict[str, torch.Tensor]], None] = getattr(self, f"_run_{self.family}")
        run(x, wanted, maps)
        return {layer: maps[layer] if layer == POOLED else FeatureMap(maps[layer], AXES) for layer in layers}

    # each _run_* fills `maps` with [B, C, t, h, w] maps and "pooled" [B, D], stopping after the last wanted layer
    def _run_resnet(self, x: torch.Tensor, wanted: set[str], maps: dict[str, torch.Tensor]) -> None:
        net = self.net
        for name, block in zip(LAYERS["resnet"][:-1], (net.stem, net.layer1, net.layer2, net.layer3, net.layer4)):
            x = block(x)
            if name in wanted:
                maps[name] = x
            if wanted <= maps.keys():
                return
        maps[POOLED] = net.avgpool(x).flatten(1)

    def _run_s3d(self, x: torch.Tensor, wanted: set[str], maps: dict[str, torch.Tensor]) -> None:
        if x.shape[2] < S3D_MIN_FRAMES:
            x = x[:, :, torch.arange(S3D_MIN_FRAMES, device=x.device) % x.shape[2]]
        for i, block in enumerate(self.net.features):
            x = block(x)
            if S3D_TAPS.get(i) in wanted:
                maps[S3D_TAPS[i]] = x
            if wanted <= maps.keys():
                return
        maps[POOLED] = x.mean(dim=(2, 3, 4))  # = torchvision's AvgPool3d((2, 7, 7)) at 16 x 224²

    def _run_mvit(self, x: torch.Tensor, wanted: set[str], maps: dict[str, torch.Tensor]) -> None:
        net = self.net
        x = net.conv_proj(x).flatten(2).transpose(1, 2)
        x = net.pos_encoding(x)
        thw = (net.pos_encoding.temporal_size,) + tuple(net.pos_encoding.spatial_size)
        blocks = list(net.blocks)
        stage = 0
        for i, block in enumerate(blocks):
            x, thw = block(x, thw)
            if i + 1 == len(blocks) or blocks[i + 1].pool_skip is not None:  # the next block starts a new stage
                stage += 1
                name = f"stage{stage}"
                if name in wanted:
                    t, h, w = thw
                    maps[name] = x[:, 1:].transpose(1, 2).reshape(x.shape[0], x.shape[2], t, h, w)
                if wanted <= maps.keys():
                    return
        maps[POOLED] = net.norm(x)[:, 0]

    def _run_swin(self, x: torch.Tensor, wanted: set[str], maps: dict[str, torch.Tensor]) -> None:
        net = self.net
        x = net.patch_embed(x)  # [B, t, h, w, C]
        if "patch_embed" in wanted:
            maps["patch_embed"] = x.permute(0, 4, 1, 2, 3)
        x = net.pos_drop(x)
        stage = 0
        for block in net.features:
            x = block(x)
            if isinstance(block, nn.Sequential):  # a stage (PatchMerging layers sit between them)
                stage += 1
                if f"stage{stage}" in wanted:
                    maps[f"stage{stage}"] = x.permute(0, 4, 1, 2, 3)
            if wanted <= maps.keys():
                return
        maps[POOLED] = net.norm(x).mean(dim=(1, 2, 3))


def build(name: str, weights: str | Path | None = None, init_seed: int = 0, fps: float | None = None,
          **options: Any) -> TorchvisionVideoEncoder:
    """Build ``torchvision:NAME`` (eval mode): random init seeded by ``init_seed``, or ``weights`` (see module doc).

    fps: frame rate (Hz) the encoder declares; default the weights' documented evaluation frame rate.
    """
    if options:
        raise TypeError(f"torchvision:{name}: unknown option(s) {sorted(options)}; known: fps")
    enc = TorchvisionVideoEncoder(name, fps=fps, init_seed=init_seed)
    if weights is not None and str(weights) != "":
        enc.load(weights)
    return enc.eval()
