"""``avbench export hear``: write a HEAR 2021 module around any avbench encoder with an audio branch.

The written package (``OUT/<name>/__init__.py`` + ``OUT/<name>/avbench_export.json``, and ``OUT/pyproject.toml``
so that ``pip install OUT`` works) imports avbench and rebuilds the encoder by name with the recorded weights,
init seed and build options. Its API is HEAR 2021's (hearbenchmark.com/hear-api):

``load_model(model_file_path="")``
    -> :class:`HearModel` (a ``torch.nn.Module``) with ``sample_rate`` (Hz, one of 16000/22050/44100/48000),
    ``scene_embedding_size`` and ``timestamp_embedding_size``. An empty path means the recorded weights (their
    sha256 is checked); otherwise the path is the encoder's ``--weights``.
``get_scene_embeddings(audio [n, samples] float32, model)`` -> ``[n, D]`` float32
    the encoder's ``pooled`` audio embedding; audio longer than ``meta.audio.max_seconds`` is cut into pieces
    whose embeddings are averaged (weighted by length), shorter than ``min_seconds`` is zero-padded.
``get_timestamp_embeddings(audio, model)`` -> (``[n, T, D]`` float32, ``[n, T]`` ms)
    ``layer`` mode (default when the encoder has a non-pooled audio layer): the deepest audio FeatureMap averaged
    over frequency, frame i of T stamped at (i + 0.5) * duration / T; ``window`` mode: the pooled embedding of a
    ``window``-second window centred every ``hop`` seconds from 0 (the audio zero-padded by window / 2 each side).

When the encoder's sample rate is not one HEAR 2021 accepts, the module declares the next accepted rate above it
and resamples inside.
"""
from __future__ import annotations

import importlib.util
import json
import keyword
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avbench.encoder import POOLED, Encoder, FeatureMap
from avbench.features.probe import blank_output

#: sample rates hearvalidator 2021.0.2 accepts (``ValidateModel.ACCEPTABLE_SAMPLE_RATE``)
ACCEPTED_RATES = (16000, 22050, 44100, 48000)
CONFIG_NAME = "avbench_export.json"
FORMAT = "avbench-hear-export-v1"
WINDOW_BATCH = 256  # windows per forward pass in window mode


class ExportError(ValueError):
    """The encoder cannot be exported, the package cannot be written, or an exported package is inconsistent."""


@dataclass(frozen=True)
class ExportConfig:
    """What the exported package records (``avbench_export.json``). Units: Hz, seconds."""

    model: str
    weights: str | None
    weights_sha256: str | None
    init_seed: int
    options: dict[str, Any] = field(default_factory=dict)
    sample_rate: int = 16000  # the HEAR-facing rate
    timestamps: str = "layer"  # "layer" or "window"
    layer: str | None = None
    window: float = 1.0
    hop: float = 0.05
    format: str = FORMAT
    avbench_version: str = ""

    @classmethod
    def read(cls, path: Path) -> "ExportConfig":
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ExportError(f"{path}: cannot read the export record: {exc}") from exc
        if data.get("format") != FORMAT:
            raise ExportError(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def hear_rate(rate: int) -> int:
    """The HEAR-facing rate for an encoder at ``rate`` Hz: itself if accepted, else the next accepted above (or 48k)."""
    return rate if rate in ACCEPTED_RATES else next((r for r in ACCEPTED_RATES if r > rate), ACCEPTED_RATES[-1])


def default_layer(encoder: Encoder) -> str | None:
    """The deepest declared non-pooled audio layer (the last one listed), or None."""
    maps = [layer for layer in encoder.layers("audio") if layer != POOLED]
    return maps[-1] if maps else None


class HearModel(nn.Module):
    """The object ``load_model`` returns: the avbench encoder plus HEAR's three attributes.

    sample_rate: Hz of the audio HEAR passes in; scene_embedding_size / timestamp_embedding_size: D of the two
    embedding functions.
    """

    def __init__(self, encoder: Encoder, config: ExportConfig) -> None:
        super().__init__()
        if encoder.meta.audio is None:
            raise ExportError(f"{encoder.meta.name} has no audio branch; HEAR modules are audio encoders")
        self.encoder = encoder.eval()
        self.config = config
        self.encoder_rate = int(encoder.meta.audio.sample_rate)
        self.sample_rate = int(config.sample_rate)
        self.scene_embedding_size = int(encoder.meta.embedding_dims["audio"])
        if config.timestamps == "window":
            self.timestamp_embedding_size = self.scene_embedding_size
        else:
            out = blank_output(encoder, "audio", (config.layer,), seconds=max(1.0, encoder.meta.audio.min_seconds))
            self.timestamp_embedding_size = int(_frames_of(encoder, config.layer, out).shape[2])

    def device(self) -> torch.device:
        """Where the encoder's parameters live (cpu for a parameter-free encoder)."""
        first = next(self.encoder.parameters(), None)
        return first.device if first is not None else torch.device("cpu")


def _to_encoder_rate(model: HearModel, audio: Any) -> torch.Tensor:
    """HEAR audio ``[n, samples]`` at ``model.sample_rate`` -> float32 on the model's device at the encoder's rate."""
    x = torch.as_tensor(audio)
    if x.dim() != 2:
        raise ValueError(f"HEAR audio must be [n_sounds, n_samples], got {tuple(x.shape)}")
    x = x.to(model.device(), torch.float32)
    if model.sample_rate != model.encoder_rate:
        import torchaudio.functional as AF

        x = AF.resample(x, model.sample_rate, model.encoder_rate)
    return x


def _pad_to(x: torch.Tensor, n: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, n - x.shape[1])) if x.shape[1] < n else x


