"""Any HEAR 2021 audio module as an avbench audio encoder: ``--model hear:MODULE``.

The module is imported by name (it must be installed or on ``PYTHONPATH``) and used through the HEAR 2021 API
only (hearbenchmark.com/hear-api): ``load_model(model_file_path)`` returning a ``torch.nn.Module`` with
``sample_rate`` (Hz), ``scene_embedding_size`` and ``timestamp_embedding_size``; ``get_scene_embeddings(audio,
model)`` -> ``[n, D]``; ``get_timestamp_embeddings(audio, model)`` -> (``[n, T, D]``, ``[n, T]`` ms). TensorFlow
HEAR modules are refused (avbench runs torch).

Outputs: ``pooled`` = the scene embedding ``[B, scene_embedding_size]``; ``timestamps`` = the timestamp embeddings
as a FeatureMap ``[B, D, 1, T]`` with axes (batch, channel, freq, time) (a one-bin freq axis, so audio protocols
pool it like any other audio map). The audio front end resamples the waveform from the rate avbench decodes at
(``meta.audio.sample_rate``: the module's own rate unless ``sample_rate=`` is given) to the module's rate.

``--weights`` is passed to ``load_model`` as ``model_file_path`` ("" when absent); extra build options are passed
to ``load_model`` as keyword arguments (HEAR's ``--model-options``).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import torch
from torch import nn

from avbench.encoder import POOLED, AudioSpec, Encoder, EncoderMeta, FeatureMap, state_dict_sha256
from avbench.encoder import UnknownEncoderError
from avbench.models.weights import sha256_file

API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")
MODEL_ATTRS = ("sample_rate", "scene_embedding_size", "timestamp_embedding_size")
AXES = ("batch", "channel", "freq", "time")
TIMESTAMPS = "timestamps"


def import_hear_module(name: str) -> ModuleType:
    """Import ``name`` and check it exposes the HEAR 2021 functions; UnknownEncoderError otherwise."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise UnknownEncoderError(f"hear:{name}: cannot import HEAR module {name!r} ({exc}); install it or put it "
                                  "on PYTHONPATH") from exc
    missing = [f for f in API if not callable(getattr(module, f, None))]
    if missing:
        raise UnknownEncoderError(f"hear:{name}: {getattr(module, '__file__', name)} is not a HEAR 2021 module: "
                                  f"missing {', '.join(missing)}")
    return module


