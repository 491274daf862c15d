"""Temporal-SSL pretraining (temporal-ssl-av paper, section "Model"), for ``avbench pretrain temporal-ssl``.

Views: two per video, r and s. Each draws its own playback speed (1x, 2x, 4x, 8x, uniform), direction (forward or
backward, p = 0.5) and start time; the video view takes every ``speed``-th frame of ``frames * speed`` frames
(reversed when backward); the audio view covers EXACTLY the same moments: the raw waveform of that span is
sped up by resampling (``speed`` x fewer samples; anti-aliased with torchaudio's windowed-sinc resampler, an OPEN
VALUE: the paper says "subsample") and reversed before the log-mel (Table 2 of the paper: raw-waveform transforms
beat spectrogram ones). Video augmentation: random crop, flip, colour jitter; no audio augmentation beyond the
temporal ones (as the paper says). Each audio view's log-mel is resized bilinearly to ``spec_size x spec_size``
(224: "Input spectrograms to the audio encoder are resized to 224 x 224", "Implementation Details"; the CPU presets
``small`` and ``world`` keep the native log-mel, ``spec_size: null``); the encoder evaluates at that scale.

Loss (Eq. 1-5): ``L_CRL = l_vv + l_va + l_av`` (no audio-audio term by default; ``contrastive_terms`` can add
``aa`` for the ablation) with k = 5 weighted neighbour positives and m = 2048 negatives from the median neighbour
of FIFO banks Q_v, Q_a (updated with the mean of the two views' embeddings), temperature 0.2; each term is
computed for r -> s and s -> r and averaged. ``L_TEMP = L_speed + L_direction + L_order``: speed (4-way) and
direction (2-way) per view and modality on the trunk features, and 3-way order (ordered / overlapping / reversed)
for the pairs vv, aa, va, av (the classifier sees the two trunk features concatenated). ``L = L_CRL + 0.5 L_TEMP``.
Heads: projector psi = two hidden layers of 1024, 256-d output with BN; predictor phi = one hidden layer of 1024;
temporal heads like psi without the output BN. AdamW, wd 1e-4, lr 3e-4, cosine with a one-epoch linear warm-up,
batch 256.

OPEN VALUES and avbench's defaults: queue size 4096 (m = 2048 negatives from the median needs >= 4096 rows),
16 frames per view at 16 fps (so an 8x view spans 8 s; a shorter video repeats cyclically), anti-aliased audio
speed-up, queues kept per process under DDP (not gathered).
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
import torchaudio
from pydantic import Field, field_validator

from avbench.media.logmel import LogMelConfig, LogMelFrontend
from avbench.media.video_augment import VideoAugmentConfig
from avbench.pretrain.heads import mlp
from avbench.pretrain.method import MethodConfig, Pretrainer, TrainConfig
from avbench.pretrain.views import (Decoded, cut_frames, cut_wave, pick_scenes, randint, uniform, video_view,
                                    window_in_scene)
from avbench.pretrain.world_preset import WORLD_ARCH, WORLD_BATCH, WORLD_EPOCHS, WORLD_VIDEO_AUGMENT

from avbench_baselines.temporal_ssl.encoder import ARCH, TemporalSSLEncoder
from avbench_baselines.temporal_ssl.losses import (
    SPEEDS,
    TEMPERATURE,
    FeatureQueue,
    order_label,
    predictive_contrastive_loss,
)

ORDER_PAIRS = ("vv", "aa", "va", "av")


class TemporalSSLConfig(MethodConfig):
    """Defaults: the paper's "Implementation Details"; open values in the module docstring."""

    #: Table 4: 240 epochs on Kinetics-400 (and VGG-Sound); the ``kinetics600`` preset has Table 4's 150
    train: TrainConfig = TrainConfig(epochs=240, batch_size=256, lr=3e-4, final_lr=0.0, warmup_epochs=1,
                                     optimizer="adamw", weight_decay=1e-4)
    frames: int = Field(16, ge=1)
    crop: int = Field(112, ge=16)
    #: "Implementation Details": "Input spectrograms to the audio encoder are resized to 224 x 224" (each clip's
    #: log-mel, bilinear); None feeds the native log-mel (avbench before issue 19; the CPU presets)
    spec_size: int | None = Field(224, ge=16)
    speeds: list[int] = Field(default_factory=lambda: list(SPEEDS))
    antialias: bool = True
    queue_size: int = Field(4096, ge=1)
    k: int = Field(5, ge=0)
    m: int = Field(2048, ge=0)
    temperature: float = Field(TEMPERATURE, gt=0)
    lambda_temp: float = 0.5
    contrastive_terms: list[str] = Field(default_factory=lambda: ["vv", "va", "av"])
    temporal_tasks: list[str] = Field(default_factory=lambda: ["speed", "direction", "order"])
    proj_hidden: int = 1024
    proj_dim: int = 256
    intra_predictor: bool = Field(False, description=(
        "NOT the paper: a second predictor per modality for the intra-modal terms (vv, aa). The paper's one phi_v "
        "serves vv and va; on the identity world it maps video into the audio embeddings' subspace, orthogonal to "
        "every video embedding, so l_vv sits at chance (README 'Do they learn?')"))
    cross_modal_view: Literal["same", "other"] = Field("same", description=(
        "the audio (video) view that l_va (l_av) of view r contrasts with. same (the paper): view r's own, which "
        "shares its event times; other, NOT the paper: view s's, in another scene, sharing only the identity, as "
        "CrissCross's asynchronous terms (on the identity world the synchronous pairs learn the class-free event "
        "times first; README 'Do they learn?')"))
    video_augment: dict[str, Any] = Field(default_factory=lambda: VideoAugmentConfig(
        crop_scale=(0.2, 1.0), flip=0.5, color_jitter=(0.4, 0.4, 0.4, 0.1), grayscale=0.0, blur=0.0,
        cutout=0).to_dict())

    @field_validator("contrastive_terms")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        if not set(v) <= {"vv", "va", "av", "aa"}:
            raise ValueError(f"contrastive_terms must be from vv, va, av, aa; got {v}")
        return v

    @field_validator("temporal_tasks")
    @classmethod
    def _tasks(cls, v: list[str]) -> list[str]:
        if not set(v) <= {"speed", "direction", "order"}:
            raise ValueError(f"temporal_tasks must be from speed, direction, order; got {v}")
        return v