def _pooled(model: HearModel, x: torch.Tensor) -> torch.Tensor:
    """``[n, N]`` at the encoder rate, N within its clip limits -> ``[n, D]``."""
    enc = model.encoder
    return enc.encode_audio(enc.audio_frontend(x), layers=(POOLED,))[POOLED].float()


def _layer_frames(model: HearModel, x: torch.Tensor) -> torch.Tensor:
    """``[n, N]`` at the encoder rate -> ``[n, T, C]``: the recorded layer averaged over every axis but time/channel."""
    enc = model.encoder
    return _frames_of(enc, model.config.layer, enc.encode_audio(enc.audio_frontend(x), layers=(model.config.layer,)))


def _frames_of(enc: Encoder, layer: str, out: dict) -> torch.Tensor:
    """``out[layer]`` (a FeatureMap with time and channel axes) as ``[n, T, C]``, averaged over its other axes."""
    fm = out[layer]
    if not isinstance(fm, FeatureMap) or "time" not in fm.axes or "channel" not in fm.axes:
        raise ExportError(f"{enc.meta.name}: layer {layer!r} is not a FeatureMap with time and channel axes")
    rest = [a for a in fm.axes if a not in ("batch", "channel", "time")]
    fm = fm.permute_to(("batch", "time", "channel", *rest))
    data = fm.data
    return data.mean(dim=tuple(range(3, data.dim()))) if rest else data


def get_scene_embeddings(audio: Any, model: HearModel) -> torch.Tensor:
    """HEAR ``audio [n, samples]`` float32 in [-1, 1] at ``model.sample_rate`` -> ``[n, scene_embedding_size]``."""
    spec = model.encoder.meta.audio
    with torch.no_grad():
        x = _to_encoder_rate(model, audio)
        n_min = int(round(spec.min_seconds * model.encoder_rate))
        n_max = max(n_min, int(spec.max_seconds * model.encoder_rate))
        if x.shape[1] <= n_max:
            return _pooled(model, _pad_to(x, n_min))
        total = torch.zeros(x.shape[0], model.scene_embedding_size, device=x.device)
        for start in range(0, x.shape[1], n_max):
            piece = x[:, start:start + n_max]
            total += _pooled(model, _pad_to(piece, n_min)) * piece.shape[1]
        return total / x.shape[1]


