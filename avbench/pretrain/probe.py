"""The fixed linear probe of the identity world (issue 20): one probe for every comparison, per modality.

Protocol (the same for random init, calibrated random init, every pretrainer and the supervised ceiling):

1. Probe clips: ``n_per_class`` clips per class from the ``probe-train`` stream and as many from the ``probe-test``
   stream (:func:`avbench.synth.identity_world.identity_rng`: disjoint seeds, never pretraining clips), 4 scenes
   of 1 s each, rendered at the encoder's frame rate and sample rate, 48² frames.
2. Per scene, one window per modality: ``frames`` frames centred in the scene (``[B, 3, frames, 48, 48]``
   normalised with the encoder's mean/std, no crop) and the scene's whole 1-s waveform through the encoder's own
   front end (``[B, 1, F, T]``). Pooled trunk features (``[B, D]``) are averaged over the scenes of a clip.
3. Features standardised with the training clips' mean and std; multinomial logistic regression; C from
   :data:`C_GRID` chosen on a stratified validation quarter of the training clips (seeded), then refitted on all
   training clips; top-1 (%) on the test clips.

``calibrate_batchnorm`` re-estimates every BatchNorm running mean and variance of a trunk from unlabelled clips
(the ``calibrate`` stream): the calibrated random floor of gate (i).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from avbench.synth.identity_world import IdentityClip, IdentityWorldConfig, identity_rng, render_identity_clip

#: the logistic-regression inverse regularisation strengths searched on the validation quarter.
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
#: frames per probe video window (the world presets' view length: 0.5 s at 16 fps).
PROBE_FRAMES = 8


def world_config(fps: float, sample_rate: int, *, n_classes: int = 6, size: int = 48) -> IdentityWorldConfig:
    """The probe clips' geometry for an encoder running at ``fps`` Hz and ``sample_rate`` Hz (4 scenes of 1 s)."""
    return IdentityWorldConfig(n_classes=n_classes, n_segments=4, segment_seconds=1.0, fps=fps, size=size,
                               sample_rate=sample_rate)


def _render_job(job: tuple[int, IdentityWorldConfig, str, tuple[int, ...], bool, bool]) -> IdentityClip:
    """``(class, cfg, stream, rng key, video, audio)`` -> the clip (top level, so worker processes can run it)."""
    k, cfg, stream, key, video, audio = job
    return render_identity_clip(k, cfg, identity_rng(stream, *key), video=video, audio=audio)


def _render_all(jobs: list, workers: int) -> list[IdentityClip]:
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            return list(ex.map(_render_job, jobs, chunksize=16))
    return [_render_job(j) for j in jobs]


def probe_clips(stream: str, n_per_class: int, cfg: IdentityWorldConfig, *, seed: int = 0,
                modalities: Sequence[str] = ("video", "audio"), workers: int = 1) -> list[IdentityClip]:
    """``n_per_class * cfg.n_classes`` clips of ``stream`` (class-major order; clip ``i`` of class ``k`` is
    ``identity_rng(stream, seed, k, i)``): the same clips for every encoder with the same frame and sample rate,
    rendered in ``workers`` processes when > 1."""
    jobs = [(k, cfg, stream, (seed, k, i), "video" in modalities, "audio" in modalities)
            for k in range(cfg.n_classes) for i in range(n_per_class)]
    return _render_all(jobs, workers)


