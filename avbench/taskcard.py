"""Task cards: declarative, validated YAML (unknown keys are errors), with ``include:`` inheritance.

A card says WHAT is evaluated (data set, splits, clip geometry, sampling, augmentation, pooling,
classifier and its sweep) and nothing about HOW files are read or models run. Every number that decides
a result is in the card, the resolved card is stored in every result, and its hash keys the result.

Cards live in ``tasks/*.yaml`` (installed as ``avbench_tasks``); a path to any YAML file also works.
Includes resolve relative to the including file; the including card overrides what it includes
(dicts merge key by key, everything else replaces; a dict whose ``type`` differs from the inherited one
replaces it whole, so a card can swap ``classifier: {type: svm, ...}`` for ``{type: fc, ...}``).
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (BaseModel, ConfigDict, Field, SerializeAsAny, SerializerFunctionWrapHandler, ValidationError,
                      field_validator, model_serializer, model_validator)

from avbench.config import UntrustedYAMLError, load_yaml
from avbench.protocols.base import ProtocolSettings, omit_new_defaults


class TaskCardError(ValueError):
    """A task card is malformed; raised before any work starts."""


class _Strict(BaseModel):
    """Unknown keys are errors; values frozen. Options added after cards were first hashed are listed in
    ``omit_when_default``: while they hold their default they are left out of the resolved card, so cards that do not
    use them keep their hash, their cache keys and their records (:func:`avbench.protocols.base.omit_new_defaults`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    omit_when_default: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _serialise(self, handler: SerializerFunctionWrapHandler) -> Any:
        return omit_new_defaults(self, handler(self))


class AudioClip(_Strict):
    """Audio clip geometry: ``seconds`` long windows; files shorter than ``min_seconds`` are skipped (recorded);
    files between ``min_seconds`` and ``seconds`` are padded (``pad``) and counted."""

    seconds: float = Field(gt=0)
    min_seconds: float = Field(default=0.5, ge=0)
    pad: Literal["zeros", "cyclic"] = "zeros"
    #: how the decoded audio reaches the encoder's rate: "sinc" (channel mean, torchaudio windowed sinc, float:
    #: avbench's reading) or "swresample" (the released CrissCross decoder's settings: FFmpeg swresample to s16
    #: mono at the rate, then / 32767, over the whole file; ERRATA D11)
    resampler: Literal["sinc", "swresample"] = "sinc"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"resampler"})


class VideoClip(_Strict):
    """Video clip geometry: ``frames`` frames at ``fps`` Hz, ``size`` px square crops.

    resize: short side (px) an UNAUGMENTED clip is resized to before its centre ``size`` crop (the pinned test
      transform; default ``round(size / 0.875)``: 256 for 224, 128 for 112). Videos shorter than a clip are
      padded by cyclic repetition of their frames (the reference ``pad_missing``) and counted in the record.
    rate: "card" (default): frames at the card's ``fps``, except for an encoder that declares a NATIVE rate
      (``Encoder.native_fps``: trained at one rate, it takes no other, e.g. AVCL at 25 fps), which runs at that rate
      over the card's clip span; "encoder": always the encoder's native rate (refused for an encoder that declares
      none). At the encoder's rate the clip keeps its span: ``frames = floor(card.frames * rate / card.fps + 0.5)``
      (8 frames at 16 fps -> 13 at 25 fps, 0.52 s for 0.5 s); the record's ``features.video_rate`` carries the
      rate and frames actually used (:func:`avbench.evaluation.rate.resolve_video_rate`).
    """

    frames: int = Field(gt=0)
    fps: float = Field(default=16.0, gt=0)
    size: int = Field(gt=0)
    resize: int | None = Field(default=None, gt=0)
    rate: Literal["card", "encoder"] = "card"
    #: which source frame a target frame shows: "nearest" or "floor" (the released CrissCross / AVID decoders:
    #: the frame displayed at the target time, ``int(duration * fps)`` target frames; ERRATA D4)
    timeline: Literal["nearest", "floor"] = "nearest"
    #: where a RANDOM clip may start: "grid" (a target frame, avbench's reading) or "continuous" (anywhere in
    #: continuous time, then frames picked by ``timeline``: the released CrissCross / AVID training clips; ERRATA D5)
    starts: Literal["grid", "continuous"] = "grid"
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"rate", "timeline", "starts"})

    @property
    def test_resize(self) -> int:
        return self.resize if self.resize is not None else int(round(self.size / 0.875))


