"""Imports the built-in adapters so that their @register_dataset decorators run."""
from . import dcase, esc50  # noqa: F401
