"""The identity world (:mod:`avbench.synth.identity_world`) written in official layouts, for ``avbench demo`` and
the task cards: ESC-50 (the world's audio) and UCF101 (the world's clips with their sound).

Each clip draws from its own seed stream (``esc50`` / ``ucf101`` of :func:`identity_rng`), never a pretraining or
probe clip. Both roots get ``avbench_fixture.json`` (``"synthetic": true``).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from avbench.synth.audio_fixtures import ESC50_CATEGORIES, ESC50_HEADER, _esc50_rows, write_wav
from avbench.synth.identity_world import IDENTITY_CLASSES, IdentityWorldConfig, identity_rng, render_identity_clip
from avbench.synth.video_fixtures import UCF101_CLASSES, UCF101_FILE_SPELLING, VideoSpec, encode_video, write_ucf101_lists

_WRITER = "avbench.synth.identity_writers"


def _marker(out: Path, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "avbench_fixture.json").write_text(json.dumps({"synthetic": True, "writer": _WRITER, **info}, indent=1,
                                                         sort_keys=True) + "\n")


def write_identity_esc50(out: Path, *, n_classes: int = 6, clips_per_class: int = 50, seed: int = 0) -> Path:
    """The identity world's audio in the official ESC-50 layout under ``out``; returns ``out``.

    ``meta/esc50.csv`` (real header and category names of targets 0..n_classes-1, 5 folds, source recordings that
    never cross a fold) and ``audio/<fold>-<src>-<take>-<target>.wav``: 5 s (5 scenes of 1 s), 44.1 kHz mono 16-bit,
    the audio of ``render_identity_clip(target, cfg, identity_rng("esc50", seed, target, src, take))``. Identity
    ``k`` (timbre ``IDENTITY_CLASSES[k]``) is ESC-50 target ``k``. Every clip is a test clip in one fold."""
    if clips_per_class < 5:
        raise ValueError("clips_per_class must be >= 5 (one per fold)")
    cfg = IdentityWorldConfig(n_classes=n_classes, n_segments=5, sample_rate=44100)
    out = Path(out)
    rows = _esc50_rows(np.random.default_rng([seed, 20, 50]), n_classes, clips_per_class)
    for row in rows:
        rng = identity_rng("esc50", seed, int(row["target"]), int(row["src_file"]), ord(str(row["take"])))
        clip = render_identity_clip(int(row["target"]), cfg, rng, video=False)
        write_wav(out / "audio" / row["filename"], clip.audio, cfg.sample_rate, "s16")
    (out / "meta").mkdir(parents=True, exist_ok=True)
    lines = [",".join(ESC50_HEADER)] + [",".join(str(r[k]) for k in ESC50_HEADER) for r in rows]
    (out / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    _marker(out, {"dataset": "esc50", "world": "identity", "n_classes": n_classes, "clips_per_class": clips_per_class,
                  "seconds": cfg.seconds, "seed": seed, "files": len(rows),
                  "identities": {ESC50_CATEGORIES[k]: IDENTITY_CLASSES[k] for k in range(n_classes)}})
    return out


def write_identity_ucf101(out: Path, *, n_classes: int = 6, groups: int = 3, clips_per_group: int = 17,
                          seed: int = 0) -> Path:
    """Identity-world clips in the official UCF101 layout under ``out``; returns ``out``.

    ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` (CRLF) as
    :func:`avbench.synth.video_fixtures.write_ucf101` writes them; the class at classInd position ``k`` (0-based,
    the first ``n_classes`` of ``UCF101_CLASSES`` sorted case-insensitively) is identity ``k``. Each video: 4 scenes
    of 1 s, 48x48 at 16 fps, mpeg4 in AVI with the world's sound as mono 16-kHz pcm_s16le, rendered from
    ``identity_rng("ucf101", seed, k, g, c)``. Each split tests one group block, so with 3 groups every video is
    a test video of exactly one split (default: 6 x 17 = 102 test videos per split, 306 in all)."""
    if not 2 <= n_classes <= len(IDENTITY_CLASSES):
        raise ValueError(f"n_classes must be 2..{len(IDENTITY_CLASSES)}, got {n_classes}")
    if groups < 3 or clips_per_group < 1:
        raise ValueError("need groups >= 3 (one test block per split) and clips_per_group >= 1")
    cfg = IdentityWorldConfig(n_classes=n_classes, n_segments=4, fps=16.0, size=48, sample_rate=16000)
    spec = VideoSpec("mpeg4", Fraction(16), cfg.seconds, cfg.size, cfg.size, ("pcm_s16le", cfg.sample_rate))
    times = np.arange(cfg.n_segments * cfg.frames_per_segment) / cfg.fps
    out = Path(out)
    classes = sorted(UCF101_CLASSES[:n_classes], key=str.lower)
    files: list[tuple[str, int, int]] = []
    for k, cls in enumerate(classes):
        stem = UCF101_FILE_SPELLING.get(cls, cls)
        for g in range(1, groups + 1):
            for c in range(1, clips_per_group + 1):
                rel = f"{cls}/v_{stem}_g{g:02d}_c{c:02d}.avi"
                clip = render_identity_clip(k, cfg, identity_rng("ucf101", seed, k, g, c))
                encode_video(out / "UCF-101" / rel, clip.frames, times, spec, clip.audio)
                files.append((rel, k, g))
    write_ucf101_lists(out, classes, files, groups)
    _marker(out, {"dataset": "ucf101", "world": "identity", "n_classes": n_classes, "classes": classes,
                  "groups": groups, "clips_per_group": clips_per_group, "seed": seed, "files": len(files),
                  "identities": {cls: IDENTITY_CLASSES[k] for k, cls in enumerate(classes)}})
    return out
