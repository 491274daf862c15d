"""Clip windows: uniform starts as the reference code, per-clip random starts, padding."""
import numpy as np
import pytest
import torch

from avbench.media.clips import cut_clips, random_starts, uniform_starts
from avbench.media.seeding import generator_for


def test_uniform_starts_match_the_reference_linspace():
    assert uniform_starts(100, 10, 5) == [0, 22, 45, 67, 90]
    n, clip = 80000, 32000  # 5 s and 2 s at 16 kHz, 10 windows (ESC-50 test)
    assert uniform_starts(n, clip, 10) == np.linspace(0, n - clip, 10).astype(int).tolist()
    assert uniform_starts(n, clip, 1) == [0]


def test_uniform_starts_are_zero_when_the_input_is_not_longer_than_a_clip():
    assert uniform_starts(10, 20, 3) == [0, 0, 0]
    assert uniform_starts(20, 20, 2) == [0, 0]


def _gens(seed, n):
    return [generator_for(seed, "train", "sample-a", j, "start") for j in range(n)]


def test_random_starts_are_reproducible_and_independent_of_the_other_clips():
    a = random_starts(80000, 32000, 5, _gens(0, 5))
    assert a == random_starts(80000, 32000, 5, _gens(0, 5))
    assert random_starts(80000, 32000, 3, _gens(0, 3)) == a[:3]  # clip j's start never depends on n
    assert random_starts(80000, 32000, 5, _gens(1, 5)) != a
    assert len(set(a)) > 1 and all(0 <= s <= 48000 for s in a)


def test_random_starts_cover_the_last_position_and_short_inputs():
    starts = random_starts(12, 10, 200, [generator_for(7, j) for j in range(200)])
    assert set(starts) == {0, 1, 2}
    assert random_starts(5, 10, 3, _gens(0, 3)) == [0, 0, 0]
    with pytest.raises(ValueError, match="one generator per clip"):
        random_starts(100, 10, 3, _gens(0, 2))


def test_cut_clips_slices_and_pads():
    wave = torch.arange(1, 11, dtype=torch.float32)
    clips = cut_clips(wave, [0, 3, 6], 4)
    assert clips.shape == (3, 4)
    assert clips.tolist() == [[1, 2, 3, 4], [4, 5, 6, 7], [7, 8, 9, 10]]
    short = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert cut_clips(short, [0], 8).tolist() == [[1, 2, 3, 4, 5, 0, 0, 0]]  # default: zeros (reference trim_pad)
    assert cut_clips(short, [0], 8, pad="cyclic").tolist() == [[1, 2, 3, 4, 5, 1, 2, 3]]
    assert cut_clips(short, [3], 4).tolist() == [[4, 5, 0, 0]]
    assert cut_clips(short, [3], 4, pad="cyclic").tolist() == [[4, 5, 1, 2]]
    with pytest.raises(ValueError):
        cut_clips(short, [0], 4, pad="reflect")
    with pytest.raises(ValueError):
        cut_clips(short[None], [0], 4)
