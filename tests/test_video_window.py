"""Windowed video decoding (issue 17, "decoders read only what the card needs"): the frames of a clip plan decoded
from the keyframe before its first frame to its last frame are bit-identical to a whole-file decode, on every
container and codec the fixture writers produce, and fewer frames are decoded."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from avbench.media.errors import MediaError
from avbench.media.video_decode import decode_clips
from avbench.synth.corrupt import write_nasty_corpus
from avbench.synth.video_fixtures import write_corrupt_video
from avbench.synth.video_render import VideoSpec, h264_encoder, write_class_video

KINDS = {"mp4": (h264_encoder(), False), "avi": ("mpeg4", False), "mkv": (h264_encoder(), True)}


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory) -> dict[str, Path]:
    """12-s 64x48 fixture videos: H.264 in MP4, MPEG-4 part 2 in AVI, variable-frame-rate H.264 in Matroska."""
    out = tmp_path_factory.mktemp("window")
    return {ext: write_class_video(out / f"long.{ext}", 1, 4, VideoSpec(codec, Fraction(25), 12.0, vfr=vfr),
                                   np.random.default_rng(3)) for ext, (codec, vfr) in KINDS.items()}


def _both(path: Path, **kw):
    """(windowed, whole-file) decodes of the same plan; the generators are made afresh for each."""
    seed, k = kw.pop("seed", 0), kw["clips"]
    gens = lambda: [torch.Generator().manual_seed(1000 * seed + j) for j in range(k)]  # noqa: E731
    return (decode_clips(path, generators=gens(), **kw), decode_clips(path, generators=gens(), window=False, **kw))


def _same(a, b) -> None:
    assert torch.equal(a.frames, b.frames)
    assert torch.equal(a.source_index, b.source_index)
    assert (a.starts, a.n_target, a.seconds, a.source_frames, a.padded, a.notes, a.rotation) == \
        (b.starts, b.n_target, b.seconds, b.source_frames, b.padded, b.notes, b.rotation)


@pytest.mark.parametrize("ext", sorted(KINDS))
@pytest.mark.parametrize("sampling,clips,trim", [("random", 1, False), ("random", 3, False), ("synced", 2, False),
                                                  ("uniform", 1, True), ("uniform", 4, False)])
def test_windowed_decode_is_bit_identical(long_videos, ext, sampling, clips, trim):
    for rule in ("nearest", "floor"):
        for seed in range(4):
            a, b = _both(long_videos[ext], fps=10.0, frames=8, clips=clips, sampling=sampling, seed=seed,
                         trim_to_first_clip=trim, timeline=rule)
            _same(a, b)
            assert b.decoded_frames == b.source_frames  # the whole-file path decodes every frame


@pytest.mark.parametrize("ext", sorted(KINDS))
def test_a_short_window_decodes_a_fraction_of_the_file(long_videos, ext):
    """Random 0.8-s clips of a 12-s file: decoding stops at the clip's last frame and starts at the keyframe before
    its first (every 12 frames in the MPEG-4 AVI: under a third of the file decoded; x264's H.264 has a keyframe every
    250 frames, so there only the frames after the clip are saved); the first clip only (trim): under a fifth."""
    for seed in range(4):
        a, b = _both(long_videos[ext], fps=10.0, frames=8, clips=1, sampling="random", seed=seed)
        last = int(a.source_index.max())
        assert a.decoded_frames <= last + 1, (seed, a.decoded_frames, last)
        if ext == "avi":
            assert a.decoded_frames < a.source_frames / 3, (seed, a.decoded_frames, a.source_frames)
    a, _ = _both(long_videos[ext], fps=10.0, frames=8, clips=1, sampling="uniform", trim_to_first_clip=True)
    assert a.decoded_frames < a.source_frames / 5, (a.decoded_frames, a.source_frames)


def test_odd_and_damaged_files_decode_the_same_either_way(tmp_path):
    """Rotated, variable-frame-rate, odd-sized and truncated files: the same frames, notes and rotation whether a
    window was decoded or (where the window cannot be proven) the whole file."""
    nasty = write_nasty_corpus(tmp_path / "nasty")
    corrupt = write_corrupt_video(tmp_path / "corrupt")
    files = [nasty[n] for n in ("rotated", "vfr", "odd_size", "short")] + [corrupt["truncated_avi"],
                                                                            corrupt["good_avi"]]
    for path in files:
        for sampling, clips in (("random", 1), ("uniform", 2)):
            try:
                a, b = _both(path, fps=10.0, frames=4, clips=clips, sampling=sampling, seed=1)
            except MediaError:
                continue
            _same(a, b)
