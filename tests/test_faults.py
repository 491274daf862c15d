"""Fault corpus through every task family: truncated, zero-byte, text, stream-less, 0.3-s, odd-size, 8-kHz ogg,
rotated and VFR files (:mod:`avbench.synth.corrupt`, real media written with PyAV) plus annotation lines naming a
missing file and ``../../etc/passwd``, injected into small fixture roots in the official layouts and run through
the real task (real adapters, PyAV decoders, a tiny CrissCross, the card's protocol).

Each run must finish; every nasty entry must be a recorded skip with its reason, or evaluated (and recorded as
damaged / padded where it was); every other sample must be evaluated; the traversal must be refused as listed,
never resolved."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from avbench.datasets import DatasetError, get_dataset
from avbench.media.errors import MediaError
from avbench.media.video_decode import decode_clips, probe_video
from avbench.registry import build_encoder
from avbench.evaluation.runner import RunOptions, run
from avbench.synth.audio_fixtures import write_dcase2013, write_esc50
from avbench.synth.corrupt import NASTY_FILES, TRAVERSAL, add_query_line, inject_nasty, write_nasty_corpus
from avbench.synth.vggsound_fixtures import write_vggsound
from avbench.synth.video_fixtures import write_hmdb51, write_kinetics400, write_ucf101

#: what each nasty entry must become, by the modalities a task decodes: None = evaluated, else a substring of
#: its skip reason. "truncated_playable" is evaluated AND listed in data.damaged; "short" is padded for video.
_COMMON = {"truncated": "not a media file", "truncated_playable": None, "zero_byte": "zero-byte file",
           "text": "not a media file", "odd_size": None, "rotated": None, "vfr": None,
           "missing": "missing file", "traversal": "refused: the listed path escapes the data root"}
EXPECT = {
    "audio": {**_COMMON, "no_audio": "no audio stream (video-only file)", "no_video": None,
              "short": "too short: 0.320 s < min_seconds 0.5 s", "ogg_8k_stereo": None},
    "video": {**_COMMON, "no_audio": None, "no_video": "no video stream (audio-only file)", "short": None,
              "ogg_8k_stereo": "no video stream (audio-only file)"},
    "audiovisual": {**_COMMON, "no_audio": "audio: no audio stream", "no_video": "video: no video stream",
                    "short": "audio: too short", "ogg_8k_stereo": "video: no video stream"},
}
#: Kinetics / VGG-Sound rows name a YouTube id, not a path: "../../etc/passwd" there is a malformed id, which stops
#: the run (test_a_malformed_annotation_stops_the_run_naming_it); the corpus runs use every other entry.
ROW_ENTRIES = NASTY_FILES + ("missing",)
VIDEO = {"video": {"size": 32, "resize": 36, "frames": 8}, "train": {"clips": 1}, "test": {"clips": 1}, "batch_size": 8}
#: task -> (layout fixture, modality kind, card overrides that keep the run to seconds)
TASKS = {
    "esc50": ("esc50", "audio", {"train": {"clips": 1}, "test": {"clips": 1}, "splits": ["fold1"],
                                 "classifier": {"costs": [1.0]}}),
    "dcase": ("dcase2013", "audio", {"train": {"clips": 2}, "test": {"clips": 2}, "classifier": {"epochs": 3}}),
    "ucf101-linear": ("ucf101", "video", {**VIDEO, "splits": ["split1"], "classifier": {"costs": [1.0]}}),
    "hmdb51-linear": ("hmdb51", "video", {**VIDEO, "splits": ["split1"], "classifier": {"costs": [1.0]}}),
    "kinetics400-linear": ("kinetics400", "video", {**VIDEO, "classifier": {"epochs": 2}}),
    "ucf101-knn": ("ucf101", "video", VIDEO),
    "ucf101-retrieval": ("ucf101", "video", {**VIDEO, "classifier": {"ks": [1]}, "metrics": ["recall1"]}),
    "ucf101-finetune": ("ucf101", "video", {**VIDEO, "splits": ["split1"],
                                            "classifier": {"epochs": 1, "batch_size": 4, "buffer_videos": 2}}),
    "ksounds-fusion": ("kinetics_sound", "audiovisual", {**VIDEO, "classifier": {"costs": [1.0]}}),
    "augvgg-ip": ("augvgg", "audiovisual", {**VIDEO, "classifier": {"ks": [1]}, "metrics": ["recall1"]}),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_nasty_corpus(tmp_path_factory.mktemp("nasty"))


@pytest.fixture(scope="module")
def encoder():
    """A tiny CrissCross (width 4, depth 10, 32-px clips): the real trunks, seconds per run on a CPU."""
    return build_encoder("crisscross", video_width=4, audio_width=4, video_depth=10, audio_depth=10, min_size=32)


def _write_layout(layout: str, out: Path) -> Path:
    if layout == "esc50":
        return write_esc50(out, n_classes=2, clips_per_class=5, seconds=2.0, seed=0)
    if layout == "dcase2013":
        return write_dcase2013(out, n_classes=2, per_class=2, seconds=2.0, seed=0)
    if layout == "ucf101":
        return write_ucf101(out, n_classes=2, groups=3, clips_per_group=1, seed=0)
    if layout == "hmdb51":
        return write_hmdb51(out, n_classes=2, per_class=3, seed=0)
    if layout == "kinetics400":
        return write_kinetics400(out, n_classes=2, train_per_class=2, val_per_class=1, missing=0, seed=0)
    if layout == "kinetics_sound":
        return write_kinetics400(out, class_names=("playing drums", "tap dancing"), train_per_class=2,
                                 val_per_class=1, missing=0, seed=1)
    assert layout == "augvgg"
    return write_vggsound(out, n_classes=2, train_per_class=1, test_per_class=2, missing=0, seed=0)


@pytest.fixture(scope="module")
def roots(tmp_path_factory, corpus):
    """layout -> (root, injected entries), each written on first use and shared by the tasks on that layout."""
    made: dict[str, tuple[Path, dict]] = {}

    def get(layout: str):
        if layout not in made:
            root = _write_layout(layout, tmp_path_factory.mktemp(layout) / "root")
            if layout == "augvgg":  # nasties in the clean gallery (test rows), then the real query generator
                from avbench.datasets.augvgg.generate import generate_augvgg

                injected = inject_nasty(root, "vggsound", corpus, ROW_ENTRIES, sides=("test",))
                generate_augvgg(root, root / "augvgg", "ip", seed=0)
                add_query_line(root / "augvgg" / "ip", "nasty_query", TRAVERSAL)
            else:
                injected = inject_nasty(root, layout, corpus, ROW_ENTRIES if layout.startswith("kinetics") else None)
            made[layout] = (root, injected)
        return made[layout]

    return get


def _ids_in_record(path: Path, record) -> set[str]:
    rows = [json.loads(line) for line in gzip.open(path.parent / record.data.ids_sidecar.path, "rt")]
    return {i for r in rows for i in r["ids"]}


@pytest.mark.parametrize("task", list(TASKS))
def test_nasty_corpus_through_every_task_family(task, roots, encoder, tmp_path):
    layout, kind, overrides = TASKS[task]
    root, injected = roots(layout)
    record, path = run(encoder, task, data_root=root, overrides=overrides,
                       options=RunOptions(cache_dir=tmp_path / "cache", out_dir=tmp_path / "out", log=lambda m: None))
    skipped = {s["id"]: s for s in record.data.skipped}
    evaluated = _ids_in_record(path, record)
    expect = EXPECT[kind]

    # every nasty entry: a recorded skip with its reason, or evaluated
    for name, entry in injected.items():
        want = expect[name]
        if want is None:
            assert entry.id in evaluated and entry.id not in skipped, (name, skipped.get(entry.id))
        else:
            assert entry.id in skipped, (name, sorted(skipped))
            assert want in skipped[entry.id]["reason"], (name, skipped[entry.id])
            assert entry.id not in evaluated
    nasty_ids = {e.id for e in injected.values()}
    if layout == "augvgg":  # the generator made queries of the decodable nasty sources: each fares as its source
        made = {s.id for s in get_dataset("augvgg").load(root, variant="ip").samples}
        for name, entry in injected.items():
            qid = f"q:{entry.id}"
            if qid in made:
                nasty_ids.add(qid)
                assert (qid in evaluated) if expect[name] is None else (expect[name] in skipped[qid]["reason"])
        nasty_ids.add("q:nasty_query")  # the query line naming ../../etc/passwd
    damaged = {d["id"]: d["reason"] for d in record.data.damaged}
    assert "truncated" in damaged[injected["truncated_playable"].id]
    if kind == "video":  # the 0.3-s clip is shorter than 8 frames at 16 fps: repeated, and counted
        assert record.data.padded >= 1

    # the traversal: refused as listed (never resolved), naming the annotation; no sample outside the root
    refused = [s for s in record.data.skipped if s["path"] == TRAVERSAL]
    assert len(refused) == (1 if "traversal" in injected or layout == "augvgg" else 0), refused
    for s in refused:
        assert "escapes the data root" in s["reason"] and "never opened" in s["reason"] and str(root) in s["reason"]
    manifest = get_dataset(record.data.dataset).load(root, **record.task.card["dataset"]["options"])
    assert all(Path(os.path.normpath(s.path)).is_relative_to(root) for s in manifest.samples)

    # every other sample of the evaluated splits is evaluated; any other skip is a fixture file without audio
    in_splits = {i for sp in record.task.card["splits"] for side in ("train", "test")
                 for i in manifest.splits[sp][side]}
    assert evaluated == in_splits - set(skipped)
    for sid, s in skipped.items():
        if sid not in nasty_ids:
            assert kind == "audiovisual" and "audio: no audio stream" in s["reason"], s
            assert not probe_video(s["path"]).has_audio
    assert record.metrics and all(np.isfinite(m.mean) for m in record.metrics.values())


def test_pretraining_records_every_nasty_input_it_skips(corpus, tmp_path):
    """`avbench pretrain` on a world-layout root (labels.csv) with the corpus listed: unusable files are in
    skipped.jsonl with their reason, the traversal is refused as listed, and the run exports an encoder."""
    from avbench.pretrain.trainer import PretrainOptions, pretrain
    from avbench.synth.world import WorldConfig, write_world

    world = write_world(tmp_path / "world", n_per_class=2, seed=3,
                        cfg=WorldConfig(n_classes=2, seconds=2.0, width=32, height=32))
    injected = inject_nasty(world, "world", corpus)
    tiny = {"arch": {"video_width": 4, "audio_width": 4, "video_depth": 10, "audio_depth": 10}, "crop": 32,
            "audio_seconds": 0.5,
            "projector": [16, 16, 16], "predictor_hidden": 8, "frames": 4,
            "train": {"epochs": 1, "batch_size": 5, "warmup_epochs": 0.5}}  # 15 listed videos: every one visited
    out = pretrain("crisscross", preset="small", overrides=tiny,
                   options=PretrainOptions(out=tmp_path / "pt", data=str(world), progress=False, log=lambda m: None))
    assert out is not None and out.is_file()
    lines = (tmp_path / "pt" / "skipped.jsonl").read_text().splitlines()
    skipped = {json.loads(line)["id"]: json.loads(line) for line in lines}
    expect = {"truncated": "not a media file", "zero_byte": "zero-byte file", "text": "not a media file",
              "no_audio": "no audio stream", "no_video": "no video stream", "ogg_8k_stereo": "no video stream",
              "missing": "missing file", "traversal": "refused"}
    assert set(skipped) == {injected[n].id for n in expect}, sorted(skipped)
    for name, reason in expect.items():
        assert reason in skipped[injected[name].id]["reason"], (name, skipped[injected[name].id])
    assert skipped[injected["traversal"].id]["path"] == TRAVERSAL
    card = json.loads((tmp_path / "pt" / "card.json").read_text())
    assert card["n_skipped"] == len(expect) and card["n_videos"] == 4 + len(NASTY_FILES)


@pytest.mark.parametrize("task,damage,message", [
    ("esc50", lambda root, _: (root / "meta" / "esc50.csv").write_bytes(b"\xff\xfe\x00garbage\x81"),
     r"esc50\.csv: not a UTF-8 text file"),
    ("ucf101-linear", lambda root, _: (root / "ucfTrainTestlist" / "classInd.txt").write_bytes(b""),
     r"classInd\.txt: no classes"),
    ("kinetics400-linear", lambda root, _: (root / "annotations" / "val.csv").write_text(""),
     r"val\.csv:1: empty file"),
    ("kinetics400-linear", lambda root, corpus: inject_nasty(root, "kinetics400", corpus, ("traversal",)),
     r"train\.csv:\d+: bad youtube_id '\.\./\.\./etc/passwd'"),
])
def test_a_malformed_annotation_stops_the_run_naming_it(task, damage, message, corpus, tmp_path, encoder):
    """Whole-run-fatal cases: a DatasetError naming the file (and line) before any file is decoded."""
    root = _write_layout(TASKS[task][0], tmp_path / "root")
    damage(root, corpus)
    with pytest.raises(DatasetError, match=message):
        run(encoder, task, data_root=root, overrides=TASKS[task][2],
            options=RunOptions(cache_dir=tmp_path / "c", out_dir=tmp_path / "o", log=lambda m: None))
    assert not (tmp_path / "o").exists()  # nothing was written: it failed before any work


def test_rotated_video_is_turned_upright_as_ffmpeg_shows_it(tmp_path):
    """A 64x48 frame whose top-left quadrant is red, stored with a 90-degree (counter-clockwise) display matrix,
    decodes as 48 wide x 64 tall with the red quadrant bottom-left: what `ffmpeg -i` (autorotate) gives."""
    import av
    from fractions import Fraction

    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.set_display_rotation(90)
        for i in range(5):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:24, :32] = (255, 0, 0)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out = decode_clips(path, fps=25, frames=2, clips=1)
    frame = out.frames[0, 0].numpy()
    assert frame.shape == (64, 48, 3) and out.rotation == 90
    red = frame[..., 0] > 128
    assert red[32:, :24].mean() > 0.9 and red[:32].mean() < 0.1 and red[:, 24:].mean() < 0.1


def test_text_named_like_media_and_tty_text_are_not_media(corpus, tmp_path):
    """FFmpeg's tty demuxer would decode a .txt file as a 640x400 video of its characters: refused."""
    txt = tmp_path / "notes.txt"
    txt.write_bytes(corpus["text"].read_bytes())
    for p in (txt, corpus["text"]):
        with pytest.raises(MediaError, match="not a media file"):
            decode_clips(p, fps=16, frames=8, clips=1)


