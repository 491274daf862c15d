"""Nasty inputs for fault tests: broken and unusual media files, and annotation lines that name a missing file or
a path outside the data root, injected into a fixture root of any data-set layout.

:func:`write_nasty_corpus` writes one file per entry of :data:`NASTY_FILES` (real media encoded with PyAV where the
entry is real media):

========================  ===========================================================================================
``truncated``             a 3-s H.264 + AAC mp4 cut at 40 % of its bytes; its index (``moov``) is at the end: lost
``truncated_playable``    the same cut of a ``+faststart`` mp4 (index first): it opens and decodes its first part only
``zero_byte``             an empty file
``text``                  a text file (it gets a media extension when injected)
``no_audio``              H.264 video, no audio stream
``no_video``              AAC audio in an mp4 (``.m4a``) container, no video stream
``short``                 a 0.3-s clip, H.264 + AAC
``odd_size``              97x33 pixels (odd width and height: MPEG-4 part 2, 4:2:0), with AAC audio
``ogg_8k_stereo``         Vorbis, 8 kHz stereo, audio only
``rotated``               H.264 + AAC with a 90-degree display matrix (``VideoStream.set_display_rotation``, recent
                          PyAV): stored 64x48, shown 48x64
``vfr``                   variable frame rate: H.264 in mp4 with irregular presentation times (20-67 ms apart, 1-ms
                          time base) + AAC
========================  ===========================================================================================

Annotation-only entries (:data:`NASTY_LISTED`): ``missing`` (a listed file that does not exist) and ``traversal``
(the listed path :data:`TRAVERSAL`, ``../../etc/passwd``).

:func:`inject_nasty` copies the corpus into a fixture root written by :mod:`avbench.synth.audio_fixtures`,
:mod:`avbench.synth.video_fixtures`, :mod:`avbench.synth.vggsound_fixtures` or :mod:`avbench.synth.world`, under
names the layout expects (``.wav`` for ESC-50 / DCASE, ``.avi`` for UCF101 / HMDB51, ``.mp4`` elsewhere: FFmpeg
reads the content, not the extension) and lists each one in the layout's annotation files, as class 0, so that
every entry reaches the decoders through the real adapter. It returns what was injected (sample id, the path as
listed, side) so a test can check what the run recorded for each. Everything is deterministic.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avbench.synth.signals import class_signature, render
from avbench.synth.video_fixtures import h264_encoder, render_frames, visual_signature

#: the nasty media files, in the order :func:`write_nasty_corpus` writes them.
NASTY_FILES = ("truncated", "truncated_playable", "zero_byte", "text", "no_audio", "no_video", "short", "odd_size",
               "ogg_8k_stereo", "rotated", "vfr")
#: annotation-only entries: a listed file that is not there, and a listed path outside the data root.
NASTY_LISTED = ("missing", "traversal")
#: the path the ``traversal`` entry lists.
TRAVERSAL = "../../etc/passwd"
_FPS = 25
_SR = 16000


@dataclass(frozen=True)
class Injected:
    """One nasty entry in a data set: ``id`` its sample id (as the adapter names it), ``listed`` the path or id the
    annotation file gives (``../../etc/passwd`` for ``traversal``), ``side`` "train" or "test" (or the split)."""

    name: str
    id: str
    listed: str
    side: str


# ---- writing the corpus ------------------------------------------------------------------------------------------
def _frames(n: int, width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 666])
    return render_frames(visual_signature(0, 2), np.arange(n) / _FPS, width, height, rng)


def _tone(seconds: float, seed: int) -> np.ndarray:
    """``[samples]`` float32 mono class-0 sound at 16 kHz."""
    rng = np.random.default_rng([seed, 667])
    return render(class_signature(0, 2, family=2), seconds=seconds, sample_rate=_SR, rng=rng, channels=1,
                  event=False)[0].astype(np.float32)


def _audio_stream(c: av.container.OutputContainer, codec: str, rate: int, layout: str,
                  options: dict[str, str] | None = None) -> av.audio.stream.AudioStream:
    return c.add_stream(codec, rate=rate, layout=layout, options=options or {})


def _mux_audio(c: av.container.OutputContainer, s: av.audio.stream.AudioStream, wave: np.ndarray, rate: int,
               layout: str) -> None:
    """Encode ``wave`` ``[channels, samples]`` float32 into the audio stream ``s`` of ``c``."""
    for start in range(0, wave.shape[1], 1024):
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, start:start + 1024]), format="fltp", layout=layout)
        af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
        for p in s.encode(af):
            c.mux(p)
    for p in s.encode(None):
        c.mux(p)


def write_av(path: Path, *, seconds: float = 2.0, width: int = 64, height: int = 48, audio: bool = True,
             video: bool = True, codec: str | None = None, rotation: int | None = None, vfr: bool = False,
             faststart: bool = False, seed: int = 0) -> Path:
    """An mp4 with an H.264 (or ``codec``) video stream of ``width`` x ``height`` at 25 fps (``vfr``: irregular frame
    times, 1-ms time base) and/or a mono 16-kHz AAC stream, ``seconds`` long; ``rotation`` (degrees,
    counter-clockwise) sets the display matrix; ``faststart`` writes the index before the data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as c:
        # every stream is added before the first packet is muxed (the header is written then)
        a_stream = _audio_stream(c, "aac", _SR, "mono") if audio else None
        if video:
            codec = codec or h264_encoder()
            vs = c.add_stream(codec, rate=_FPS, options={"preset": "veryfast"} if codec == "libx264" else {})
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            if rotation is not None:
                vs.set_display_rotation(rotation)
            if vfr:
                steps = np.random.default_rng([seed, 668]).choice([0.020, 0.033, 0.040, 0.050, 0.067],
                                                                   size=int(seconds * 50) + 2)
                times = np.concatenate([[0.0], np.cumsum(steps)])
                times = np.round(times[times < seconds], 3)
                tb = Fraction(1, 1000)
                vs.codec_context.time_base = vs.time_base = tb
            else:
                times, tb = np.arange(max(1, int(round(seconds * _FPS)))) / _FPS, Fraction(1, _FPS)
            for img, t in zip(_frames(len(times), width, height, seed), times):
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = int(round(t / tb)), tb
                for p in vs.encode(frame):
                    c.mux(p)
            for p in vs.encode(None):
                c.mux(p)
        if a_stream is not None:
            _mux_audio(c, a_stream, _tone(seconds, seed)[None], _SR, "mono")
    return path


