"""Fixture writers for the video data sets: tiny synthetic copies of UCF101, HMDB51 and Kinetics-400 in their
OFFICIAL layouts, with real videos encoded by PyAV, plus damaged files for verify/decode tests.

* :func:`write_ucf101`: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` (``classInd.txt``,
  ``trainlist0k.txt`` with 1-based labels, ``testlist0k.txt`` without) in CRLF with trailing blank lines;
  the ``HandstandPushups`` folder holds ``v_HandStandPushups_*`` files, as in the real set. Split k tests the
  k-th block of groups (real set: groups 7(k-1)+1..7k of 25).
* :func:`write_hmdb51`: ``hmdb51_org/<class>/<movie>_<class>_<b>_<cm>_<np>_<view>_<q>_<n>.avi`` (movie names
  with ``&``, ``()``, ``;``, ``#``, ``!``) and ``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``
  (lines ``<video>.avi <0|1|2> `` with a trailing space; a movie is all test (2) or train (1) and unused (0)).
* :func:`write_kinetics400`: ``annotations/{train,val,test}.csv`` (``label,youtube_id,time_start,time_end,
  split,is_cc``; the test CSV has no label) and ``{train,val}/<label_with_underscores>/<ytid>_<s:06d>_<e:06d>.mp4``
  (``layout="class_folders"``) or ``{train,val}/<id>.mp4`` (``layout="flat"``); ``missing`` rows per CSV have no
  file; one file per split is a variable-frame-rate ``.mkv``.
* :func:`write_corrupt_video`: zero-byte, truncated, text and audio-only files with video names.

Every video shows a learnable class signal (:func:`visual_signature`): an oriented drifting grating whose
orientation (0..90 degrees, so a horizontal flip never maps one class onto another) and spatial frequency
depend on the class, and a bright blob moving in a class-dependent direction, over per-video colours,
contrast, phases, start positions and static + temporal noise. Files with audio carry the class's sound from
:mod:`avbench.synth.signals`. Frames are 64x48 (some 71x53), 2-4 s, at 25 / 30 / 29.97 fps (Kinetics also has
VFR files). Everything is deterministic for a seed; each root gets ``avbench_fixture.json``.

The writers live one per data set (:mod:`.ucf101_fixtures`, :mod:`.hmdb51_fixtures`, :mod:`.kinetics400_fixtures`),
the class signal and the encoding in :mod:`.video_render`; this module writes the damaged files and re-exports
every name it always offered.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avbench.synth.hmdb51_fixtures import HMDB51_CLASSES, HMDB_MOVIES, write_hmdb51
from avbench.synth.kinetics400_fixtures import K400_HEADER, KINETICS400_FIXTURE_CLASSES, write_kinetics400
from avbench.synth.ucf101_fixtures import (
    UCF101_CLASSES,
    UCF101_FILE_SPELLING,
    ucf101_test_groups,
    write_ucf101,
    write_ucf101_lists,
)
from avbench.synth.video_render import (
    VideoSpec,
    VisualSignature,
    encode_video,
    frame_times,
    h264_encoder,
    render_frames,
    visual_signature,
    write_class_video,
)

__all__ = [
    "CORRUPT_SECONDS", "HMDB51_CLASSES", "HMDB_MOVIES", "K400_HEADER", "KINETICS400_FIXTURE_CLASSES", "UCF101_CLASSES",
    "UCF101_FILE_SPELLING", "VideoSpec", "VisualSignature", "encode_video", "frame_times", "h264_encoder",
    "render_frames", "ucf101_test_groups", "visual_signature", "write_class_video", "write_corrupt_video",
    "write_hmdb51", "write_kinetics400", "write_ucf101", "write_ucf101_lists",
]

#: what :func:`write_corrupt_video` puts in its good files: 64x48, this many seconds at 25 fps.
CORRUPT_SECONDS = 2.0


def write_corrupt_video(out: Path) -> dict[str, Path]:
    """Write good and damaged video files under ``out`` for verify/decode tests; returns name -> path.

    Good (64x48, :data:`CORRUPT_SECONDS` s at 25 fps): ``good_avi`` (mpeg4), ``good_mp4`` (H.264 + AAC).
    Bad: ``zero_byte`` (empty .avi), ``truncated_avi`` and ``truncated_mp4`` (the first 40 % of the bytes of a
    10-s file; the AVI still opens and decodes its first seconds, the MP4 loses its index at the end and does
    not open), ``not_video`` (a text file named .avi), ``audio_only`` (an AAC-only file named .mp4).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    rng = np.random.default_rng(7)
    f["good_avi"] = write_class_video(out / "good.avi", 0, 2, VideoSpec("mpeg4", Fraction(25), CORRUPT_SECONDS), rng)
    f["good_mp4"] = write_class_video(out / "good.mp4", 1, 2, VideoSpec(h264_encoder(), Fraction(25), CORRUPT_SECONDS,
                                                                         audio=("aac", 16000)), rng)
    f["zero_byte"] = out / "zero_byte.avi"
    f["zero_byte"].write_bytes(b"")
    for ext, codec in (("avi", "mpeg4"), ("mp4", h264_encoder())):
        full = write_class_video(out / f"_full.{ext}", 0, 2, VideoSpec(codec, Fraction(25), 10.0), rng)
        data = full.read_bytes()
        f[f"truncated_{ext}"] = out / f"truncated.{ext}"
        f[f"truncated_{ext}"].write_bytes(data[: int(len(data) * 0.4)])
        full.unlink()
    f["not_video"] = out / "not_video.avi"
    f["not_video"].write_text("this is a text file, not a video\n" * 20)
    f["audio_only"] = out / "audio_only.mp4"
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(32000) / 16000)
    with av.open(str(f["audio_only"]), mode="w") as c:
        s = c.add_stream("aac", rate=16000, layout="mono")
        data = tone.astype(np.float32)[None]
        for start in range(0, data.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start:start + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 16000, start, Fraction(1, 16000)
            for p in s.encode(af):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return f