def get_timestamp_embeddings(audio: Any, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """HEAR ``audio [n, samples]`` -> (``[n, T, timestamp_embedding_size]`` float32, ``[n, T]`` timestamps in ms)."""
    with torch.no_grad():
        x = _to_encoder_rate(model, audio)
        n, length = x.shape
        duration_ms = 1000.0 * length / model.encoder_rate
        if model.config.timestamps == "window":
            return _window_embeddings(model, x, duration_ms)
        spec = model.encoder.meta.audio
        n_min = int(round(spec.min_seconds * model.encoder_rate))
        padded = _pad_to(x, n_min)
        emb = _layer_frames(model, padded)
        t = emb.shape[1]
        step = 1000.0 * padded.shape[1] / model.encoder_rate / t
        stamps = (torch.arange(t, dtype=torch.float64) + 0.5) * step
        keep = max(1, int((stamps <= duration_ms).sum()))  # frames of the zero padding are dropped
        stamps = stamps[:keep].to(torch.float32).to(x.device)
        return emb[:, :keep].contiguous(), stamps.expand(n, keep).clone()


def _window_embeddings(model: HearModel, x: torch.Tensor, duration_ms: float) -> tuple[torch.Tensor, torch.Tensor]:
    rate = model.encoder_rate
    win = max(1, int(round(model.config.window * rate)))
    hop = max(1, int(round(model.config.hop * rate)))
    n, length = x.shape
    padded = torch.nn.functional.pad(x, (win // 2, win - win // 2))
    starts = list(range(0, length + 1, hop))
    windows = torch.stack([padded[:, s:s + win] for s in starts], dim=1).reshape(n * len(starts), win)
    emb = torch.cat([_pooled(model, windows[i:i + WINDOW_BATCH]) for i in range(0, windows.shape[0], WINDOW_BATCH)])
    stamps = torch.tensor([1000.0 * s / rate for s in starts], dtype=torch.float32, device=x.device)
    return emb.reshape(n, len(starts), -1), stamps.expand(n, len(starts)).clone()


def load_exported(config_path: str | Path, model_file_path: str = "") -> HearModel:
    """Rebuild the exported encoder; ``model_file_path`` (HEAR's ``--model``) replaces the recorded weights."""
    from avbench.registry import build_encoder

    config = ExportConfig.read(Path(config_path))
    weights = model_file_path or config.weights
    encoder = build_encoder(config.model, weights=weights, init_seed=config.init_seed, **config.options)
    if not model_file_path and encoder.meta.weights_sha256 != config.weights_sha256:
        raise ExportError(f"{config_path}: the weights {config.weights!r} have changed since export (sha256 "
                          f"{encoder.meta.weights_sha256} != recorded {config.weights_sha256}); export again or "
                          "pass the weights file to load_model")
    return HearModel(encoder, config)


# ---- writing the package --------------------------------------------------------------------------------
INIT_TEMPLATE = '''"""HEAR 2021 module around the avbench encoder {model!r} (written by `avbench export hear`, avbench {version}).

Recorded build: see avbench_export.json next to this file. Needs avbench installed.
"""
from pathlib import Path

from avbench.export.hear import HearModel, load_exported
from avbench.export.hear import get_scene_embeddings as _scene
from avbench.export.hear import get_timestamp_embeddings as _timestamps

CONFIG = Path(__file__).with_name("{config}")


def load_model(model_file_path: str = "") -> HearModel:
    """The encoder (a torch.nn.Module with sample_rate, scene_embedding_size, timestamp_embedding_size)."""
    return load_exported(CONFIG, model_file_path)


def get_scene_embeddings(audio, model):
    """audio [n_sounds, n_samples] float32 at model.sample_rate -> [n_sounds, scene_embedding_size]."""
    return _scene(audio, model)


def get_timestamp_embeddings(audio, model):
    """audio [n_sounds, n_samples] -> ([n_sounds, T, timestamp_embedding_size], [n_sounds, T] in ms)."""
    return _timestamps(audio, model)
'''

PYPROJECT_TEMPLATE = '''[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "{version}"
description = "HEAR 2021 module around the avbench encoder {model} (avbench export hear)"
requires-python = ">=3.10"
dependencies = ["avbench>={version}"]

[tool.setuptools]
packages = ["{name}"]

[tool.setuptools.package-data]
{name} = ["{config}"]
'''


def default_name(model: str) -> str:
    """``"crisscross"`` -> ``"avbench_crisscross"``; ``"timm:x?y=1"`` -> ``"avbench_timm_x_y_1"``."""
    return "avbench_" + re.sub(r"_+", "_", re.sub(r"\W", "_", model.lower())).strip("_")


def _check_name(name: str, out: Path) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExportError(f"package name {name!r} is not a Python identifier")
    found = importlib.util.find_spec(name) if name not in sys.modules else sys.modules[name].__spec__
    origin = Path(found.origin).resolve() if found is not None and found.origin else None
    if found is not None and (origin is None or out.resolve() not in origin.parents):
        raise ExportError(f"package name {name!r} is already taken by an importable module "
                          f"({origin or found.name}); pass another --name")


def export_hear(model: str, out: str | Path, *, weights: str | None = None, name: str | None = None,
                init_seed: int = 0, options: dict[str, Any] | None = None, timestamps: str | None = None,
                layer: str | None = None, window: float = 1.0, hop: float = 0.05, force: bool = False) -> Path:
    """Write the HEAR package for ``model`` under ``out``; returns ``out / name``.

    weights / init_seed / options: as for :func:`avbench.registry.build_encoder` (options are build options such as
    ``audio_width=16``). timestamps: "layer" or "window" (default: layer when the encoder has a non-pooled audio
    layer). layer: the FeatureMap for layer mode (default the deepest). window / hop: seconds, for window mode.
    """
    from avbench._version import __version__
    from avbench.registry import build_encoder

    out = Path(out).expanduser()
    name = name or default_name(model)
    _check_name(name, out)
    pkg = out / name
    if pkg.exists() and not force:
        raise ExportError(f"{pkg} exists; pass --force to overwrite it")
    options = dict(options or {})
    weights_text = None if weights in (None, "") else str(weights)
    if weights_text is not None and Path(weights_text).expanduser().exists():
        weights_text = str(Path(weights_text).expanduser().resolve())
    encoder = build_encoder(model, weights=weights_text, init_seed=init_seed, **options)
    if "audio" not in encoder.meta.modalities or encoder.meta.audio is None:
        raise ExportError(f"{model}: has no audio branch (modalities: {', '.join(encoder.meta.modalities)}); "
                          "only audio encoders can be HEAR modules")
    mode = timestamps or ("layer" if default_layer(encoder) else "window")
    if mode not in ("layer", "window"):
        raise ExportError(f"timestamps must be 'layer' or 'window', got {mode!r}")
    if mode == "layer":
        layer = layer or default_layer(encoder)
        if layer is None or layer not in encoder.layers("audio") or layer == POOLED:
            raise ExportError(f"{model}: no audio FeatureMap layer {layer!r} for timestamp embeddings (layers: "
                              f"{', '.join(encoder.layers('audio'))}); use timestamps='window'")
    if window <= 0 or hop <= 0:
        raise ExportError(f"window and hop must be > 0 seconds, got window={window}, hop={hop}")
    config = ExportConfig(model=model, weights=weights_text, weights_sha256=encoder.meta.weights_sha256,
                          init_seed=init_seed, options=options, sample_rate=hear_rate(encoder.meta.audio.sample_rate),
                          timestamps=mode, layer=layer if mode == "layer" else None, window=float(window),
                          hop=float(hop), avbench_version=__version__)
    HearModel(encoder, config)  # fails here, not in the user's HEAR run, if the layer has no time axis
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / CONFIG_NAME).write_text(json.dumps(asdict(config), indent=1, sort_keys=True) + "\n")
    (pkg / "__init__.py").write_text(INIT_TEMPLATE.format(model=model, version=__version__, config=CONFIG_NAME))
    (out / "pyproject.toml").write_text(PYPROJECT_TEMPLATE.format(dist=name.replace("_", "-"), version=__version__,
                                                                  model=model, name=name, config=CONFIG_NAME))
    return pkg


def require_validator() -> None:
    """ExportError when the HEAR 2021 validator (``hearvalidator``) is not importable (checked before any export)."""
    if importlib.util.find_spec("hearvalidator") is None:
        raise ExportError("hearvalidator is not installed: pip install 'avbench[hear]' (it needs tensorflow); "
                          "nothing was written")


#: how the validator is started: ``python -c VALIDATOR_MAIN NAME --device D``. hearvalidator imports tensorflow
#: first; torch's CUDA wheels bring triton, which torchvision.ops and torch._dynamo import, and loading triton after
#: tensorflow 2.21 segfaults (both carry their own LLVM; seen with torch 2.14.1 + triton 3.8.0). Loaded first,
#: triton works and tensorflow too, so the validator runs the same in every environment.
VALIDATOR_MAIN = ("import importlib.util, runpy\n"
                  "if importlib.util.find_spec('triton') is not None:\n"
                  "    import triton  # noqa: F401  (before tensorflow: see avbench.export.hear.VALIDATOR_MAIN)\n"
                  "runpy.run_module('hearvalidator.validate', run_name='__main__', alter_sys=True)\n")


def validate_export(out: str | Path, name: str, *, model_file: str = "", device: str = "cpu",
                    timeout: float = 900.0) -> tuple[bool, str]:
    """Run the HEAR 2021 validator (``hearvalidator``) on the package ``name`` under ``out`` in a subprocess
    (:data:`VALIDATOR_MAIN`).

    Returns (passed, combined output). Raises ExportError when hearvalidator is not installed, and when the
    validator's process dies by a signal (a crash, not a verdict on the package): the one-line message names the
    signal, the versions of torch, triton and tensorflow, and the pinned install that is known to work.
    """
    require_validator()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(out).resolve()), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-c", VALIDATOR_MAIN, name, "--device", device]
    if model_file:
        cmd += ["--model", model_file]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    if proc.returncode < 0:
        raise ExportError(f"hearvalidator crashed ({_signal_name(-proc.returncode)}) while checking {name} under "
                          f"{_versions()}; the package was written to {out}. Install with the pinned versions "
                          f"(pip install -e '.[dev]' -c constraints.txt) and run `hear-validator {name}` again")
    return proc.returncode == 0 and "Looks good!" in proc.stdout, output


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("torch", "torchvision", "torchaudio", "triton", "tensorflow"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)
