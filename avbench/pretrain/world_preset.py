"""The shared part of every method's ``world`` preset: pretraining on the identity world on a CPU (issue 20).

Every method trains the same trunk widths on the same view geometry and for the same steps as the supervised
ceiling it is compared with: width 8 (64-D pooled features), 8 frames at 16 fps of 48² frames, batch 32,
1,920 steps (10 epochs of 6,144 fresh clips). 48², not 32²: the R(2+1)D stem leaves an 8x8 map at 32², where a
width-8 trunk did not learn the shapes even with labels in 600 steps (avbench/synth/identity_world.py).

Steps, not clips, are what the self-supervised objectives lacked at 576 steps of 64 clips (crisscross and avcl
stayed within 7 points of the random floor while the supervised ceiling reached 84 / 100 %:
docs/evidence/identity_world.jsonl); an audio-only InfoNCE across scenes on fresh clips stayed at the floor for
about 400 steps of 64 and then climbed to 69 % at 1,000. Batch 32 buys twice the steps for the same CPU time.

Augmentation (issue 20, item 2): crop scale 0.4-1 so the object stays in view, flip, colour jitter without hue (the
world redraws every colour per scene anyway; hue was half the augmentation time at 32²); no grayscale, blur or
cutout. Audio: volume jitter and time masks; no frequency masks, time warp or random resize crop, which would hide
or move the partials that make an identity's timbre.
"""
from __future__ import annotations

from typing import Any

WORLD_VIDEO_AUGMENT: dict[str, Any] = {"crop_scale": [0.4, 1.0], "flip": 0.5, "color_jitter": [0.4, 0.4, 0.4, 0.0],
                                       "grayscale": 0.0, "blur": 0.0, "cutout": 0}
WORLD_AUDIO_AUGMENT: dict[str, Any] = {"volume_jitter": 0.2, "time_mask": {"max_width": 20, "num": 2},
                                       "freq_mask": None, "time_warp": None, "random_resize_crop": None}
#: trunk sizes (``arch`` overrides); ``min_size`` 32 so the 48² probe and demo cards are accepted
WORLD_ARCH: dict[str, Any] = {"video_width": 8, "audio_width": 8, "min_size": 32, "fps": 16.0}
#: steps: ``epochs`` x 192 at batch 32 (6,144 fresh clips per epoch): 1,920 steps
WORLD_EPOCHS = 10
WORLD_BATCH = 32
