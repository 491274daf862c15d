"""Does a recorded difference from the released code (docs/ERRATA.md D5, D11) change a number avbench reports?

D5 (training clip starts): fixture UCF101 full finetuning (``ucf101-finetune``, random-init CrissCross, 64 px,
8 frames, split 1, 3 seeds) with ``video.starts`` grid and continuous; prints top-1 per seed and mean.
D11 (audio resampler): fixture ESC-50 decoded by avbench (torchaudio sinc) and by the released settings run through
PyAV (FFmpeg swresample to s16 mono 16 kHz, then / 32767): waveform relative L2 per file, and ``esc50-released``
top-1 of a random-init CrissCross with each decoder (features recomputed, separate caches).

Usage: ``python benchmarks/released_readings.py d5|d11 [--work DIR]`` (CPU, one thread, a few minutes each).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch


def _run(task: str, root: Path, work: Path, overrides: dict) -> dict:
    from avbench.evaluation.options import RunOptions
    from avbench.evaluation.runner import run

    record, path = run("crisscross", task, data_root=root, overrides=overrides,
                       options=RunOptions(cache_dir=work / "cache", out_dir=work / "out", log=lambda m: None,
                                          num_workers=0, min_coverage=0.0))
    data = json.loads(path.read_text())
    return {"top1": data["metrics"]["top1"], "runs": [(r.get("seed"), r.get("split"), r.get("top1"))
                                                      for r in data["runs"]]}


def d5(work: Path) -> None:
    from avbench.synth.video_fixtures import write_ucf101

    root = write_ucf101(work / "UCF101", n_classes=5, groups=4, clips_per_group=2, seed=0)
    base = {"video": {"size": 64, "resize": 72, "frames": 8, "timeline": "floor"}, "splits": ["split1"],
            "batch_size": 8, "seeds": [0, 1, 2], "train": {"clips": 2}, "test": {"clips": 2},
            "classifier": {"epochs": 4, "batch_size": 8, "lr": 0.02, "milestones": [2], "gamma": 0.5}}
    for starts in ("grid", "continuous"):
        over = json.loads(json.dumps(base))
        over["video"]["starts"] = starts
        print("D5", starts, json.dumps(_run("ucf101-finetune", root, work / starts, over)))


def _released_wave(path: Path, sample_rate: int) -> torch.Tensor:
    """The released av_wrappers.py settings: AudioResampler(s16p, mono, rate) over every frame, / 32767."""
    import av

    with av.open(str(path)) as c:
        rs = av.audio.resampler.AudioResampler(format="s16p", layout="mono", rate=sample_rate)
        chunks = [f.to_ndarray() for fr in c.decode(audio=0) for f in rs.resample(fr)]
        chunks += [f.to_ndarray() for f in rs.resample(None)]
    return torch.from_numpy(np.concatenate(chunks, axis=1)[0].astype(np.float32) / 32767.0)


def d11(work: Path) -> None:
    import avbench.features.audio as feat_audio
    from avbench.media.audio_decode import DecodedAudio, load_audio
    from avbench.synth.audio_fixtures import write_esc50

    root = write_esc50(work / "esc50", n_classes=5, clips_per_class=10, seed=1)
    rel = []
    for f in sorted((root / "audio").glob("*.wav")):
        a, b = load_audio(f, 16000).wave, _released_wave(f, 16000)
        n = min(a.numel(), b.numel())
        rel.append(float((a[:n] - b[:n]).norm() / a[:n].norm()))
    print("D11 waveform relative L2 over", len(rel), "files: median", np.median(rel), "max", max(rel))
    over = {"train": {"clips": 10}}
    print("D11 avbench", json.dumps(_run("esc50-released", root, work / "avbench", over)))

    def released_load(path, sample_rate, *, strict=False, limits=None):
        d = load_audio(path, sample_rate, strict=strict, limits=limits)
        return DecodedAudio(_released_wave(Path(path), sample_rate), sample_rate, d.source_rate, d.channels,
                            d.declared_seconds, d.notes)

    feat_audio.load_audio = released_load
    print("D11 released", json.dumps(_run("esc50-released", root, work / "released", over)))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", choices=["d5", "d11"])
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        {"d5": d5, "d11": d11}[args.which](args.work or Path(tmp))
