#!/usr/bin/python3
"""Generates the small models committed in testdata/models (run with Debian's python3-onnx:
/usr/bin/python3 scripts/gen_testdata_models.py). Not needed at build, test or run time."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "models")
rng = np.random.default_rng(20261121)


def const(name, shape, scale=0.2, positive=False):
    a = rng.uniform(0.5, 1.5, shape) if positive else rng.normal(0.0, scale, shape)
    return numpy_helper.from_array(a.astype(np.float32), name)


def tiny_cnn():
    """Conv-BN-Relu x2, MaxPool, GlobalAveragePool, Flatten, Gemm: a small image classifier
    with a symbolic batch dim, BatchNormalization kept (for the folding passes)."""
    inits = [const("conv1.w", [8, 3, 3, 3]), const("conv1.b", [8], 0.05),
             const("bn1.scale", [8], positive=True), const("bn1.bias", [8], 0.1),
             const("bn1.mean", [8], 0.1), const("bn1.var", [8], positive=True),
             const("conv2.w", [16, 8, 3, 3]),
             const("bn2.scale", [16], positive=True), const("bn2.bias", [16], 0.1),
             const("bn2.mean", [16], 0.1), const("bn2.var", [16], positive=True),
             const("fc.w", [10, 16]), const("fc.b", [10], 0.05)]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["c1"], name="features.0", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], ["b1"],
                         name="features.1", epsilon=1e-5),
        helper.make_node("Relu", ["b1"], ["r1"], name="features.2"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="features.3", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.w"], ["c2"], name="features.4", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "bn2.scale", "bn2.bias", "bn2.mean", "bn2.var"], ["b2"],
                         name="features.5", epsilon=1e-5),
        helper.make_node("Relu", ["b2"], ["r2"], name="features.6"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="avgpool"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="classifier", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(graph, producer_name="npuconv-testdata", producer_version="1",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    m.doc_string = "Tiny CNN for npuconv tests and the README example."
    helper.set_model_props(m, {"author": "npuconv", "purpose": "tests"})
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, "tiny_cnn.onnx"))


def tiny_mlp_external():
    """A two-layer MLP whose weights live in an external data file next to it."""
    inits = [const("w1", [64, 128]), const("b1", [128], 0.05), const("w2", [128, 16]), const("b2", [16], 0.05)]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="fc1.bias"),
        helper.make_node("Relu", ["hb"], ["hr"], name="act"),
        helper.make_node("MatMul", ["hr", "w2"], ["o"], name="fc2"),
        helper.make_node("Add", ["o", "b2"], ["y"], name="fc2.bias"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])], inits)
    m = helper.make_model(graph, producer_name="npuconv-testdata", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    d = os.path.join(OUT, "external")
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "tiny_mlp.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="tiny_mlp.weights", size_threshold=256)
    onnx.checker.check_model(os.path.join(d, "tiny_mlp.onnx"))


def if_and_function():
    """An If with two subgraphs reading an outer value, and a model-local function."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["t"], name="then_add")], "then",
                               [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="else_neg")], "else",
                               [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])])
    fn = helper.make_function(
        "local", "Square", ["a"], ["b"], [helper.make_node("Mul", ["a", "a"], ["b"], name="sq")],
        [helper.make_opsetid("", 13)])
    nodes = [
        helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g),
        helper.make_node("Square", ["y"], ["z"], name="square", domain="local"),
    ]
    graph = helper.make_graph(
        nodes, "if_and_function",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    graph.value_info.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]))
    m = helper.make_model(graph, producer_name="npuconv-testdata", functions=[fn],
                          opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("local", 1)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, "if_and_function.onnx"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tiny_cnn()
    tiny_mlp_external()
    if_and_function()
