#!/usr/bin/env bash
# Runs every test: installs what is missing (scripts/setup.sh), then the release build's full
# suite (unit, golden, e2e, model) and the unit and golden tests again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --preset release -j2
cmake --preset debug >/dev/null
cmake --build --preset debug
ctest --preset debug -j2
# The CUDA backend must compile wherever nvcc is, GPU or not (two architectures keep this quick);
# its unit tests skip cleanly without a device.
if command -v nvcc >/dev/null; then
  cmake --preset cuda -DCMAKE_CUDA_ARCHITECTURES="80;90" >/dev/null
  cmake --build --preset cuda
  ctest --test-dir build/cuda -L unit -j2 --output-on-failure
fi
