#!/usr/bin/env bash
# The cost of the source model's SHA-256 (blob PROV source_model_sha256, report input.sha256):
# `npuconv convert --precision fp32` of a MatMul whose 1 GiB weight lives in an external data
# file, two builds side by side in one run (BASE without the digest, NEW with it), alternating.
# Prints wall time, peak RSS and the report's import_and_passes step (where the model is hashed).
#   bench/sha256_bench.sh BASE_NPUCONV NEW_NPUCONV [WORK_DIR=/tmp/npuconv-sha-bench] [ROUNDS=4]
set -euo pipefail
BASE=$1 NEW=$2
WORK=${3:-/tmp/npuconv-sha-bench}
ROUNDS=${4:-4}
mkdir -p "$WORK"
cd "$WORK"
if [ ! -f big.onnx ]; then
  # Hand-written protobuf (Debian's python3 has no onnx module by default): MatMul(x[1,N], W[N,N]),
  # W in big.weights, all 0.001f.
  python3 - 16384 <<'PY'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, wt, payload):
    key = varint((num << 3) | wt)
    return key + (varint(payload) if wt == 0 else varint(len(payload)) + payload)
def s(num, text): return field(num, 2, text.encode() if isinstance(text, str) else text)
N = int(sys.argv[1])
def vinfo(name, dims):
    shape = b"".join(s(1, field(1, 0, d)) for d in dims)
    return s(1, name) + s(2, s(1, field(1, 0, 1) + s(2, shape)))
w = field(1, 0, N) + field(1, 0, N) + field(2, 0, 1) + s(8, "W") + s(13, s(1, "location") + s(2, "big.weights")) + field(14, 0, 1)
node = s(1, "x") + s(1, "W") + s(2, "y") + s(3, "mm") + s(4, "MatMul")
graph = s(1, node) + s(2, "g") + s(5, w) + s(11, vinfo("x", [1, N])) + s(12, vinfo("y", [1, N]))
open("big.onnx", "wb").write(field(1, 0, 8) + s(8, s(1, "") + field(2, 0, 13)) + s(7, graph))
with open("big.weights", "wb") as f:
    row = struct.pack("<f", 0.001) * N
    for _ in range(N): f.write(row)
PY
fi
for round in $(seq "$ROUNDS"); do
  for name in base new; do
    bin=$BASE; [ $name = new ] && bin=$NEW
    rm -rf "out_$name"
    /usr/bin/time -f "%e %M" -o time.txt "$bin" convert big.onnx --precision fp32 -o "out_$name" -q
    read -r wall rss < time.txt
    step=$(python3 -c "import json; print(json.load(open('out_$name/report.json'))['timings']['import_and_passes'])")
    echo "round $round $name: wall $wall s, peak RSS $((rss / 1024)) MiB, import_and_passes $step ms"
  done
done
python3 -c "import json; print('new report input:', json.load(open('out_new/report.json'))['input'])"
sha256sum big.onnx big.weights
