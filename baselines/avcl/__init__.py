"""AVCL (audio-visual contrastive learning): R(2+1)D-10 + ResNet-10 trunks, attention fusion, co-correlation and
self-supervised contrastive losses."""
from avbench_baselines.avcl.encoder import build

__all__ = ["build"]