def scene_windows(clips: Sequence[IdentityClip], cfg: IdentityWorldConfig, modality: str,
                  frames: int = PROBE_FRAMES) -> torch.Tensor:
    """One window per scene of every clip, scene-major within a clip.

    video: ``[N * n_segments, frames, S, S, 3]`` uint8, ``frames`` frames centred in each scene;
    audio: ``[N * n_segments, samples_per_segment]`` float32, each scene's whole waveform."""
    out = []
    for c in clips:
        for i in range(cfg.n_segments):
            if modality == "video":
                n = cfg.frames_per_segment
                first = i * n + max(0, (n - frames) // 2)
                out.append(torch.from_numpy(c.frames[first:first + frames]))
            else:
                n = cfg.samples_per_segment
                out.append(torch.from_numpy(c.audio[i * n:(i + 1) * n]))
    return torch.stack(out)


def _video_input(enc: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """``[B, T, H, W, 3]`` uint8 -> ``[B, 3, T, H, W]`` float, normalised with the encoder's mean/std."""
    a = enc.arch
    x = windows.permute(0, 4, 1, 2, 3).float().div_(255.0)
    mean = torch.tensor(a.mean, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(a.std, device=x.device).view(1, 3, 1, 1, 1)
    return (x - mean) / std


def trunk_input(enc: nn.Module, windows: torch.Tensor, modality: str) -> torch.Tensor:
    """Scene windows (:func:`scene_windows`) -> the trunk's input (video ``[B, 3, T, H, W]``, audio
    ``[B, 1, F, T]`` through the encoder's own front end), on the windows' device."""
    if modality == "video":
        return _video_input(enc, windows)
    return enc.audio_frontend(windows.float())


@torch.no_grad()
def embed(enc: nn.Module, windows: torch.Tensor, modality: str, n_segments: int, *, batch: int = 128,
          device: str | torch.device = "cpu") -> np.ndarray:
    """Pooled trunk features of every scene window, averaged over the ``n_segments`` scenes of a clip:
    ``[N, D]`` float32. The encoder runs in eval mode (running BatchNorm statistics)."""
    enc.to(device)
    trunk = enc.trunk(modality).eval()
    feats = []
    for i in range(0, windows.shape[0], batch):
        x = trunk_input(enc, windows[i:i + batch].to(device), modality)
        feats.append(trunk(x, ["pool"])["pool"].float().cpu())
    f = torch.cat(feats)
    return f.view(-1, n_segments, f.shape[1]).mean(1).numpy()


@torch.no_grad()
def calibrate_batchnorm(enc: nn.Module, windows: torch.Tensor, modality: str, *, batch: int = 128,
                        device: str | torch.device = "cpu") -> int:
    """Re-estimate every BatchNorm running mean/variance of the ``modality`` trunk from ``windows`` (cumulative
    average over batches of ``batch``; the weights are untouched). Returns the number of BatchNorm layers reset."""
    enc.to(device)
    trunk = enc.trunk(modality)
    bns = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    trunk.train()
    try:
        for i in range(0, windows.shape[0], batch):
            trunk(trunk_input(enc, windows[i:i + batch].to(device), modality), ["pool"])
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        trunk.eval()
    return len(bns)


@dataclass(frozen=True)
class ProbeResult:
    """top1: test accuracy (%); c: the chosen C; val_top1: its validation accuracy (%); n_train, n_test: clips."""

    top1: float
    c: float
    val_top1: float
    n_train: int
    n_test: int


def fit_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
              costs: Sequence[float] = C_GRID, val_fraction: float = 0.25, seed: int = 0) -> ProbeResult:
    """Standardise (training statistics), pick C on a stratified validation split of the training clips, refit on
    all of them, score the test clips. ``x_*``: ``[N, D]``; ``y_*``: ``[N]`` int."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[StandardScaler, LogisticRegression]:
        scaler = StandardScaler().fit(x)
        return scaler, LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y)

    def score(model: tuple[StandardScaler, LogisticRegression], x: np.ndarray, y: np.ndarray) -> float:
        return float((model[1].predict(model[0].transform(x)) == y).mean() * 100)

    idx_fit, idx_val = train_test_split(np.arange(len(y_train)), test_size=val_fraction, random_state=seed,
                                        stratify=y_train)
    vals = [score(fit(x_train[idx_fit], y_train[idx_fit], c), x_train[idx_val], y_train[idx_val]) for c in costs]
    best = int(np.argmax(vals))
    final = fit(x_train, y_train, costs[best])
    return ProbeResult(score(final, x_test, y_test), float(costs[best]), vals[best], len(y_train), len(y_test))


@dataclass
class ProbeData:
    """Rendered probe windows for one (fps, sample rate): ``windows[split][modality]`` and ``labels[split]``."""

    cfg: IdentityWorldConfig
    windows: dict[str, dict[str, torch.Tensor]]
    labels: dict[str, np.ndarray]


def make_probe_data(fps: float, sample_rate: int, n_per_class: int, *, seed: int = 0,
                    modalities: Sequence[str] = ("video", "audio"), workers: int = 1) -> ProbeData:
    """Render the probe's train and test clips once and cut their scene windows (reuse across encoders);
    ``workers`` > 1 renders in that many processes (the same clips)."""
    cfg = world_config(fps, sample_rate)
    windows: dict[str, dict[str, torch.Tensor]] = {}
    labels: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        clips = probe_clips(f"probe-{split}", n_per_class, cfg, seed=seed, modalities=modalities, workers=workers)
        windows[split] = {m: scene_windows(clips, cfg, m) for m in modalities}
        labels[split] = np.array([c.label for c in clips])
    return ProbeData(cfg, windows, labels)


def calibration_windows(fps: float, sample_rate: int, n_clips: int, modality: str, *, seed: int = 0,
                        workers: int = 1) -> torch.Tensor:
    """Scene windows of ``n_clips`` unlabelled clips of the ``calibrate`` stream (classes in turn; clip ``i`` is
    ``identity_rng("calibrate", seed, i)``), rendered in ``workers`` processes when > 1."""
    cfg = world_config(fps, sample_rate)
    jobs = [(i % cfg.n_classes, cfg, "calibrate", (seed, i), modality == "video", modality == "audio")
            for i in range(n_clips)]
    return scene_windows(_render_all(jobs, workers), cfg, modality)


def probe_encoder(enc: nn.Module, data: ProbeData, modality: str, *, device: str | torch.device = "cpu",
                  seed: int = 0) -> ProbeResult:
    """The fixed probe of ``enc``'s ``modality`` trunk on ``data`` (module docstring)."""
    n = data.cfg.n_segments
    x = {s: embed(enc, data.windows[s][modality], modality, n, device=device) for s in ("train", "test")}
    return fit_probe(x["train"], data.labels["train"], x["test"], data.labels["test"], seed=seed)
