"""Task cards (YAML), shipped as package data of avbench_tasks."""