class HearEncoder(Encoder):
    """A HEAR 2021 module behind the encoder contract; see the module docstring.

    Audio: ``[B, N]`` float32 waveform at ``meta.audio.sample_rate`` Hz -> :meth:`audio_frontend` -> ``[B, N']`` at
    the module's rate -> {"pooled": ``[B, scene_embedding_size]``, "timestamps": FeatureMap ``[B, D, 1, T]``}.
    """

    def __init__(self, name: str, module: ModuleType, model: nn.Module, *, sample_rate: int | None,
                 weights: str, init_seed: int, load_options: dict[str, Any]) -> None:
        super().__init__()
        self.module_name = name
        self.module = module
        self.model = model
        self.model_rate = int(model.sample_rate)
        rate = int(sample_rate) if sample_rate else self.model_rate
        path = Path(weights).expanduser() if weights else None
        sha = sha256_file(path) if path is not None and path.is_file() else state_dict_sha256(model)
        front = "waveform" if rate == self.model_rate else f"resample {rate} -> {self.model_rate} Hz"
        opts = "".join(f", {k}={v}" for k, v in sorted(load_options.items()))
        self.meta = EncoderMeta(
            name=f"hear:{name}", version=str(getattr(module, "__version__", "unknown")), modalities=("audio",),
            description=f"HEAR 2021 module {name} (load_model({weights!r}{opts}); native {self.model_rate} Hz)",
            audio=AudioSpec(sample_rate=rate, min_seconds=0.1, max_seconds=1200.0,
                            frontend=f"{front}; the HEAR module owns its front end", layers=(TIMESTAMPS, POOLED)),
            embedding_dims={"audio": int(model.scene_embedding_size)},
            n_parameters={"audio": sum(p.numel() for p in model.parameters())},
            weights_sha256=sha, init_seed=init_seed,
            pretraining_data=f"HEAR module {name}" + (f" ({path.name})" if path is not None else ""),
            license="see the HEAR module", reference=str(getattr(module, "__file__", "")))

    def trunk(self, modality: str) -> nn.Module:
        if modality != "audio":
            raise NotImplementedError(f"hear:{self.module_name} has no {modality} trunk")
        return self.model

    def audio_frontend(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` float32 at ``meta.audio.sample_rate`` -> ``[B, N']`` float32 at the module's ``sample_rate``."""
        if waveform.dim() != 2:
            raise ValueError(f"hear:{self.module_name} expects a [B, N] waveform, got {tuple(waveform.shape)}")
        rate = self.meta.audio.sample_rate
        x = waveform.float()
        if rate != self.model_rate:
            import torchaudio.functional as AF

            x = AF.resample(x, rate, self.model_rate)
        return x

    def encode_audio(self, x: torch.Tensor, layers: Sequence[str] = (POOLED,)) -> dict[str, FeatureMap | torch.Tensor]:
        """``[B, N']`` waveform at the module's rate -> {"pooled": ``[B, D]``, "timestamps": FeatureMap ``[B, D, 1, T]``}."""
        unknown = [layer for layer in layers if layer not in (TIMESTAMPS, POOLED)]
        if unknown:
            raise ValueError(f"hear:{self.module_name} has no layer(s) {unknown}; available: {(TIMESTAMPS, POOLED)}")
        out: dict[str, FeatureMap | torch.Tensor] = {}
        if POOLED in layers:
            scene = torch.as_tensor(self.module.get_scene_embeddings(x, self.model))
            want = self.meta.embedding_dims["audio"]
            if scene.dim() != 2 or scene.shape[0] != x.shape[0] or scene.shape[1] != want:
                raise ValueError(f"hear:{self.module_name}: get_scene_embeddings returned {tuple(scene.shape)}, "
                                 f"expected [{x.shape[0]}, {want}]")
            out[POOLED] = scene.float()
        if TIMESTAMPS in layers:
            emb, _ = self.module.get_timestamp_embeddings(x, self.model)
            emb = torch.as_tensor(emb)
            want = int(self.model.timestamp_embedding_size)
            if emb.dim() != 3 or emb.shape[0] != x.shape[0] or emb.shape[2] != want:
                raise ValueError(f"hear:{self.module_name}: get_timestamp_embeddings returned {tuple(emb.shape)}, "
                                 f"expected [{x.shape[0]}, T, {want}]")
            out[TIMESTAMPS] = FeatureMap(emb.float().transpose(1, 2).unsqueeze(2), AXES)
        return {layer: out[layer] for layer in layers}


def build(name: str, weights: str | Path | None = None, init_seed: int = 0, sample_rate: int | None = None,
          **load_options: Any) -> HearEncoder:
    """Build ``hear:MODULE`` (eval mode).

    weights: ``model_file_path`` for ``load_model`` (None = "", the module's default).
    init_seed: seeds torch's RNG around ``load_model`` (for modules that initialise randomly).
    sample_rate: the rate (Hz) avbench decodes audio at; default the module's ``sample_rate``.
    load_options: keyword arguments for ``load_model``.
    """
    module = import_hear_module(name)
    path = "" if weights is None else str(weights)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = module.load_model(path, **load_options) if load_options else module.load_model(path)
    if not isinstance(model, nn.Module):
        raise TypeError(f"hear:{name}: load_model returned {type(model).__module__}.{type(model).__name__}, not a "
                        "torch.nn.Module (TensorFlow HEAR modules are not supported)")
    bad = [a for a in MODEL_ATTRS if not isinstance(getattr(model, a, None), int)]
    if bad:
        raise TypeError(f"hear:{name}: the model from load_model lacks int attribute(s) {', '.join(bad)} "
                        "(HEAR 2021 API)")
    return HearEncoder(name, module, model, sample_rate=sample_rate, weights=path, init_seed=init_seed,
                       load_options=load_options).eval()
