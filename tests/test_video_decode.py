"""Video decoding: one decode per file, timestamp resampling to the encoder's fps, clip windows, cyclic padding,
variable frame rate, odd sizes, damaged files. Frames carry their source index in their brightness
(index * 8 grey levels, flat images survive the codec), so every chosen frame can be checked exactly."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avbench.media import video_decode
from avbench.media.errors import MediaError
from avbench.media.seeding import generator_for
from avbench.media.video_decode import decode_clips, probe_video, target_timeline

STEP = 8  # grey levels per source frame


def write_indexed_video(path: Path, pts: list[int], time_base: Fraction, *, size=(64, 48), codec="ffv1",
                        audio: bool = False) -> Path:
    """Frame i shows flat grey (i * STEP) and is presented at ``pts[i] * time_base`` seconds."""
    w, h = size
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=int(round(1 / time_base)) if 1 / time_base == int(1 / time_base) else 30)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv444p"
        vs.time_base = time_base
        if codec == "libx264":
            vs.options = {"crf": "0", "bf": "2"}
        if audio:
            a = c.add_stream("aac", rate=16000, layout="mono")
        for i, p in enumerate(pts):
            img = np.full((h, w, 3), (i * STEP) % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = p, time_base
            for pk in vs.encode(f):
                c.mux(pk)
        for pk in vs.encode(None):
            c.mux(pk)
        if audio:
            seconds = (pts[-1] + 1) * float(time_base)
            x = (0.3 * np.sin(np.arange(int(16000 * seconds)) * 0.1)).astype(np.float32)[None]
            for s in range(0, x.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, s:s + 1024]), format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 16000, s, Fraction(1, 16000)
                for pk in a.encode(af):
                    c.mux(pk)
            for pk in a.encode(None):
                c.mux(pk)
    return path


def frame_ids(clips: torch.Tensor) -> np.ndarray:
    """``[K, T, H, W, 3]`` uint8 -> ``[K, T]`` source indices read back from the brightness."""
    return np.round(clips.float().mean(dim=(2, 3, 4)).numpy() / STEP).astype(int)


def test_uniform_clips_follow_timestamps_at_the_target_rate(tmp_path):
    path = write_indexed_video(tmp_path / "v.avi", list(range(25)), Fraction(1, 25))  # 1 s at 25 fps
    out = decode_clips(path, fps=16, frames=4, clips=3)
    assert out.frames.shape == (3, 4, 48, 64, 3) and out.frames.dtype == torch.uint8
    assert out.n_target == 16 and out.starts == (0, 6, 12) and not out.padded
    # target k at k/16 s -> nearest source frame round(k * 25 / 16) (ties to the earlier)
    expected = [[int(np.floor(k * 25 / 16 + 0.5 - 1e-9)) for k in range(s, s + 4)] for s in (0, 6, 12)]
    assert out.source_index.tolist() == expected
    assert frame_ids(out.frames).tolist() == expected


def test_variable_frame_rate_uses_each_frames_own_timestamp(tmp_path):
    # 10 frames at 10 Hz, a 0.5-s freeze (no frames), then 10 frames at 20 Hz (time base 1/100 s)
    pts = [i * 10 for i in range(10)] + [150 + i * 5 for i in range(10)]
    path = write_indexed_video(tmp_path / "vfr.mkv", pts, Fraction(1, 100), codec="libx264")
    out = decode_clips(path, fps=10, frames=20, clips=1)
    times = np.array(pts) / 100.0
    expected = target_timeline(times, 10.0)[:20]
    assert out.source_index[0].tolist() == expected.tolist()
    ids = frame_ids(out.frames)[0].tolist()
    assert ids == expected.tolist()
    assert ids[10:15] == [9, 9, 10, 10, 11] or ids[10:15] == expected[10:15].tolist()
    # during the freeze (1.0-1.4 s) the last frame before it is repeated, not a later one
    assert ids[10] == 9


def test_short_video_is_padded_cyclically_and_flagged(tmp_path):
    path = write_indexed_video(tmp_path / "short.avi", list(range(5)), Fraction(1, 16))  # 5 frames
    out = decode_clips(path, fps=16, frames=8, clips=2)
    assert out.padded and out.n_target == 5
    assert frame_ids(out.frames).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]] * 2


def test_random_clips_depend_only_on_their_own_generator(tmp_path):
    path = write_indexed_video(tmp_path / "r.avi", list(range(50)), Fraction(1, 25))
    gens = lambda: [generator_for(0, "train", "vid", j, "start") for j in range(5)]  # noqa: E731
    a = decode_clips(path, fps=16, frames=8, clips=5, sampling="random", generators=gens())
    b = decode_clips(path, fps=16, frames=8, clips=5, sampling="random", generators=gens())
    assert a.starts == b.starts and torch.equal(a.frames, b.frames)
    assert len(set(a.starts)) > 1 and all(0 <= s <= a.n_target - 8 for s in a.starts)
    one = decode_clips(path, fps=16, frames=8, clips=1, sampling="random", generators=gens()[:1])
    assert one.starts[0] == a.starts[0]


def test_each_file_is_decoded_once_for_all_clips(tmp_path, monkeypatch):
    path = write_indexed_video(tmp_path / "once.avi", list(range(40)), Fraction(1, 25))
    opened = []
    real = video_decode.open_container
    monkeypatch.setattr(video_decode, "open_container", lambda p: opened.append(p) or real(p))
    converted = []
    real_nd = av.VideoFrame.to_ndarray
    monkeypatch.setattr(av.VideoFrame, "to_ndarray", lambda self, **kw: converted.append(1) or real_nd(self, **kw))
    out = decode_clips(path, fps=16, frames=8, clips=10)
    assert len(opened) == 1
    assert len(converted) == len(np.unique(out.source_index.numpy()))  # only frames some clip shows


def test_b_frames_odd_size_and_audio_stream(tmp_path):
    path = write_indexed_video(tmp_path / "b.mp4", list(range(30)), Fraction(1, 30), size=(71, 53),
                               codec="libx264", audio=True)
    info = probe_video(path)
    assert (info.width, info.height) == (71, 53) and info.has_audio and info.codec == "h264"
    out = decode_clips(path, fps=15, frames=4, clips=2)
    assert out.frames.shape[2:] == (53, 71, 3)
    assert frame_ids(out.frames).tolist() == out.source_index.tolist()


def test_trim_to_first_clip(tmp_path):
    path = write_indexed_video(tmp_path / "t.avi", list(range(50)), Fraction(1, 16))
    out = decode_clips(path, fps=16, frames=8, clips=3, trim_to_first_clip=True)
    assert out.starts == (0, 0, 0)


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b""), "zero-byte"),
    (lambda p: p.write_text("not a video at all\n" * 50), "not a media file"),
])
def test_unusable_files_raise_named_errors(tmp_path, make, reason):
    p = tmp_path / "bad.avi"
    make(p)
    with pytest.raises(MediaError, match=reason) as err:
        decode_clips(p, fps=16, frames=8, clips=1)
    assert err.value.path == str(p)


def test_audio_only_file_says_no_video_stream(tmp_path):
    p = tmp_path / "a.mp4"
    with av.open(str(p), "w") as c:
        a = c.add_stream("aac", rate=16000, layout="mono")
        x = np.zeros((1, 16000), np.float32)
        af = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
        af.sample_rate, af.pts, af.time_base = 16000, 0, Fraction(1, 16000)
        for pk in [*a.encode(af), *a.encode(None)]:
            c.mux(pk)
    with pytest.raises(MediaError, match="no video stream"):
        decode_clips(p, fps=16, frames=8, clips=1)


def test_truncated_file_keeps_what_decodes_and_notes_it(tmp_path):
    src = write_indexed_video(tmp_path / "full.avi", list(range(100)), Fraction(1, 25))
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.5)])
    out = decode_clips(cut, fps=16, frames=8, clips=2)
    assert 0 < out.source_frames < 100
    assert any("truncated" in n or "demux" in n or "dropped" in n for n in out.notes)
    with pytest.raises(MediaError):
        decode_clips(cut, fps=16, frames=8, clips=2, strict=True)
