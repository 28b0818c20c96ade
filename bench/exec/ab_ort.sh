#!/usr/bin/env bash
# ab_ort.sh - bench/exec/ab.sh with ONNX Runtime as a third side: per round, A's, B's and ORT's
# wall-clock median over REPEAT runs, one after the other, ROUNDS times (a drift in the shared
# machine's speed hits all three alike). Prints one row per case: the median of the per-round
# medians of each side, B's speed-up over A and each binary's throughput against ORT.
#
#   bench/exec/ab_ort.sh A_NPUCONV B_NPUCONV CASE... (cases as in bench/exec_bench.sh; GEN_DIR as there)
#   env: THREADS (2), REPEAT (20), WARMUP (3), ROUNDS (5), BUILD (build: for exec_bench)
# npuconv runs the O2 model B's `optimize` makes, ORT (bench/ort_bench.js, optimization all) the
# original, as bench/exec/cpu_time.sh.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
a="$1" b="$2"
shift 2
THREADS="${THREADS:-2}" REPEAT="${REPEAT:-20}" WARMUP="${WARMUP:-3}" ROUNDS="${ROUNDS:-5}"
build="${BUILD:-$root/build}"
work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-abo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
source "$root/bench/exec/cases.sh"
median_of() { node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0, "utf8")).median_ms))'; }
echo "| case | threads | A ms | B ms | B speed-up | ORT ms | A/ORT throughput | B/ORT throughput |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for c in "$@"; do
  IFS='|' read -r src inputs <<<"${spec[$c]:-}"
  [[ -n "$src" ]] || { echo "| $c | unknown case | | | | | | |"; continue; }
  d="$work/$c"
  mkdir -p "$d"
  flag=--zoo
  [[ "$src" == */* ]] && flag=--model
  # shellcheck disable=SC2086
  "$build/bench/exec_bench" $flag "$src" $inputs --dump "$d" --dump-only >/dev/null || continue
  "$b" optimize "$(cat "$d/model_path.txt")" -o "$d/opt.onnx" --pipeline O2 >/dev/null 2>&1 || { echo "| $c | optimize failed | | | | | | |"; continue; }
  args=()
  for s in $inputs; do [[ "$s" == --input ]] || args+=(--input "${s%%=*}=$d/${s%%=*}.npy"); done
  am="" bm="" om=""
  for ((r = 0; r < ROUNDS; ++r)); do
    am+=" $("$a" run "$d/opt.onnx" "${args[@]}" --threads "$THREADS" --warmup "$WARMUP" --repeat "$REPEAT" --json 2>/dev/null | median_of)"
    bm+=" $("$b" run "$d/opt.onnx" "${args[@]}" --threads "$THREADS" --warmup "$WARMUP" --repeat "$REPEAT" --json 2>/dev/null | median_of)"
    om+=" $(node "$root/bench/ort_bench.js" --model "$(cat "$d/model_path.txt")" --inputs "$d/inputs.json" --threads "$THREADS" \
      --warmup "$WARMUP" --repeat "$REPEAT" --opt all 2>/dev/null | median_of)"
  done
  node -e '
    const med = (s) => { const a = s.trim().split(/\s+/).filter(Boolean).map(Number).sort((x, y) => x - y); const n = a.length;
      return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
    const [c, t, am, bm, om] = process.argv.slice(1);
    const A = med(am), B = med(bm), O = med(om);
    console.log(`| ${c} | ${t} | ${A.toFixed(2)} | ${B.toFixed(2)} | ${(A / B).toFixed(2)}x | ${O.toFixed(2)} | ${(O / A).toFixed(3)} | ${(O / B).toFixed(3)} |`);
  ' "$c" "$THREADS" "$am" "$bm" "$om"
done
