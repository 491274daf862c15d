"""Helpers of benchmarks/gpu_check.py: the task families on fixture data (families.py), the speed ratios
(ratios.py) and the JSON (report.py)."""
