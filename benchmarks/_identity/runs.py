"""The runs of ``benchmarks/identity_evidence.py`` (and of ``benchmarks/pretrain_gpu.py --methods``): run name ->
(``avbench pretrain`` method, registered encoder, dotted ``--set`` overrides on the method's ``world`` preset).

A run's name and overrides are recorded in every evidence row, so a row stays true if an entry here later changes.
Each diagnostic says at which stop it was added and why; NOT the paper is said where a run departs from it."""
from __future__ import annotations

from typing import Any

#: run -> (method, encoder name, overrides on the method's `world` preset)
RUNS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "supervised": ("supervised", "crisscross", {}),
    "supervised-avcl": ("supervised", "avcl", {"family": "avcl"}),
    "crisscross": ("crisscross", "crisscross", {}),
    # diagnostic (this stop): the predictors at the base rate instead of 10x it (1e-3, not 1e-2 under Adam;
    # ../shared/notes/ssl-world.md flags 1e-2 as 5x the paper's absolute rate)
    "crisscross-pred1": ("crisscross", "crisscross", {"predictor_lr_ratio": 1.0}),
    # diagnostic (fifth stop): Adam's L2 weight decay (1e-4, coupled: Adam divides it by the gradient's scale)
    # shrinks the predictor at its constant 1e-2 rate: its BatchNorm gamma falls from 1 to 0.04 in 320 steps (0.93
    # with no weight decay), the predictor outputs its bias for every input and the trunks align to that one
    # direction (seed 0, step 1,920: positive and negative pairs at the same cosine). AdamW decouples the decay
    "crisscross-adamw": ("crisscross", "crisscross", {"train.optimizer": "adamw"}),
    # diagnostic (fifth stop): crisscross-adamw with a second predictor per modality for v1v2 / a1a2 (NOT the paper;
    # its video predictor serves v1v2 and the cross-modal terms, as temporal-SSL's phi_v does)
    "crisscross-intra-adamw": ("crisscross", "crisscross", {"train.optimizer": "adamw", "intra_predictor": True}),
    "crisscross-noasync": ("crisscross", "crisscross", {"terms": ["v1v2", "a1a2", "v1a1", "v2a2"]}),
    # diagnostic (third stop): without the synchronous terms, whose pairs share the scene's event times (a class-free
    # cue); every remaining pair shares only the identity
    "crisscross-nosync": ("crisscross", "crisscross", {"terms": ["v1v2", "a1a2", "v1a2", "a1v2"]}),
    # diagnostic (eighth stop), NOT the paper: every CrissCross pair term as SimCLR's NT-Xent on z (no predictor).
    # The `simclr --modality av` diagnostic (an NT-Xent over a1a2, v1a2, v2a1 on the same trunks) reached audio
    # 100 % and video 90.5 % in 1,920 steps where the paper's SimSiam form stays near the floor
    "crisscross-infonce": ("crisscross", "crisscross", {"objective": "infonce"}),
    # diagnostic (eighth stop): crisscross-infonce with AdamW. Adam's L2 decay (1e-4, coupled) shrinks a parameter
    # by about the rate per step where the loss gradient is small, as the NT-Xent's is near chance
    "crisscross-infonce-adamw": ("crisscross", "crisscross", {"objective": "infonce", "train.optimizer": "adamw"}),
    # diagnostic (eighth stop): crisscross-infonce with the `simclr` diagnostic's projector (64-256-128, no BatchNorm
    # on the output) in place of Table S7's three layers with one
    "crisscross-infonce-head": ("crisscross", "crisscross", {"objective": "infonce", "projector": [256, 128],
                                                             "projector_bn_last": False}),
    # diagnostic (eighth stop): crisscross-infonce-head with the diagnostic's weight decay too (1e-6 instead of 1e-4,
    # Adam's coupled L2): the `simclr --modality av --pairs` diagnostic's recipe on CrissCross's six terms
    "crisscross-infonce-head-wd6": ("crisscross", "crisscross", {"objective": "infonce", "projector": [256, 128],
                                                                 "projector_bn_last": False,
                                                                 "train.weight_decay": 1e-6}),
    # diagnostic (eighth stop): crisscross-infonce-head-wd6 without the synchronous terms: in it (and in -adamw and
    # -head) v1a1 / v2a2 learn the scene's event times first and the cross-scene terms stay at chance
    "crisscross-infonce-head-wd6-nosync": ("crisscross", "crisscross", {"objective": "infonce", "projector": [256, 128],
                                                                        "projector_bn_last": False,
                                                                        "train.weight_decay": 1e-6,
                                                                        "terms": ["v1v2", "a1a2", "v1a2", "a1v2"]}),
    # diagnostic (ninth stop): the `simclr --modality av` diagnostic's pairs (a1a2 and the two asynchronous pairs,
    # no v1v2) with its head and decay, through `avbench pretrain`: the diagnostic reached audio 100 / video 90.5 %
    # (seed 0); the same recipe here tells a difference between the two training loops from one between the pairs
    "crisscross-infonce-head-wd6-async": ("crisscross", "crisscross", {"objective": "infonce", "projector": [256, 128],
                                                                       "projector_bn_last": False,
                                                                       "train.weight_decay": 1e-6,
                                                                       "terms": ["a1a2", "v1a2", "a1v2"]}),
    # diagnostic (ninth stop): -async with CLIP's / AVID's cross-modal InfoNCE (the other modality's views are the
    # only negatives): in -async and -nosync the asynchronous NT-Xent terms rose ABOVE chance as a1a2 clustered the
    # audio by identity, those same-identity audio views being each other's negatives inside the cross-modal terms
    "crisscross-infonce-head-wd6-async-xneg": ("crisscross", "crisscross", {
        "objective": "infonce", "projector": [256, 128], "projector_bn_last": False, "train.weight_decay": 1e-6,
        "terms": ["a1a2", "v1a2", "a1v2"], "infonce_negatives": "other"}),
    # diagnostic (tenth stop): the paper's SimSiam objective (Eq. 1-5, its projector and predictors) on -async's
    # pairs (a1a2, v1a2, a1v2) with its decay (1e-6): is it the loss, or the pairs, head and decay, that made the
    # NT-Xent variant learn? (the paper's Table 1 ablates which terms are active)
    "crisscross-wd6-async": ("crisscross", "crisscross", {"train.weight_decay": 1e-6,
                                                          "terms": ["a1a2", "v1a2", "a1v2"]}),
    # diagnostic (tenth stop): the paper's recipe with one value changed, Adam's coupled L2 decay 1e-6 instead of
    # 1e-4 (Table S10): crisscross-wd6-async's audio reached 84.2 / 66.3 (seeds 0 / 1) where -nosync at 1e-4 stayed
    # at 32.3; is the decay alone what keeps the paper's six terms from the audio?
    "crisscross-wd6": ("crisscross", "crisscross", {"train.weight_decay": 1e-6}),
    # diagnostic (tenth stop): -async without a1a2, only the two asynchronous cross-modal pairs: AVCL's and AVID's
    # family (cross-modal contrast alone). In -async the audio clusters by identity first, through a1a2, and the
    # video follows; can a cross-modal-only contrast start at all?
    "crisscross-infonce-head-wd6-xmodal": ("crisscross", "crisscross", {
        "objective": "infonce", "projector": [256, 128], "projector_bn_last": False, "train.weight_decay": 1e-6,
        "terms": ["v1a2", "a1v2"]}),
    "avcl": ("avcl", "avcl", {}),
    "avcl-nocgra": ("avcl", "avcl", {"lambda_cor": 0.0}),
    # diagnostic (third stop): the world preset's SGD rate 0.05 drives Loss_cor from 2.2 at step 100 back to 22 by
    # step 280 as the warm-up reaches it (history.jsonl of `avcl`, seed 0); the same run at a fifth of the rate
    "avcl-lr01": ("avcl", "avcl", {"train.lr": 0.01}),
    # diagnostic (third stop): avcl-lr01 with the audio of the OTHER scene, so the pair shares the identity but no
    # event times (the class-free cue a synchronous pair can be matched by)
    "avcl-lr01-other": ("avcl", "avcl", {"train.lr": 0.01, "audio_scene": "other"}),
    # diagnostic (third stop): without the attention fusion module, whose per-sample gate multiplies BOTH features
    # (f_v = g * v, f_a = g * a, g from [v, a]) and so hands each pair a shared fingerprint the loss can match
    "avcl-nofusion": ("avcl", "avcl", {"fusion": False}),
    "temporal-ssl": ("temporal-ssl", "temporal-ssl", {}),
    "temporal-ssl-novv": ("temporal-ssl", "temporal-ssl", {"contrastive_terms": ["va", "av"]}),
    # diagnostic (third stop): with the audio-audio term the paper leaves out (its views in different scenes, like
    # vv's), the one term that gives the audio trunk a pair sharing the identity but no event times
    "temporal-ssl-aa": ("temporal-ssl", "temporal-ssl", {"contrastive_terms": ["vv", "va", "av", "aa"]}),
    # the paper's ablation (a) of its Table 1 (run there on video alone), "w/o Q_v positives": no memory-bank
    # neighbours as extra positives (k = 0).
    # On the identity world the k nearest bank rows of the anchor share its scene nuisance at init (a random trunk
    # reads pitch at 88 %, brightness at 70 %), and they carry as much weight as the true positive, which is in
    # another scene; vv and aa stay at chance (11.3) in every run with them. (Refuted as the cause: without them, in
    # temporal-ssl-k0-aa, vv and aa stay at chance too.)
    "temporal-ssl-k0": ("temporal-ssl", "temporal-ssl", {"k": 0}),
    # diagnostic (fourth stop): k = 0 with the audio-audio term
    "temporal-ssl-k0-aa": ("temporal-ssl", "temporal-ssl", {"k": 0, "contrastive_terms": ["vv", "va", "av", "aa"]}),
    # diagnostic (fifth stop): the one predictor phi_v of vv and va maps video into the audio embeddings' subspace
    # (cos with every video embedding ~0.00, with its own audio 0.72: temporal-ssl-k0, seed 0, step 1,920), so vv and
    # aa sit at chance; a second predictor per modality for the intra-modal terms (NOT the paper), with aa
    "temporal-ssl-intra-aa": ("temporal-ssl", "temporal-ssl", {"intra_predictor": True,
                                                              "contrastive_terms": ["vv", "va", "av", "aa"]}),
    # diagnostic (fifth stop): only the intra-modal terms, each modality's predictor serving one term, as in the
    # paper's single-modality experiments (Table 1: video, l_vv; Table 2: audio, audio-audio contrast), run jointly
    # (the temporal tasks keep their cross-modal order pairs): can l_vv learn the shape across scenes at all here?
    "temporal-ssl-unimodal": ("temporal-ssl", "temporal-ssl", {"contrastive_terms": ["vv", "aa"]}),
    # diagnostic (sixth stop): temporal-ssl-intra-aa with k = 0. With its own predictor aa learned the identity in
    # seed 0 but vv stayed at chance in every seed; the bank's k nearest rows, weighted like the true positive, share
    # the anchor's scene nuisance at init: does vv leave chance without them?
    "temporal-ssl-k0-intra-aa": ("temporal-ssl", "temporal-ssl", {"k": 0, "intra_predictor": True,
                                                                 "contrastive_terms": ["vv", "va", "av", "aa"]}),
    # diagnostic (sixth stop): temporal-ssl-intra-aa without the direction task (forwards or backwards). In every
    # run where va / av took off, the direction loss fell first (0.71 -> 0.37-0.38 from step ~640, then va / av from
    # ~960); in the one where aa took off it fell only to 0.59. A trunk that tells a reversed impact envelope from a
    # forward one has the onset features that the synchronous pairs match on: without the task, does aa take off?
    "temporal-ssl-intra-aa-nodir": ("temporal-ssl", "temporal-ssl", {"intra_predictor": True,
                                                                    "contrastive_terms": ["vv", "va", "av", "aa"],
                                                                    "temporal_tasks": ["speed", "order"]}),
    # diagnostic (tenth stop), NOT the paper: temporal-SSL's analogue of crisscross-infonce-head-wd6-async, the one
    # recipe that learned both modalities: va and av between views r and s (another scene, sharing only the
    # identity; the paper pairs each view with its own audio), the audio-audio term with its own predictor
    # (temporal-ssl-intra-aa learned the audio in one seed of three), no vv (at chance in every run)
    "temporal-ssl-async-intra-aa": ("temporal-ssl", "temporal-ssl", {"intra_predictor": True,
                                                                    "contrastive_terms": ["va", "av", "aa"],
                                                                    "cross_modal_view": "other"}),
}
