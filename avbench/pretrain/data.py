"""Where pretraining videos come from, and the Dataset that decodes them.

``--data`` accepts (see :func:`resolve_sources`):

* ``world``: the synthetic audio-visual world (:mod:`avbench.synth.world`), written to the cache on first use;
* ``identity-world``: the identity world (:mod:`avbench.synth.identity_world`), rendered on the fly, a fresh clip
  for every sample (:mod:`avbench.pretrain.identity_source`);
* a data-set name with audio (``kinetics400``, ``kinetics_sound``, ``vggsound``) or a task card that uses one
  (``ksounds-fusion``): the TRAIN split of that data set through its adapter, at the root configured as for
  ``avbench eval`` (``--data-root``, ``AVBENCH_DATA_<DATASET>``, config file), else its synthetic copy;
* a directory: a world-layout root (``labels.csv``), a Kinetics root (``annotations/``), a VGG-Sound root
  (``vggsound.csv``), or else any folder of videos (``*.mp4 *.avi *.mkv *.webm *.mov``, searched recursively).

Samples are never dropped silently: a file that cannot be decoded (or has no audio stream) is recorded with its
reason by :class:`PretrainDataset` and listed in the run's ``skipped.jsonl`` and card.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from avbench.datasets import get_dataset
from avbench.datasets.base import DatasetError, PathOutsideRoot, file_problem, refused, safe_join
from avbench.media.audio_decode import load_audio
from avbench.media.errors import MediaError
from avbench.media.seeding import generator_for
from avbench.media.video_decode import decode_clips, probe_video
from avbench.pretrain.views import Decoded

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")
AV_DATASETS = ("kinetics400", "kinetics_sound", "vggsound")


@dataclass(frozen=True)
class Item:
    """One pretraining video: stable ``id``, ``path``, ``label`` (-1 when unlabelled; only the supervised
    ceiling reads it)."""

    id: str
    path: Path
    label: int = -1


@dataclass
class Sources:
    """The resolved pretraining set: items, a description for the card, what was skipped while listing."""

    items: list[Item]
    description: str
    root: Path | None
    synthetic: bool
    skipped: list[dict[str, str]]
    classes: list[str]
    #: for rendered sources: ``(index, epoch, fps, sample_rate) -> Decoded`` instead of decoding ``path``
    renderer: Callable[[int, int, float, int], Decoded] | None = None


def read_world(root: Path, split: str = "train") -> Sources:
    """Items of a world-layout root (``labels.csv``: id,path,label,class_name,split)."""
    try:
        rows = list(csv.DictReader((root / "labels.csv").open(encoding="utf-8")))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"{root / 'labels.csv'}: malformed CSV ({exc})") from None
    need = {"id", "path", "label", "split"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{root / 'labels.csv'}: expected columns {sorted(need)}")
    classes: dict[int, str] = {int(r["label"]): r.get("class_name", r["label"]) for r in rows}
    items, skipped = [], []
    for r in rows:
        if r["split"] != split:
            continue
        try:  # a path out of the root (../../etc/passwd) is refused, never opened
            path = safe_join(root, r["path"], what=str(root / "labels.csv"))
        except PathOutsideRoot as exc:
            skipped.append(asdict(refused(r["id"], exc)))
            continue
        problem = file_problem(path)
        if problem is None:
            items.append(Item(r["id"], path, int(r["label"])))
        else:
            skipped.append({"id": r["id"], "path": str(path), "reason": problem})
    return Sources(items, f"world layout at {root} ({split} split)", root, False, skipped,
                   [classes[k] for k in sorted(classes)])


def read_folder(root: Path) -> Sources:
    """Every video file under ``root`` (recursive, sorted), unlabelled."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not files:
        raise ValueError(f"{root}: no video files ({', '.join(VIDEO_EXTENSIONS)}) found under this folder")
    return Sources([Item(str(p.relative_to(root)), p) for p in files], f"folder of videos at {root}", root,
                   False, [], [])


