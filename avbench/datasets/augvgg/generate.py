"""Generate an AugVGG query set: one augmented, re-encoded copy of every VGG-Sound test video.

Per source: decode all frames (uint8 RGB, put on a constant-rate timeline at the file's average frame rate with
:func:`avbench.media.video_decode.target_timeline`) and the audio (:func:`avbench.media.audio_decode.load_audio`,
mono 16 kHz) -> apply the variant's ops (:func:`draw_ops`, :func:`apply_ops`) -> encode H.264 + AAC in MP4
(:func:`encode_query`). Output geometry and frame rate are the source's (odd sizes lose their last row / column:
4:2:0 H.264 needs even sizes); audio is mono 16 kHz AAC.

Layout under ``out/<variant>/``: ``<id>.mp4`` per query, ``manifest.jsonl`` (one JSON line per query in sorted id
order: id, source path relative to the data root, label, generator, seed, the ops with every drawn parameter, the
output's sha256 and geometry) and ``info.json`` (generator ``augvgg-<variant>-v1``, seed, library versions,
encoder settings, counts, and every skipped source with its reason: missing files as the adapter reports them,
and undecodable files, which never stop the run).

Determinism: the ops of query ``id`` come from ``numpy.random.default_rng(derive_seed(seed, variant, id))`` alone
(independent of ``--limit``, ``--workers`` and order); ops run with one torch thread; libx264 runs with
``threads=1``, a fixed GOP (2 s, no scene-cut keyframes), CRF 23 and fixed CPU flags (:func:`x264_cpu_flags`:
its AVX-512 code is not reproducible), fed YUV 4:2:0 converted in integer arithmetic (:func:`rgb_to_yuv420p`);
FFmpeg's AAC encoder is deterministic; the only container metadata is a fixed title. Same seed and library
versions -> identical parameters and bytes (checked across runs and worker processes; the source's YUV -> RGB
conversion is FFmpeg's swscale, whose SIMD paths may differ by a level between CPU generations, so bytes from
different machines are expected, not guaranteed, to match; parameters always do).

Resume: a query whose output exists, whose sha256 matches its manifest line and whose recorded ops equal the
ones drawn now is kept without decoding. Outputs are written to a temporary name and renamed; finished queries
are appended to ``manifest.jsonl.part`` as they complete (so an interrupted run loses nothing), and
``manifest.jsonl`` is rewritten atomically at the end.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import platform
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import av
import numpy as np
import torch

from avbench.datasets import get_dataset
from avbench.media.audio_decode import load_audio
from avbench.media.container import demux_tolerant, open_container
from avbench.media.errors import MediaError
from avbench.media.seeding import derive_seed
from avbench.media.video_decode import target_timeline
from avbench.datasets.augvgg import audio_ops as A
from avbench.datasets.augvgg import video_ops as V

VARIANTS = ("ip", "s", "t", "c")
VERSION = "v1"
SAMPLE_RATE = 16000
#: seconds between keyframes (fixed GOP).
GOP_SECONDS = 2
AUDIO_BIT_RATE = 64000
#: speed factors are drawn log-uniformly with |log2 f| in [log2 1.25, 1] and rounded to p/q with q <= this.
SPEED_MAX_DENOMINATOR = 16
_AUGLY_T = {"speed": "augly.video.change_video_speed + augly.audio.speed",
            "time_crop": "augly.video.time_crop + augly.audio.clip"}


def generator_name(variant: str) -> str:
    """``augvgg-<variant>-v1``: changes whenever a variant's ops, ranges or encoding change."""
    return f"augvgg-{variant}-{VERSION}"


# ---- drawing -----------------------------------------------------------------------------------------------------
def _op(family: str, stream: str, name: str, augly: str, params: dict) -> dict:
    return {"family": family, "stream": stream, "op": name, "augly": augly, "params": params}


def _frame_op(rng: np.random.Generator, family: str) -> dict:
    options = V.names(family)
    name = options[int(rng.integers(len(options)))]
    fam, draw, _, augly = V.VIDEO_OPS[name]
    return _op(fam, "video", name, augly, draw(rng))


