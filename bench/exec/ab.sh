#!/usr/bin/env bash
# ab.sh - before/after timing of two npuconv binaries on the suite's cases, side by side: both
# run `npuconv run --repeat` on the same O2 model and inputs, alternating ROUNDS times, so a drift
# in the shared machine's speed hits both alike. Prints one row per case: median of the per-round
# medians for A and B and B's speed-up.
#
#   bench/exec/ab.sh A_NPUCONV B_NPUCONV CASE... (cases as in bench/exec_bench.sh; GEN_DIR as there)
#   env: THREADS (2), REPEAT (10), WARMUP (2), ROUNDS (3), BUILD (build: for exec_bench)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
a="$1" b="$2"
shift 2
THREADS="${THREADS:-2}" REPEAT="${REPEAT:-10}" WARMUP="${WARMUP:-2}" ROUNDS="${ROUNDS:-3}"
build="${BUILD:-$root/build}"
work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-ab.XXXXXX")"
trap 'rm -rf "$work"' EXIT
source "$root/bench/exec/cases.sh"
echo "| case | A ms | B ms | B speed-up |"
echo "| --- | --- | --- | --- |"
for c in "$@"; do
  IFS='|' read -r src inputs <<<"${spec[$c]:-}"
  [[ -n "$src" ]] || { echo "| $c | unknown case | | |"; continue; }
  d="$work/$c"
  mkdir -p "$d"
  flag=--zoo
  [[ "$src" == */* ]] && flag=--model
  # shellcheck disable=SC2086
  "$build/bench/exec_bench" $flag "$src" $inputs --dump "$d" --dump-only || continue
  "$b" optimize "$(cat "$d/model_path.txt")" -o "$d/opt.onnx" --pipeline O2 >/dev/null 2>&1 || { echo "| $c | optimize failed | | |"; continue; }
  args=()
  for s in $inputs; do [[ "$s" == --input ]] || args+=(--input "${s%%=*}=$d/${s%%=*}.npy"); done
  am="" bm=""
  for ((r = 0; r < ROUNDS; ++r)); do
    am+=" $("$a" run "$d/opt.onnx" "${args[@]}" --threads "$THREADS" --warmup "$WARMUP" --repeat "$REPEAT" --json 2>/dev/null | node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0,"utf8")).median_ms))')"
    bm+=" $("$b" run "$d/opt.onnx" "${args[@]}" --threads "$THREADS" --warmup "$WARMUP" --repeat "$REPEAT" --json 2>/dev/null | node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0,"utf8")).median_ms))')"
  done
  node -e '
    const med = (s) => { const a = s.trim().split(/\s+/).map(Number).sort((x, y) => x - y); const n = a.length;
      return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
    const [c, am, bm] = process.argv.slice(1);
    const A = med(am), B = med(bm);
    console.log(`| ${c} | ${A.toFixed(2)} | ${B.toFixed(2)} | ${(A / B).toFixed(2)}x |`);
  ' "$c" "$am" "$bm"
done
