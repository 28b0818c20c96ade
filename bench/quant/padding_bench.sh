#!/usr/bin/env bash
# padding_bench.sh - do padded positions belong in text calibration statistics? (issue 9 section 2)
#
# One MiniLM-like encoder (the zoo's minilm_l6_opset17, dynamic batch and sequence dims), the same
# 100 calibration sentences and the same 40 held-out sentences, evaluated in ONNX Runtime padded to
# SEQ (pooled over the attention mask, as sentence embedders do). Three int8 conversions differ
# only in what the calibration statistics see:
#   true-length  convert --calib-text ... (dynamic sequence dim: each sample at its own length,
#                so no [PAD] position is observed; npuconv's default on dynamic models)
#   padded       the same with --pad-to-seq-len (every sample padded to SEQ with [PAD], mask 0)
#   frozen       --input-shape ...=1xSEQ: a static model, padded by necessity
# Each at every METHODS entry. Markdown on stdout.
#
#   bench/quant/padding_bench.sh            # SEQ=128 METHODS="percentile:99.99 mse"
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
NPUCONV="${NPUCONV:-$root/build/cli/npuconv}"
OUT="${OUT:-$root/bench/out/padding}"
SEQ="${SEQ:-128}"
METHODS="${METHODS:-percentile:99.99 mse}"
TEXT_DIR="${TEXT_DIR:-$root/testdata/text}"
Q="$root/bench/quant"
PY=/usr/bin/python3
mkdir -p "$OUT"
cache="${NPUCONV_ZOO_CACHE:-${TMPDIR:-/tmp}/npuconv-zoo}"
model="$(ls -t "$cache"/minilm_l6_opset17-*/minilm_l6_opset17.onnx 2>/dev/null | head -1)"
if [[ -z "$model" ]]; then
  "$root/build/tests/npuconv_tests" --gtest_filter='ZooMaterializer*' >/dev/null 2>&1 || true
  model="$(ls -t "$cache"/minilm_l6_opset17-*/minilm_l6_opset17.onnx 2>/dev/null | head -1)"
fi
[[ -n "$model" ]] || { echo "padding_bench: minilm_l6_opset17 not materialized (build npuconv_tests)" >&2; exit 2; }
vocab="$TEXT_DIR/minilm_vocab.txt"
calib="$OUT/calib100.txt"
grep -v '^[[:space:]]*$' "$TEXT_DIR/calib_sentences.txt" | head -100 > "$calib"
grep -v '^[[:space:]]*$' "$TEXT_DIR/calib_sentences.txt" | tail -n +101 > "$OUT/eval.txt"
$PY "$Q/bert_tokenize.py" --vocab "$vocab" --text "$OUT/eval.txt" --seq-len "$SEQ" --out "$OUT/eval$SEQ" >&2 || exit 1
shapes=()
for i in input_ids attention_mask token_type_ids; do shapes+=(--input-shape "$i=1x$SEQ"); done
echo "| calibration | method | pooled cosine mean | min | last_hidden_state SQNR dB (ORT opt disabled) |"
echo "| --- | --- | --- | --- | --- |"
for method in $METHODS; do
  m="${method%%:*}"; pct=(); [[ "$method" == *:* ]] && pct=(--percentile "${method#*:}")
  for kind in true-length padded frozen; do
    extra=(); [[ $kind == padded ]] && extra=(--pad-to-seq-len); [[ $kind == frozen ]] && extra=("${shapes[@]}")
    dir="$OUT/${kind}_${m}${method#$m}"
    "$NPUCONV" convert "$model" -o "$dir" --precision int8 --calib-text "$calib" --tokenizer "$vocab" --seq-len "$SEQ" \
      --calib-method "$m" "${pct[@]}" "${extra[@]}" --layer-error-samples 0 >"$dir.log" 2>&1 ||
      { echo "| $kind | $method | convert failed: $(tail -1 "$dir.log") | | |"; continue; }
    node "$Q/eval.js" --float "$model" --quant "$dir/model.onnx" --task embed --opt disabled \
      --input "input_ids=$OUT/eval$SEQ/input_ids.npy" --input "attention_mask=$OUT/eval$SEQ/attention_mask.npy" \
      --input "token_type_ids=$OUT/eval$SEQ/token_type_ids.npy" --json "$dir.json" >/dev/null 2>&1 ||
      { echo "| $kind | $method | eval failed | | |"; continue; }
    node -e 'const r=require(process.argv[1]).levels.disabled; const o=Object.values(r.outputs)[0];
      console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${r.task.pooled_cosine_mean.toFixed(5)} | ${r.task.pooled_cosine_min.toFixed(5)} | ${o.sqnr_db_mean.toFixed(1)} |`)' \
      "$dir.json" "$kind" "$method"
  done
done