def read_adapter(dataset: str, root: Path, synthetic: bool) -> Sources:
    """The train split of ``dataset`` at ``root`` through its avbench adapter."""
    manifest = get_dataset(dataset).load(root)
    train = {i for sp in manifest.splits.values() for i in sp["train"]}
    items = [Item(s.id, s.path, s.label) for s in manifest.samples if s.id in train]
    skipped = [{"id": s.id, "path": s.path, "reason": s.reason} for s in manifest.skipped]
    return Sources(items, f"{dataset} train split at {root}" + (" (SYNTHETIC)" if synthetic else ""), root,
                   synthetic, skipped, list(manifest.classes))


def identity_world_sources(seed: int = 0) -> Sources:
    """The ``Sources`` of ``--data identity-world`` (:mod:`avbench.pretrain.identity_source`): CLIPS_PER_EPOCH virtual
    items, labels = class index (for the supervised ceiling), clips rendered by an ``IdentityRenderer``."""
    from avbench.pretrain.identity_source import CLIPS_PER_EPOCH, SCENES, IdentityRenderer
    from avbench.synth.identity_world import IDENTITY_CLASSES

    renderer = IdentityRenderer(seed)
    items = [Item(f"identity-{i:05d}", Path(f"<rendered identity-world clip {i}>"), i % renderer.n_classes)
             for i in range(CLIPS_PER_EPOCH)]
    return Sources(items, f"the identity world (synthetic, rendered on the fly: {CLIPS_PER_EPOCH} fresh clips per "
                   f"epoch of {SCENES} scenes, 48² frames)", None, True, [], list(IDENTITY_CLASSES),
                   renderer=renderer)


def resolve_sources(data: str, *, cache_dir: Path, data_root: str | None = None,
                    log: Callable[[str], None] = print) -> Sources:
    """Resolve ``--data`` (module docstring) to the list of pretraining videos."""
    from avbench.datasets.roots import data_root as resolve_root, detect_layout

    if data == "identity-world":
        return identity_world_sources()
    if data == "world":
        root, _ = resolve_root("world", "synthetic", cache_dir=cache_dir, log=log)
        src = read_world(root)
        src.synthetic = True
        src.description = f"the synthetic audio-visual world at {root} (train split)"
        return src
    path = Path(data).expanduser()
    if path.is_dir():
        if (path / "labels.csv").is_file():
            return read_world(path)
        layout = detect_layout(path, among=("kinetics400", "vggsound"))
        return read_adapter(layout, path, False) if layout else read_folder(path)
    dataset = data
    if data not in AV_DATASETS:
        from avbench.taskcard import card_names, load_card

        if data not in card_names():
            raise ValueError(f"--data {data!r}: not a directory, 'world', a data set with audio {AV_DATASETS} "
                             "or a task card name")
        dataset = load_card(data).dataset.name
        if dataset not in AV_DATASETS:
            raise ValueError(f"--data {data!r}: task card uses {dataset!r}, which has no audio-visual videos; "
                             f"pretraining needs one of {AV_DATASETS}")
    root, synthetic = resolve_root(dataset, data_root, cache_dir=cache_dir, log=log)
    return read_adapter(dataset, root, synthetic)


def decode_item(path: Path, fps: float, sample_rate: int) -> Decoded:
    """Decode a whole file once: frames at ``fps`` Hz and mono audio at ``sample_rate`` Hz (MediaError if either
    stream is missing or unreadable)."""
    info = probe_video(path)
    if not info.has_audio:
        raise MediaError(path, "no audio stream (audio-visual pretraining needs both)")
    seconds = info.seconds or (info.frames / info.fps if info.frames and info.fps else None)
    if not seconds:
        raise MediaError(path, "duration unknown (no duration or frame count in the header)")
    n = max(1, int(seconds * fps))
    clips = decode_clips(path, fps=fps, frames=n, clips=1, sampling="uniform")
    audio = load_audio(path, sample_rate)
    return Decoded(clips.frames[0], fps, audio.wave, sample_rate)