class ClipSampling(_Strict):
    """How clips are drawn from one sample for one side of the protocol.

    clips: clips per sample; sampling: "uniform" (evenly spaced windows), "random" (seeded per sample) or
      "synced" (random, at the same time in the audio and the video stream: audio-visual cards);
    augment: augmentation parameters (owned by the protocol, validated by the media module);
    trim_to_first_clip: cut the input to its first clip length before windowing (the released CrissCross
      ESC-50 2-s test: every window then holds the first 2 s);
    windows (audio, uniform, unaugmented sides): "waveform" (each window cut from the waveform and sent through the
      front end on its own: ``1 + N // hop`` frames with the front end's edge padding) or "spectrogram" (the released
      CrissCross dense test, ``audio_db.py:85-110``: ONE front-end pass over the whole (trimmed) recording, windows
      of ``int(seconds * frames_per_second)`` frames cut at ``linspace(0, frames - width, K).astype(int)``: ESC-50
      2 s: 200 of 201 frames at offsets 0 x 9 and 1; 5 s: 500 of 501; DCASE: 100-frame windows of the 30-s map).
    """

    clips: int = Field(gt=0)
    sampling: Literal["uniform", "random", "synced"]
    augment: dict[str, Any] | None = None
    trim_to_first_clip: bool = False
    windows: Literal["waveform", "spectrogram"] = "waveform"
    #: video, unaugmented sides: 1 (centre crop) or 3 (start, centre and end of the long side:
    #: :func:`avbench.media.multicrop.three_crops`); each crop is its own row, so per-video averages average them
    spatial_crops: Literal[1, 3] = 1
    omit_when_default: ClassVar[frozenset[str]] = frozenset({"windows", "spatial_crops"})

    @model_validator(mode="after")
    def _spectrogram_windows(self) -> "ClipSampling":
        if self.windows == "spectrogram" and (self.sampling != "uniform" or self.augment):
            raise ValueError("windows: spectrogram cuts the uniform, unaugmented test windows of one front-end pass "
                             "(the released dense test); random or augmented sides cut waveforms")
        if self.spatial_crops != 1 and self.augment:
            raise ValueError("spatial_crops: 3 is a test-time view of unaugmented clips; augmented sides draw their crop")
        return self


class Pooling(_Strict):
    """Pooling of a feature map in canonical axis order (audio: freq, time; video: time, height, width).

    type: "max"/"avg" with ``kernel``/``stride`` (a window), "adaptive_max"/"adaptive_avg" with ``output``
    (an output size), or "flatten". Sizes list the non-batch, non-channel axes.
    """

    type: Literal["max", "avg", "adaptive_max", "adaptive_avg", "flatten"]
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    output: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _sizes(self) -> "Pooling":
        if self.type in ("max", "avg") and self.kernel is None:
            raise ValueError(f"pool type {self.type!r} needs 'kernel'")
        if self.type.startswith("adaptive") and self.output is None:
            raise ValueError(f"pool type {self.type!r} needs 'output'")
        return self


class Features(_Strict):
    """Which layer, how pooled, how normalised.

    normalize: "none", "l2" (whole vector), or "last_axis_l2" (the released CrissCross ESC-50 code: L2 along
    the last (time) axis of the pooled map before flattening).
    """

    layer: str
    pool: Pooling
    normalize: Literal["none", "l2", "last_axis_l2"] = "none"
    #: extra layers probed alongside ``layer``, each with its own pooling (AVID's Kinetics probe: conv2x (1,12,12),
    #: conv3x (1,8,8), conv4x (1,6,6), conv5x (1,4,4)); each is classified on its own and reported as
    #: ``top1@<layer>``. Extracted in the same forward pass and stored as extra feature columns.
    probe_layers: dict[str, Pooling] = Field(default_factory=dict)