def test_the_corpus_is_what_it_says(corpus):
    """Each real-media entry has the streams, size, duration and timing it is named for."""
    assert corpus["zero_byte"].stat().st_size == 0
    info = {n: probe_video(corpus[n]) for n in ("no_audio", "short", "odd_size", "rotated", "vfr")}
    assert not info["no_audio"].has_audio and all(i.has_audio for n, i in info.items() if n != "no_audio")
    assert (info["odd_size"].width, info["odd_size"].height) == (97, 33)
    assert abs(decode_clips(corpus["short"], fps=25, frames=1, clips=1).seconds - 0.3) < 0.05
    with pytest.raises(MediaError, match="no video stream"):
        probe_video(corpus["ogg_8k_stereo"])
    import av

    with av.open(str(corpus["ogg_8k_stereo"])) as c:
        a = c.streams.audio[0]
        assert (a.codec_context.name, a.rate, a.channels) == ("vorbis", 8000, 2)
    with av.open(str(corpus["vfr"])) as c:
        times = np.array(sorted(float(p.pts * p.time_base) for p in c.demux(video=0) if p.pts is not None))
    steps = np.round(np.diff(times), 3)
    assert len(set(steps.tolist())) >= 3, steps  # irregular frame intervals


def test_augvgg_queries_under_the_root_are_not_taken_for_clean_videos(tmp_path):
    """AugVGG writes ``<root>/augvgg/<variant>/<id>.mp4``, named like the clean videos it alters: the VGG-Sound
    index must not pick those up (the gallery would be the queries themselves, and a second variant would be
    generated from the first one's queries)."""
    from avbench.datasets.augvgg.generate import generate_augvgg

    root = write_vggsound(tmp_path / "vgg", n_classes=2, train_per_class=1, test_per_class=1, missing=0, seed=4)
    generate_augvgg(root, root / "augvgg", "ip", seed=0)
    (root / "augvgg" / "s").mkdir()
    (root / "augvgg" / "s" / "manifest.jsonl.part").write_text("")  # a generator interrupted before its 1st query
    clean = get_dataset("vggsound").load(root)
    assert all(s.path.parent == root / "video" for s in clean.samples)
    assert any("not indexed" in n and str(root / "augvgg" / "s") in n for n in clean.notes)
    gallery = get_dataset("augvgg").load(root, variant="ip")
    for s in gallery.samples:
        assert s.path.parent == (root / "augvgg" / "ip" if s.id.startswith("q:") else root / "video"), s
