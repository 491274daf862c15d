"""The synthetic audio-visual world (avbench.synth.world): determinism, audio-visual synchrony, class = rhythm only
(linear probes on low-level statistics stay at chance, a timing feature does not), and the writers' files decode
and load through the project's own decoders and data set adapters."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from avbench.datasets import get_dataset
from avbench.media.audio_decode import load_audio
from avbench.media.video_decode import decode_clips
from avbench.synth.audio_fixtures import ESC50_CATEGORIES
from avbench.synth.world import (RHYTHMS, WORLD_CLASSES, WorldConfig, class_events, clip_rng, esc50_clip_rng,
                                 onset_frames, render_clip, write_world, write_world_esc50, write_world_ucf101)

CFG = WorldConfig()
PROBE_PER_CLASS = 20


# ---- detectors that know nothing of the generator: onsets from the waveform and from the frames ----------------
def audio_onsets(audio: np.ndarray, sample_rate: int, *, win: float = 0.010, thresh: float = 1.5,
                 gap: float = 0.08) -> np.ndarray:
    """Onset times (s): where the log energy of the next ``win`` s exceeds that of the previous ``win`` s by more
    than ``thresh`` nats, strongest first, at least ``gap`` s apart."""
    x = np.asarray(audio, np.float64) ** 2
    c = np.concatenate([[0.0], np.cumsum(x)])
    w, hop = int(sample_rate * win), max(1, sample_rate // 1000)
    t = np.arange(w, len(x) - w, hop)
    rise = np.log((c[t + w] - c[t]) / w + 1e-10) - np.log((c[t] - c[t - w]) / w + 1e-10)
    cand = np.nonzero(rise > thresh)[0]
    kept: list[int] = []
    for i in cand[np.argsort(-rise[cand], kind="stable")]:
        if all(abs(int(t[i]) - j) > gap * sample_rate for j in kept):
            kept.append(int(t[i]))
    return np.sort(np.asarray(kept, dtype=np.float64)) / sample_rate


def video_onset_frames(frames: np.ndarray, rel: float = 0.4) -> np.ndarray:
    """Frames whose mean brightness jumps up by more than ``rel`` x the largest jump (the flashes: a bounce moves
    the object but leaves the mean brightness nearly unchanged, up to the background texture it uncovers)."""
    luma = np.asarray(frames, np.float32).mean(axis=(1, 2, 3))
    jump = np.diff(luma)
    return np.nonzero(jump > rel * jump.max())[0] + 1


def _interior(events: np.ndarray, seconds: float, margin: float = 0.02) -> np.ndarray:
    return events[(events > margin) & (events < seconds - margin)]


def _ioi_histogram(onsets: np.ndarray, step: float) -> np.ndarray:
    h = np.histogram(np.diff(onsets), bins=np.arange(0.06, 0.54 + step, step))[0].astype(np.float64)
    return h / max(1.0, h.sum())


# ---- 1. determinism --------------------------------------------------------------------------------------------
def test_render_is_deterministic_per_seed_and_json_able():
    a = render_clip(3, CFG, np.random.default_rng([5, 3]))
    b = render_clip(3, CFG, np.random.default_rng([5, 3]))
    c = render_clip(3, CFG, np.random.default_rng([6, 3]))
    assert a.frames.shape == (100, 64, 64, 3) and a.frames.dtype == np.uint8
    assert a.audio.shape == (64000,) and a.audio.dtype == np.float32 and np.abs(a.audio).max() <= 1.0
    assert np.allclose(a.times, np.arange(100) / 25.0) and a.label == 3
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert np.array_equal(a.events, b.events) and a.nuisance == b.nuisance
    assert not np.array_equal(a.frames, c.frames) and not np.array_equal(a.audio, c.audio)
    assert not np.array_equal(a.events, c.events)
    json.dumps(a.nuisance)
    # the audio does not depend on the frame size (its own child generator)
    small = render_clip(3, WorldConfig(width=32, height=24), np.random.default_rng([5, 3]))
    assert small.frames.shape == (100, 24, 32, 3) and np.array_equal(small.audio, a.audio)
    with pytest.raises(ValueError):
        render_clip(6, CFG, np.random.default_rng(0))
    with pytest.raises(ValueError):
        WorldConfig(n_classes=len(RHYTHMS) + 1)


# ---- 2. synchrony ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", range(6))
def test_audio_and_video_events_are_synchronised(k):
    clip = render_clip(k, CFG, np.random.default_rng([21, k]))
    ev = clip.events
    assert np.all(np.diff(ev) > 0.1) and ev.min() >= 0 and ev.max() <= clip.times[-1]
    # audio: one detected onset per event (within 10 ms), nothing else
    heard = audio_onsets(clip.audio, CFG.sample_rate)
    inner = _interior(ev, CFG.seconds)
    assert np.abs(heard[:, None] - inner[None, :]).min(axis=0).max() < 0.010
    assert np.abs(heard[:, None] - ev[None, :]).min(axis=1).max() < 0.010
    # video: the brightness jumps are exactly the first frames at or after the events
    seen = video_onset_frames(clip.frames)
    first_at_or_after = np.searchsorted(clip.times, ev - 1e-9)
    assert np.array_equal(first_at_or_after, onset_frames(ev, CFG.fps))
    assert set(seen.tolist()) == set(first_at_or_after.tolist()) - {0}
    # so every flash comes with its sound: at or after it, by less than one frame (+ the detector's 5 ms)
    lag = clip.times[seen] - heard[np.abs(clip.times[seen][:, None] - heard[None, :]).argmin(axis=1)]
    assert lag.min() > -0.005 and lag.max() < 1.0 / CFG.fps + 0.005, lag


def test_classes_share_the_event_rate_but_not_the_pattern():
    cfg8 = WorldConfig(n_classes=8, seconds=8.0)
    iois, rates, shorts, pairs = {}, {}, {}, {}
    for k in range(8):
        evs = [class_events(k, cfg8, np.random.default_rng([31, k, i])) for i in range(30)]
        rates[k] = np.mean([len(e) for e in evs]) / cfg8.seconds
        d = [np.diff(e) for e in evs]
        iois[k] = np.histogram(np.concatenate(d), bins=np.arange(0.06, 0.56, 0.02))[0] / sum(len(x) for x in d)
        shorts[k] = np.mean(np.concatenate(d) < 0.2)
        pairs[k] = np.mean(np.concatenate([(x[1:] > 0.2) & (x[:-1] > 0.2) for x in d]))  # long after long
        assert np.all(np.concatenate(d) >= 0.11) and np.all(np.concatenate(d) <= 0.48)
    assert all(abs(r - 5.0) < 0.3 for r in rates.values()), rates  # the same mean rate: the count is no cue
    for a in range(6):
        for b in range(a + 1, 6):
            assert np.abs(iois[a] - iois[b]).sum() > 0.5, (a, b)  # different IOI sets
    # long_long_short_short has long_short's IOIs, in another order
    assert abs(shorts[1] - 0.5) < 0.05 and abs(shorts[7] - 0.5) < 0.05 and pairs[1] == 0 and pairs[7] > 0.2
    assert len(WORLD_CLASSES) == len(RHYTHMS) == 8 and len(set(WORLD_CLASSES)) == 8


# ---- 3. the class lives only in the timing -------------------------------------------------------------------
@pytest.fixture(scope="module")
def probe_clips():
    return [render_clip(k, CFG, np.random.default_rng([41, k, i])) for k in range(CFG.n_classes)
            for i in range(PROBE_PER_CLASS)]


def _colour_stats(frames: np.ndarray) -> np.ndarray:
    """Mean RGB (0..1) and an 8-bin histogram per channel."""
    px = frames.reshape(-1, 3)
    hist = [np.bincount(px[:, j] >> 5, minlength=8) / len(px) for j in range(3)]
    return np.concatenate([px.mean(0) / 255.0, *hist])


def _spectrum_stats(audio: np.ndarray, n: int = 512) -> np.ndarray:
    """Mean power spectrum of Hann-windowed 32-ms frames in 20+ log-spaced bands (log), plus log RMS."""
    x = audio[: len(audio) // n * n].reshape(-1, n) * np.hanning(n)
    p = (np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(0)
    edges = np.unique(np.geomspace(2, n // 2 + 1, 25).astype(int))
    bands = np.asarray([p[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    return np.concatenate([np.log(bands + 1e-12), [0.5 * np.log(np.mean(audio.astype(np.float64) ** 2) + 1e-12)]])


def _probe(features: np.ndarray, labels: np.ndarray) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return float(cross_val_score(clf, features, labels, cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean())


def test_low_level_statistics_carry_no_class_but_timing_does(probe_clips):
    labels = np.array([c.label for c in probe_clips])
    chance = 1.0 / CFG.n_classes
    acc = {
        "colour": _probe(np.stack([_colour_stats(c.frames) for c in probe_clips]), labels),
        "spectrum": _probe(np.stack([_spectrum_stats(c.audio) for c in probe_clips]), labels),
        "audio_timing": _probe(np.stack([_ioi_histogram(audio_onsets(c.audio, CFG.sample_rate), 0.02)
                                         for c in probe_clips]), labels),
        "video_timing": _probe(np.stack([_ioi_histogram(video_onset_frames(c.frames) / CFG.fps, 0.04)
                                         for c in probe_clips]), labels),
    }
    print("linear-probe accuracies (5-fold CV):", {k: round(v, 3) for k, v in acc.items()})
    assert acc["colour"] < chance + 0.2, acc
    assert acc["spectrum"] < chance + 0.2, acc
    assert acc["audio_timing"] > 0.8, acc
    assert acc["video_timing"] > 0.8, acc


# ---- 4. writers: real files through the project's decoders and adapters ---------------------------------------
def test_write_world_files_decode_and_match_labels(tmp_path):
    cfg = WorldConfig(seconds=2.0)
    out = write_world(tmp_path / "world", n_per_class=2, cfg=cfg, seed=3, test_fraction=0.5)
    marker = json.loads((out / "avbench_fixture.json").read_text())
    assert marker["synthetic"] is True and marker["writer"] == "avbench.synth.world" and marker["files"] == 12
    text = (out / "labels.csv").read_text()
    assert text.splitlines()[0] == "id,path,label,class_name,split"
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    on_disk = sorted(p.relative_to(out).as_posix() for p in (out / "videos").rglob("*.mp4"))
    assert sorted(r["path"] for r in rows) == on_disk
    for r in rows:
        assert r["class_name"] == WORLD_CLASSES[int(r["label"])] and r["path"].split("/")[1] == r["class_name"]
    for k in range(6):
        assert sorted(r["split"] for r in rows if int(r["label"]) == k) == ["test", "train"]
    assert (write_world(tmp_path / "again", n_per_class=2, cfg=cfg, seed=3, test_fraction=0.5) / "labels.csv"
            ).read_text() == text

    r = rows[5]
    k, i = int(r["label"]), int(r["id"].rsplit("_", 1)[1])
    clip = render_clip(k, cfg, clip_rng(3, k, i))
    audio = load_audio(out / r["path"], 16000)
    wave = audio.wave.numpy()
    assert abs(len(wave) / 16000 - cfg.seconds) < 0.1 and not audio.notes
    heard = audio_onsets(wave, 16000)  # AAC keeps every impact, on time, and adds none
    assert np.abs(heard[:, None] - _interior(clip.events, cfg.seconds)[None, :]).min(axis=0).max() < 0.015
    assert np.abs(heard[:, None] - clip.events[None, :]).min(axis=1).max() < 0.015
    dec = decode_clips(out / r["path"], fps=16.0, frames=8, clips=2)
    assert tuple(dec.frames.shape) == (2, 8, 64, 64, 3) and not dec.notes
    src = dec.source_index.numpy()
    err = np.abs(dec.frames.numpy().astype(np.float32) - clip.frames[src].astype(np.float32)).mean()
    assert err < 12, err  # the decoded frames are the rendered ones (lossy H.264)


def test_write_world_esc50_loads_with_the_world_audio(tmp_path):
    root = write_world_esc50(tmp_path / "ESC-50", n_classes=6, clips_per_class=5, seed=1)
    m = get_dataset("esc50").load(root)
    assert m.found == m.expected == 30 and not m.skipped
    assert m.classes == list(ESC50_CATEGORIES[:6])
    rows = list(csv.DictReader((root / "meta" / "esc50.csv").read_text().splitlines()))
    assert len(rows) == 30 and {r["filename"] for r in rows} == {p.name for p in (root / "audio").iterdir()}
    cfg = WorldConfig(n_classes=6, seconds=5.0, sample_rate=44100)
    for row in rows[::7]:
        wave = load_audio(root / "audio" / row["filename"], 44100).wave.numpy()
        clip = render_clip(int(row["target"]), cfg, esc50_clip_rng(1, row))
        assert wave.shape == (220500,) and np.abs(wave - clip.audio).max() < 2.0 / 32767
    assert {m.classes[s.label] for s in m.samples} == set(ESC50_CATEGORIES[:6])


def test_write_world_ucf101_loads_and_stays_synchronised_through_decode(tmp_path):
    root = write_world_ucf101(tmp_path / "UCF101", n_classes=3, groups=3, clips_per_group=1, seed=2)
    m = get_dataset("ucf101").load(root)
    assert m.found == m.expected == 9 and not m.skipped and len(m.classes) == 3
    assert m.classes == ["ApplyEyeMakeup", "HandstandPushups", "PlayingGuitar"]
    assert all(len(m.splits[f"split{k}"]["test"]) == 3 for k in (1, 2, 3))
    marker = json.loads((root / "avbench_fixture.json").read_text())
    assert marker["writer"] == "avbench.synth.world" and marker["dataset"] == "ucf101"
    for s in m.samples[::4]:  # one clip of each class
        wave = load_audio(s.path, 16000).wave.numpy()
        dec = decode_clips(s.path, fps=25.0, frames=100, clips=1)
        heard = audio_onsets(wave, 16000)
        seen = video_onset_frames(dec.frames.numpy()[0], rel=0.25) / 25.0
        assert len(heard) >= 15 and abs(len(seen) - len(heard)) <= 2
        # flash time - sound time: at or after it, within one frame (+ the audio detector's 5 ms); the edge 50 ms are
        # left out (the audio detector is blind there) and 10 % slack is left for lossy mpeg4 (keyframe jumps)
        seen, inner = seen[(seen > 0.05) & (seen < 3.95)], heard[(heard > 0.05) & (heard < 3.95)]
        lag = seen[:, None] - inner[None, :]
        synced = (lag > -0.005) & (lag < 1 / 25.0 + 0.005)
        assert synced.any(axis=1).mean() >= 0.9 and synced.any(axis=0).mean() >= 0.9, (s.id, seen, heard)
        ioi = np.diff(heard)
        pattern = np.asarray(RHYTHMS[s.label])
        assert abs(ioi.min() / ioi.max() - pattern.min() / pattern.max()) < 0.12, (s.id, ioi)
