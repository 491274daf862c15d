"""Imports the built-in adapters so that their @register_dataset decorators run."""
from . import augvgg, dcase, esc50, hmdb51, kinetics, ucf101, vggsound  # noqa: F401
