"""CrissCross pretraining (paper Section 3, supplementary Algorithm 1, Tables S1-S10), for ``avbench pretrain``.

Per video, two audio-visual views (v1, a1) and (v2, a2) cut by the temporal relaxation mode (Section 4.3):

* ``none``: both views from the same window;
* ``mild`` (default): the second view starts half a view later, so the views overlap by 50 % (released code:
  ``submode: overlapped`` reads 1.5x the duration and takes the first and last chunk, PER MODALITY: video views
  0.25 s apart, audio views 1 s apart);
* ``medium``: adjacent windows (the second starts where the first ends);
* ``extreme``: the first view from the first half of the video, the second from the second half;
* ``mixed``: both starts drawn independently at random.

Each view is augmented independently: video Table S1 with the pretraining switches (multi-scale crop, flip,
colour jitter, grayscale, Gaussian blur, cutout); audio Table S2 with the pretraining switches (volume jitter,
time/frequency masks, random resize crop; no time warp). Backbone -> projector (Table S7: fc-bn-relu x2, fc-bn)
= z; predictor (Table S8: fc-bn-relu, fc) = p; loss :func:`~avbench_baselines.crisscross.losses.crisscross_loss`
over the active terms. Optimiser (Table S10, Kinetics-Sound row): Adam (0.9, 0.999), wd 1e-4, base lr 2e-4 with
2 warm-up epochs and cosine to 0 for backbones and projectors; separate video and audio predictors at a constant
10x the base rate (Table 3: a common predictor or ``lr_p = lr_b`` is worse); LARC optional (Adam* rows).

Errata kept here (see also ``docs/ERRATA.md``): Algorithm 1 drops Eq. 2's outer /2 on L_intra (we follow the
equations, which agree with the released code); Tables S3/S4 have swapped captions; Table S6 lists stride 2 on
every audio layer (the code uses torchvision BasicBlock strides 1,2,2,2); "DCASE2014" is DCASE 2013.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator, model_validator

from avbench.media.audio_augment import AudioAugmentConfig
from avbench.media.logmel import LogMelFrontend
from avbench.media.video_augment import VideoAugmentConfig
from avbench.pretrain.heads import mlp
from avbench.pretrain.method import MethodConfig, Pretrainer, TrainConfig
from avbench.pretrain.views import (Decoded, audio_view, cut_frames, cut_wave, pick_scenes, uniform, video_view,
                                    window_in_scene)
from avbench.pretrain.world_preset import (WORLD_ARCH, WORLD_AUDIO_AUGMENT, WORLD_BATCH, WORLD_EPOCHS,
                                           WORLD_VIDEO_AUGMENT)

from avbench_baselines.crisscross.encoder import ARCH, CrissCrossEncoder
from avbench_baselines.crisscross.losses import TERMS, crisscross_infonce_loss, crisscross_loss

RELAXATIONS = ("none", "mild", "medium", "extreme", "mixed")


class CrissCrossConfig(MethodConfig):
    """Defaults: the paper's Kinetics-Sound recipe (Table S10) and geometry (Section 4.1: 8x112² at 16 fps, 2 s audio).

    Epoch size (Table S10, KS row: es 220K): 10 clips per video, 22,713 Kinetics-Sound videos x 10 = 227K samples
    per epoch (5, the released K400 config's value, gives 113K: half the steps). The K400 row's 1M is 5 clips of
    ~200K videos: the ``kinetics400`` preset."""

    train: TrainConfig = TrainConfig(epochs=100, batch_size=512, lr=2e-4, final_lr=0.0, warmup_epochs=2,
                                     optimizer="adam", weight_decay=1e-4, clips_per_video=10)
    relaxation: Literal["none", "mild", "medium", "extreme", "mixed"] = "mild"
    terms: list[str] = Field(default_factory=lambda: list(TERMS), description="active loss terms (Table 1 ablations)")
    predictor_lr_ratio: float = Field(10.0, gt=0, description="predictor lr / base lr, constant (Table S10: 0.002/0.0002)")
    shared_predictor: bool = False
    intra_predictor: bool = Field(False, description=(
        "NOT the paper: a second predictor per modality for the intra-modal terms (v1v2, a1a2); the paper's video "
        "predictor serves v1v2 and the cross-modal terms, whose targets lie in orthogonal subspaces on the identity "
        "world (README 'Do they learn?')"))
    objective: Literal["simsiam", "infonce"] = Field("simsiam", description=(
        "simsiam: Eq. 1-5 (the paper). infonce, NOT the paper: every active pair term is SimCLR's NT-Xent on the "
        "projector outputs z (in-batch negatives, `temperature`; no predictor, no stop-gradient). On the identity "
        "world at width 8 the paper's form learned neither modality in 1,920 steps; an NT-Xent over the same "
        "cross-scene pairs learned both (README 'Do they learn?')"))
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature (objective infonce; SimCLR's CIFAR value)")
    infonce_negatives: Literal["all", "other"] = Field("all", description=(
        "objective infonce: the negatives of a CROSS-modal term. all: NT-Xent's 2B - 2 (both modalities); other: "
        "the other modality's B - 1 only, CLIP's and AVID's cross-modal form, so that one modality's views that "
        "cluster by identity are not each other's negatives"))
    frames: int = Field(8, ge=1)
    crop: int = Field(112, ge=16)
    audio_seconds: float = Field(2.0, gt=0)
    projector: list[int] = Field(default_factory=lambda: [2048, 2048, 2048], description="Table S7 widths")
    projector_bn_last: bool = Field(True, description=(
        "Table S7's BatchNorm on the projector output; false is NOT the paper (SimCLR's head has none), for the "
        "objective-infonce diagnostics of README 'Do they learn?'"))
    predictor_hidden: int = Field(512, ge=1, description="Table S8 bottleneck")
    video_augment: dict[str, Any] = Field(default_factory=lambda: VideoAugmentConfig.preset("pretrain").to_dict())
    audio_augment: dict[str, Any] = Field(default_factory=lambda: AudioAugmentConfig(time_warp=None).to_dict())

    @field_validator("terms")
    @classmethod
    def _known_terms(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t not in TERMS]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"terms must be distinct names from {TERMS}, got {v}")
        return v

    @model_validator(mode="after")
    def _options_match_the_objective(self) -> "CrissCrossConfig":
        """``objective: infonce`` reads no predictor, and ``simsiam`` no ``infonce_negatives``, so such an option
        would be recorded in the card and do nothing: refused."""
        if self.objective == "infonce" and (self.intra_predictor or self.shared_predictor):
            raise ValueError("objective infonce uses no predictor: intra_predictor and shared_predictor must be false")
        if self.objective != "infonce" and self.infonce_negatives != "all":
            raise ValueError("infonce_negatives applies to objective infonce only")
        return self


#: the identity world's recipe (avbench.pretrain.world_preset); the supervised ceiling reuses it
WORLD_PRESET: dict[str, Any] = {
    "arch": WORLD_ARCH,
    "train": {"epochs": WORLD_EPOCHS, "batch_size": WORLD_BATCH, "lr": 1e-3, "final_lr": 0.0, "warmup_epochs": 1,
              "clips_per_video": 1},
    "relaxation": "medium", "frames": 8, "crop": 48, "audio_seconds": 1.0, "projector": [256, 256, 256],
    "predictor_hidden": 64, "video_augment": WORLD_VIDEO_AUGMENT, "audio_augment": WORLD_AUDIO_AUGMENT,
}


class CrissCrossViews:
    """Picklable view sampler (runs in DataLoader workers): ``(Decoded, generator) ->`` v1, v2 ``[3, T, S, S]``
    float (normalised, cutout applied), a1, a2 ``[1, F, T]`` log-mel, and the view start times (s).
    ``n_views=1`` cuts v1 and a1 only (the supervised ceiling); the start times are drawn the same way."""

    def __init__(self, cfg: CrissCrossConfig, fps: float, mean: tuple, std: tuple, logmel: dict[str, Any],
                 need_audio: bool = True, need_video: bool = True, n_views: int = 2) -> None:
        self.cfg, self.fps, self.mean, self.std, self.logmel = cfg, fps, mean, std, logmel
        self.need_audio, self.need_video, self.n_views = need_audio, need_video, n_views
        self.vaug = VideoAugmentConfig.from_dict(cfg.video_augment)
        self.aaug = AudioAugmentConfig.from_dict(cfg.audio_augment)
        self._frontend: LogMelFrontend | None = None

    def starts(self, length: float, gen: torch.Generator) -> dict[str, tuple[float, float]]:
        """Start times (s) of view 1 and view 2 per modality for a source of ``length`` seconds."""
        dur = {"video": self.cfg.frames / self.fps, "audio": self.cfg.audio_seconds}
        mode = self.cfg.relaxation
        if mode == "mixed":
            return {m: (uniform(gen, 0, max(0.0, length - d)), uniform(gen, 0, max(0.0, length - d)))
                    for m, d in dur.items()}
        if mode == "extreme":
            f1, f2 = uniform(gen, 0, 1), uniform(gen, 0, 1)
            half = length / 2
            return {m: (f1 * max(0.0, half - d), half + f2 * max(0.0, half - d)) for m, d in dur.items()}
        offset = {"none": 0.0, "mild": 0.5, "medium": 1.0}[mode]
        f = uniform(gen, 0, 1)  # the same fraction for both modalities: v1 and a1 start together
        span = max(dur.values()) * (1 + offset)
        s = f * max(0.0, length - span)
        return {m: (s, s + offset * d) for m, d in dur.items()}

    def scene_starts(self, d: Decoded, gen: torch.Generator) -> dict[str, tuple[float, float]]:
        """Start times (s) for a source with scene cuts (``d.segments``): each audio-visual view lies inside one
        scene, its video and audio windows starting together; the two views are in the same scene for ``none``
        (identical windows) and ``mild`` (the second half a view later, or as close to that as the scene allows), in
        adjacent scenes for ``medium``, one in
        each half of the clip for ``extreme`` and in two different random scenes for ``mixed``; so for
        ``medium`` and beyond, the intra-modal and asynchronous pairs never share a scene (nor its nuisance)."""
        dur = {"video": self.cfg.frames / self.fps, "audio": self.cfg.audio_seconds}
        mode = self.cfg.relaxation
        n = len(d.segments)
        scenes = pick_scenes(n, {"none": "same", "mild": "same", "medium": "adjacent", "extreme": "halves",
                                 "mixed": "distinct"}[mode] if n > 1 else "same", gen)
        offset = {"none": 0.0, "mild": 0.5}.get(mode)
        if offset is not None:  # both views inside one scene, the second as close to half a view later as fits
            start, end = d.segments[scenes[0]]
            s = window_in_scene(d, scenes[0], max(min(t * (1 + offset), end - start) for t in dur.values()), gen)
            return {m: (s, max(s, min(s + offset * t, end - t))) for m, t in dur.items()}
        s1, s2 = (window_in_scene(d, i, max(dur.values()), gen) for i in scenes)
        return {m: (s1, s2) for m in dur}

    def __call__(self, d: Decoded, gen: torch.Generator) -> dict[str, torch.Tensor]:
        st = self.scene_starts(d, gen) if d.segments else self.starts(d.seconds, gen)
        out: dict[str, torch.Tensor] = {}
        if self._frontend is None:
            from avbench.media.logmel import LogMelConfig

            self._frontend = LogMelFrontend(LogMelConfig(**self.logmel))
        for k in range(self.n_views):
            if self.need_video:
                frames = cut_frames(d, st["video"][k], self.cfg.frames)
                out[f"v{k + 1}"] = video_view(frames, self.vaug, self.cfg.crop, gen, self.mean, self.std)
            if self.need_audio:
                wave = cut_wave(d, st["audio"][k], self.cfg.audio_seconds)
                out[f"a{k + 1}"] = audio_view(wave, self._frontend, self.aaug, gen)
        out["starts"] = torch.tensor([st["video"][0], st["video"][1], st["audio"][0], st["audio"][1]])
        return out


class CrissCrossPretrainer(Pretrainer):
    """Trunks + projectors + predictors; ``forward(batch) -> (L_CrissCross, {term: value})``."""

    name: ClassVar[str] = "crisscross"
    Config = CrissCrossConfig
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        # Table S10, Kinetics-400 row: batch 2048, cosine 2e-4 -> 1e-4, Adam with LARC
        "kinetics400": {"train": {"batch_size": 2048, "lr": 2e-4, "final_lr": 1e-4, "larc": True, "clips_per_video": 5}},
        # width-reduced recipe for the synthetic world on a CPU (a few minutes on 2 cores)
        "small": {"arch": {"video_width": 16, "audio_width": 16},
                  "train": {"epochs": 30, "batch_size": 32, "lr": 1e-3, "final_lr": 0.0, "warmup_epochs": 1,
                            "clips_per_video": 1},
                  "crop": 64, "audio_seconds": 1.0, "projector": [512, 512, 512], "predictor_hidden": 128},
        # the identity world (`--data identity-world`, issue 20) on a CPU: width 8, 8x48² video, 1-s audio views
        # (one whole scene), the two views in adjacent scenes (relaxation medium); augmentation in world_preset.py
        "world": WORLD_PRESET,
    }

    def __init__(self, cfg: CrissCrossConfig, init_seed: int = 0) -> None:
        super().__init__(cfg, init_seed)
        mods = self.modalities()
        self.encoder = CrissCrossEncoder(mods, arch=cfg.two_tower_arch(ARCH), init_seed=init_seed)
        dims = self.encoder.meta.embedding_dims
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed + 1)
            self.projector = torch.nn.ModuleDict({m: mlp([dims[m], *cfg.projector], bn_last=cfg.projector_bn_last)
                                                  for m in mods})
            out = cfg.projector[-1]
            heads = ["shared"] if cfg.shared_predictor else list(mods)
            self.predictor = torch.nn.ModuleDict({m: mlp([out, cfg.predictor_hidden, out], bn_last=False)
                                                  for m in heads})
            if cfg.intra_predictor:  # built last, so the paper's heads draw the same initial weights either way
                self.intra_predictor = torch.nn.ModuleDict({m: mlp([out, cfg.predictor_hidden, out], bn_last=False)
                                                            for m in mods})

    def modalities(self) -> tuple[str, ...]:
        used = "".join(self.cfg.terms)
        return tuple(m for m, c in (("video", "v"), ("audio", "a")) if c in used)

    def sampler(self) -> CrissCrossViews:
        a = self.encoder.arch
        mods = self.modalities()
        return CrissCrossViews(self.cfg, a.fps, a.mean, a.std, a.audio, need_audio="audio" in mods,
                               need_video="video" in mods)

    def _embed(self, modality: str, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(p, z) of a view; p is None under ``objective: infonce``, which reads only z."""
        feat = self.encoder.trunk(modality)(x, ["pool"])["pool"]
        z = self.projector[modality](feat)
        if self.cfg.objective == "infonce":
            return None, z
        p = self.predictor["shared" if self.cfg.shared_predictor else modality](z)
        return p, z

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        p: dict[str, torch.Tensor] = {}
        z: dict[str, torch.Tensor] = {}
        p_intra: dict[str, torch.Tensor] = {}
        for key in ("v1", "v2", "a1", "a2"):
            if key in batch:
                modality = "video" if key[0] == "v" else "audio"
                pk, z[key] = self._embed(modality, batch[key])
                if pk is not None:
                    p[key] = pk
                if self.cfg.intra_predictor and self.cfg.objective == "simsiam":
                    p_intra[key] = self.intra_predictor[modality](z[key])
        # the mean over the active terms; with intra_predictor, v1v2 and a1a2 read their own predictor's outputs
        if self.cfg.objective == "infonce":
            loss, terms = crisscross_infonce_loss(z, self.cfg.terms, temperature=self.cfg.temperature,
                                                  negatives=self.cfg.infonce_negatives)
        else:
            loss, terms = crisscross_loss(p, z, self.cfg.terms,
                                          p_intra=p_intra if self.cfg.intra_predictor else None)
        logs = {k: float(v) for k, v in terms.items()}
        with torch.no_grad():  # collapse monitor: std of the normalised z per dimension (SimSiam: ~1/sqrt(d) healthy)
            for key in ("v1", "a1"):
                if key in z:
                    logs[f"std_{key[0]}"] = float(torch.nn.functional.normalize(z[key].float(), dim=1).std(0).mean())
        return loss, logs

    def param_groups(self) -> list[dict[str, Any]]:
        lr = self.cfg.train.lr
        base = list(self.encoder.parameters()) + list(self.projector.parameters())
        if self.cfg.objective == "infonce":  # no predictor is used (they are still built: the same init stream)
            return [{"params": base, "base_lr": lr, "name": "backbones+projectors"}]
        return [{"params": base, "base_lr": lr, "name": "backbones+projectors"},
                {"params": list(self.predictor.parameters()) + (list(self.intra_predictor.parameters())
                                                                 if self.cfg.intra_predictor else []),
                 "base_lr": lr * self.cfg.predictor_lr_ratio,
                 "schedule": "constant", "name": "predictors"}]
