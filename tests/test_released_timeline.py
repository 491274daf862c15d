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
from avbench.taskcard import card_names, load_card

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
    assert load_card("ucf101-linear", {"video": {"timeline": "floor"}}).video.timeline == "floor"
    assert "timeline" not in load_card("ucf101-linear").to_dict()["video"]  # default omitted: hashes kept


def test_cards_of_released_code_pick_frames_as_that_code():
    """The lead's rule (ERRATA D4): a card whose published numbers come from the authors' released code follows
    its frame picking (floor): the CrissCross finetune cards (video_fullft.py) and kinetics400-linear (AVID's
    av_wrappers.py); cards with no released code keep the nearest frame (a reading, commented on the card)."""
    floor = {n for n in card_names() if (v := load_card(n).video) is not None and v.timeline == "floor"}
    finetune = {n for n in card_names() if load_card(n).classifier.type == "finetune"}
    assert len(finetune) == 7 and floor == finetune | {"kinetics400-linear", "kinetics400-linear-layers"}
    assert load_card("ucf101-finetune").to_dict()["video"]["timeline"] == "floor"  # in the hash: version 3
    assert load_card("ucf101-finetune", {"video": {"timeline": "nearest"}}).video.timeline == "nearest"


def test_continuous_training_starts(tmp_path):
    """ERRATA D5: the released training clips start anywhere in continuous time (video_db.py), frames then picked
    by floor; ``video.starts: continuous`` does that: start j = u_j * (N - T) / fps with u_j drawn from generator
    j alone, frame k = the source frame displayed at start + k / fps."""
    import torch

    path = tmp_path / "A.avi"
    _write(path, Fraction(25), 75)  # 3 s at 25 fps: N = 48 target frames at 16 fps
    gens = lambda: [torch.Generator().manual_seed(100 + j) for j in range(6)]  # noqa: E731
    out = decode_clips(path, fps=16, frames=8, clips=6, sampling="random", generators=gens(), timeline="floor",
                       starts="continuous")
    t0 = np.array([float(torch.rand((), generator=g)) for g in gens()]) * (48 - 8) / 16
    want = np.floor((t0[:, None] + np.arange(8)[None, :] / 16) * 25 + 1e-6).astype(int)
    assert out.source_index.tolist() == want.tolist()
    grey = out.frames[..., 0].float().mean(dim=(2, 3))
    assert ((grey - 20) / 3).round().long().tolist() == want.tolist()
    grid = decode_clips(path, fps=16, frames=8, clips=6, sampling="random", generators=gens(), timeline="floor")
    on_grid = {tuple(np.floor((s / 16 + np.arange(8) / 16) * 25 + 1e-6).astype(int)) for s in range(41)}
    assert all(tuple(c) in on_grid for c in grid.source_index.tolist())
    assert not all(tuple(c) in on_grid for c in out.source_index.tolist())  # clips the grid never yields
    assert load_card("ucf101-finetune").video.starts == "continuous"
    assert load_card("ucf101-linear").video.starts == "grid"


def test_swresample_reading(tmp_path):
    """ERRATA D11: audio.resampler=swresample gives the released decoder's samples (PyAV AudioResampler s16p, mono,
    16 kHz, / 32767) where the default sinc reading differs; the released-code audio cards use it."""
    from avbench.media.audio_decode import load_audio
    from avbench.synth.audio_fixtures import write_wav

    wav = write_wav(tmp_path / "a.wav", np.random.default_rng(0).uniform(-0.5, 0.5, (2, 44100)), 44100)
    with av.open(str(wav)) as c:
        rs = av.audio.resampler.AudioResampler(format="s16p", layout="mono", rate=16000)
        ref = [f.to_ndarray() for fr in c.decode(audio=0) for f in rs.resample(fr)] + [
            f.to_ndarray() for f in rs.resample(None)]
    ref = np.concatenate(ref, axis=1)[0] / 32767.0
    released = load_audio(wav, 16000, resampler="swresample").wave.numpy()
    assert np.array_equal(released, ref.astype(np.float32).clip(-1, 1))
    sinc = load_audio(wav, 16000).wave.numpy()
    n = min(sinc.size, released.size)
    assert np.linalg.norm(sinc[:n] - released[:n]) / np.linalg.norm(sinc[:n]) > 0.01
    assert {n for n in card_names() if load_card(n).audio is not None and load_card(n).audio.resampler == "swresample"
            } == {"esc50-released", "esc50-5s-released", "dcase"}
