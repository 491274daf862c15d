"""Any timm image model as a per-frame video encoder: ``--model timm:NAME`` (needs ``pip install timm``).

Every frame of a clip goes through the image model on its own; ``pooled`` is the mean over time of the per-frame
pre-logits embeddings (``forward_head(..., pre_logits=True)``), ``[B, num_features]``. The named layers are timm's
``feature_info`` modules (``layer1``..``layer4`` for ResNets, ``blocks.0``..``blocks.11`` for ViTs), returned by
``forward_intermediates`` per frame and stacked over time as FeatureMaps ``[B, C, T, h, w]`` (axes batch, channel,
time, height, width); models without ``forward_intermediates`` offer ``pooled`` only.

Normalisation (mean/std) comes from timm's data config of the model; resize and crop belong to the task card.
Models with a fixed input size (ViTs) declare exactly that crop size: pass ``img_size`` to change it, e.g.
``timm:vit_tiny_patch16_224?img_size=112`` (timm resamples the position embedding of pretrained weights).

Weights (``--weights``): none = random init (seeded); ``timm`` = timm's pretrained weights (downloaded from the
Hugging Face hub into its cache; ``HF_HUB_OFFLINE=1`` means cache only); or a local ``.safetensors``/``.pth``
state_dict of the same architecture (its classifier is dropped).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from avbench.encoder import POOLED, Encoder, EncoderMeta, FeatureMap, VideoSpec, state_dict_sha256
from avbench.encoder import UnknownEncoderError
from avbench.models.weights import WeightsError, load_state_dict_file, load_strict, sha256_file

AXES = ("batch", "channel", "time", "height", "width")
DOWNLOAD = ("timm", "pretrained")  # --weights values meaning "timm's own pretrained weights"
DEFAULT_FPS = 16.0  # an image model has no frame rate of its own; the one avbench's video cards use


def _timm() -> Any:
    try:
        import timm
    except ImportError as exc:
        raise ImportError("timm:NAME models need timm: pip install 'avbench[zoo]' (or pip install timm)") from exc
    return timm


def _create(name: str, weights: str | Path | None, init_seed: int, kwargs: dict[str, Any]) -> tuple[nn.Module, str | None, str]:
    """-> (model without classifier, weights sha256 or None, pretraining description)."""
    timm = _timm()
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0]}*")[:10]
        raise UnknownEncoderError(f"timm:{name}: timm {timm.__version__} has no such model"
                         + (f"; similar: {', '.join(close)}" if close else ""))
    text = "" if weights is None else str(weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        try:
            if not text:
                return timm.create_model(name, pretrained=False, num_classes=0, **kwargs), None, "random-init"
            if text in DOWNLOAD:
                try:
                    model = timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
                except (OSError, RuntimeError, ValueError) as exc:  # no network, offline hub, missing file
                    raise WeightsError(f"timm:{name}: could not fetch timm's pretrained weights ({type(exc).__name__}: "
                                       f"{exc}); on a machine without internet access download them elsewhere and "
                                       "pass the file with --weights PATH") from exc
                tag = model.pretrained_cfg.get("tag") or ""
                return model, state_dict_sha256(model), f"timm {name}{'.' + tag if tag else ''}"
            path = Path(text).expanduser()
            if not path.is_file():
                raise WeightsError(f"{path}: weights file not found (timm:{name} takes --weights timm or a local "
                                   ".safetensors/.pth file)")
            model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
            _load_file(model, path, name)
            return model, sha256_file(path), "unknown"
        except TypeError as exc:  # an option create_model does not know
            raise TypeError(f"timm:{name}: {exc}") from exc


def _load_file(model: nn.Module, path: Path, name: str) -> None:
    """Load a local state_dict strictly (timm's own loader only warns about keys that do not fit).

    The model's ``checkpoint_filter_fn`` (e.g. ViT position-embedding resampling for another ``img_size``) is
    applied first; classifier keys the headless model lacks are dropped. Errors name the file.
    """
    state = load_state_dict_file(path)
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            state = filter_fn(state, model)
        except Exception as exc:  # a file of another architecture can break the filter in any way
            raise WeightsError(f"{path}: not a timm {name} state_dict (timm's checkpoint filter failed: "
                               f"{type(exc).__name__}: {exc})") from exc
    own = model.state_dict()
    heads = model.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    state = {k: v for k, v in state.items() if k in own or not any(k == h or k.startswith(h + ".") for h in heads)}
    load_strict(model, state, source=f"{path} (timm:{name})")


class TimmFramesEncoder(Encoder):
    """A timm image model applied per frame; see the module docstring.

    Input: preprocessed ``[B, 3, T, H, W]`` float (timm's mean/std). Output: {layer: FeatureMap ``[B, C, T, h, w]``,
    "pooled": ``[B, D]`` (time mean of the per-frame pre-logits features)}.
    """

    def __init__(self, name: str, model: nn.Module, *, fps: float, weights_sha256: str | None, init_seed: int | None,
                 pretraining: str, options: dict[str, Any]) -> None:
        super().__init__()
        timm = _timm()
        self.model_name = name
        self.net = model
        info = getattr(model, "feature_info", None)
        self.feature_names: tuple[str, ...] = ()
        if hasattr(model, "forward_intermediates") and info:
            self.feature_names = tuple(f["module"] for f in info)
        cfg = timm.data.resolve_data_config({}, model=model)
        self.fixed_size = self._fixed_size(model, cfg)
        mean, std = tuple(float(v) for v in cfg["mean"]), tuple(float(v) for v in cfg["std"])
        video = VideoSpec(fps=float(fps), frames=(), min_size=self.fixed_size or 32, max_size=self.fixed_size or 512,
                          mean=mean, std=std, layers=(*self.feature_names, POOLED))
        opts = "".join(f", {k}={v}" for k, v in sorted(options.items()))
        self.meta = EncoderMeta(
            name=f"timm:{name}", version=timm.__version__, modalities=("video",),
            description=f"timm {name} per frame, time-mean pooled ({pretraining}{opts}); "
                        f"timm data config: input {tuple(cfg['input_size'][1:])}, crop_pct {cfg.get('crop_pct')}",
            video=video, embedding_dims={"video": int(model.num_features)},
            n_parameters={"video": sum(p.numel() for p in model.parameters())},
            weights_sha256=weights_sha256, init_seed=init_seed, pretraining_data=pretraining,
            license=str(model.pretrained_cfg.get("license", "see the model card")),
            reference=str(model.pretrained_cfg.get("hf_hub_id") or model.pretrained_cfg.get("origin_url") or ""))

    @staticmethod
    def _fixed_size(model: nn.Module, cfg: dict[str, Any]) -> int | None:
        """Square crop size (px) the model requires, or None when it takes any size."""
        embed = getattr(model, "patch_embed", None)
        if embed is not None and getattr(embed, "img_size", None) is not None:
            if getattr(embed, "dynamic_img_size", False) or not getattr(embed, "strict_img_size", True):
                return None
            return int(embed.img_size[0])
        return int(cfg["input_size"][-1]) if model.pretrained_cfg.get("fixed_input_size") else None

    def trunk(self, modality: str) -> nn.Module:
        if modality != "video":
            raise NotImplementedError(f"timm:{self.model_name} has no {modality} trunk")
        return self.net

    def encode_video(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """Preprocessed ``[B, 3, T, H, W]`` -> {layer: FeatureMap ``[B, C, T, h, w]`` or ``[B, D]`` for "pooled"}."""
        known = (*self.feature_names, POOLED)
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            raise ValueError(f"timm:{self.model_name} has no layer(s) {unknown}; available: {known}")
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"timm:{self.model_name} expects [B, 3, T, H, W], got {tuple(x.shape)}")
        if self.fixed_size and (x.shape[3], x.shape[4]) != (self.fixed_size, self.fixed_size):
            raise ValueError(f"timm:{self.model_name} takes {self.fixed_size}² frames, got {tuple(x.shape[3:])}; "
                             f"build it with img_size={x.shape[3]} (timm:{self.model_name}?img_size={x.shape[3]})")
        b, _, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, 3, h, w)
        maps = [layer for layer in layers if layer != POOLED]
        out: dict[str, FeatureMap | torch.Tensor] = {}
        if maps:
            idx = [self.feature_names.index(layer) for layer in maps]
            if POOLED in layers:
                final, inter = self.net.forward_intermediates(frames, indices=idx)
            else:
                final, inter = None, self.net.forward_intermediates(frames, indices=idx, intermediates_only=True)
            for layer, fm in zip(maps, inter):
                c, fh, fw = fm.shape[1:]
                out[layer] = FeatureMap(fm.reshape(b, t, c, fh, fw).transpose(1, 2), AXES)
        else:
            final = self.net.forward_features(frames)
        if POOLED in layers:
            per_frame = self.net.forward_head(final, pre_logits=True)  # [B*T, D]
            out[POOLED] = per_frame.reshape(b, t, -1).mean(dim=1)
        return {layer: out[layer] for layer in layers}


def build(name: str, weights: str | Path | None = None, init_seed: int = 0, fps: float = DEFAULT_FPS,
          **options: Any) -> TimmFramesEncoder:
    """Build ``timm:NAME`` (eval mode).

    weights: None (random init seeded by ``init_seed``), ``"timm"`` (timm's pretrained weights) or a local file.
    fps: the frame rate (Hz) the encoder declares (an image model has none; default 16 as avbench's cards).
    options: passed to ``timm.create_model`` (e.g. ``img_size=112``, ``drop_path_rate=0.1``).
    """
    model, sha, pretraining = _create(name, weights, init_seed, dict(options))
    enc = TimmFramesEncoder(name, model, fps=fps, weights_sha256=sha, init_seed=None if sha else init_seed,
                            pretraining=pretraining, options=options)
    return enc.eval()