class PretrainDataset(torch.utils.data.Dataset):
    """``len = len(items) * clips_per_video``; item ``i`` is video ``i % len(items)`` with views drawn by
    ``sampler(decoded, generator)``, the generator derived from (seed, epoch, i) only.

    Returns the sampler's dict plus ``index`` (int64) and ``label`` (int64, -1 if unlabelled), or
    ``{"skip": (id, path, reason)}`` for a file that cannot be decoded (the trainer records it).

    ``cache_mb`` > 0 keeps decoded videos (and decode failures) in memory up to that many MiB, filled in item
    order and never evicted: a small set (the synthetic world: 180 videos, 188 MiB) is decoded once instead of
    once per epoch. Measured on the world with the CrissCross ``small`` preset, 2 CPU cores: a batch of 32 items
    takes 1.46 s decoding every file and 0.13 s from the cache, against 0.30 s for the training step itself.
    Views are identical either way (the sampler never writes into a :class:`Decoded`). The cache lives in the
    process that reads it: :meth:`warm` fills it before DataLoader workers are forked, so they inherit it.

    ``renderer`` (a rendered source, :attr:`Sources.renderer`): video ``v`` of epoch ``e`` is
    ``renderer(v, e, fps, sample_rate)`` instead of a decoded file, a fresh clip every epoch; nothing is cached.
    """

    def __init__(self, items: list[Item], sampler: Callable[[Decoded, torch.Generator], dict[str, torch.Tensor]],
                 *, fps: float, sample_rate: int, seed: int, clips_per_video: int = 1, cache_mb: float = 0,
                 renderer: Callable[[int, int, float, int], Decoded] | None = None) -> None:
        self.items, self.sampler, self.renderer = items, sampler, renderer
        self.fps, self.sample_rate, self.seed = fps, sample_rate, seed
        self.clips_per_video = clips_per_video
        self.epoch = 0
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[int, Decoded | str] = {}  # video index -> decoded video, or the reason it failed
        self._cached_bytes = 0

    def _decoded(self, v: int) -> Decoded:
        """Video ``v`` decoded (from the cache when there); raises MediaError for an undecodable file."""
        if self.renderer is not None:
            return self.renderer(v, self.epoch, self.fps, self.sample_rate)
        hit = self._cache.get(v)
        if isinstance(hit, str):
            raise MediaError(self.items[v].path, hit)
        if hit is not None:
            return hit
        try:
            decoded = decode_item(self.items[v].path, self.fps, self.sample_rate)
        except MediaError as exc:
            if self.cache_bytes:
                self._cache[v] = exc.reason
            raise
        size = decoded.frames.numel() * decoded.frames.element_size() + decoded.wave.numel() * 4
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[v] = decoded
            self._cached_bytes += size
        return decoded

    def warm(self) -> tuple[int, float]:
        """Decode videos in order into the cache until it is full; returns (videos cached, MiB used)."""
        for v in range(0 if self.renderer is not None else len(self.items)):
            if self._cached_bytes >= self.cache_bytes:
                break
            try:
                self._decoded(v)
            except (MediaError, ValueError, RuntimeError):
                pass  # recorded (MediaError) or re-raised per item in __getitem__, where it becomes a skip
        n = sum(isinstance(x, Decoded) for x in self._cache.values())
        return n, self._cached_bytes / 2**20

    def __len__(self) -> int:
        return len(self.items) * self.clips_per_video

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.items[i % len(self.items)]
        try:
            decoded = self._decoded(i % len(self.items))
            out = self.sampler(decoded, generator_for("pretrain", self.seed, self.epoch, i))
        except MediaError as exc:
            return {"skip": (item.id, str(item.path), exc.reason)}
        except (ValueError, RuntimeError) as exc:
            return {"skip": (item.id, str(item.path), f"{type(exc).__name__}: {exc}")}
        out["index"] = torch.tensor(i)
        out["label"] = torch.tensor(item.label)
        return out


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the good items; skipped ones go to ``batch["skipped"]`` as (id, path, reason) tuples."""
    good = [b for b in batch if "skip" not in b]
    out: dict[str, Any] = {k: torch.stack([b[k] for b in good]) for k in (good[0] if good else {})}
    out["skipped"] = [b["skip"] for b in batch if "skip" in b]
    return out