class TemporalViews:
    """``(Decoded, generator) ->`` v_r, v_s ``[3, T, S, S]``, a_r, a_s ``[1, F, T']``, speed/direction labels
    ``[2]`` (view r, s) and order labels ``[4]`` (pairs vv, aa, va, av)."""

    def __init__(self, cfg: TemporalSSLConfig, fps: float, mean: tuple, std: tuple, logmel: dict[str, Any]) -> None:
        self.cfg, self.fps, self.mean, self.std, self.logmel = cfg, fps, mean, std, logmel
        self.vaug = VideoAugmentConfig.from_dict(cfg.video_augment)
        self._frontend: LogMelFrontend | None = None

    def speed_up(self, wave: torch.Tensor, speed: int, n_out: int, sample_rate: int) -> torch.Tensor:
        """``[speed * n_out]`` samples -> ``[n_out]``: played ``speed`` x faster (anti-aliased when configured)."""
        if speed == 1:
            return wave[:n_out]
        if self.cfg.antialias:
            out = torchaudio.functional.resample(wave[None], sample_rate * speed, sample_rate)[0]
        else:
            out = wave[::speed]
        out = out[:n_out]
        return F.pad(out, (0, n_out - out.numel()))

    def __call__(self, d: Decoded, gen: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if self._frontend is None:
            self._frontend = LogMelFrontend(LogMelConfig(**self.logmel))
        clip_s = cfg.frames / self.fps
        out: dict[str, Any] = {}
        spans = []
        speed_lbl, dir_lbl = [], []
        # a source with scene cuts: r and s in two different scenes, each inside its scene (so l_vv pairs views
        # that share no scene nuisance; the two spans never overlap, so the order label is 0 or 2)
        scenes = pick_scenes(len(d.segments), "distinct", gen) if len(d.segments) > 1 else None
        for j, name in enumerate(("r", "s")):
            si = randint(gen, len(cfg.speeds))
            speed, backward = cfg.speeds[si], randint(gen, 2) == 1
            span = clip_s * speed
            start = (window_in_scene(d, scenes[j], span, gen) if scenes is not None
                     else uniform(gen, 0.0, max(0.0, d.seconds - span)))
            frames = cut_frames(d, start, cfg.frames, stride=speed, reverse=backward)
            out[f"v_{name}"] = video_view(frames, self.vaug, cfg.crop, gen, self.mean, self.std)
            n_out = int(round(clip_s * d.sample_rate))
            wave = self.speed_up(cut_wave(d, start, span), speed, n_out, d.sample_rate)
            if backward:
                wave = wave.flip(0)
            mel = self._frontend(wave[None].float())
            if cfg.spec_size is not None:  # the whole clip's log-mel to spec_size x spec_size
                mel = F.interpolate(mel, size=(cfg.spec_size, cfg.spec_size), mode="bilinear", align_corners=False)
            out[f"a_{name}"] = mel[0]
            spans.append((start, span))
            speed_lbl.append(si)
            dir_lbl.append(int(backward))
        (sr, lr_), (ss, ls) = spans
        label = order_label(sr, lr_, ss, ls)  # the same two intervals for every modality pair
        out["speed"] = torch.tensor(speed_lbl)
        out["direction"] = torch.tensor(dir_lbl)
        out["order"] = torch.tensor([label] * len(ORDER_PAIRS))
        return out


class TemporalSSLPretrainer(Pretrainer):
    """Trunks, projectors, predictors, memory banks and temporal heads; ``forward -> (L_SSL, terms)``."""

    name: ClassVar[str] = "temporal-ssl"
    Config = TemporalSSLConfig
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},
        "kinetics600": {"train": {"epochs": 150}},  # Table 4, Kinetics-600 rows
        "small": {"arch": {"video_width": 16, "audio_width": 16, "audio_depth": 18},
                  "train": {"epochs": 30, "batch_size": 32, "lr": 1e-3, "warmup_epochs": 1},
                  "frames": 8, "crop": 64, "speeds": [1, 2, 4], "queue_size": 256, "m": 128,
                  "proj_hidden": 256, "proj_dim": 128, "spec_size": None},
        # the identity world (`--data identity-world`, issue 20) on a CPU: width 8, 8x48², speeds 1x and 2x (a 2x
        # view spans one 1-s scene), r and s in different scenes; the memory bank holds 16 batches of fresh clips
        # (512 rows, negatives from the median: m = 256), the paper's ratio (4,096 rows at batch 256); the data
        # set is infinite (a fresh clip per sample), so the bank never holds a clip's own earlier embedding
        "world": {"arch": {**WORLD_ARCH, "audio_depth": 18},
                  "train": {"epochs": WORLD_EPOCHS, "batch_size": WORLD_BATCH, "lr": 1e-3, "warmup_epochs": 1},
                  "frames": 8, "crop": 48, "speeds": [1, 2], "queue_size": 512, "m": 256,
                  "proj_hidden": 256, "proj_dim": 128, "video_augment": WORLD_VIDEO_AUGMENT, "spec_size": None},
    }

    def __init__(self, cfg: TemporalSSLConfig, init_seed: int = 0) -> None:
        super().__init__(cfg, init_seed)
        self.encoder = TemporalSSLEncoder(arch=cfg.two_tower_arch(ARCH), init_seed=init_seed)
        dims = self.encoder.meta.embedding_dims
        h, p = cfg.proj_hidden, cfg.proj_dim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed + 1)
            self.projector = torch.nn.ModuleDict({m: mlp([dims[m], h, h, p], bn_last=True) for m in ("video", "audio")})
            self.predictor = torch.nn.ModuleDict({m: mlp([p, h, p], bn_last=False) for m in ("video", "audio")})
            self.speed_head = torch.nn.ModuleDict({m: mlp([dims[m], h, h, len(cfg.speeds)], bn_last=False)
                                                   for m in ("video", "audio")})
            self.direction_head = torch.nn.ModuleDict({m: mlp([dims[m], h, h, 2], bn_last=False)
                                                       for m in ("video", "audio")})
            dim_of = {"v": dims["video"], "a": dims["audio"]}
            self.order_head = torch.nn.ModuleDict({pair: mlp([dim_of[pair[0]] + dim_of[pair[1]], h, h, 3],
                                                             bn_last=False) for pair in ORDER_PAIRS})
            if cfg.intra_predictor:  # built last, so the paper's heads draw the same initial weights either way
                self.intra_predictor = torch.nn.ModuleDict({m: mlp([p, h, p], bn_last=False)
                                                            for m in ("video", "audio")})
        self.queue = torch.nn.ModuleDict({m: FeatureQueue(cfg.queue_size, p) for m in ("video", "audio")})
        self._pending: dict[str, torch.Tensor] = {}

    def sampler(self) -> TemporalViews:
        a = self.encoder.arch
        return TemporalViews(self.cfg, a.fps, a.mean, a.std, a.audio)

    def _contrastive(self, pred: torch.Tensor, positive: torch.Tensor, negatives: list[torch.Tensor],
                     anchor: torch.Tensor, bank_modality: str) -> torch.Tensor:
        cfg = self.cfg
        bank = self.queue[bank_modality].contents()
        return predictive_contrastive_loss(pred, positive, negatives, bank=bank if bank.shape[0] else None,
                                           anchor=anchor, k=cfg.k, m=cfg.m, temperature=cfg.temperature)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        feat: dict[str, torch.Tensor] = {}
        emb: dict[str, torch.Tensor] = {}
        pred: dict[str, torch.Tensor] = {}
        for key in ("v_r", "v_s", "a_r", "a_s"):
            m = "video" if key[0] == "v" else "audio"
            feat[key] = self.encoder.trunk(m)(batch[key], ["pool"])["pool"]
            emb[key] = self.projector[m](feat[key]).float()
            pred[key] = self.predictor[m](emb[key]).float()
            if cfg.intra_predictor:
                pred[f"{key}_intra"] = self.intra_predictor[m](emb[key]).float()
        terms: dict[str, torch.Tensor] = {}
        for r, s in (("r", "s"), ("s", "r")):
            nu, nu_hat, alpha, alpha_hat = emb[f"v_{r}"], emb[f"v_{s}"], emb[f"a_{r}"], emb[f"a_{s}"]
            x = s if cfg.cross_modal_view == "other" else r
            nu_x, alpha_x = emb[f"v_{x}"], emb[f"a_{x}"]  # the cross-modal terms' positives
            intra = "_intra" if cfg.intra_predictor else ""
            parts = {
                # batch negatives {nu_j in B, j != i}: the anchor view's own batch (the paper's N^vv; losses.py)
                "vv": lambda: self._contrastive(pred[f"v_{r}{intra}"], nu_hat, [nu], nu_hat, "video"),
                "aa": lambda: self._contrastive(pred[f"a_{r}{intra}"], alpha_hat, [alpha], alpha_hat, "audio"),
                "va": lambda: self._contrastive(pred[f"v_{r}"], alpha_x, [nu, alpha_x], alpha_x, "audio"),
                "av": lambda: self._contrastive(pred[f"a_{r}"], nu_x, [alpha, nu_x], nu_x, "video"),
            }
            for t in cfg.contrastive_terms:
                terms[f"crl_{t}"] = terms.get(f"crl_{t}", 0.0) + parts[t]() / 2
        crl = sum(terms.values()) if terms else emb["v_r"].new_zeros(())
        temp = emb["v_r"].new_zeros(())
        if "speed" in cfg.temporal_tasks or "direction" in cfg.temporal_tasks:
            for i, view in enumerate(("r", "s")):
                for m, c in (("video", "v"), ("audio", "a")):
                    f = feat[f"{c}_{view}"]
                    if "speed" in cfg.temporal_tasks:
                        lv = F.cross_entropy(self.speed_head[m](f).float(), batch["speed"][:, i]) / 4
                        terms["speed"] = terms.get("speed", 0.0) + lv
                        temp = temp + lv
                    if "direction" in cfg.temporal_tasks:
                        lv = F.cross_entropy(self.direction_head[m](f).float(), batch["direction"][:, i]) / 4
                        terms["direction"] = terms.get("direction", 0.0) + lv
                        temp = temp + lv
        if "order" in cfg.temporal_tasks:
            for j, pair in enumerate(ORDER_PAIRS):
                x = torch.cat([feat[f"{pair[0]}_r"], feat[f"{pair[1]}_s"]], dim=1)
                lv = F.cross_entropy(self.order_head[pair](x).float(), batch["order"][:, j]) / len(ORDER_PAIRS)
                terms["order"] = terms.get("order", 0.0) + lv
                temp = temp + lv
        loss = crl + cfg.lambda_temp * temp
        self._pending = {"video": ((emb["v_r"] + emb["v_s"]) / 2).detach(),
                         "audio": ((emb["a_r"] + emb["a_s"]) / 2).detach()}
        logs = {k: float(v.detach()) for k, v in terms.items()}
        with torch.no_grad():
            logs["std_v"] = float(F.normalize(emb["v_r"], dim=1).std(0).mean())
            logs["std_a"] = float(F.normalize(emb["a_r"], dim=1).std(0).mean())
        return loss, logs

    def after_step(self, batch: dict[str, torch.Tensor]) -> None:
        """Enqueue the mean of the two views' embeddings into Q_v and Q_a (after the step, so a batch never
        finds itself in the bank)."""
        for m, x in self._pending.items():
            self.queue[m].enqueue(x)
        self._pending = {}
