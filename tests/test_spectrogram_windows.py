"""The released dense test windows (``test.windows: spectrogram``) have one width for every recording: the front
end's hop is measured once, not read off each (short) recording, where rounding gave 161 for a hop of 160 and
99-frame windows beside 100-frame ones (the batch then failed to concatenate: tests/test_faults.py, dcase)."""
from __future__ import annotations

import torch

from avbench.features.audio import AudioPath, spectrogram_windows


def test_a_short_recording_keeps_the_window_width_when_the_hop_is_given():
    spec = torch.randn(1, 8, 1 + 16100 // 160)  # a 16,100-sample recording at hop 160, centred frames
    assert spectrogram_windows(spec, 16100, 16000, 1.0, 3).shape[-1] == 99  # the per-recording estimate (161)
    assert spectrogram_windows(spec, 16100, 16000, 1.0, 3, hop=160).shape == (3, 1, 8, 100)


def test_the_audio_path_measures_the_crisscross_hop():
    from avbench_baselines.crisscross import build

    enc = build(init_seed=0, video_width=8, audio_width=8)
    path = AudioPath.__new__(AudioPath)
    path.encoder, path.device, path.sr = enc, torch.device("cpu"), enc.meta.audio.sample_rate
    assert path.hop() == 160
