#!/usr/bin/env bash
# A Qwen2-style decoder past 2 GiB (issue 13 section 4): testdata/models/qwen2/gen_qwen2.py
# --config big (Qwen2-0.5B's shapes, 24 layers, untied head: 2.35 GiB of float32 weights in
# external data) through `optimize --pipeline O2` and `convert --precision fp16 | int8-weights
# | int8-dynamic`. For each step: wall time and peak RSS (/usr/bin/time -v) against the model's
# size on disk (goal: peak RSS <= 1.3x); then each output is run by ONNX Runtime
# (tests/oracle/ort_run.js) and checked by `npuconv validate` (npuconv's executor on the same
# input against ORT's logits on the same model), and against ORT on the float model.
#
#   bench/qwen2_bench.sh [BUILD_DIR=build]
#   QWEN_DIR=/some/dir bench/qwen2_bench.sh      # keep the model there (generated when absent)
#   STEPS="fp16" bench/qwen2_bench.sh            # some steps only (o2 fp16 int8-weights int8-dynamic)
#   NO_ORT=1 ...                                 # skip the ONNX Runtime checks
#
# Without QWEN_DIR the model is generated into a temporary folder that is removed at the end
# (5 GB of disk at the peak: the model and one converted output at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
NPU=$PWD/$BUILD/cli/npuconv
STEPS=${STEPS:-o2 fp16 int8-weights int8-dynamic}
[ -x "$NPU" ] || { echo "qwen2_bench: $NPU not built" >&2; exit 2; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "qwen2_bench: needs python3-torch" >&2; exit 2; }

if [ -n "${QWEN_DIR:-}" ]; then
  WORK=$QWEN_DIR
  KEEP=1
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/qwen2-bench.XXXXXX")
  KEEP=0
fi
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT
MODEL=$WORK/model/qwen2_big.onnx
if [ ! -f "$MODEL" ]; then
  /usr/bin/time -f "%e %M" -o "$WORK/gen.time" /usr/bin/python3 testdata/models/qwen2/gen_qwen2.py \
    --config big -o "$MODEL" --save-inputs "$WORK/inputs"
  echo "generated in $(cut -d' ' -f1 "$WORK/gen.time") s (python peak RSS $(($(cut -d' ' -f2 "$WORK/gen.time") / 1024)) MiB)"
fi
SIZE=$(du -sb "$WORK/model" | cut -f1)
echo "model: $MODEL, $(ls "$WORK/model" | wc -l) files, $SIZE bytes ($(echo "scale=2; $SIZE / 1073741824" | bc) GiB) on disk"
sync
INPUTS=(--inputs "input_ids=$WORK/inputs/input_ids.npy" "position_ids=$WORK/inputs/position_ids.npy")

# ORT's logits as logits.npy (for `npuconv validate --reference-outputs`).
cat >"$WORK/raw2npy.js" <<'EOF'
const fs = require('fs'), path = require('path');
const dir = process.argv[2];
const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
for (const o of m.outputs) {
  let data = fs.readFileSync(path.join(dir, o.file));
  if (o.dtype === 'float16') {  // as float32: validate reads reference outputs in float32
    const f = new Float32Array(data.length / 2);
    for (let i = 0; i < f.length; i++) {
      const h = data.readUInt16LE(2 * i), e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
      f[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    }
    data = Buffer.from(f.buffer);
  } else if (o.dtype !== 'float32') {
    throw new Error(`${o.name}: ${o.dtype}`);
  }
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${o.dims.join(', ')}${o.dims.length === 1 ? ',' : ''}), }`;
  while ((10 + h.length + 1) % 64) h += ' ';
  h += '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(h.length, 8);
  fs.writeFileSync(path.join(dir, o.name + '.npy'), Buffer.concat([head, Buffer.from(h, 'latin1'), data]));
}
EOF
ort() {  # ort MODEL OUTDIR: ORT's outputs as .npy; prints ORT's peak RSS and time
  /usr/bin/time -f "%e %M" -o "$2.time" node tests/oracle/ort_run.js --model "$1" --inputs "$WORK/inputs/inputs.json" \
    --outdir "$2" --threads 2 >/dev/null
  node "$WORK/raw2npy.js" "$2"
  echo "ORT $(cut -d' ' -f1 "$2.time") s, peak RSS $(($(cut -d' ' -f2 "$2.time") / 1024)) MiB"
}
check() {  # check MODEL REFDIR: npuconv's executor on MODEL against the reference logits
  "$NPU" validate "$1" --reference-outputs "$2" "${INPUTS[@]}" --threads 2 --json >"$WORK/validate.json" || true
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const find = (o) => { if (o && typeof o === "object") { if ("cosine" in o && "max_rel" in o) return o;
      for (const v of Object.values(o)) { const f = find(v); if (f) return f; } } return null; };
    const o = find(r);
    console.log(o ? `cosine ${o.cosine.toFixed(6)}, SQNR ${Number(o.sqnr_db).toFixed(1)} dB, max|diff|/max|ref| ${Number(o.max_rel).toExponential(2)}` : JSON.stringify(r).slice(0, 400));
  ' "$WORK/validate.json"
}

if [ "${NO_ORT:-0}" != 1 ]; then
  echo "== float model"
  echo "  $(ort "$MODEL" "$WORK/ort_float")"
  echo "  npuconv run vs ORT: $(check "$MODEL" "$WORK/ort_float")"
fi

for step in $STEPS; do
  out=$WORK/out_$step
  rm -rf "$out"
  mkdir -p "$out"
  case $step in
    o2) cmd=("$NPU" optimize "$MODEL" -o "$out/model.onnx" --pipeline O2) ;;
    fp16|int8-weights|int8-dynamic) cmd=("$NPU" convert "$MODEL" -o "$out" --precision "$step") ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
  sync
  /usr/bin/time -v -o "$WORK/time_$step" "${cmd[@]}" >"$WORK/log_$step" 2>&1 || { cat "$WORK/log_$step"; exit 1; }
  rss=$(grep "Maximum resident set size" "$WORK/time_$step" | grep -o '[0-9]*$')
  wall=$(grep "Elapsed (wall clock)" "$WORK/time_$step" | grep -o '[0-9:.]*$')
  osize=$(du -sb "$out" | cut -f1)
  echo "== $step: ${cmd[*]#$PWD/}"
  echo "  wall $wall, peak RSS $((rss / 1024)) MiB = $(echo "scale=3; $rss * 1024 / $SIZE" | bc)x the model size; output $((osize / 1048576)) MiB ($(ls "$out" | tr '\n' ' '))"
  if [ "${NO_ORT:-0}" != 1 ]; then
    echo "  $(ort "$out/model.onnx" "$WORK/ort_$step")"
    echo "  npuconv vs ORT on this model: $(check "$out/model.onnx" "$WORK/ort_$step")"
    echo "  vs ORT on the float model: $(check "$out/model.onnx" "$WORK/ort_float")"
  fi
  rm -rf "$out" "$WORK/ort_$step"
done
