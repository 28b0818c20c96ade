#!/usr/bin/env bash
# ONNX round trip (read + write) of a >= 500 MB model against `cp` of the same file.
# Goal (issue 2): wall time within 2x of cp, peak RSS at most 1.5x the model size.
# Also times `--pipeline O2` on the same model (issue 4: within 2x of the `--passes none` round trip).
#   bench/io_bench.sh [BUILD_DIR=build] [WORK_DIR=/tmp/npuconv-io-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
WORK=${2:-/tmp/npuconv-io-bench}
mkdir -p "$WORK"
MODEL=$WORK/big.onnx
[ -f "$MODEL" ] || "$BUILD/bench/make_big_model" "$MODEL" 4096 8
SIZE=$(stat -c %s "$MODEL")
echo "model: $MODEL ($((SIZE / 1048576)) MiB)"
runs=${RUNS:-5}
best_cp=999999; best_np=999999; best_o2=999999; rss=0; rss_o2=0
for i in $(seq "$runs"); do
  rm -f "$WORK/cp.onnx" "$WORK/out.onnx"
  t0=$(date +%s.%N); cp "$MODEL" "$WORK/cp.onnx"; sync "$WORK/cp.onnx"; t1=$(date +%s.%N)
  c=$(echo "$t1 - $t0" | bc)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BUILD/cli/npuconv" optimize "$MODEL" -o "$WORK/out.onnx" --passes none
  t2=$(date +%s.%N)
  n=$(echo "$t2 - $t1" | bc)
  r=$(cat "$WORK/rss")
  (( $(echo "$c < $best_cp" | bc) )) && best_cp=$c
  (( $(echo "$n < $best_np" | bc) )) && best_np=$n
  (( r > rss )) && rss=$r
  rm -f "$WORK/out.onnx"
  t3=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BUILD/cli/npuconv" optimize "$MODEL" -o "$WORK/out_o2.onnx" --pipeline O2
  t4=$(date +%s.%N)
  o=$(echo "$t4 - $t3" | bc)
  r2=$(cat "$WORK/rss")
  (( $(echo "$o < $best_o2" | bc) )) && best_o2=$o
  (( r2 > rss_o2 )) && rss_o2=$r2
  rm -f "$WORK/out_o2.onnx"
  "$BUILD/cli/npuconv" optimize "$MODEL" -o "$WORK/out.onnx" --passes none
  echo "run $i: cp ${c}s  npuconv ${n}s  peak RSS $((r / 1024)) MiB  O2 ${o}s  peak RSS $((r2 / 1024)) MiB"
done
cmp -s <("$BUILD/cli/npuconv" inspect --json "$MODEL" | grep -v '"model"\|file_bytes') \
       <("$BUILD/cli/npuconv" inspect --json "$WORK/out.onnx" | grep -v '"model"\|file_bytes') && echo "summary identical"
echo "best: cp ${best_cp}s  npuconv ${best_np}s  ratio $(echo "scale=2; $best_np / $best_cp" | bc)x"
echo "peak RSS: $((rss / 1024)) MiB = $(echo "scale=2; $rss * 1024 / $SIZE" | bc)x the model size"
echo "O2: best ${best_o2}s = $(echo "scale=2; $best_o2 / $best_np" | bc)x the --passes none round trip; peak RSS $((rss_o2 / 1024)) MiB"