class DatasetRef(_Strict):
    """The data set (``name``: a registered adapter; ``options``: its ``load`` keywords), the coverage gate's
    default for this card with its reason (:mod:`avbench.evaluation.coverage`; ``avbench eval --min-coverage``
    overrides it), and the decoding bounds (:mod:`avbench.media.limits`): a file longer than ``max_seconds`` or
    with frames larger than ``max_pixels`` is a named skip."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    min_coverage: float = Field(default=1.0, ge=0, le=1)
    coverage_reason: str = ""
    max_seconds: float = Field(default=600.0, gt=0)
    max_pixels: int = Field(default=3840 * 2160, gt=0)

    @property
    def limits(self) -> Any:
        """The decoding bounds as :class:`avbench.media.limits.MediaLimits`."""
        from avbench.media.limits import MediaLimits

        return MediaLimits(max_seconds=self.max_seconds, max_pixels=self.max_pixels)


class TaskCard(_Strict):
    """A resolved, validated task card."""

    name: str
    version: int = Field(ge=1)
    description: str
    citation: str = ""
    notes: tuple[str, ...] = ()
    modality: Literal["audio", "video", "audiovisual"]
    dataset: DatasetRef
    splits: tuple[str, ...]
    audio: AudioClip | None = None
    video: VideoClip | None = None
    train: ClipSampling
    test: ClipSampling
    features: Features
    #: audiovisual cards only: pooling of the AUDIO map (``features`` then pools the video map)
    features_audio: Features | None = None
    #: the protocol's settings block: ``type`` names a protocol of :data:`avbench.protocols.PROTOCOLS`, whose
    #: ``Settings`` model validates the rest (``protocol:`` is accepted in a card file as another name for it)
    classifier: SerializeAsAny[ProtocolSettings]
    seeds: tuple[int, ...] = (0,)
    metrics: tuple[Literal["top1", "top5", "recall1", "recall5", "recall10", "recall20", "recall50"], ...] = ("top1", "top5")
    batch_size: int = Field(default=64, gt=0)
    #: smoke runs (``avbench eval --limit N``): at most N samples per class on each side of each split; None (the
    #: shipped cards) uses every sample. Left out of :meth:`to_dict` when None, so shipped cards hash as before.
    limit: int | None = Field(default=None, gt=0)

    @field_validator("classifier", mode="before")
    @classmethod
    def _protocol_block(cls, value: Any) -> Any:
        """A dict block (a card built without :func:`load_card`) validated by its protocol's settings model."""
        if isinstance(value, dict):
            settings, problems = resolve_protocol_block(value)
            if problems:
                raise ValueError("; ".join(problems))
            return settings
        return value

    @model_validator(mode="after")
    def _geometry(self) -> "TaskCard":
        from avbench.protocols import get_protocol

        protocol = get_protocol(self.classifier.type)
        if self.modality == "audio" and self.audio is None:
            raise ValueError("an audio task needs an 'audio' clip block")
        if self.modality == "audiovisual":
            if self.audio is None or self.video is None or self.features_audio is None:
                raise ValueError("an audiovisual card needs 'audio' and 'video' clip blocks and 'features_audio'")
            if not protocol.audiovisual:
                raise ValueError("an audiovisual card fuses features for a linear classifier (svm or fc) or retrieval")
            if self.features.probe_layers or self.features_audio.probe_layers:
                raise ValueError("probe_layers is not supported on audiovisual cards")
            if self.train.augment or self.test.augment:
                raise ValueError("audiovisual cards take unaugmented clips (supplementary E.1 names no augmentation "
                                 "for fusion); one augment block cannot serve both modalities")
        elif self.features_audio is not None:
            raise ValueError("'features_audio' belongs to audiovisual cards only")
        if self.modality == "video" and self.video is None:
            raise ValueError("a video task needs a 'video' clip block")
        if self.modality != "audio" and "spectrogram" in (self.train.windows, self.test.windows):
            raise ValueError("windows: spectrogram is an audio-card reading (one front-end pass per recording)")
        if self.modality == "audio" and 3 in (self.train.spatial_crops, self.test.spatial_crops):
            raise ValueError("spatial_crops is a video-card option (three crops of each clip)")
        if not self.splits:
            raise ValueError("'splits' must name at least one split")
        protocol.check_card(self)
        if self.modality == "video" and self.video is not None:
            from avbench.media.video_augment import VideoAugmentConfig

            for side in (self.train, self.test):
                if side.augment:
                    VideoAugmentConfig.from_dict(side.augment)
        return self

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        if out.get("limit") is None:
            out.pop("limit", None)
        return out

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------
def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: dicts merge recursively, other values replace; a dict whose ``type``
    key differs from the inherited dict's replaces it whole (a different kind of block, not a refinement)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if (isinstance(value, dict) and isinstance(out.get(key), dict)
                and ("type" not in value or value.get("type") == out[key].get("type"))):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_protocol_block(block: dict[str, Any]) -> tuple[ProtocolSettings | None, list[str]]:
    """(the settings of the protocol that ``block["type"]`` names, validated; problems as ``"classifier.<key>:
    <reason>"`` lines, empty when it is valid)."""
    from avbench.protocols import PROTOCOLS

    name = block.get("type")
    try:
        settings_model = PROTOCOLS.load(str(name)).Settings
    except KeyError as exc:
        return None, [f"classifier.type: {exc}"]
    try:
        return settings_model.model_validate(block), []
    except ValidationError as exc:
        return None, [f"classifier.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]


def _alias_protocol(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """``protocol:`` read as ``classifier:`` (the canonical key: resolved cards, hashes and records keep it)."""
    if "protocol" not in raw:
        return raw
    if "classifier" in raw:
        raise TaskCardError(f"{where}: 'protocol' and 'classifier' name the same block; give it once")
    out = dict(raw)
    out["classifier"] = out.pop("protocol")
    return out


def builtin_card_dir() -> Path:
    return Path(str(files("avbench_tasks")))


def card_names() -> list[str]:
    """Names of the shipped task cards (files starting with "_" are shared blocks, not tasks)."""
    return sorted(p.stem for p in builtin_card_dir().glob("*.yaml") if not p.name.startswith("_"))


def _card_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    builtin = builtin_card_dir() / f"{name_or_path}.yaml"
    if builtin.exists():
        return builtin
    from avbench.cards.suites import SUITES
    from avbench.registry import did_you_mean

    if name_or_path in SUITES:
        raise TaskCardError(f"{name_or_path!r} is a suite of tasks ({', '.join(SUITES[name_or_path].cards)}): "
                            "`avbench eval --task` expands it; here name one of its cards")
    names = card_names() + list(SUITES)
    raise TaskCardError(f"unknown task {name_or_path!r}{did_you_mean(name_or_path, names)} (shipped tasks: "
                        f"{', '.join(names)}; or a .yaml path; avbench list tasks describes them)")


def _read_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise TaskCardError(f"{path}: include cycle through {' -> '.join(map(str, seen))}")
    try:
        raw = load_yaml(path)
    except UntrustedYAMLError as exc:
        raise TaskCardError(str(exc)) from None
    if not isinstance(raw, dict):
        raise TaskCardError(f"{path}: a task card must be a YAML mapping, got {type(raw).__name__}")
    raw = _alias_protocol(raw, str(path))
    includes = raw.pop("include", [])
    includes = [includes] if isinstance(includes, str) else includes
    merged: dict[str, Any] = {}
    for inc in includes:
        inc_path = (path.parent / inc)
        if not inc_path.exists():
            raise TaskCardError(f"{path}: included file {inc!r} not found")
        merged = deep_merge(merged, _read_raw(inc_path, seen + (path,)))
    return deep_merge(merged, raw)


def parse_override(text: str) -> dict[str, Any]:
    """``"classifier.selection=clean"`` -> ``{"classifier": {"selection": "clean"}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise TaskCardError(f"override {text!r} is not KEY=VALUE (e.g. classifier.selection=clean)")
    key, _, value = text.partition("=")
    node: dict[str, Any] = {}
    cur = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        cur[part] = {}
        cur = cur[part]
    try:
        cur[parts[-1]] = load_yaml(value, f"--set {key.strip()}")
    except UntrustedYAMLError as exc:
        raise TaskCardError(str(exc)) from None
    return node


def load_card(name_or_path: str, overrides: dict[str, Any] | None = None, *, source: str = "override") -> TaskCard:
    """Resolve includes, apply ``overrides`` (nested dict), validate. Raises TaskCardError naming the file, and
    ``source`` (e.g. ``"--set"``) for an override key the schema lacks or a value it rejects."""
    from avbench.cards.overrides import flatten_keys, unknown_override_keys

    path = _card_path(name_or_path)
    raw = _read_raw(path)
    given: list[str] = []
    if overrides:
        overrides = _alias_protocol(overrides, source)
        raw = deep_merge(raw, overrides)
        unknown_override_keys(TaskCard, overrides, raw, source, TaskCardError)
        given = flatten_keys(overrides)
    problems: list[str] = []
    if isinstance(raw.get("classifier"), dict):
        settings, problems = resolve_protocol_block(raw["classifier"])
        if settings is not None:
            raw = {**raw, "classifier": settings}
    try:
        card = TaskCard.model_validate(raw)
    except ValidationError as exc:
        problems += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
                     if not (problems and e["loc"][:1] == ("classifier",))]
    if problems:
        def mark(problem: str) -> str:  # a problem in a key the user overrode names the override
            key = problem.partition(":")[0]
            ours = any(key == g or key.startswith(g + ".") or g.startswith(key + ".") for g in given)
            return f"{source} {problem}" if ours else problem

        with_overrides = f" with the {source} overrides" if given else ""
        raise TaskCardError(f"{path}{with_overrides}: invalid task card: {'; '.join(map(mark, problems))}") from None
    return card
