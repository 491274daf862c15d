"""Finetuning batch composition (issue 19, item 1): the released code shuffles all N x 10 clips globally (about
63.8 distinct videos per batch of 64); avbench's batches take one clip from each of ``batch_size`` videos of a pool
of 1.5 x batch_size videos (until 0.5.0: a buffer of 8 videos, about 9 videos per batch)."""
from __future__ import annotations

import torch

from avbench.protocols.finetune.data import mix_batches
from avbench.protocols.finetune.protocol import FinetuneSettings


def _videos(n: int, k: int = 10):
    """n videos of k clips: clip j of video v is the tuple (v, j)."""
    return [(v, [(v, j) for j in range(k)]) for v in range(n)]


def test_a_batch_holds_batch_size_distinct_videos():
    batches = list(mix_batches(_videos(200), batch_size=64, buffer_videos=96, gen=torch.Generator().manual_seed(0),
                               drop_last=True))
    distinct = [len({v for v, _ in b}) for b in batches]
    assert all(len(b) == 64 for b in batches) and len(batches) == 2000 // 64  # the last partial batch dropped
    full_pool = distinct[:-4]  # the pool drains at the end of the epoch
    assert min(full_pool) == 64 and sum(distinct) / len(distinct) >= 56
    seen = sorted(c for b in batches for c in b)
    assert len(seen) == len(set(seen))  # every clip at most once
    kept = list(mix_batches(_videos(200), batch_size=64, buffer_videos=96, gen=torch.Generator().manual_seed(0)))
    assert sum(len(b) for b in kept) == 2000  # without drop_last every clip is used once


def test_deterministic_and_clip_order_kept_per_video():
    runs = [list(mix_batches(_videos(50, 4), batch_size=8, buffer_videos=12, gen=torch.Generator().manual_seed(3)))
            for _ in range(2)]
    assert runs[0] == runs[1]
    order: dict[int, list[int]] = {}
    for b in runs[0]:
        for v, j in b:
            order.setdefault(v, []).append(j)
    assert all(js == [0, 1, 2, 3] for js in order.values())


def test_a_set_smaller_than_a_batch_keeps_its_one_batch():
    out = list(mix_batches(_videos(3, 2), batch_size=64, buffer_videos=96, gen=torch.Generator().manual_seed(0),
                           drop_last=True))
    assert len(out) == 1 and len(out[0]) == 6


def test_card_defaults():
    s = FinetuneSettings(type="finetune", epochs=1, batch_size=64, lr=0.1)
    assert s.buffer_videos is None and s.drop_last is True  # pool 1.5 x batch; released drop_last: true
