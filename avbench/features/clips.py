"""Extracted views as the protocols see them: the rows of chosen samples (:func:`select`), two modalities side by
side (:func:`fuse`), and column ranges of probed layers (:func:`columns`)."""
from __future__ import annotations

from typing import Sequence

import torch

from avbench.datasets.base import Sample
from avbench.features.extract import ExtractedView
from avbench.protocols.base import ClipFeatures

__all__ = ["select", "fuse", "columns"]


def select(view: ExtractedView, view_samples: Sequence[Sample], ids: Sequence[str]) -> ClipFeatures:
    """The rows of ``ids`` that produced features, as ClipFeatures indexed ``0..S-1`` in ``ids`` order. Blocks that
    are kept whole stay the (memory-mapped) shard blocks themselves: nothing is copied or loaded here."""
    pos_of = {s.id: i for i, s in enumerate(view_samples)}
    wanted = torch.full((len(view_samples),), -1, dtype=torch.long)
    present = set(view_samples[int(p)].id for p in torch.unique(view.sample).tolist())
    kept = [i for i in ids if i in present]
    for local, sid in enumerate(kept):
        wanted[pos_of[sid]] = local
    local_index = wanted[view.sample]
    keep = local_index >= 0
    blocks, start = [], 0
    for b in view.features:
        m = keep[start:start + b.shape[0]]
        if bool(m.all()):
            blocks.append(b)
        elif bool(m.any()):
            blocks.append(b[m])
        start += b.shape[0]
    by_id = {s.id: s for s in view_samples}
    return ClipFeatures(blocks=blocks, sample_index=local_index[keep],
                        labels=torch.tensor([by_id[i].label for i in kept], dtype=torch.long),
                        groups=[by_id[i].group for i in kept], sample_ids=kept)


def fuse(audio: ClipFeatures, video: ClipFeatures) -> ClipFeatures:
    """Late fusion: each clip's audio and video features concatenated ``[n, D_a + D_v]`` (audio first), block by
    block. Both must hold the same samples with the same clip rows in the same order (the extraction writes rows
    by (sample, clip) in shard order, and synced sampling gives each clip one start time in both streams)."""
    if audio.sample_ids != video.sample_ids or not torch.equal(audio.sample_index, video.sample_index):
        raise RuntimeError("audio and video clip rows do not line up; cannot fuse")
    blocks_a, blocks_v = audio.blocks, video.blocks
    if [b.shape[0] for b in blocks_a] != [b.shape[0] for b in blocks_v]:
        blocks_a, blocks_v = [audio.dense()], [video.dense()]
    return ClipFeatures(blocks=[torch.cat([a, v], dim=1) for a, v in zip(blocks_a, blocks_v)],
                        sample_index=audio.sample_index, labels=audio.labels, groups=audio.groups,
                        sample_ids=audio.sample_ids)


def columns(features: ClipFeatures, first: int, end: int) -> ClipFeatures:
    """The same rows restricted to feature columns ``[first, end)``."""
    return ClipFeatures(blocks=[b[:, first:end] for b in features.blocks], sample_index=features.sample_index,
                        labels=features.labels, groups=features.groups, sample_ids=features.sample_ids)
