"""Windowed audio decoding (issue 17, "decoders read only what the card needs"): on an integer-PCM WAV file only the
source samples the card's windows depend on are decoded, and the windows are bit-identical to cutting them from the
whole decode (:func:`load_audio`); every other file is decoded whole."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import avbench.features.audio as feature_audio
from avbench.datasets.base import Sample
from avbench.features.audio import AudioClipSource
from avbench.features.spec import ExtractionSpec
from avbench.media.audio_augment import AudioAugmentConfig
from avbench.media.audio_decode import load_audio
from avbench.media.audio_window import audio_span, load_window
from avbench.synth.audio_fixtures import write_corrupt_audio, write_wav
from avbench.taskcard import load_card


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """The corrupt-audio fixture set plus 12-s noise WAVs: 44.1 kHz stereo s16, 48 kHz s24, 8 kHz and 16 kHz s16."""
    out = tmp_path_factory.mktemp("audio-window")
    files = write_corrupt_audio(out / "corrupt")
    rng = np.random.default_rng(0)
    for name, rate, ch, fmt in (("s16_44k", 44100, 2, "s16"), ("s24_48k", 48000, 1, "s24"), ("s16_8k", 8000, 1, "s16"),
                                ("s16_16k", 16000, 1, "s16")):
        noise = (0.5 * rng.standard_normal((ch, rate * 12))).clip(-1, 1).astype(np.float32)
        files[name] = write_wav(out / f"{name}.wav", noise[0] if ch == 1 else noise, rate, fmt)
    return files


@pytest.mark.parametrize("name", ["s16_44k", "s24_48k", "s16_8k", "s16_16k", "wav_s16", "wav_s24", "too_short"])
def test_a_window_equals_the_whole_decode_sliced(media, name):
    span = audio_span(media[name], 16000)
    whole = load_audio(media[name], 16000).wave
    assert span is not None and span.total == whole.numel()
    rng = np.random.default_rng(1)
    for _ in range(12):
        lo = int(rng.integers(0, span.total))
        hi = int(rng.integers(lo + 1, span.total + 1))
        got = load_window(media[name], span, lo, hi)
        assert got is not None and torch.equal(got.wave, whole[lo:hi]), (name, lo, hi)


def test_a_short_window_decodes_a_fraction_of_a_long_file(media):
    """2 s of a 12-s file: under a quarter of its samples decoded (the window, the kernel's reach, whole frames)."""
    for name in ("s16_44k", "s24_48k", "s16_8k"):
        span = audio_span(media[name], 16000)
        got = load_window(media[name], span, 5 * 16000, 7 * 16000)
        assert got is not None and got.decoded < span.source_samples / 4, (name, got.decoded, span.source_samples)


@pytest.mark.parametrize("name", ["wav_f32", "ogg_vorbis", "mp3", "m4a", "mp4_with_audio", "truncated", "header_only",
                                  "tiny", "not_audio", "zero_byte", "corrupt_middle"])
def test_files_that_cannot_be_shown_equal_are_decoded_whole(media, name):
    """Float WAV (samples may need clipping), compressed audio (priming, overlap, estimated lengths), damaged files."""
    assert audio_span(media[name], 16000) is None


@pytest.mark.parametrize("card,side", [("esc50", "train"), ("esc50", "test"), ("esc50-released", "test"),
                                       ("dcase", "train"), ("dcase", "test"), ("esc50-tssl", "train")])
def test_the_cards_windows_are_the_same_decoded_by_window_or_whole(media, monkeypatch, card, side):
    """AudioClipSource.cut with the window and with the whole decode (audio_span switched off) gives the same clips,
    padding and notes for every card reading: random and uniform windows, trimmed, dense spectrogram, augmented."""
    c = load_card(card)
    sampling = getattr(c, side)
    view = ExtractionSpec(side=side, modality="audio", clip=c.audio, sampling=sampling, features=c.features,
                          layer="conv5x", seed=5)
    aug = AudioAugmentConfig.from_dict(sampling.augment) if sampling.augment else None
    samples = [Sample(name, media[name], 0, "g") for name in ("s16_44k", "s24_48k", "s16_8k", "wav_s16", "too_short")]
    used = []
    real = feature_audio.load_window
    monkeypatch.setattr(feature_audio, "load_window", lambda *a, **k: used.append(real(*a, **k)) or used[-1])
    windowed = [AudioClipSource(samples, range(len(samples)), view, 16000, aug)[i] for i in range(len(samples))]
    # random windows and the first clip only need part of a file; uniform test windows span it (decoded whole);
    # a card on the released readings' swresample resampler (esc50-released, dcase: ERRATA D11) decodes whole
    partial = sampling.sampling == "random" or bool(sampling.trim_to_first_clip)
    assert (sum(u is not None for u in used) >= 3) == (partial and c.audio.resampler == "sinc"), used
    monkeypatch.setattr(feature_audio, "audio_span", lambda *a, **k: None)
    whole = [AudioClipSource(samples, range(len(samples)), view, 16000, aug)[i] for i in range(len(samples))]
    for a, b in zip(windowed, whole):
        assert (a.error, a.padded, a.notes) == (b.error, b.padded, b.notes)
        assert (a.clips is None and b.clips is None) or torch.equal(a.clips, b.clips)
