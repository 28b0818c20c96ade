#!/usr/bin/python3
"""add_output.py - copies an ONNX model with one more graph output, "last_layer_input": the input
of the model's last layer as that layer sees it (resnet50 is judged on it, issue 9 section 6). The
last layer is found by walking back from the first graph output through DequantizeLinear,
QuantizeLinear, Add (bias after MatMul), Mul (int8-dynamic's rescale), Identity and Cast to the first Gemm, MatMul, Conv, QGemm,
QLinearMatMul or MatMulInteger; its input 0 is exposed through a Cast to float32 (in a QDQ model that
is the DequantizeLinear output the layer reads; for MatMulInteger/ConvInteger the float input of
its DynamicQuantizeLinear).

    /usr/bin/python3 bench/quant/add_output.py IN.onnx OUT.onnx

External data files of IN are hard-linked (or copied) beside OUT: their locations are relative,
and ONNX Runtime rejects symlinks resolving outside the model's folder.
"""

import os
import shutil
import sys

import onnx
from onnx import helper

WALK = {"DequantizeLinear", "QuantizeLinear", "Add", "Mul", "Identity", "Cast"}
LAYERS = {"Gemm", "MatMul", "Conv", "QGemm", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QLinearConv"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1:]
    model = onnx.load(src, load_external_data=False)
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    name = g.output[0].name
    seen = 0
    while True:
        node = producer.get(name)
        if node is None or seen > 20:
            sys.exit(f"add_output.py: {src}: no Gemm/MatMul/Conv found behind output \"{g.output[0].name}\"")
        seen += 1
        if node.op_type in LAYERS:
            break
        if node.op_type not in WALK:
            sys.exit(f"add_output.py: {src}: node \"{node.name}\" ({node.op_type}) between the output and the last layer")
        # Add: follow the non-constant input (the MatMul result), others: input 0.
        nxt = [i for i in node.input if i in producer]
        name = nxt[0] if nxt else node.input[0]
    src_value = node.input[0]
    # int8-dynamic: MatMulInteger/ConvInteger read DynamicQuantizeLinear's uint8; the layer's
    # float input is what that quantizes.
    dql = producer.get(src_value)
    if node.op_type in ("MatMulInteger", "ConvInteger") and dql is not None and dql.op_type == "DynamicQuantizeLinear":
        src_value = dql.input[0]
    # Cast to float32: a no-op on float models, and fp16 models expose float16 values.
    g.node.append(helper.make_node("Cast", [src_value], ["last_layer_input"], name="bench_last_layer_input",
                                   to=onnx.TensorProto.FLOAT))
    g.output.append(helper.make_tensor_value_info("last_layer_input", onnx.TensorProto.FLOAT, None))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    locations = {e.value for t in g.initializer for e in t.external_data if e.key == "location"}
    for loc in locations:
        link = os.path.join(os.path.dirname(os.path.abspath(dst)), loc)
        target = os.path.join(os.path.dirname(os.path.abspath(src)), loc)
        if os.path.abspath(link) != os.path.abspath(target):
            if os.path.lexists(link):
                os.remove(link)
            try:  # ORT refuses external data that resolves outside the model's folder (symlinks)
                os.link(target, link)
            except OSError:
                shutil.copyfile(target, link)
    onnx.save(model, dst)
    print(f"add_output.py: {dst}: last_layer_input = input 0 of {node.op_type} \"{node.name}\" ({node.input[0]})", file=sys.stderr)


if __name__ == "__main__":
    main()
