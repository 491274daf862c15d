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

The parts: :mod:`.query_ops` (drawing and applying the ops), :mod:`.source` (decoding a source),
:mod:`.encode` (the reproducible encoding); this module makes the queries and the set, and re-exports their names.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import av
import numpy as np
import torch

from avbench.datasets import get_dataset
from avbench.datasets.augvgg.encode import (
    AUDIO_BIT_RATE,
    GOP_SECONDS,
    encode_query,
    rgb_to_yuv420p,
    sha256_file,
    video_codec,
    video_options,
    x264_cpu_flags,
)
from avbench.datasets.augvgg.query_ops import SPEED_MAX_DENOMINATOR, VARIANTS, apply_ops, draw_ops
from avbench.datasets.augvgg.source import SAMPLE_RATE, Source, decode_source
from avbench.media.errors import MediaError

__all__ = [
    "AUDIO_BIT_RATE", "GOP_SECONDS", "Job", "SAMPLE_RATE", "SPEED_MAX_DENOMINATOR", "Source", "VARIANTS", "VERSION",
    "apply_ops", "decode_source", "draw_ops", "encode_query", "generate_augvgg", "generator_name", "rgb_to_yuv420p",
    "run_job", "sha256_file", "versions", "video_codec", "video_options", "x264_cpu_flags",
]

VERSION = "v1"


def generator_name(variant: str) -> str:
    """``augvgg-<variant>-v1``: changes whenever a variant's ops, ranges or encoding change."""
    return f"augvgg-{variant}-{VERSION}"


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
    test_ids = sorted(manifest.splits["official"]["test"])
    selected = test_ids if limit is None else test_ids[:limit]
    # the adapter names a missing clip's path "<split>/**/<id>.*"
    missing = [{"id": s.id, "source": s.path, "reason": s.reason} for s in manifest.skipped
               if s.path.startswith("test/")]
    folder = Path(out) / variant
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / "manifest.jsonl.part"
    previous = {**_read_lines(folder / "manifest.jsonl"), **_read_lines(journal)}
    lines, jobs = _plan_queries(manifest, selected, folder, variant, seed, previous)
    reused = len(lines)
    skipped = _run_jobs(jobs, journal, lines, workers, reused, len(selected), progress)
    _write_atomic(folder / "manifest.jsonl", "".join(_canon(lines[k]) + "\n" for k in sorted(lines)))
    journal.unlink(missing_ok=True)
    counts = {"test_listed": len(test_ids) + len(missing), "test_found": len(test_ids),
              "missing": len(missing), "selected": len(selected), "queries": len(lines),
              "written": len(lines) - reused, "reused": reused, "undecodable": len(skipped)}
    info = _info(variant, seed, str(manifest.root), limit, counts, sorted(missing + skipped, key=lambda d: d["id"]))
    _write_atomic(folder / "info.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
    return info


def _plan_queries(manifest: Any, selected: Sequence[str], folder: Path, variant: str, seed: int,
                  previous: dict[str, dict]) -> tuple[dict[str, dict], list[Job]]:
    """(the manifest lines kept: output present, same generator, seed and ops, sha256 matching; the jobs for the
    other selected ids)."""
    by_id = manifest.by_id()
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
    return lines, jobs


def _run_jobs(jobs: list[Job], journal: Path, lines: dict[str, dict], workers: int, done: int, total: int,
              progress: Callable[[int, int], None] | None) -> list[dict]:
    """Make ``jobs`` (in ``workers`` spawned processes, or here), adding each line to ``lines`` and appending it to
    the ``journal`` as it completes; returns the skips. ``done`` of ``total`` queries are already there."""
    skipped: list[dict] = []
    if progress:
        progress(done, total)
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
                progress(done, total)

        if workers > 1 and len(jobs) > 1:
            with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
                for result in pool.imap_unordered(run_job, jobs):
                    record(result)
        else:
            for job in jobs:
                record(run_job(job))
    return skipped


def _info(variant: str, seed: int, root: str, limit: int | None, counts: dict[str, int],
          skipped: list[dict]) -> dict:
    """The ``info.json`` contents: generator, seed, library versions, encoder settings, counts, skipped sources."""
    codec = video_codec()
    return {
        "generator": generator_name(variant), "variant": variant, "seed": seed, "versions": versions(),
        "source": {"dataset": "vggsound", "root": root, "split": "test", "limit": limit},
        "encoder": {"container": "mp4", "video_codec": codec,
                    "video_options": video_options(codec, "GOP"),
                    "gop": f"GOP = round({GOP_SECONDS} s x source fps) frames",
                    "audio_codec": "aac", "audio_bit_rate": AUDIO_BIT_RATE, "sample_rate": SAMPLE_RATE,
                    "channels": 1},
        "counts": counts,
        "skipped": skipped,
    }
