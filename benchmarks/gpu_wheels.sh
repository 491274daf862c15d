#!/usr/bin/env bash
# Wheels for running benchmarks/gpu_check.py (or any avbench script) on a GPU machine that has Python 3.12, torch,
# torchvision, torchaudio, numpy, scikit-learn, safetensors, pyyaml, rich, tabulate and matplotlib but no network:
# avbench's other runtime dependencies (PyAV, pydantic and its parts, platformdirs) for CPython 3.12 on x86-64
# Linux, plus avbench itself as a wheel (its entry points register the reference encoders). Written to .whl/
# (git-ignored). On the machine:
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --out gpu_check.json
# docs/performance.md ("The prepared GPU check") has the whole command.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir -p .whl
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .whl av==18.1.0 pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2 \
  platformdirs==4.14.7 typing-extensions==4.16.0
python3 -m pip wheel -q --no-deps --no-build-isolation -w .whl .
ls -l .whl
du -sh .whl
