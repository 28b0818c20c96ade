#!/usr/bin/python3
"""qdq_weights_ref.py - a minimal reference weight-only quantizer: every Conv / Gemm / MatMul
weight (an initializer or a Constant node, as PaddleOCR exports hold them) becomes int8 symmetric
per output channel ([-127, 127], zero point 0) behind a DequantizeLinear; activations stay float.
It is the textbook round-to-nearest baseline, and gives the bench a real QDQ model to exercise
eval.js and quant_bench.sh before npuconv's quantizers land; it is not part of npuconv.

    /usr/bin/python3 bench/quant/qdq_weights_ref.py IN.onnx OUT.onnx [--per-tensor]

Per-channel DequantizeLinear needs opset >= 13; below that the weights go per tensor.
External data of IN is loaded and written inline.
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def weight_axis(node, idx):
    """Output-channel axis of input `idx` of `node` if it is a weight, else None."""
    if node.op_type == "Conv" and idx == 1:
        return 0
    if node.op_type == "Gemm" and idx == 1:
        trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
        return 0 if trans_b else 1
    if node.op_type == "MatMul" and idx == 1:
        return -1
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--per-tensor", action="store_true")
    args = ap.parse_args()
    model = onnx.load(args.src)
    g = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
    if opset < 10:
        sys.exit(f"qdq_weights_ref.py: {args.src}: opset {opset} has no DequantizeLinear (needs 10)")
    per_channel = not args.per_tensor and opset >= 13
    inits = {t.name: t for t in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    done = {}
    new_nodes = []
    count = 0
    for node in g.node:
        for idx, name in enumerate(node.input):
            axis = weight_axis(node, idx)
            if axis is None or (name not in inits and name not in consts):
                continue
            if name in done:
                node.input[idx] = done[name]
                continue
            if name in inits:
                w = numpy_helper.to_array(inits[name])
            else:
                attr = next((a for a in consts[name].attribute if a.name == "value"), None)
                if attr is None:
                    continue
                w = numpy_helper.to_array(attr.t)
            if w.dtype != np.float32 or w.ndim < 2:
                continue
            ax = axis % w.ndim
            red = tuple(i for i in range(w.ndim) if i != ax)
            amax = np.abs(w).max(axis=red) if per_channel else np.abs(w).max()
            scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
            shape = [1] * w.ndim
            if per_channel:
                shape[ax] = -1
            q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
            base = name + "_bench_q"
            g.initializer.extend([numpy_helper.from_array(q, base),
                                  numpy_helper.from_array(scale.reshape(-1) if per_channel else scale.reshape(()), base + "_scale"),
                                  numpy_helper.from_array(np.zeros(scale.size if per_channel else (), np.int8).reshape(-1 if per_channel else ()), base + "_zp")])
            attrs = {"axis": ax} if per_channel else {}
            new_nodes.append(helper.make_node("DequantizeLinear", [base, base + "_scale", base + "_zp"], [base + "_dq"],
                                              name=base + "_dq", **attrs))
            done[name] = base + "_dq"
            node.input[idx] = base + "_dq"
            count += 1
    # DequantizeLinear nodes read only initializers: put them first (topological order holds).
    rest = list(g.node)
    del g.node[:]
    g.node.extend(new_nodes + rest)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used or t.name in {i.name for i in g.input}]
    del g.initializer[:]
    g.initializer.extend(keep)
    keep_nodes = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] not in used)]
    del g.node[:]
    g.node.extend(keep_nodes)
    onnx.save(model, args.dst)
    print(f"qdq_weights_ref.py: {args.dst}: {count} weights int8 {'per channel' if per_channel else 'per tensor'} (opset {opset})", file=sys.stderr)


if __name__ == "__main__":
    main()
