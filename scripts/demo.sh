#!/usr/bin/env bash
# The main job on a model shipped in testdata/: set up, build, inspect the model, convert it
# with the O2 pipeline (cleanup, folding, fusion) and inspect the result.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
MODEL=${1:-testdata/models/tiny_cnn.onnx}
OUT=${2:-build/demo/$(basename "$MODEL" .onnx).npuconv.onnx}
mkdir -p "$(dirname "$OUT")"
./build/cli/npuconv inspect "$MODEL"
./build/cli/npuconv optimize "$MODEL" -o "$OUT" --pipeline O2 --verify-each --time-passes --report "${OUT%.onnx}.report.json"
echo
./build/cli/npuconv inspect "$OUT"
echo "wrote $OUT"