def write_ogg(path: Path, *, seconds: float = 2.0, rate: int = 8000, seed: int = 0) -> Path:
    """Vorbis in Ogg, stereo at ``rate`` Hz (FFmpeg's native vorbis encoder: stereo only, 'experimental')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    left = render(class_signature(0, 2, family=2), seconds=seconds, sample_rate=rate,
                  rng=np.random.default_rng([seed, 669]), channels=1, event=False)[0]
    wave = np.stack([left, 0.7 * left]).astype(np.float32)
    with av.open(str(path), mode="w") as c:
        _mux_audio(c, _audio_stream(c, "vorbis", rate, "stereo", {"strict": "experimental"}), wave, rate, "stereo")
    return path


def write_nasty_corpus(out: Path, *, seed: int = 0) -> dict[str, Path]:
    """Write every file of :data:`NASTY_FILES` under ``out`` (module docstring); returns name -> path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    for name, fast in (("truncated", False), ("truncated_playable", True)):
        full = write_av(out / f"_{name}_full.mp4", seconds=3.0, faststart=fast, seed=seed)
        data = full.read_bytes()
        f[name] = out / f"{name}.mp4"
        f[name].write_bytes(data[: int(len(data) * 0.4)])
        full.unlink()
    f["zero_byte"] = out / "zero_byte.bin"
    f["zero_byte"].write_bytes(b"")
    f["text"] = out / "text.txt"
    f["text"].write_text("this is a text file, not media\n" * 40)
    f["no_audio"] = write_av(out / "no_audio.mp4", audio=False, seed=seed)
    f["no_video"] = write_av(out / "no_video.m4a", video=False, seed=seed)
    f["short"] = write_av(out / "short.mp4", seconds=0.3, seed=seed)
    f["odd_size"] = write_av(out / "odd_size.mp4", width=97, height=33, codec="mpeg4", seed=seed)
    f["ogg_8k_stereo"] = write_ogg(out / "ogg_8k_stereo.ogg", seed=seed)
    f["rotated"] = write_av(out / "rotated.mp4", rotation=90, seed=seed)
    f["vfr"] = write_av(out / "vfr.mp4", vfr=True, seed=seed)
    assert tuple(f) == NASTY_FILES
    return f


