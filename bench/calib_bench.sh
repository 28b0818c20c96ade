#!/usr/bin/env bash
# calib_bench.sh - issue 9 section 7: calibrating the MiniLM-like encoder (zoo minilm_l6_opset17
# after `npuconv optimize --pipeline O2`, 1x256) over 100 samples against ONNX Runtime's float32
# inference of 100 samples (original model, graph optimization "all"), side by side in one run.
#
#   ninja -C build exec_bench npuconv && scripts/install_ort.sh
#   ROUNDS=3 THREADS=2 SAMPLES=100 bench/calib_bench.sh build
#
# Per round, in turn (a drift in the machine's speed hits every side alike):
#   ort        node bench/ort_bench.js --repeat SAMPLES: mean ms per run x SAMPLES (session
#              creation and warm-up excluded: ORT's best case);
#   run        npuconv run --repeat SAMPLES on the O2 model: mean ms per run x SAMPLES (same);
#   calibrate  wall time of the whole `npuconv calibrate` process over a .npz of SAMPLES distinct
#              samples (model load, data reading, statistics, JSON output included; every float
#              tensor observed), and, with CALIB_TENSORS=1, the same with --tensors limited to
#              the values `convert --precision int8` calibrates (the QDQ boundaries).
# Options (environment): ROUNDS, THREADS, SAMPLES, SEQ, WARMUP, CALIB_TENSORS, CALIB_NPUCONV.
# Prints one table row per side: the median over rounds of the total seconds and the ratio to ORT.
# Inputs are the same for run and ORT (exec_bench's seeded 1x256 sample); cost does not depend on
# the token values (dense model), so the 100 calibration samples are drawn separately (random ids
# below the zoo vocabulary of 1000, lengths 128..256 with the rest padded).
set -euo pipefail

build="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
SAMPLES="${SAMPLES:-100}"
SEQ="${SEQ:-256}"
WARMUP="${WARMUP:-3}"
CALIB_TENSORS="${CALIB_TENSORS:-0}"
bin="$build/bench/exec_bench"
npuconv="$build/cli/npuconv"
# The binary the calibrate rows time (default: the build's), e.g. a build with another
# calibration engine for an A/B comparison.
calib_npuconv="${CALIB_NPUCONV:-$npuconv}"
for f in "$bin" "$npuconv" "$calib_npuconv"; do
  [[ -x "$f" ]] || { echo "calib_bench: $f not built (ninja -C $build exec_bench npuconv)" >&2; exit 2; }
done
work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-calibbench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

inputs="--input input_ids=1x$SEQ --input attention_mask=1x$SEQ --input token_type_ids=1x$SEQ"
# shellcheck disable=SC2086
"$bin" --zoo minilm_l6_opset17 $inputs --dump "$work" --dump-only 2>"$work/dump.err" ||
  { echo "calib_bench: exec_bench --dump failed: $(head -c 300 "$work/dump.err")" >&2; exit 1; }
orig="$(cat "$work/model_path.txt")"
"$npuconv" optimize "$orig" -o "$work/opt.onnx" --pipeline O2 >"$work/opt.log" 2>&1

# SAMPLES distinct samples as one .npz (stack on axis 0), written with Python's standard library.
python3 - "$work/calib.npz" "$SAMPLES" "$SEQ" <<'EOF'
import random, struct, sys, zipfile
def npy(shape, vals):
    hdr = "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + struct.pack("<%dq" % len(vals), *vals)
