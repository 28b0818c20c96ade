#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (ctest). ONNX Runtime (npm onnxruntime-node,
# a test-only dependency) is installed into node_modules/ for the oracle tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ -x scripts/install_ort.sh ]; then ./scripts/install_ort.sh; fi
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2