def _wave_op(rng: np.random.Generator, family: str) -> dict:
    options = A.names(family)
    name = options[int(rng.integers(len(options)))]
    fam, draw, _, augly = A.AUDIO_OPS[name]
    return _op(fam, "audio", name, augly, draw(rng))


def _time_op(rng: np.random.Generator) -> dict:
    name = ("speed", "time_crop")[int(rng.integers(2))]
    if name == "speed":
        exponent = float(rng.choice([-1.0, 1.0])) * rng.uniform(math.log2(1.25), 1.0)
        f = Fraction(2 ** exponent).limit_denominator(SPEED_MAX_DENOMINATOR)
        params = {"factor": round(float(f), 4), "p": f.numerator, "q": f.denominator}
    else:
        params = {"keep": round(float(rng.uniform(0.5, 0.9)), 4), "offset": round(float(rng.uniform(0, 1)), 4)}
    return _op("t", "both", name, _AUGLY_T[name], params)


def draw_ops(variant: str, seed: int, sample_id: str) -> list[dict]:
    """The ops of one query, in application order; each ``{"family", "stream", "op", "augly", "params"}``.

    ip / s: one frame op and one waveform op of that family (uniform choices); t: one time op on both streams
    (speed or time_crop, 50/50); c: a time op, then an S op and an IP op on different streams (S on video and IP
    on audio, or the reverse, 50/50), so each stream gets one spatial-or-in-place change on top of the time change.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    rng = np.random.default_rng(derive_seed(seed, variant, sample_id))
    if variant in ("ip", "s"):
        return [_frame_op(rng, variant), _wave_op(rng, variant)]
    if variant == "t":
        return [_time_op(rng)]
    time_op = _time_op(rng)
    if rng.random() < 0.5:
        return [time_op, _frame_op(rng, "s"), _wave_op(rng, "ip")]
    return [time_op, _wave_op(rng, "s"), _frame_op(rng, "ip")]


def apply_ops(frames: np.ndarray, fps: Fraction, wave: torch.Tensor, sample_rate: int,
              ops: Sequence[dict]) -> tuple[np.ndarray, torch.Tensor]:
    """Apply ``ops`` in order to ``frames`` ``[T, H, W, 3]`` uint8 (constant rate ``fps``) and ``wave`` ``[N]``
    float32 at ``sample_rate``; time ops cut / resample both streams in sync. Returns (frames, wave)."""
    for op in ops:
        name, params = op["op"], op["params"]
        if op["stream"] == "both":
            if name == "speed":
                frames = V.change_speed(frames, p=params["p"], q=params["q"])
                wave = A.change_speed(wave, p=params["p"], q=params["q"])
            elif name == "time_crop":
                start, count = V.crop_segment(frames.shape[0], keep=params["keep"], offset=params["offset"])
                frames = V.time_crop(frames, start=start, count=count)
                wave = A.time_crop(wave, sample_rate, start_s=float(start / fps), seconds=float(count / fps))
            else:
                raise ValueError(f"unknown time op {name!r}")
        elif op["stream"] == "video":
            frames = V.VIDEO_OPS[name][2](frames, **params)
        elif op["stream"] == "audio":
            wave = A.AUDIO_OPS[name][2](wave, sample_rate, **params)
        else:
            raise ValueError(f"unknown stream {op['stream']!r}")
    return frames, wave


# ---- decoding ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """A decoded source video: ``frames`` ``[T, H, W, 3]`` uint8 RGB at constant ``fps`` (H, W even), ``wave``
    ``[N]`` float32 mono at :data:`SAMPLE_RATE`; ``notes``: damage worked around."""

    frames: np.ndarray
    fps: Fraction
    wave: torch.Tensor
    notes: tuple[str, ...] = ()


def decode_source(path: str | os.PathLike[str]) -> Source:
    """Decode every frame and the audio of ``path`` (raises MediaError for unusable files, including files
    without an audio stream: every query has both streams). Holds the whole clip in memory (a 10-s 640x360
    30-fps clip: ~210 MB of frames)."""
    p = Path(path)
    notes: list[str] = []
    images: list[np.ndarray] = []
    times: list[float | None] = []
    with open_container(p) as container:
        if not container.streams.video:
            raise MediaError(p, "no video stream")
        if not container.streams.audio:
            raise MediaError(p, "no audio stream (video-only file)")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = Fraction(rate).limit_denominator(1001) if rate and 1 <= float(rate) <= 240 else Fraction(25)
        if not rate:
            notes.append("no frame rate in the header: 25 fps assumed")
        dropped, cc = 0, stream.codec_context
        for packet in [*demux_tolerant(container, stream, notes), None]:  # None flushes the decoder's last frames
            try:
                decoded = cc.decode(packet)
            except av.error.FFmpegError:
                dropped += 1
                continue
            for frame in decoded:
                images.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.pts * stream.time_base) if frame.pts is not None and stream.time_base else None)
        if dropped:
            notes.append(f"{dropped} undecodable video packet(s) dropped")
    if not images:
        raise MediaError(p, "no decodable video frames" + (f"; {'; '.join(notes)}" if notes else ""))
    if len({im.shape for im in images}) > 1:
        raise MediaError(p, "frame size changes mid-stream")
    h, w = images[0].shape[:2]
    if h < 2 or w < 2:
        raise MediaError(p, f"frames of {w}x{h} are too small to encode")
    if any(t is None for t in times):
        stamps = np.arange(len(images)) / float(fps)
    else:
        stamps = np.asarray(times, dtype=np.float64)
        order = np.argsort(stamps, kind="stable")
        images, stamps = [images[i] for i in order], stamps[order]
        stamps = stamps - stamps[0]
    index = target_timeline(stamps, float(fps))
    frames = np.stack([images[i][: h - h % 2, : w - w % 2] for i in index])
    wave = load_audio(p, SAMPLE_RATE).wave
    return Source(frames, fps, wave, tuple(notes))


# ---- encoding ----------------------------------------------------------------------------------------------------
def video_codec() -> str:
    """"libx264" when PyAV's FFmpeg has it, else "mpeg4"."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except Exception:  # UnknownCodecError and friends
        return "mpeg4"


