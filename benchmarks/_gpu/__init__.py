"""Helpers of benchmarks/gpu_check.py: the task families on fixture data (families.py), the speed ratios
(ratios.py); gpu_check.py writes the JSON."""
