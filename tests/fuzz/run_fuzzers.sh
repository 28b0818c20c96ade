#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, NPUCONV_FUZZ=ON) in $BUILD_DIR (default
# build-fuzz/) and runs each for SECONDS seconds (default 20) on its committed seed corpus,
# tests/fuzz/corpus/<target>/. New inputs go to $BUILD_DIR/corpus/<target>/, never into the
# repository; a crash, hang (-timeout) or excessive allocation (-rss_limit_mb) stops that target,
# is saved as $BUILD_DIR/artifacts/<target>-crash-<sha1> and fails the script.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]     e.g. run_fuzzers.sh 600 fuzz_onnx
#
# JOBS (default 2) targets run at a time. FUZZ_BUILD_ONLY=1 builds and exits.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-20}
shift || true
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
ALL_TARGETS=(fuzz_onnx fuzz_raw_data_cut fuzz_npy fuzz_npz fuzz_hdf5 fuzz_tokenizer fuzz_vocab fuzz_tokenizer_json
             fuzz_target_json fuzz_calib_json fuzz_blob)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

# A build directory already configured for fuzzing (CI's sanitizer build, which also holds the
# unit tests) is used as it is; otherwise a fuzz-only build is configured.
if ! grep -q '^NPUCONV_FUZZ:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  CC=${FUZZ_CC:-clang-14} CXX=${FUZZ_CXX:-clang++-14} cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Debug -DNPUCONV_FUZZ=ON -DNPUCONV_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" --target "${TARGETS[@]}" -j "$JOBS"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

mkdir -p "$BUILD_DIR/artifacts" "$BUILD_DIR/logs"
run_one() {
  local t=$1 seeds="tests/fuzz/corpus/$1" work="$BUILD_DIR/corpus/$1"
  mkdir -p "$work" "$seeds"
  local dict=() extra=() asan=""
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # tests/fuzz/<target>.options: "asan: KEY=V:KEY=V" (appended to ASAN_OPTIONS) and
  # "flags: -x=1 -y=2" (after the defaults, so they override them). Why each exists: the file.
  if [ -f "tests/fuzz/$t.options" ]; then
    asan=$(sed -n 's/^asan: *//p' "tests/fuzz/$t.options")
    read -r -a extra <<<"$(sed -n 's/^flags: *//p' "tests/fuzz/$t.options")"
  fi
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0${asan:+:$asan} UBSAN_OPTIONS=print_stacktrace=1 \
      LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
      "$BUILD_DIR/tests/fuzz/$t" "${dict[@]}" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 "${extra[@]}" \
      -artifact_prefix="$BUILD_DIR/artifacts/$t-" "$work" "$seeds" >"$BUILD_DIR/logs/$t.log" 2>&1; then
    echo "fuzz: $t ok ($(grep -ho 'stat::number_of_executed_units: *[0-9]*' "$BUILD_DIR/logs/$t.log" | grep -o '[0-9]*$') runs in ${SECONDS_PER_TARGET}s)"
  else
    echo "fuzz: $t FAILED; the log ends:"
    tail -40 "$BUILD_DIR/logs/$t.log"
    return 1
  fi
}
status=0
pids=()
for t in "${TARGETS[@]}"; do
  run_one "$t" & pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status = 0 ] && echo "fuzz: every target ran ${SECONDS_PER_TARGET}s without a finding"
exit $status
