#!/usr/bin/python3
"""gen_zoo.py - exports the model zoo of testdata/zoo (run once by hand; never at test time).

Needs Debian's python3-torch, python3-torchvision and python3-onnx; run with /usr/bin/python3:

    /usr/bin/python3 scripts/gen_zoo.py [--out testdata/zoo] [--only NAME ...]

Every model is exported with seeded random weights, then every float initializer with at least
16 elements is moved to external data (`<name>.onnx.data`, 64-byte aligned offsets). The data
file is NOT committed: tests/support/zoo.cc regenerates it deterministically in C++ from
`<name>.json`, which lists each external tensor with its dtype, dims, offset, length and a role
hint (conv/linear weight with fan-in, batch-norm scale/bias/mean/var, bias, embedding, ...)
derived from how the graph uses it, so the regenerated values keep activations in a sane range.
The values Python exported are discarded; only the graphs and the small inline constants
(shapes, scalars, position ids) are committed.

Models:
  resnet18, resnet50, mobilenet_v3_small   torchvision, 1x3x224x224, opset 13, BatchNormalization
                                           kept (no constant folding, TrainingMode.PRESERVE)
  minilm_l6_opset14, minilm_l6_opset17     a MiniLM-like BERT encoder (6 layers, hidden 384,
                                           12 heads, intermediate 1536, vocab 1000), inputs
                                           input_ids / attention_mask / token_type_ids (int64,
                                           dynamic batch and sequence); LayerNorm decomposed at
                                           opset 14, LayerNormalization at opset 17.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import onnx
import torch
import torch.nn as nn
import torchvision
from onnx import numpy_helper

EXTERNAL_MIN_ELEMENTS = 16
ALIGN = 64


# ----------------------------------------------------------------------------- MiniLM-like BERT


class DecomposedLayerNorm(nn.Module):
    """LayerNorm as HF's exported BERTs at opset < 17 show it: ReduceMean/Sub/Pow/Sqrt/Div."""

    def __init__(self, hidden, eps=1e-12):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.bias = nn.Parameter(torch.zeros(hidden))
        self.eps = eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        d = x - u
        s = d.pow(2).mean(-1, keepdim=True)
        return self.weight * (d / torch.sqrt(s + self.eps)) + self.bias


def make_layer_norm(hidden, fused):
    return nn.LayerNorm(hidden, eps=1e-12) if fused else DecomposedLayerNorm(hidden)


def gelu_erf(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class BertLayer(nn.Module):
    def __init__(self, hidden, heads, inter, fused_ln):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_ln = make_layer_norm(hidden, fused_ln)
        self.inter = nn.Linear(hidden, inter)
        self.out = nn.Linear(inter, hidden)
        self.out_ln = make_layer_norm(hidden, fused_ln)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, ext_mask):
        q = self.split(self.query(x))
        k = self.split(self.key(x))
        v = self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores + ext_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        b, s = ctx.shape[0], ctx.shape[1]
        ctx = ctx.view(b, s, self.heads * self.head_dim)
        x = self.attn_ln(self.attn_out(ctx) + x)
        h = gelu_erf(self.inter(x))
        return self.out_ln(self.out(h) + x)


