"""The submission card: ``card.yaml`` in a submission folder, next to the encoder module and its weights.

A submission folder looks like::

    my-encoder/
      card.yaml            # this schema
      encoder.py           # defines the factory named in card.yaml, e.g. ``build(weights=None, **kw) -> Encoder``
      weights.safetensors  # never a pickle: avbench refuses .pt/.pth/.bin/.ckpt in a submission

``card.yaml``::

    name: my-encoder            # lowercase, [a-z0-9][a-z0-9._-]*; the leaderboard row name
    version: "1"
    authors: [Ada Lovelace <ada@example.org>]
    licence: Apache-2.0         # SPDX identifier or free text
    modalities: [audio, video]
    pretraining_data: Kinetics-400 (240k videos, no labels)
    factory: encoder:build      # "<module file stem or dotted module>:<callable>", imported from the folder
    weights: weights.safetensors
    weights_sha256: 9f2c...     # sha256 of the weights file, hex
    url: https://...            # optional: paper or code
    notes: ...                  # optional

:func:`load_card` parses and checks it (pydantic, unknown keys refused) and names the file in every error.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from avbench.models.weights import sha256_file

__all__ = ["CARD_FILE", "PICKLE_SUFFIXES", "SubmissionCard", "SubmissionError", "load_card", "sha256_file"]

CARD_FILE = "card.yaml"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class SubmissionError(ValueError):
    """A submission folder, card or weights file is unusable; the message names the file and the problem."""


class SubmissionCard(BaseModel):
    """The fields of ``card.yaml`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str = "1"
    authors: list[str] = Field(min_length=1)
    licence: str
    modalities: list[Literal["audio", "video"]] = Field(min_length=1)
    pretraining_data: str
    factory: str
    weights: str
    weights_sha256: str
    url: str | None = None
    notes: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"name {v!r} must match {_NAME.pattern}")
        return v

    @field_validator("factory")
    @classmethod
    def _factory(cls, v: str) -> str:
        mod, sep, attr = v.partition(":")
        if not sep or not mod or not attr:
            raise ValueError(f"factory {v!r} must be 'module:callable'")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: str) -> str:
        if Path(v).is_absolute() or ".." in Path(v).parts:
            raise ValueError(f"weights {v!r} must be a path inside the submission folder")
        if not v.endswith(".safetensors"):
            raise ValueError(f"weights {v!r} must be a .safetensors file (pickled checkpoints are refused)")
        return v

    @field_validator("weights_sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"weights_sha256 {v!r} is not 64 lowercase hex digits")
        return v


def load_card(folder: str | Path, *, check_weights: bool = True) -> SubmissionCard:
    """Parse ``folder/card.yaml``; with ``check_weights`` also check the weights file exists and its sha256 matches.

    Raises :class:`SubmissionError` naming the file and the problem. Refuses pickled checkpoints anywhere in the
    folder (they can execute code when loaded).
    """
    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        raise SubmissionError(f"{path}: no submission card (expected {CARD_FILE} in the submission folder)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SubmissionError(f"{path}: expected a mapping of card fields, got {type(raw).__name__}")
    try:
        card = SubmissionCard.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(card)'}: {e['msg']}" for e in exc.errors())
        raise SubmissionError(f"{path}: {problems}") from exc
    pickles = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise SubmissionError(f"{folder}: pickled files are refused in a submission ({', '.join(pickles)}); "
                              "convert weights to safetensors")
    if check_weights:
        weights = folder / card.weights
        if not weights.is_file():
            raise SubmissionError(f"{weights}: weights file named in {path} does not exist")
        actual = sha256_file(weights)
        if actual != card.weights_sha256:
            raise SubmissionError(f"{weights}: sha256 {actual} does not match weights_sha256 {card.weights_sha256} "
                                  f"in {path}")
    return card
