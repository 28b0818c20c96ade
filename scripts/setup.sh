#!/usr/bin/env bash
# Installs every Debian package the build and the tests need (idempotent; as root or with
# sudo on Debian 12), then configures and builds npuconv in Release into build/.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  ccache  # rebuilds (CI's three builds on a machine that keeps ~/.cache/ccache) reuse objects
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libeigen3-dev libcli11-dev libfmt-dev nlohmann-json3-dev libhdf5-dev
  chromium  # tests open the HTML report in a real browser, headless (tests/cli/report_html_test.cc)
  libgtest-dev googletest llvm-14-tools
  libpng-dev libjpeg62-turbo-dev zlib1g-dev libutf8proc-dev libxxhash-dev
  libssl-dev  # SHA-256 of the source model in the blob's provenance (formats/support/sha256.cc)
  clang-14 libclang-rt-14-dev  # the libFuzzer targets (tests/fuzz/run_fuzzers.sh)
  node-ajv  # tests check every report against docs/report.schema.json
  python3-torch  # tests/oracle/qwen2_oracle_test.cc generates its Qwen2-style decoder at test time
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs ONNX Runtime (npm onnxruntime-node), the tests' numeric oracle.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_EXTRA_ARGS:-}
cmake --build "$BUILD_DIR" ${BUILD_TARGETS:+--target $BUILD_TARGETS}
