"""Dataset adapters: one file per data set, each turning an official layout into a :class:`Manifest`."""
from avbench.datasets.base import (
    DatasetAdapter,
    DatasetError,
    Manifest,
    Sample,
    Skip,
    dataset_names,
    get_dataset,
    register_dataset,
)

__all__ = ["DatasetAdapter", "DatasetError", "Manifest", "Sample", "Skip", "dataset_names", "get_dataset", "register_dataset"]
