"""The identity world in the official ESC-50 and UCF101 layouts (the demo's sets): they load through the
adapters, and the decoded files are the rendered clips."""
from __future__ import annotations

import csv
import json

import numpy as np

from avbench.datasets import get_dataset
from avbench.media.audio_decode import load_audio
from avbench.media.video_decode import decode_clips
from avbench.synth.audio_fixtures import ESC50_CATEGORIES
from avbench.synth.identity_world import IdentityWorldConfig, identity_rng, render_identity_clip
from avbench.synth.identity_writers import write_identity_esc50, write_identity_ucf101


def test_identity_esc50_loads_with_the_world_audio(tmp_path) -> None:
    root = write_identity_esc50(tmp_path / "ESC-50", n_classes=6, clips_per_class=5, seed=1)
    m = get_dataset("esc50").load(root)
    assert m.found == m.expected == 30 and not m.skipped and m.classes == list(ESC50_CATEGORIES[:6])
    assert all(len(m.splits[f"fold{k}"]["test"]) == 6 for k in range(1, 6))  # every clip tested once
    rows = list(csv.DictReader((root / "meta" / "esc50.csv").read_text().splitlines()))
    cfg = IdentityWorldConfig(n_segments=5, sample_rate=44100)
    for row in rows[::7]:
        wave = load_audio(root / "audio" / row["filename"], 44100).wave.numpy()
        rng = identity_rng("esc50", 1, int(row["target"]), int(row["src_file"]), ord(row["take"]))
        clip = render_identity_clip(int(row["target"]), cfg, rng, video=False)
        assert wave.shape == (220500,) and np.abs(wave - clip.audio).max() < 2.0 / 32767
    assert json.loads((root / "avbench_fixture.json").read_text())["world"] == "identity"


def test_identity_ucf101_loads_and_decodes_to_the_rendered_clips(tmp_path) -> None:
    root = write_identity_ucf101(tmp_path / "UCF101", n_classes=3, groups=3, clips_per_group=1, seed=2)
    m = get_dataset("ucf101").load(root)
    assert m.found == m.expected == 9 and not m.skipped and len(m.classes) == 3
    assert all(len(m.splits[f"split{k}"]["test"]) == 3 for k in (1, 2, 3))
    cfg = IdentityWorldConfig(n_classes=3)
    for s in m.samples[::4]:
        g, c = (int(x[1:]) for x in s.path.stem.split("_")[-2:])
        clip = render_identity_clip(s.label, cfg, identity_rng("ucf101", 2, s.label, g, c))
        dec = decode_clips(s.path, fps=16.0, frames=64, clips=1)
        assert tuple(dec.frames.shape) == (1, 64, 48, 48, 3)
        err = np.abs(dec.frames.numpy()[0].astype(np.float32) - clip.frames.astype(np.float32)).mean()
        assert err < 12, err  # lossy mpeg4
        wave = load_audio(s.path, 16000).wave.numpy()
        assert wave.shape == (64000,) and np.abs(wave - clip.audio).max() < 2.0 / 32767
