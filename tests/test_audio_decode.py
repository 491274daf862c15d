"""Audio decoding: every container decodes to mono float32 at the requested rate; bad files fail specifically."""
import logging
import pickle

import av
import numpy as np
import pytest
import torch

from avbench.media.audio_decode import decode_audio, decoder_version, load_audio, probe_audio
from avbench.media.errors import MediaError
from avbench.synth.audio_fixtures import TONE_HZ, TONE_SECONDS, write_corrupt_audio

SR = 16000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_corrupt_audio(tmp_path_factory.mktemp("media"))


# name -> allowed duration error in seconds: wav exact (one output sample); compressed formats one codec frame
# at the source rate (encoder priming/padding); MP3 in AVI carries no gapless info, so two frames.
GOOD = {
    "wav_s16": 1 / SR, "wav_s24": 1 / SR, "wav_f32": 1 / SR,
    "ogg_vorbis": 1024 / 8000, "mp3": 1152 / 44100, "m4a": 1024 / 44100,
    "avi_with_audio": 2 * 1152 / 44100, "mp4_with_audio": 1024 / 48000,
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_container_decodes_to_mono_float32_at_the_requested_rate(files, name):
    wave = decode_audio(files[name], SR)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert abs(wave.numel() / SR - TONE_SECONDS) <= GOOD[name] + 1e-9, wave.numel()
    assert float(wave.abs().max()) <= 1.0
    # the tone's frequency survives decoding and resampling
    spectrum = np.abs(np.fft.rfft(wave.numpy().astype(np.float64)))
    peak_hz = np.argmax(spectrum) * SR / wave.numel()
    assert abs(peak_hz - TONE_HZ) < 2.0, peak_hz


def test_channels_are_averaged_and_length_follows_the_rate(files):
    # left 0.5 * sin, right 0.4 * sin -> mono peak 0.45 (neither one channel nor the sum)
    wave = decode_audio(files["wav_s24"], SR)
    assert abs(float(wave.abs().max()) - 0.45) < 0.01
    for rate in (8000, 22050, 48000):
        n = decode_audio(files["wav_s24"], rate).numel()
        assert n == int(np.ceil(TONE_SECONDS * 48000 * rate / 48000))


def test_native_rate_is_bit_exact_for_16_bit_pcm(files):
    d = load_audio(files["wav_s16"], 44100)
    assert d.source_rate == 44100 and d.channels == 1 and d.notes == ()
    t = np.arange(d.wave.numel()) / 44100
    expected = np.round(0.5 * np.sin(2 * np.pi * TONE_HZ * t) * 32767) / 32768
    assert np.allclose(d.wave.numpy(), expected, atol=1e-7)


@pytest.mark.parametrize("name,reason", [
    ("zero_byte", "zero-byte file"),
    ("not_audio", "not a media file"),
    ("header_only", "no audio samples decoded"),
    ("tiny", "< 10 ms"),
    ("video_only_mp4", "no audio stream (video-only file)"),
    ("video_only_avi", "no audio stream (video-only file)"),
])
def test_bad_files_raise_media_error_naming_the_file_and_reason(files, name, reason):
    path = files[name]
    with pytest.raises(MediaError) as info:
        decode_audio(path, SR)
    err = info.value
    assert err.path == str(path) and reason in err.reason
    assert str(err) == f"{path}: {err.reason}"
    assert isinstance(err, ValueError)


def test_missing_file_and_pickling(tmp_path):
    with pytest.raises(MediaError, match="file not found") as info:
        decode_audio(tmp_path / "nope.wav", SR)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.path, again.reason) == (info.value.path, info.value.reason)


def test_truncated_wav_keeps_its_audio_with_a_warning(files, caplog):
    with caplog.at_level(logging.WARNING, logger="avbench.media"):
        d = load_audio(files["truncated"], SR)
    assert d.wave.numel() == SR  # 1.0 s present of 1.5 s declared
    assert any("truncated" in n for n in d.notes) and d.declared_seconds == pytest.approx(1.5)
    assert "truncated" in caplog.text and str(files["truncated"]) in caplog.text
    assert decode_audio(files["truncated"], SR).numel() == SR
    with pytest.raises(MediaError, match="truncated"):
        load_audio(files["truncated"], SR, strict=True)


def test_corrupt_packets_mid_stream_are_dropped_and_recorded(files):
    d = load_audio(files["corrupt_middle"], SR)
    assert d.notes and d.seconds > 0.5
    assert any("undecodable packet" in n or "truncated" in n for n in d.notes)


def test_short_file_decodes(files):
    assert decode_audio(files["too_short"], SR).numel() == 800  # 50 ms: a decode, too short for a clip


def test_probe_reads_the_header_without_decoding(files):
    info = probe_audio(files["ogg_vorbis"])
    assert (info.sample_rate, info.channels, info.codec, info.container) == (8000, 2, "vorbis", "ogg")
    info = probe_audio(files["wav_s24"])
    assert (info.sample_rate, info.channels, info.codec) == (48000, 2, "pcm_s24le")
    assert info.seconds == pytest.approx(TONE_SECONDS)
    assert probe_audio(files["mp4_with_audio"]).codec == "aac"
    with pytest.raises(MediaError, match="video-only"):
        probe_audio(files["video_only_mp4"])


def test_decoder_version_names_pyav_ffmpeg_and_the_resampler():
    v = decoder_version()
    assert av.__version__ in v and "libavcodec" in v and "torchaudio" in v
