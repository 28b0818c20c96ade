#!/usr/bin/env bash
# The main job on what testdata/ ships: set up, build, and convert a small BERT-style sentence
# encoder (testdata/models/encoder: its vocab beside it, random weights, exported by PyTorch with
# gen_encoder.py) to INT8 ONNX plus the device blob, calibrated on plain text, and validated
# against the outputs PyTorch saved for 16 held-out sentences. npuconv prints a summary (sizes
# before/after, precision per layer kind, blob placement, validation figures); the full report is
# OUTDIR/report.json. Run it twice: the second run finds OUTDIR up to date and does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
ENC=testdata/models/encoder
OUT=${1:-build/demo/encoder}
./build/cli/npuconv inspect "$ENC/encoder.onnx"
echo
./build/cli/npuconv convert "$ENC/encoder.onnx" -o "$OUT" --precision int8 \
  --dim batch=1 --dim sequence=32 \
  --calib-text testdata/text/calib_sentences.txt --seq-len 32 \
  --validate-inputs "$ENC/validate/inputs.npz" --reference-outputs "$ENC/validate/reference.npz" \
  --min-cosine 0.99 --fallback fp16
echo "wrote $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