class MiniLM(nn.Module):
    def __init__(self, vocab=1000, hidden=384, layers=6, heads=12, inter=1536, max_pos=512,
                 type_vocab=2, fused_ln=False):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(type_vocab, hidden)
        self.emb_ln = make_layer_norm(hidden, fused_ln)
        self.register_buffer("position_ids", torch.arange(max_pos, dtype=torch.int64).unsqueeze(0))
        self.layers = nn.ModuleList([BertLayer(hidden, heads, inter, fused_ln) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask, token_type_ids):
        seq = input_ids.shape[1]
        pos = self.position_ids[:, :seq]
        x = self.word(input_ids) + self.token_type(token_type_ids) + self.position(pos)
        x = self.emb_ln(x)
        ext = attention_mask[:, None, None, :].to(torch.float32)
        ext = (1.0 - ext) * -10000.0
        for layer in self.layers:
            x = layer(x, ext)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, pooled


# ----------------------------------------------------------------------------- export helpers


def scramble(model):
    """Distinct seeded values in every float parameter and buffer: torch.onnx deduplicates equal
    initializers (e.g. every BN's ones and zeros) into one shared tensor behind Identity nodes,
    which would make layers share weights. The values themselves are discarded later."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)


def export_cnn(name, path):
    torch.manual_seed(0)
    ctor = getattr(torchvision.models, name)
    model = ctor(weights=None)
    scramble(model)
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), path, opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"],
                      output_names=["logits"], dynamic_axes=None)


def export_minilm(path, opset):
    torch.manual_seed(0)
    model = MiniLM(fused_ln=(opset >= 17))
    scramble(model)
    model.eval()
    ids = torch.randint(0, 1000, (1, 16), dtype=torch.int64)
    mask = torch.ones(1, 16, dtype=torch.int64)
    types = torch.zeros(1, 16, dtype=torch.int64)
    dyn = {"input_ids": {0: "batch", 1: "sequence"},
           "attention_mask": {0: "batch", 1: "sequence"},
           "token_type_ids": {0: "batch", 1: "sequence"},
           "last_hidden_state": {0: "batch", 1: "sequence"},
           "pooler_output": {0: "batch"}}
    torch.onnx.export(model, (ids, mask, types), path, opset_version=opset, do_constant_folding=True,
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["last_hidden_state", "pooler_output"], dynamic_axes=dyn)


def role_of(graph, init_name, dims):
    """A role hint for an initializer from its first consumer; fan_in for weights."""
    name = init_name
    while True:
        consumers = [(n, i) for n in graph.node for i, x in enumerate(n.input) if x == name]
        if not consumers:
            return "other", 0
        node, idx = consumers[0]
        if node.op_type != "Identity":
            break
        name = node.output[0]
    op = node.op_type
    if op == "Conv":
        if idx == 1:
            return "conv_weight", int(math.prod(dims[1:]))
        return "bias", 0
    if op == "BatchNormalization":
        return {1: "bn_scale", 2: "bn_bias", 3: "bn_mean", 4: "bn_var"}.get(idx, "other"), 0
    if op == "Gemm":
        if idx == 1:
            trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            return "linear_weight", int(dims[1] if trans_b else dims[0])
        return "bias", 0
    if op == "MatMul":
        if idx == 1 and len(dims) == 2:
            return "linear_weight", int(dims[0])
        return "other", 0
    if op == "Gather" and idx == 0:
        return "embedding", 0
    if op == "LayerNormalization":
        return ("ln_scale" if idx == 1 else "ln_bias"), 0
    if op == "Add":
        return "bias", 0
    if op == "Mul":
        return "ln_scale", 0
    return "other", 0


def externalize(path, name):
    onnx.checker.check_model(path)  # before moving data out (the data file is not kept)
    model = onnx.load(path)
    graph = model.graph
    data_file = f"{name}.onnx.data"
    offset = 0
    tensors = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        dims = list(init.dims)
        count = int(math.prod(dims)) if dims else 1
        if count < EXTERNAL_MIN_ELEMENTS:
            continue
        length = count * 4
        role, fan_in = role_of(graph, init.name, dims)
        offset = (offset + ALIGN - 1) // ALIGN * ALIGN
        tensors.append({"name": init.name, "dtype": "float32", "dims": dims, "offset": offset,
                        "length": length, "role": role, "fan_in": fan_in})
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", data_file), ("offset", str(offset)), ("length", str(length))):
            e = init.external_data.add()
            e.key = k
            e.value = v
        offset += length
    model.producer_name = "npuconv scripts/gen_zoo.py"
    onnx.save(model, path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {
        "model": f"{name}.onnx",
        "model_sha256": digest,
        "data_file": data_file,
        "data_bytes": offset,
        "seed": 20240611,
        "inputs": [{"name": i.name,
                    "elem_type": onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type),
                    "dims": [d.dim_param if d.dim_param else d.dim_value
                             for d in i.type.tensor_type.shape.dim]}
                   for i in graph.input if i.name not in {x.name for x in graph.initializer}],
        "tensors": tensors,
    }
    with open(os.path.join(os.path.dirname(path), f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return offset, len(tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "zoo")))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    jobs = {
        "resnet18": lambda p: export_cnn("resnet18", p),
        "resnet50": lambda p: export_cnn("resnet50", p),
        "mobilenet_v3_small": lambda p: export_cnn("mobilenet_v3_small", p),
        "minilm_l6_opset14": lambda p: export_minilm(p, 14),
        "minilm_l6_opset17": lambda p: export_minilm(p, 17),
    }
    for name, fn in jobs.items():
        if args.only and name not in args.only:
            continue
        path = os.path.join(args.out, f"{name}.onnx")
        fn(path)
        data_bytes, n = externalize(path, name)
        leftover = os.path.join(args.out, f"{name}.onnx.data")
        if os.path.exists(leftover):
            os.remove(leftover)
        ops = sorted({n.op_type for n in onnx.load(path, load_external_data=False).graph.node})
        print(f"{name}: {os.path.getsize(path)} bytes graph, {n} external tensors, "
              f"{data_bytes} bytes external data; ops: {' '.join(ops)}", file=sys.stderr)


if __name__ == "__main__":
    main()
