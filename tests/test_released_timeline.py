"""The released decoders' frame timeline (issue 19, ERRATA D4): CrissCross / AVID show, at each 16-fps target time,
the frame DISPLAYED then (floor) over ``int(duration * 16)`` target frames; avbench's default is the nearest frame
over ``ceil(duration * 16)``. ``video.timeline: floor`` is the released reading. Golden source-frame lists: their
``VideoDataset(mode='video')`` run on the same index-coded fixtures (tests/golden/authors_code, video_dense_test)."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avbench.media.video_decode import decode_clips
from avbench.taskcard import load_card

GOLDEN = json.loads((Path(__file__).parent / "golden" / "authors_code" / "values.json").read_text())["video_dense_test"]
SPECS = {"A_25fps_75f.avi": (Fraction(25), 75), "B_25fps_76f.avi": (Fraction(25), 76),
         "C_29.97fps_70f.avi": (Fraction(30000, 1001), 70)}


def _write(path: Path, rate: Fraction, n: int) -> None:
    """Lossless FFV1 AVI whose frame k is the grey level 20 + 3k (the fixtures their code was run on; 64x48 here)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for k in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 + 3 * k, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize("name", list(SPECS))
def test_floor_timeline_picks_the_released_source_frames(name, tmp_path):
    path = tmp_path / name
    _write(path, *SPECS[name])
    out = decode_clips(path, fps=16, frames=8, clips=10, sampling="uniform", timeline="floor")
    assert out.n_target == GOLDEN[name]["n_target"]
    assert out.source_index.tolist() == GOLDEN[name]["clips_source_frames"]
    grey = out.frames[..., 0].float().mean(dim=(2, 3))  # [K, T]: 20 + 3 k of the source frame shown
    assert ((grey - 20) / 3).round().long().tolist() == GOLDEN[name]["clips_source_frames"]
    nearest = decode_clips(path, fps=16, frames=8, clips=10, sampling="uniform")
    assert nearest.source_index.tolist() != GOLDEN[name]["clips_source_frames"]  # the default reading differs


def test_card_option():
    assert load_card("ucf101-finetune", {"video": {"timeline": "floor"}}).video.timeline == "floor"
    assert "timeline" not in load_card("ucf101-finetune").to_dict()["video"]  # default omitted: hashes kept
