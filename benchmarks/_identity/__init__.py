"""Helpers of the identity-world evidence scripts (benchmarks/identity_evidence.py, pretrain_gpu.py)."""
