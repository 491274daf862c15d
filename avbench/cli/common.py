"""What the subcommands share: the stderr console, the decode-worker default and the user errors every command
turns into one line (``avbench --debug`` shows their tracebacks)."""
from __future__ import annotations

import importlib

from avbench.evaluation.options import default_workers

__all__ = ["console", "default_workers", "user_errors"]

#: named errors that mean "the input is wrong" (a card, a name, a file, an encoder's output), not "avbench is broken"
_USER_ERRORS = (
    "avbench.taskcard:TaskCardError", "avbench.datasets.base:DatasetError", "avbench.datasets:UnknownDatasetError",
    "avbench.encoder:GeometryError", "avbench.encoder:UnknownEncoderError", "avbench.registry:UnknownNameError",
    "avbench.protocols:UnknownProtocolError", "avbench.pretrain.method:UnknownMethodError",
    "avbench.models.weights:WeightsError", "avbench.media.errors:MediaError",
    "avbench.features.spec:NonFiniteFeaturesError", "avbench.features.spec:EncoderOutputError",
    "avbench.metrics:NonFiniteScoresError", "avbench.results:NonFiniteValueError", "avbench.results:RecordPathError",
    "avbench.runtime.checkpoint:CheckpointError", "avbench.export.hear:ExportError",
    "avbench.submission.bundle:BundleError", "avbench.submission.card:SubmissionError",
    "avbench.leaderboard.reported:ReportedError", "avbench.leaderboard.recompute:RecomputeError",
    "avbench.features.store:CacheWriteError", "avbench.results:RecordWriteError", "avbench.config:UntrustedYAMLError",
)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types :func:`avbench.cli.app.main` prints as one ``avbench: error: ...`` line: avbench's named
    errors, a missing file, and an optional dependency that is not installed (ImportError)."""
    out: list[type[BaseException]] = [FileNotFoundError, ImportError]
    for spec in _USER_ERRORS:
        module, _, name = spec.partition(":")
        out.append(getattr(importlib.import_module(module), name))
    return tuple(out)


def console():
    """A rich console on stderr (logs and progress; results go to stdout)."""
    from rich.console import Console

    return Console(stderr=True)