# ---- injecting into a layout -------------------------------------------------------------------------------------
def _names(names: tuple[str, ...] | None) -> tuple[str, ...]:
    chosen = tuple(names) if names is not None else NASTY_FILES + NASTY_LISTED
    unknown = [n for n in chosen if n not in NASTY_FILES + NASTY_LISTED]
    if unknown:
        raise ValueError(f"unknown nasty entries {unknown}; known: {list(NASTY_FILES + NASTY_LISTED)}")
    return chosen


def _copy(corpus: dict[str, Path], name: str, dest: Path) -> None:
    if name in NASTY_FILES:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus[name], dest)


def _append_csv(path: Path, rows: list[list[str]]) -> None:
    text = path.read_text()
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + buf.getvalue())


def _append_lines(path: Path, lines: list[str], newline: str = "\n") -> None:
    text = path.read_bytes().decode().rstrip("\r\n")
    path.write_bytes((text + newline + newline.join(lines) + newline).encode())


def inject_esc50(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    rows = list(csv.DictReader((root / "meta" / "esc50.csv").open()))
    category0 = next(r["category"] for r in rows if r["target"] == "0")
    out, new = [], []
    for i, name in enumerate(names):
        fold = i % 5 + 1
        filename = TRAVERSAL if name == "traversal" else f"{fold}-99{i:04d}-A-0.wav"
        _copy(corpus, name, root / "audio" / filename)
        new.append([filename, str(fold), "0", category0, "False", f"99{i:04d}", "A"])
        out.append(Injected(name, filename if name == "traversal" else Path(filename).stem, filename, f"fold{fold}"))
    _append_csv(root / "meta" / "esc50.csv", new)
    return out


def inject_dcase(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    """DCASE has no annotation files (the class is the file name), so only the media entries apply."""
    dirs = {"train": root / "set1" / "scenes_stereo" / "scenes_stereo",
            "test": root / "set1" / "scenes_stereo_testset" / "scenes_stereo_testset"}
    cls = sorted(p.name[:-6] for p in dirs["train"].glob("*.wav"))[0]
    out = []
    for i, name in enumerate(n for n in names if n in NASTY_FILES):
        side = ("train", "test")[i % 2]
        nn = 99 - i
        dest = dirs[side] / f"{cls}{nn:02d}.wav"
        if dest.exists():
            raise FileExistsError(f"{dest} exists: the fixture already uses {cls}{nn:02d}")
        _copy(corpus, name, dest)
        out.append(Injected(name, f"{side}/{dest.stem}", dest.name, side))
    return out


def inject_ucf101(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    """Class 0 files in group g01 (test in split 1) or g03 (train in split 1), listed in split 1 only."""
    from avbench.synth.video_fixtures import UCF101_FILE_SPELLING

    lists = root / "ucfTrainTestlist"
    cls = lists.joinpath("classInd.txt").read_text().split()[1]
    stem_cls = UCF101_FILE_SPELLING.get(cls, cls)
    train, test, out = [], [], []
    for i, name in enumerate(names):
        side = ("train", "test")[i % 2]
        rel = f"{cls}/v_{stem_cls}_g{'03' if side == 'train' else '01'}_c{90 + i:02d}.avi"
        if name == "traversal":
            rel = TRAVERSAL
        _copy(corpus, name, root / "UCF-101" / rel)
        (train if side == "train" else test).append(f"{rel} 1" if side == "train" else rel)
        out.append(Injected(name, rel.rsplit(".", 1)[0] if name != "traversal" else rel, rel, side))
    _append_lines(lists / "trainlist01.txt", train, "\r\n")
    _append_lines(lists / "testlist01.txt", test, "\r\n")
    return out


def inject_hmdb51(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    """Class 0 files, train (1) or test (2) in every split."""
    splits = root / "testTrainMulti_7030_splits"
    cls = sorted(p.name.rsplit("_test_split", 1)[0] for p in splits.glob("*_test_split1.txt"))[0]
    lines, out = [], []
    for i, name in enumerate(names):
        side = ("train", "test")[i % 2]
        file = TRAVERSAL if name == "traversal" else f"Nasty_{name}_{cls}_f_cm_np1_fr_med_{i}.avi"
        _copy(corpus, name, root / "hmdb51_org" / cls / file)
        lines.append(f"{file} {1 if side == 'train' else 2} ")
        out.append(Injected(name, f"{cls}/{Path(file).stem}" if name != "traversal" else file, file, side))
    for k in (1, 2, 3):
        _append_lines(splits / f"{cls}_test_split{k}.txt", lines)
    return out


def inject_kinetics(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    """Rows of the first train label in ``annotations/{train,val}.csv``; files in ``<split>/<label_>/``."""
    ann = root / "annotations"
    label = next(csv.DictReader((ann / "train.csv").open()))["label"]
    rows: dict[str, list[list[str]]] = {"train": [], "val": []}
    out = []
    for i, name in enumerate(names):
        split = ("train", "val")[i % 2]
        ytid = TRAVERSAL if name == "traversal" else f"nasty{i:02d}{name[:4]}"
        sid = f"{ytid}_{i:06d}_{i + 10:06d}"
        _copy(corpus, name, root / split / label.replace(" ", "_") / f"{sid}.mp4")
        rows[split].append([label, ytid, str(i), str(i + 10), split, "0"])
        out.append(Injected(name, ytid if name == "traversal" else sid, ytid, "train" if split == "train" else "test"))
    for split, new in rows.items():
        _append_csv(ann / f"{split}.csv", new)
    return out


def inject_vggsound(root: Path, corpus: dict[str, Path], names: tuple[str, ...], *,
                     sides: tuple[str, ...] = ("train", "test")) -> list[Injected]:
    """Rows of the first label in ``vggsound.csv``; files in ``video/``."""
    label = next(csv.reader((root / "vggsound.csv").open()))[2]
    rows, out = [], []
    for i, name in enumerate(names):
        split = sides[i % len(sides)]
        ytid = TRAVERSAL if name == "traversal" else f"nasty{i:02d}{name[:4]}"
        sid = f"{ytid}_{i:06d}"
        _copy(corpus, name, root / "video" / f"{sid}.mp4")
        rows.append([ytid, str(i), label, split])
        out.append(Injected(name, ytid if name == "traversal" else sid, ytid, split))
    _append_csv(root / "vggsound.csv", rows)
    return out


def inject_world(root: Path, corpus: dict[str, Path], names: tuple[str, ...]) -> list[Injected]:
    """Train rows of ``labels.csv`` (class 0); files in ``videos/nasty/``."""
    rows, out = [], []
    first = next(csv.DictReader((root / "labels.csv").open()))
    for name in names:
        rel = TRAVERSAL if name == "traversal" else f"videos/nasty/{name}.mp4"
        _copy(corpus, name, root / rel)
        rows.append([f"nasty_{name}", rel, first["label"], first["class_name"], "train"])
        out.append(Injected(name, f"nasty_{name}", rel, "train"))
    _append_csv(root / "labels.csv", rows)
    return out


#: layouts :func:`inject_nasty` knows: the data sets whose adapter names an injector, and the pretraining world.
LAYOUTS = ("esc50", "dcase2013", "ucf101", "hmdb51", "kinetics400", "kinetics_sound", "vggsound", "world")


def inject_nasty(root: Path, layout: str, corpus: dict[str, Path], names: tuple[str, ...] | None = None,
                 **options: object) -> dict[str, Injected]:
    """Copy the ``names`` entries of ``corpus`` (default: all of :data:`NASTY_FILES` and :data:`NASTY_LISTED`) into
    the fixture ``root`` of ``layout`` (:data:`LAYOUTS`) and list them in its annotation files; returns name ->
    :class:`Injected`. A data set's injector is the one its adapter names
    (:meth:`avbench.datasets.base.DatasetAdapter.inject_corrupt`). DCASE has no annotation files, so ``missing`` and
    ``traversal`` are left out there. In the Kinetics and VGG-Sound layouts the ``traversal`` row puts the path in
    the ``youtube_id`` column: an id, not a path, which the adapters reject as malformed (a DatasetError naming
    file:line) before any file is looked up. ``options``: ``sides`` for vggsound (e.g. ``("test",)`` to put every
    entry in the AugVGG gallery)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {list(LAYOUTS)}")
    if layout == "world":
        done = inject_world(Path(root), corpus, _names(names))
    else:
        from avbench.datasets import get_dataset

        done = get_dataset(layout).inject_corrupt(Path(root), corpus, _names(names), **options)
    return {e.name: e for e in done}


def add_query_line(query_dir: Path, source_id: str, output: str) -> None:
    """Append an AugVGG query line (``id`` = the source's id, ``output`` = the query file as listed) to
    ``query_dir/manifest.jsonl``, e.g. ``output="../../etc/passwd"``."""
    with (Path(query_dir) / "manifest.jsonl").open("a") as f:
        f.write(json.dumps({"id": source_id, "output": output}) + "\n")
