"""AugVGG: augmented VGG-Sound query sets for robust audio-visual fingerprinting (Jenni et al., AAAI 2023).

The paper augments the VGG-Sound TEST videos four ways and retrieves the clean original of each augmented query
(recall@k against the clean test set): AugVGG-IP "in-place" (V: noise, blur, pixelization, emoji overlay;
A: noise, clicks), AugVGG-S "spatial" (V: cropping, padding, rotation; A: pitch shift, reverb, frequency filter),
AugVGG-T "time" (V+A: speed, crops) and AugVGG-C "combined" (one of each type). It used AugLy, which is
unmaintained and not installable here, and did not publish its parameters; this package rebuilds the families
with maintained libraries (``torchvision.transforms.v2.functional``, ``torchaudio.functional``, numpy), records
every drawn parameter per query, and versions the result (``augvgg-<variant>-v1``). Numbers on these sets are
comparable with each other, not with the paper's.

Ops per query (:func:`avbench.datasets.augvgg.generate.draw_ops`): IP and S = one frame op + one waveform op of the
family; T = one time op on both streams in sync; C = one time op, then an S op on one stream and an IP op on the
other (which stream gets which: 50/50). Choices within a family are uniform.

======  ======  ===========  =================================  ========================================================
family  stream  op           AugLy analogue                     parameters (ranges)
======  ======  ===========  =================================  ========================================================
IP      video   noise        augly.video.add_noise              Gaussian, std 0.02-0.10 of full scale
IP      video   blur         augly.video.blur                   Gaussian, sigma 1-3 % of the shorter side
IP      video   pixelize     augly.video.pixelization           ratio 0.10-0.40 (antialiased down, nearest up)
IP      video   overlay      augly.video.overlay_emoji,         generated smiley (25-50 % of the shorter side) or box of
                             overlay_text                       3-8 random 5x7 glyphs (12-30 % of H); opacity 0.5-1.0;
                                                                random position and colours
IP      audio   noise        augly.audio.add_background_noise   white noise, SNR 5-20 dB
IP      audio   clicks       augly.audio.clicks                 20-ms 1-3 kHz bursts every 0.2-1.0 s, peak 0.2-0.8
S       video   crop         augly.video.crop                   keep 50-90 % of the area, aspect x 3/4..4/3, resized
                                                                back
S       video   pad          augly.video.pad                    5-25 % borders per side, random colour, resized back
S       video   rotate       augly.video.rotate                 +-10..45 degrees, same size, black corners
S       audio   pitch_shift  augly.audio.pitch_shift            +-2..6 semitones, duration kept (phase vocoder +
                                                                rational resample)
S       audio   reverb       augly.audio.reverb                 decaying-noise IR, RT60 0.2-1.0 s, wet 0.3-0.7
S       audio   filter       augly.audio.low_pass_filter,       biquad low-pass 300-2000 Hz or high-pass 500-3000 Hz, Q
                             high_pass_filter                   0.707
T       both    speed        augly.video.change_video_speed +   x0.5-2.0 (log-uniform, at least x1.25 or /1.25; a ratio
                             augly.audio.speed                  p/q with q <= 16); video: nearest-frame resampling at
                                                                the source rate; audio: resampled (pitch follows)
T       both    time_crop    augly.video.time_crop +            keep a contiguous 50-90 % segment at a random offset;
                             augly.audio.clip                   both streams cut at the same frame boundaries
======  ======  ===========  =================================  ========================================================

Outputs keep the source's frame rate and frame size (ops that change the size resize back), with mono 16 kHz AAC
audio; see :mod:`avbench.datasets.augvgg.generate` for the files written, determinism and resuming, and
``avbench data augvgg --root VGGSOUND --out DIR --variant ip|s|t|c`` for the command line.
"""
from avbench.datasets.augvgg.generate import VARIANTS, apply_ops, draw_ops, generate_augvgg, generator_name

__all__ = ["VARIANTS", "apply_ops", "draw_ops", "generate_augvgg", "generator_name"]
