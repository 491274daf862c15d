"""Seeds derived from sample ids, so random augmentation never depends on batch size, workers or rank."""
from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. ``derive_seed(base_seed, "train", sample_id, clip_index)``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def generator_for(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``parts`` (see :func:`derive_seed`)."""
    g = torch.Generator()
    g.manual_seed(derive_seed(*parts))
    return g
