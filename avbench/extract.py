"""Feature extraction: samples -> decoded clips -> encoder -> pooled features -> feature store shards.

One *view* is one side of a protocol (e.g. ESC-50 "train": 10 random augmented 2-s crops per clip).
Each file is decoded ONCE per view (in DataLoader workers, overlapping the forward pass) and all of its
clips are cut from that decode. Random choices (window starts, augmentation parameters) come from
generators seeded by (seed, side, sample id, clip index, stage), so features never depend on batch size,
worker count or rank. Files that fail to decode are recorded as skipped with the reason; the run goes on.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .datasets.base import Sample
from .encoder import Encoder
from .media.audio_augment import AudioAugmentConfig, augment_spectrogram, augment_waveform
from .media.audio_decode import load_audio
from .media.clips import cut_clips, random_starts, uniform_starts
from .media.errors import MediaError
from .media.seeding import generator_for
from .pooling import features_from_output
from .store import StoreEntry
from .taskcard import AudioClip, ClipSampling, Features


@dataclass(frozen=True)
class View:
    """Everything about one side of a protocol that changes its features (part of the cache key).

    seed is None when the side has no randomness (uniform windows, no augmentation)."""

    side: str
    modality: str
    clip: AudioClip
    sampling: ClipSampling
    features: Features
    layer: str
    seed: int | None

    def cache_fields(self) -> dict[str, Any]:
        return {"side": self.side, "modality": self.modality, "clip": self.clip.model_dump(mode="json"),
                "sampling": self.sampling.model_dump(mode="json"), "features": self.features.model_dump(mode="json"),
                "layer": self.layer, "seed": self.seed}

    @property
    def random(self) -> bool:
        return self.sampling.sampling == "random" or bool(self.sampling.augment)


@dataclass
class DecodedSample:
    """What a decode worker returns for one sample: ``clips`` ``[K, N]`` float32 waveform windows, or an error."""

    pos: int
    clips: torch.Tensor | None
    padded: bool = False
    error: str | None = None
    notes: tuple[str, ...] = ()  # damage the decoder worked around (truncation, dropped packets)


class AudioClipSource(Dataset):
    """Decodes sample ``i``, cuts its K windows, applies waveform augmentation (runs in DataLoader workers)."""

    def __init__(self, samples: Sequence[Sample], positions: Sequence[int], view: View, sample_rate: int,
                 augment: AudioAugmentConfig | None):
        self.samples, self.positions, self.view, self.sr, self.augment = samples, positions, view, sample_rate, augment

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> DecodedSample:
        pos = self.positions[i]
        sample = self.samples[pos]
        v = self.view
        try:
            decoded = load_audio(sample.path, self.sr)
        except MediaError as exc:
            return DecodedSample(pos, None, error=str(exc.reason))
        except Exception as exc:  # a decoder crash must not end the run; it is recorded with its type
            return DecodedSample(pos, None, error=f"decoder failure: {type(exc).__name__}: {exc}")
        wave = decoded.wave
        seconds = wave.numel() / self.sr
        if seconds < v.clip.min_seconds:
            return DecodedSample(pos, None, error=f"too short: {seconds:.3f} s < min_seconds {v.clip.min_seconds} s")
        clip_len = int(round(v.clip.seconds * self.sr))
        if v.sampling.trim_to_first_clip:
            wave = wave[:clip_len]
        k = v.sampling.clips
        if v.sampling.sampling == "uniform":
            starts = uniform_starts(wave.numel(), clip_len, k)
        else:
            gens = [generator_for(v.seed, v.side, sample.id, j, "start") for j in range(k)]
            starts = random_starts(wave.numel(), clip_len, k, gens)
        clips = cut_clips(wave, starts, clip_len, pad=v.clip.pad)
        if self.augment is not None:
            clips = augment_waveform(clips, self.augment, [generator_for(v.seed, v.side, sample.id, j, "wave") for j in range(k)])
        return DecodedSample(pos, clips.float(), padded=wave.numel() < clip_len, notes=decoded.notes)


@dataclass
class ExtractedView:
    """Features of one view read back from the store."""

    features: list[torch.Tensor]  # row blocks [n_i, D]
    sample: torch.Tensor  # [n] position in the view's sample list
    clip: torch.Tensor  # [n]
    skipped: list[dict[str, str]]
    padded: list[str]
    damaged: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _first(batch: list[DecodedSample]) -> DecodedSample:
    return batch[0]


def _autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "bfloat16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown compute dtype {dtype!r} (float32 or bfloat16)")
    return contextlib.nullcontext()


def _forward_audio(encoder: Encoder, waves: torch.Tensor, gens: list[torch.Generator] | None, view: View,
                   augment: AudioAugmentConfig | None, device: torch.device, dtype: str) -> torch.Tensor:
    """``[B, N]`` waveform windows -> ``[B, D]`` pooled features (front end, spectrogram augmentation, trunk)."""
    with torch.inference_mode(), _autocast(device, dtype):
        spec = encoder.audio_frontend(waves.to(device, non_blocking=True))
        if augment is not None and gens is not None:
            spec = augment_spectrogram(spec.float(), augment, gens)
        out = encoder.encode_audio(spec, layers=[view.layer])
        return features_from_output(out, "audio", view.features).float().cpu()


def extract_view(encoder: Encoder, samples: Sequence[Sample], view: View, entry: StoreEntry, *,
                 device: torch.device, dtype: str = "float32", batch_size: int = 64, num_workers: int = 0,
                 shard_size: int = 32, rank: int = 0, world_size: int = 1,
                 progress: Callable[[int], None] | None = None) -> ExtractedView:
    """Compute the missing shards of ``entry`` (this rank's share), then read every shard back.

    ``samples`` is the view's ordered sample list; rows record positions in it. ``progress(n)`` is called
    with the number of samples finished (computed or found in the cache).
    """
    if view.modality != "audio":
        raise NotImplementedError("video extraction arrives with the video pipeline (issue: video evaluation)")
    entry.open()
    sr = encoder.meta.audio.sample_rate if encoder.meta.audio else 16000
    augment = AudioAugmentConfig.from_dict(view.sampling.augment) if view.sampling.augment else None
    n_shards = max(1, -(-len(samples) // shard_size))
    t0 = time.perf_counter()
    computed = reused = 0
    for shard in range(n_shards):
        positions = list(range(shard * shard_size, min(len(samples), (shard + 1) * shard_size)))
        if entry.has_shard(shard) or shard % world_size != rank:
            reused += entry.has_shard(shard)
            if progress:
                progress(len(positions))
            continue
        loader = DataLoader(AudioClipSource(samples, positions, view, sr, augment), batch_size=1,
                            num_workers=num_workers, collate_fn=_first)
        feats: list[torch.Tensor] = []
        rows_sample: list[int] = []
        rows_clip: list[int] = []
        skipped: list[dict[str, str]] = []
        padded: list[str] = []
        damaged: list[dict[str, str]] = []
        pending: list[tuple[int, torch.Tensor]] = []  # (pos, clips)

        def flush() -> None:
            if not pending:
                return
            waves = torch.cat([c for _, c in pending])
            gens = None
            if augment is not None:
                gens = [generator_for(view.seed, view.side, samples[p].id, j, "spec")
                        for p, c in pending for j in range(c.shape[0])]
            for start in range(0, waves.shape[0], batch_size):
                sl = slice(start, start + batch_size)
                feats.append(_forward_audio(encoder, waves[sl], gens[sl] if gens else None, view, augment, device, dtype))
            for p, c in pending:
                rows_sample.extend([p] * c.shape[0])
                rows_clip.extend(range(c.shape[0]))
            pending.clear()

        for item in loader:
            s = samples[item.pos]
            if item.error is not None:
                skipped.append({"id": s.id, "path": str(s.path), "reason": item.error})
            else:
                assert item.clips is not None
                pending.append((item.pos, item.clips))
                if item.padded:
                    padded.append(s.id)
                if item.notes:
                    damaged.append({"id": s.id, "path": str(s.path), "reason": "; ".join(item.notes)})
                if sum(c.shape[0] for _, c in pending) >= batch_size:
                    flush()
            if progress:
                progress(1)
        flush()
        features = torch.cat(feats) if feats else torch.zeros(0, 0)
        entry.write_shard(shard, features, torch.tensor(rows_sample, dtype=torch.long),
                          torch.tensor(rows_clip, dtype=torch.long),
                          sample_ids=[samples[p].id for p in positions], skipped=skipped, padded=padded,
                          damaged=damaged)
        computed += 1
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return read_view(entry, n_shards, stats={"shards_computed": computed, "shards_reused": reused,
                                             "seconds": round(time.perf_counter() - t0, 3)})


def read_view(entry: StoreEntry, n_shards: int, stats: dict[str, Any] | None = None) -> ExtractedView:
    """Read all ``n_shards`` shards of ``entry`` (they must exist) and mark the entry complete."""
    blocks, samples, clips, skipped, padded, damaged = [], [], [], [], [], []
    for i in range(n_shards):
        if not entry.has_shard(i):
            raise RuntimeError(f"feature shard {entry.shard_path(i)} is missing after extraction")
        sh = entry.read_shard(i)
        if sh.features.numel():
            blocks.append(sh.features)
            samples.append(sh.sample)
            clips.append(sh.clip)
        skipped.extend(sh.skipped)
        padded.extend(sh.padded)
        damaged.extend(sh.damaged)
    dims = {int(b.shape[1]) for b in blocks}
    if len(dims) > 1:
        raise RuntimeError(f"{entry.dir}: shards disagree on the feature dimension {sorted(dims)}")
    if not entry.is_complete():
        entry.mark_complete({"shards": n_shards, "rows": sum(int(b.shape[0]) for b in blocks),
                             "dim": dims.pop() if dims else 0, "skipped": len(skipped)})
    empty = torch.zeros(0, dtype=torch.long)
    return ExtractedView(blocks, torch.cat(samples) if samples else empty, torch.cat(clips) if clips else empty,
                         skipped, padded, damaged, stats or {})


def view_summary(v: ExtractedView) -> dict[str, Any]:
    return {"rows": int(v.sample.numel()), "dim": int(v.features[0].shape[1]) if v.features else 0,
            "skipped": len(v.skipped), "padded": len(v.padded), "damaged": len(v.damaged), **v.stats}


__all__ = ["View", "ExtractedView", "extract_view", "read_view", "view_summary"]
