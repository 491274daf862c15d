"""Audio-visual contrastive learning with temporal self-supervision: R(2+1)D-18 + ResNet-34 trunks, predictive
contrastive losses with memory banks, speed / direction / order classification."""
from avbench_baselines.temporal_ssl.encoder import build

__all__ = ["build"]
