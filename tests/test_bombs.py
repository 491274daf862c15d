"""Bounded decoding (issue 17, case 3): small files whose declared or decoded parameters are absurd -- a 1-Hz wav, a
3-hour FLAC, a timestamp jump, 7680x4320 frames -- are named skips before the memory is spent, and samples scaled by
1e300 are a recorded repair. A fixture ESC-50 and a fixture UCF101 with every bomb added run in fresh processes
and their peak RSS stays within 300 MB of the clean run's (before the bounds: 1.1 to over 3 GB per bomb)."""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from avbench.media.audio_decode import load_audio
from avbench.media.errors import MediaError
from avbench.media.limits import MediaLimits
from avbench.media.video_decode import decode_clips
from avbench.synth.audio_fixtures import write_esc50
from avbench.synth.bombs import BOMB_OUTCOME, BOMBS, write_bombs
from avbench.synth.corrupt import inject_nasty
from avbench.synth.video_fixtures import write_ucf101

REPO = Path(__file__).resolve().parents[1]
BUDGET = 300 * 2**20


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    return write_bombs(tmp_path_factory.mktemp("bombs"))


def _decode(path: Path, kind: str, limits: MediaLimits | None = None):
    if kind == "video":
        return decode_clips(path, fps=16, frames=8, clips=10, limits=limits).notes
    return load_audio(path, 16000, limits=limits).notes


@pytest.mark.parametrize("name", BOMBS)
def test_each_bomb_is_a_named_skip_or_a_recorded_repair(name, bombs):
    kind = "video" if name in ("ts_jump", "frame_8k") else "audio"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    want = BOMB_OUTCOME[name]
    if want.startswith("repair:"):
        notes = _decode(bombs[name], kind)
        assert any(want.removeprefix("repair:") in n for n in notes), notes
    else:
        with pytest.raises(MediaError, match=want.replace("[", r"\[")):
            _decode(bombs[name], kind)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < BUDGET


def test_the_float_bomb_is_clipped_in_its_own_precision_and_a_true_infinity_is_still_refused(bombs, tmp_path):
    out = load_audio(bombs["float_1e300"], 16000)
    assert out.wave.abs().max() <= 1.0 and out.wave.abs().max() > 0.9  # a clipped tone, never inf or NaN
    from avbench.synth.bombs import write_float_wav

    with pytest.raises(MediaError, match="non-finite"):
        load_audio(write_float_wav(tmp_path / "inf.wav", scale=float("inf")), 16000)


def test_a_timestamp_gap_is_never_allocated_even_below_the_duration_bound(bombs):
    """With max_seconds raised past the 10-million-second jump, only the frames the clips use are looked up."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = decode_clips(bombs["ts_jump"], fps=16, frames=8, clips=10, limits=MediaLimits(max_seconds=1e9))
    assert out.frames.shape[:2] == (10, 8) and out.n_target > 10**8
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 64 * 2**20


def test_a_header_that_understates_the_length_is_caught_while_decoding(bombs):
    """max_seconds below the FLAC's 3 hours but a header check bypassed: decoding stops at the bound."""
    with pytest.raises(MediaError, match="beyond max_seconds 1 s"):
        load_audio(bombs["flac_3h"], 16000, limits=MediaLimits(max_seconds=1.0))


_RUN = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (10 * 2**30, 10 * 2**30))  # a regression fails here, not the machine
    from avbench.evaluation.runner import RunOptions, run
    from avbench.registry import build_encoder
    root, task, out = sys.argv[1:4]
    enc = build_encoder("crisscross", video_width=4, audio_width=4, video_depth=10, audio_depth=10, min_size=32)
    video = {"video": {"size": 32, "resize": 36, "frames": 8}, "splits": ["split1"], "batch_size": 8,
             "classifier": {"costs": [1.0]}}
    audio = {"splits": ["fold1"], "classifier": {"costs": [1.0]}}
    overrides = {"train": {"clips": 2}, "test": {"clips": 2}, **(video if task != "esc50" else audio)}
    record, _ = run(enc, task, data_root=root, overrides=overrides,
                    options=RunOptions(cache_dir=out + "/cache", out_dir=out + "/out", log=lambda m: None,
                                       num_workers=0, min_coverage=0.0))
    print(json.dumps({"peak": record.provenance.peak_rss_bytes, "skipped": record.data.skipped,
                      "damaged": record.data.damaged}))
""")


def _measure(root: Path, task: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _RUN, str(root), task, str(out)], capture_output=True, text=True,
                          cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layout,task,kind", [("esc50", "esc50", "audio"), ("ucf101", "ucf101-linear", "video")])
def test_peak_rss_with_every_bomb_stays_within_300_mb_of_the_clean_run(layout, task, kind, bombs, tmp_path):
    if layout == "esc50":
        clean = write_esc50(tmp_path / "clean", n_classes=3, clips_per_class=5, seconds=2.0, seed=0)
    else:
        clean = write_ucf101(tmp_path / "clean", n_classes=3, groups=3, clips_per_group=1, seed=0)
    dirty = shutil.copytree(clean, tmp_path / "bombs")
    injected = inject_nasty(dirty, layout, bombs, BOMBS)
    base = _measure(clean, task, tmp_path / "run-clean")
    loaded = _measure(dirty, task, tmp_path / "run-bombs")
    assert loaded["peak"] - base["peak"] < BUDGET, (loaded["peak"] / 2**20, base["peak"] / 2**20)
    skipped = {s["id"]: s["reason"] for s in loaded["skipped"]}
    damaged = {d["id"]: d["reason"] for d in loaded["damaged"]}
    for name, entry in injected.items():
        media_kind = "video" if name in ("ts_jump", "frame_8k") else "audio"
        want = BOMB_OUTCOME[name] if media_kind == kind else f"no {kind} stream"
        if want.startswith("repair:"):  # evaluated, its repair recorded
            assert want.removeprefix("repair:") in damaged[entry.id], (name, damaged.get(entry.id))
        else:
            assert want in skipped[entry.id], (name, skipped.get(entry.id))
