"""CrissCross (Sarkar & Etemad, AAAI 2023): AVID-variant R(2+1)D-18 video and ResNet-18 audio trunks."""
from avbench_baselines.crisscross.encoder import build

__all__ = ["build"]