def x264_cpu_flags() -> str:
    """x264's ``asm`` setting: the x86-64 baseline (MMX2, SSE, SSE2) on x86-64, else 0 (C code).

    x264's AVX-512 routines read memory they do not own: with them, the same frames encoded after other work in
    the same process gave different bytes (x264 in PyAV 18's FFmpeg, Xeon with AVX-512). The baseline set is
    present on every x86-64 CPU, encodes at about 90 % of the full speed, and gave the same bytes as x264's C code;
    AVX2 gave other (deterministic) bytes, so a per-CPU choice would make outputs differ between machines."""
    return "MMX2,SSE,SSE2" if platform.machine().lower() in ("x86_64", "amd64") else "0"


def video_options(codec: str, gop: int | str) -> dict[str, str]:
    """Encoder options: one thread, a fixed GOP of ``gop`` frames (:data:`GOP_SECONDS` at the source rate; no
    scene-cut keyframes) and fixed CPU flags (:func:`x264_cpu_flags`) for determinism; libx264 at CRF 23,
    preset veryfast."""
    if codec == "libx264":
        return {"preset": "veryfast", "crf": "23", "threads": "1",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:asm={x264_cpu_flags()}"}
    return {"g": str(gop), "threads": "1"}


def rgb_to_yuv420p(img: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB (H, W even) -> ``[3H/2, W]`` uint8 planar YUV 4:2:0 (Y, then U, then V, flattened),
    BT.601 limited range with the usual integer coefficients, chroma the rounded mean of each 2x2 block.

    Done here in integer arithmetic (exact and identical on every machine) rather than by swscale inside the
    encoder, whose output depends on its SIMD paths."""
    h, w = img.shape[:2]
    r, g, b = (img[..., i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128

    def half(c: np.ndarray) -> np.ndarray:
        return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2] + 2) >> 2

    flat = np.concatenate([y.ravel(), half(u).ravel(), half(v).ravel()])
    return flat.clip(0, 255).astype(np.uint8).reshape(h * 3 // 2, w)


def encode_query(path: Path, frames: np.ndarray, fps: Fraction, wave: torch.Tensor, sample_rate: int, *,
                 title: str) -> None:
    """Write ``frames`` ``[T, H, W, 3]`` uint8 at ``fps`` and ``wave`` ``[N]`` float32 (mono, ``sample_rate``) to
    ``path`` as MP4 (H.264 + AAC; :func:`video_options`), with ``title`` as the only metadata."""
    codec = video_codec()
    t, h, w = frames.shape[:3]
    with av.open(str(path), mode="w", format="mp4") as c:
        c.metadata["title"] = title
        vs = c.add_stream(codec, rate=fps, options=video_options(codec, max(1, round(GOP_SECONDS * float(fps)))))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.thread_count = 1
        vs.time_base = 1 / fps
        as_ = c.add_stream("aac", rate=sample_rate, layout="mono")
        as_.bit_rate = AUDIO_BIT_RATE
        as_.codec_context.thread_count = 1
        tb = 1 / fps
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frames[i]), format="yuv420p")
            frame.pts, frame.time_base = i, tb
            c.mux(vs.encode(frame))
        c.mux(vs.encode(None))
        data = wave.detach().to(torch.float32).clamp(-1, 1).numpy()[None]
        for start in range(0, data.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, start:start + 1024]), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts, af.time_base = sample_rate, start, Fraction(1, sample_rate)
            c.mux(as_.encode(af))
        c.mux(as_.encode(None))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- one query ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One query to make: source ``path`` (absolute), ``rel`` (relative to the data root), ``output`` (absolute)."""

    id: str
    path: str
    rel: str
    label: str
    output: str
    variant: str
    seed: int
    ops: tuple[dict, ...]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


def run_job(job: Job) -> dict:
    """Make one query. Returns ``{"line": manifest line}`` or ``{"skip": {"id", "source", "reason"}}``."""
    out = Path(job.output)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with _torch_threads(1):
            src = decode_source(job.path)
            frames, wave = apply_ops(src.frames, src.fps, src.wave, SAMPLE_RATE, job.ops)
            if wave.numel() < SAMPLE_RATE // 100:  # e.g. a time crop of a video whose audio track ends early
                raise MediaError(job.path, f"only {wave.numel()} audio samples left after the ops (< 10 ms)")
            encode_query(tmp, frames, src.fps, wave, SAMPLE_RATE,
                         title=f"{generator_name(job.variant)} seed {job.seed} query {job.id}")
        os.replace(tmp, out)
    except (MediaError, av.error.FFmpegError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        out.unlink(missing_ok=True)  # an output left by an earlier run no longer matches any manifest line
        reason = exc.reason if isinstance(exc, MediaError) else f"{type(exc).__name__}: {exc}"
        return {"skip": {"id": job.id, "source": job.rel, "reason": reason}}
    line = {"id": job.id, "source": job.rel, "label": job.label, "output": out.name,
            "generator": generator_name(job.variant), "seed": job.seed, "ops": list(job.ops),
            "sha256": sha256_file(out),
            "video": {"fps": f"{src.fps.numerator}/{src.fps.denominator}", "frames": int(frames.shape[0]),
                      "width": int(frames.shape[2]), "height": int(frames.shape[1]),
                      "source_frames": int(src.frames.shape[0])},
            "audio": {"sample_rate": SAMPLE_RATE, "samples": int(wave.numel()),
                      "source_samples": int(src.wave.numel())}}
    if src.notes:
        line["source_notes"] = list(src.notes)
    return {"line": line}


# ---- the set -----------------------------------------------------------------------------------------------------
def _read_lines(path: Path) -> dict[str, dict]:
    """id -> line of a manifest (or journal) file; unreadable lines (a crash mid-write) are ignored."""
    lines: dict[str, dict] = {}
    if path.is_file():
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict) and "id" in line:
                lines[line["id"]] = line
    return lines


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _canon(obj: object) -> str:
    return json.dumps(obj, sort_keys=True)


def versions() -> dict[str, str]:
    """Versions of everything that shapes the output bytes."""
    import torchaudio
    import torchvision

    from avbench._version import __version__

    return {"avbench": __version__, "pyav": av.__version__,
            "ffmpeg": str(getattr(av, "ffmpeg_version_info", "?")),
            "torch": torch.__version__, "torchaudio": torchaudio.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__}


def generate_augvgg(root: str | os.PathLike[str], out: str | os.PathLike[str], variant: str, *, seed: int = 0,
                    limit: int | None = None, workers: int = 1, csv: str | os.PathLike[str] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Write (or complete) the AugVGG-``variant`` query set of the VGG-Sound test split under ``root`` into
    ``out/<variant>/``; returns the ``info.json`` contents (module docstring).

    limit: only the first ``limit`` test videos found (sorted by id); workers: processes (``spawn``) making
    queries in parallel (1 = in this process); csv: the adapter's ``csv`` option; progress: ``(done, total)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    manifest = get_dataset("vggsound").load(Path(root), csv=csv)
    by_id = manifest.by_id()
    test_ids = sorted(manifest.splits["official"]["test"])
    selected = test_ids if limit is None else test_ids[:limit]
    # the adapter names a missing clip's path "<split>/**/<id>.*"
    missing = [{"id": s.id, "source": s.path, "reason": s.reason} for s in manifest.skipped
               if s.path.startswith("test/")]
    folder = Path(out) / variant
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / "manifest.jsonl.part"
    previous = {**_read_lines(folder / "manifest.jsonl"), **_read_lines(journal)}
    lines: dict[str, dict] = {}
    jobs: list[Job] = []
    for sid in selected:
        s = by_id[sid]
        ops = tuple(draw_ops(variant, seed, sid))
        output = folder / f"{sid}.mp4"
        old = previous.get(sid)
        if (old is not None and old.get("generator") == generator_name(variant) and old.get("seed") == seed
                and _canon(old.get("ops")) == _canon(list(ops)) and output.is_file()
                and old.get("sha256") == sha256_file(output)):
            lines[sid] = old
            continue
        rel = str(s.path.relative_to(manifest.root)) if s.path.is_relative_to(manifest.root) else str(s.path)
        jobs.append(Job(sid, str(s.path), rel, manifest.classes[s.label], str(output), variant, seed, ops))
    reused = len(lines)
    skipped: list[dict] = []
    done = reused
    if progress:
        progress(done, len(selected))
    with open(journal, "a") as jf:
        def record(result: dict) -> None:
            nonlocal done
            if "line" in result:
                lines[result["line"]["id"]] = result["line"]
                jf.write(_canon(result["line"]) + "\n")
                jf.flush()
            else:
                skipped.append(result["skip"])
            done += 1
            if progress:
                progress(done, len(selected))

        if workers > 1 and len(jobs) > 1:
            with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
                for result in pool.imap_unordered(run_job, jobs):
                    record(result)
        else:
            for job in jobs:
                record(run_job(job))
    _write_atomic(folder / "manifest.jsonl", "".join(_canon(lines[k]) + "\n" for k in sorted(lines)))
    journal.unlink(missing_ok=True)
    codec = video_codec()
    info = {
        "generator": generator_name(variant), "variant": variant, "seed": seed, "versions": versions(),
        "source": {"dataset": "vggsound", "root": str(manifest.root), "split": "test", "limit": limit},
        "encoder": {"container": "mp4", "video_codec": codec,
                    "video_options": video_options(codec, "GOP"),
                    "gop": f"GOP = round({GOP_SECONDS} s x source fps) frames",
                    "audio_codec": "aac", "audio_bit_rate": AUDIO_BIT_RATE, "sample_rate": SAMPLE_RATE,
                    "channels": 1},
        "counts": {"test_listed": len(test_ids) + len(missing), "test_found": len(test_ids),
                   "missing": len(missing), "selected": len(selected), "queries": len(lines),
                   "written": len(lines) - reused, "reused": reused, "undecodable": len(skipped)},
        "skipped": sorted(missing + skipped, key=lambda d: d["id"]),
    }
    _write_atomic(folder / "info.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info
