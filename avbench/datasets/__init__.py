"""Dataset adapters: one file per data set, each turning an official layout into a :class:`Manifest`.

:data:`DATASETS` is the dataset registry (:class:`avbench.registry.Registry`): the built-in adapters by
``"module:Class"`` string (imported when first asked for), third-party ones from the ``avbench.datasets``
entry-point group or :func:`register_dataset`.
"""
from __future__ import annotations

from typing import Callable

from avbench.datasets.base import DatasetAdapter, DatasetError, Manifest, Sample, Skip
from avbench.registry import Registry

__all__ = ["DATASETS", "DatasetAdapter", "DatasetError", "Manifest", "Sample", "Skip", "dataset_names", "get_dataset",
           "register_dataset"]


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


DATASETS: Registry[Callable[[], DatasetAdapter]] = Registry("dataset", group="avbench.datasets", error=UnknownDatasetError, builtin={
    "augvgg": "avbench.datasets.augvgg.adapter:AugVGG",
    "dcase2013": "avbench.datasets.dcase:DCASE2013",
    "esc50": "avbench.datasets.esc50:ESC50",
    "hmdb51": "avbench.datasets.hmdb51:HMDB51",
    "kinetics400": "avbench.datasets.kinetics:Kinetics400",
    "kinetics_sound": "avbench.datasets.kinetics:KineticsSound",
    "ucf101": "avbench.datasets.ucf101:UCF101",
    "vggsound": "avbench.datasets.vggsound:VGGSound",
})


def register_dataset(name: str) -> Callable[[type], type]:
    """Class decorator for a third-party adapter: ``@register_dataset("mine") class Mine: ...``."""
    return DATASETS.register(name)


def get_dataset(name: str) -> DatasetAdapter:
    """A new adapter instance for ``name``; :class:`UnknownDatasetError` (a KeyError) lists the known names."""
    return DATASETS.load(name)()


def dataset_names() -> list[str]:
    return DATASETS.names()
