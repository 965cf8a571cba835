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
