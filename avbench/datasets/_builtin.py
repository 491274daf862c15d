"""Imports the built-in adapters so that their @register_dataset decorators run."""
from avbench.datasets.augvgg import adapter as augvgg  # noqa: F401
from avbench.datasets import dcase, esc50, hmdb51, kinetics, ucf101, vggsound  # noqa: F401