out, n, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
ids, mask = [], []
for _ in range(n):
    length = rng.randint(seq // 2, seq)
    ids += [101] + [rng.randrange(103, 1000) for _ in range(length - 2)] + [102] + [0] * (seq - length)
    mask += [1] * length + [0] * (seq - length)
with zipfile.ZipFile(out, "w") as z:
    z.writestr("input_ids.npy", npy((n, 1, seq), ids))
    z.writestr("attention_mask.npy", npy((n, 1, seq), mask))
    z.writestr("token_type_ids.npy", npy((n, 1, seq), [0] * (n * seq)))
EOF

field() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$1" "$2"; }
now() { date +%s.%N; }
elapsed() { node -e 'console.log((Number(process.argv[2]) - Number(process.argv[1])).toFixed(3))' "$1" "$2"; }

# The values `convert --precision int8` would calibrate, for the CALIB_TENSORS=1 row.
tensors=""
if [[ "$CALIB_TENSORS" == 1 ]]; then
  # convert's calibration cache records the values it observed ("observed": [names]).
  "$npuconv" convert "$work/opt.onnx" -o "$work/q" --precision int8 --calib "$work/calib.npz" --calib-samples 2 \
    --calib-cache "$work/cache.json" --threads "$THREADS" >"$work/convert.log" 2>&1 || true
  tensors="$(node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const find = (o) => { if (!o || typeof o !== "object") return null;
      if (Array.isArray(o.observed)) return o.observed;
      for (const v of Object.values(o)) { const r = find(v); if (r) return r; } return null; };
    console.log((find(j) || []).join(","));' "$work/cache.json" 2>/dev/null || true)"
  [[ -n "$tensors" ]] || echo "calib_bench: no observed list in convert's calibration cache: $(tail -c 300 "$work/convert.log")" >&2
fi

ort=() run=() cal=() sel=()
for ((r = 0; r < ROUNDS; ++r)); do
  j="$(node "$root/bench/ort_bench.js" --model "$orig" --inputs "$work/inputs.json" --threads "$THREADS" \
    --warmup "$WARMUP" --repeat "$SAMPLES" --opt all)"
  ort+=("$(node -e 'console.log((process.argv[1] * process.argv[2] / 1000).toFixed(3))' "$(field "$j" mean_ms)" "$SAMPLES")")
  j="$("$npuconv" run "$work/opt.onnx" --input "input_ids=$work/input_ids.npy" \
    --input "attention_mask=$work/attention_mask.npy" --input "token_type_ids=$work/token_type_ids.npy" \
    --threads "$THREADS" --warmup "$WARMUP" --repeat "$SAMPLES" --json 2>/dev/null | tail -1)"
  run+=("$(node -e 'console.log((process.argv[1] * process.argv[2] / 1000).toFixed(3))' "$(field "$j" mean_ms)" "$SAMPLES")")
  t0="$(now)"
  "$calib_npuconv" calibrate "$work/opt.onnx" --calib "$work/calib.npz" -o "$work/stats.json" --threads "$THREADS" -q
  cal+=("$(elapsed "$t0" "$(now)")")
  if [[ -n "$tensors" ]]; then
    t0="$(now)"
    "$calib_npuconv" calibrate "$work/opt.onnx" --calib "$work/calib.npz" -o "$work/stats_sel.json" --threads "$THREADS" \
      --tensors "$tensors" -q
    sel+=("$(elapsed "$t0" "$(now)")")
  fi
done

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$root" rev-parse --short HEAD) threads=$THREADS samples=$SAMPLES seq=$SEQ rounds=$ROUNDS load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| side | total s per round | median s | vs ORT (median of per-round ratios) |"
echo "| --- | --- | --- | --- |"
node -e '
  const [ort, run, cal, sel, n] = process.argv.slice(1);
  const nums = (s) => s.trim() ? s.trim().split(/\s+/).map(Number) : [];
  const med = (a) => { const s = [...a].sort((x, y) => x - y); const k = s.length;
    return k % 2 ? s[(k - 1) / 2] : (s[k / 2 - 1] + s[k / 2]) / 2; };
  const o = nums(ort);
  const row = (name, v) => { if (!v.length) return;
    console.log(`| ${name} | ${v.join(" / ")} | ${med(v).toFixed(2)} | ${med(v.map((x, i) => x / o[i])).toFixed(3)} |`); };
  row(`ONNX Runtime float32, ${n} runs (optimization all)`, o);
  row(`npuconv run, ${n} runs (O2 model)`, nums(run));
  row(`npuconv calibrate, ${n} samples, every float tensor (whole process)`, nums(cal));
  row(`npuconv calibrate, ${n} samples, QDQ boundary tensors only (whole process)`, nums(sel));
' "${ort[*]}" "${run[*]}" "${cal[*]}" "${sel[*]:-}" "$SAMPLES"
