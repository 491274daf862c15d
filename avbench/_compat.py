"""Old module names of avbench 0.4, kept importable for one release (avbench 0.5; removed in 0.6).

The 0.5 redesign moved modules into folders named for their job (``avbench.runner`` -> ``avbench.evaluation``,
``avbench.extract`` -> ``avbench.features.extract``, ...). ``import avbench.runner`` and ``from avbench.store import
FeatureStore`` still work: a finder placed first on ``sys.meta_path`` answers each old name with the module at
its new place (the same module object, so state is shared) and emits a DeprecationWarning naming the new place.
Nothing is imported until an old name is asked for.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: old name -> new name
MOVED: dict[str, str] = {
    "avbench.runner": "avbench.evaluation.runner",
    "avbench.demo": "avbench.cli.demo",
    "avbench.cli_export": "avbench.cli.export",
    "avbench.cli_leaderboard": "avbench.cli.leaderboard",
    "avbench.cli_pretrain": "avbench.cli.pretrain",
    "avbench.cli_reproduce": "avbench.cli.reproduce",
    "avbench.cli_submit": "avbench.cli.submit",
    "avbench.extract": "avbench.features.extract",
    "avbench.extract_audio": "avbench.features.audio",
    "avbench.extract_video": "avbench.features.video",
    "avbench.extract_common": "avbench.features.spec",
    "avbench.pooling": "avbench.features.pooling",
    "avbench.store": "avbench.features.store",
    "avbench.finetune_data": "avbench.protocols.finetune.data",
    "avbench.finetune_run": "avbench.protocols.finetune.run",
    "avbench.protocols.sync_bn": "avbench.runtime.sync_bn",
    "avbench.protocols.video_level": "avbench.protocols.aggregate",
    "avbench.protocols.linear_head": "avbench.protocols.linear",
    "avbench.faults": "avbench.runtime.faults",
    "avbench.validate_inputs": "avbench.validate.inputs",
    "avbench.validate_report": "avbench.validate.report",
    "avbench.submission.check": "avbench.validate.submission",
    "avbench.export_hear": "avbench.export.hear",
    "avbench.weights": "avbench.models.weights",
    "avbench.augvgg": "avbench.datasets.augvgg",
    "avbench.augvgg.generate": "avbench.datasets.augvgg.generate",
    "avbench.augvgg.audio_ops": "avbench.datasets.augvgg.audio_ops",
    "avbench.augvgg.video_ops": "avbench.datasets.augvgg.video_ops",
    "avbench.synth.nasty": "avbench.synth.corrupt",
}


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new} in avbench 0.5; the old name goes in 0.6", DeprecationWarning,
                      stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:  # the module at the new place is already executed
        return None


def install() -> None:
    """Put the old-name finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _OldNames) for f in sys.meta_path):
        sys.meta_path.insert(0, _OldNames())
