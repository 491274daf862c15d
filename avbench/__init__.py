"""avbench: downstream evaluation of self-supervised audio-visual encoders.

Python API (mirrors the CLI)::

    import avbench
    record = avbench.evaluate("crisscross", "esc50", data_root="/data/ESC-50")
    record = avbench.evaluate(my_encoder, "esc50", data_root=..., classifier={"backend": "sklearn"})

    @avbench.register_encoder("mymodel")
    def build(weights=None, init_seed=0, **options) -> avbench.Encoder: ...
"""
from __future__ import annotations

from typing import Any

from avbench.encoder import AudioSpec, Encoder, EncoderMeta, FeatureMap, GeometryError, VideoSpec
from avbench.registry import build_encoder, register_encoder

from avbench import _compat
from avbench._version import __version__

_compat.install()

__all__ = ["AudioSpec", "Encoder", "EncoderMeta", "FeatureMap", "GeometryError", "VideoSpec", "build_encoder",
           "evaluate", "register_encoder", "__version__"]


def evaluate(encoder: "str | Encoder", task: str, **kwargs: Any) -> dict:
    """Evaluate ``encoder`` (registered name, ``"pkg.module:factory"``, or an Encoder instance) on ``task``.

    See :func:`avbench.evaluation.runner.evaluate` for the keyword arguments; returns the result record as a dict.
    """
    from avbench.evaluation.runner import evaluate as _evaluate

    return _evaluate(encoder, task, **kwargs)
