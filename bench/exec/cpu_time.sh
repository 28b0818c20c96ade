#!/usr/bin/env bash
# cpu_time.sh - CPU time per run of two npuconv binaries and of ONNX Runtime on the suite's cases,
# 1 thread: on a shared machine whose load moves wall-clock medians by 2x, the CPU time a
# single-threaded run consumes moves far less (time on other processes' behalf is not counted;
# shared caches and memory bandwidth still are). Per side: `perf stat -e task-clock` of REPEAT_HI
# and of REPEAT_LO runs of the same process; their difference over REPEAT_HI - REPEAT_LO is the
# CPU time of one run (start-up, model load and warm-up cancel). Sides alternate, ROUNDS times;
# the row gives the minimum over rounds.
#
#   bench/exec/cpu_time.sh A_NPUCONV B_NPUCONV CASE... (cases as in bench/exec_bench.sh; GEN_DIR as there)
#   env: ROUNDS (3), REPEAT_LO (5), REPEAT_HI (at least 45, and enough runs for ~0.6 s of work),
#        BUILD (build: for exec_bench), ORT (1; 0 skips ORT)
# npuconv runs the O2 model B's `optimize` makes (as bench/exec/ab.sh), ORT (bench/ort_bench.js,
# optimization all) the original. Needs perf.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
a="$1" b="$2"
shift 2
ROUNDS="${ROUNDS:-3}" LO="${REPEAT_LO:-5}" HI="${REPEAT_HI:-45}" ORT="${ORT:-1}"
build="${BUILD:-$root/build}"
work="$(mktemp -d "${TMPDIR:-/tmp}/npuconv-cpu.XXXXXX")"
trap 'rm -rf "$work"' EXIT
source "$root/bench/exec/cases.sh"
# CPU milliseconds of one command (perf stat's task-clock).
cpu_ms() { perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }'; }
# CPU milliseconds per run: (HI-run command - LO-run command) / (HI - LO); $1 is the command with
# @R@ where the repeat count goes.
per_run() {
  local lo hi
  lo="$(cpu_ms ${1//@R@/$LO})" hi="$(cpu_ms ${1//@R@/$HI})"
  node -e 'const [l, h, a, b] = process.argv.slice(1).map(Number); console.log(((h - l) / (b - a)).toFixed(3))' \
    "$lo" "$hi" "$LO" "$HI"
}
echo "| case | A CPU ms/run | B CPU ms/run | B speed-up | ORT CPU ms/run | B/ORT throughput |"
echo "| --- | --- | --- | --- | --- | --- |"
for c in "$@"; do
  IFS='|' read -r src inputs <<<"${spec[$c]:-}"
  [[ -n "$src" ]] || { echo "| $c | unknown case | | | | |"; continue; }
  d="$work/$c"
  mkdir -p "$d"
  flag=--zoo
  [[ "$src" == */* ]] && flag=--model
  # shellcheck disable=SC2086
  "$build/bench/exec_bench" $flag "$src" $inputs --dump "$d" --dump-only >/dev/null || continue
  "$b" optimize "$(cat "$d/model_path.txt")" -o "$d/opt.onnx" --pipeline O2 >/dev/null 2>&1 || { echo "| $c | optimize failed | | | | |"; continue; }
  args=""
  for s in $inputs; do [[ "$s" == --input ]] || args+=" --input ${s%%=*}=$d/${s%%=*}.npy"; done
  run_args="run $d/opt.onnx$args --threads 1 --warmup 2 --repeat @R@"
  # Enough runs between the two counts that ~0.6 s of work separates them: a small model's 40
  # runs are within the start-up's own variation.
  wall="$($b ${run_args//@R@/5} --json 2>/dev/null | node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0, "utf8")).min_ms))')"
  HI="$(node -e 'const [lo, hi, w] = process.argv.slice(1).map(Number); console.log(Math.max(hi, lo + Math.min(1000, Math.ceil(600 / w))))' "$LO" "${REPEAT_HI:-45}" "$wall")"
  ort_cmd=(node "$root/bench/ort_bench.js" --model "$(cat "$d/model_path.txt")" --inputs "$d/inputs.json" --threads 1
    --warmup 2 --repeat "$HI" --opt all)
  am="" bm="" om=""
  for ((r = 0; r < ROUNDS; ++r)); do
    am+=" $(per_run "$a $run_args")"
    bm+=" $(per_run "$b $run_args")"
    [[ "$ORT" == 1 ]] && om+=" $("${ort_cmd[@]}" 2>/dev/null | node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0, "utf8")).cpu_ms))')"
  done
  node -e '
    const min = (s) => { const v = s.trim().split(/\s+/).filter(Boolean).map(Number); return v.length ? Math.min(...v) : NaN; };
    const [c, as, bs, os] = process.argv.slice(1);
    const A = min(as), B = min(bs), O = min(os || "");
    const o = isNaN(O) ? "| |" : `| ${O.toFixed(2)} | ${(O / B).toFixed(3)} |`;
    console.log(`| ${c} | ${A.toFixed(2)} | ${B.toFixed(2)} | ${(A / B).toFixed(2)}x ${o}`);
  ' "$c" "$am" "$bm" "$om"
done
