#!/usr/bin/python3
"""gen_models.py - writes the generated models of the executor benchmark suite (issue 14).

    /usr/bin/python3 bench/exec/gen_models.py OUT_DIR [--only NAME ...]

Each model stands for a class of real models that fell off the executor's fast paths (random
weights, fixed seed: the timings, not the numbers, matter). Besides the .onnx files it writes
OUT_DIR/cases.txt, one line per model, "name|file|--input NAME=D0xD1 ..." as bench/exec_bench.sh
reads it. Needs python3-torch (the exporter of torch 1.13) and onnx; never used at npuconv run time.
"""
import argparse
import math
import os
import sys

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

OPSET = 14


def export(module, args, path, input_names, output_names, opset=OPSET):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          opset_version=opset, do_constant_folding=True)


class StftFrontEnd(nn.Module):
    """A log-mel spectrogram as ONNX: the real and imaginary DFT as two 1-D Convs (257 filters,
    kernel 512, stride 160), power, a mel MatMul, Log - how audio front ends get exported."""

    def __init__(self, n_fft=512, hop=160, n_mels=64):
        super().__init__()
        bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float32)
        k = torch.arange(bins, dtype=torch.float32)[:, None]
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
        self.real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.real.weight.data = (torch.cos(2 * math.pi * k * n / n_fft) * window)[:, None, :]
        self.imag.weight.data = (-torch.sin(2 * math.pi * k * n / n_fft) * window)[:, None, :]
        self.mel = nn.Parameter(torch.rand(bins, n_mels) / bins)

    def forward(self, x):
        power = self.real(x).pow(2) + self.imag(x).pow(2)    # [1, 257, frames]
        mel = torch.matmul(power.transpose(1, 2), self.mel)  # [1, frames, 64]
        return torch.log(mel + 1e-6)


class VadBranch(nn.Module):
    """One sample-rate branch of a streaming voice-activity detector (Silero-VAD-like): a small
    Conv STFT, 1-D conv encoder with decomposed channel norms, an LSTM, an unrolled GRU cell and a
    sigmoid head - a few hundred tiny nodes on batch 1."""

    def __init__(self, n_fft, hop, hidden=64):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        bins = n_fft // 2 + 1
        self.stft = nn.Conv1d(1, 2 * bins, n_fft, stride=hop, bias=False)
        chans = [bins, 32, 64, 64, hidden]
        self.enc = nn.ModuleList(nn.Conv1d(chans[i], chans[i + 1], 3, stride=2 if i % 2 else 1, padding=1)
                                 for i in range(4))
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.gru = nn.GRUCell(hidden, hidden)
        self.head = nn.Conv1d(hidden, 1, 1)

    def forward(self, x, h, c):
        s = F.pad(x.unsqueeze(1), (self.n_fft // 4, self.n_fft // 4), mode='reflect')
        s = self.stft(s)
        half = s.shape[1] // 2
        s = torch.sqrt(s[:, :half] ** 2 + s[:, half:] ** 2 + 1e-9)
        for conv in self.enc:
            s = conv(s)
            mu = s.mean(dim=1, keepdim=True)
            var = ((s - mu) ** 2).mean(dim=1, keepdim=True)
            s = F.relu((s - mu) / torch.sqrt(var + 1e-5))
        seq, (h1, c1) = self.lstm(s.transpose(1, 2), (h[0:1], c))
        g = h[1]
        outs = []
        for t in range(seq.shape[1]):
            g = self.gru(seq[:, t], g)
            outs.append(g)
        y = torch.stack(outs, dim=2)                       # [1, hidden, T]
        prob = torch.sigmoid(self.head(F.relu(y))).mean(dim=2)
        return prob, torch.cat([h1, g.unsqueeze(0)], 0), c1


def vad_model(path, tmp):
    """The two branches inside an If on the sample rate, as Silero VAD ships it: `sr` is an input
    (the seeded benchmark inputs never equal 8000, so the 16 kHz branch runs)."""
    branches = []
    for tag, (n_fft, hop) in (('sr16k', (256, 128)), ('sr8k', (128, 64))):
        torch.manual_seed(7 if tag == 'sr16k' else 8)
        p = os.path.join(tmp, f'vad_{tag}.onnx')
        x, h, c = torch.randn(1, 512), torch.zeros(2, 1, 64), torch.zeros(1, 1, 64)
        export(VadBranch(n_fft, hop), (x, h, c), p, ['x', 'h', 'c'], ['prob', 'hn', 'cn'])
        g = onnx.load(p).graph
        os.remove(p)
        outer = {'x', 'h', 'c'}
        ren = lambda n: n if (n in outer or n == '') else f'{tag}/{n}'
        for node in g.node:
            node.name = f'{tag}/{node.name}'
            node.input[:] = [ren(n) for n in node.input]
            node.output[:] = [ren(n) for n in node.output]
        for init in g.initializer:
            init.name = ren(init.name)
        outs = []
        for o in g.output:
            o2 = onnx.ValueInfoProto()
            o2.CopyFrom(o)
            o2.name = ren(o.name)
            outs.append(o2)
        branches.append(helper.make_graph(list(g.node), tag, [], outs, list(g.initializer)))
    nodes = [
        helper.make_node('Constant', [], ['sr8000'], value=helper.make_tensor('v', TensorProto.INT64, [1], [8000])),
        helper.make_node('Equal', ['sr', 'sr8000'], ['is8k']),
        helper.make_node('Not', ['is8k'], ['is16k_vec']),
        helper.make_node('Squeeze', ['is16k_vec'], ['is16k']),
        helper.make_node('If', ['is16k'], ['prob', 'hn', 'cn'], name='sample_rate_if',
                         then_branch=branches[0], else_branch=branches[1]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, 'vad_if',
        [helper.make_tensor_value_info('x', f, [1, 512]), helper.make_tensor_value_info('sr', TensorProto.INT64, [1]),
         helper.make_tensor_value_info('h', f, [2, 1, 64]), helper.make_tensor_value_info('c', f, [1, 1, 64])],
        [helper.make_tensor_value_info('prob', f, [1, 1]), helper.make_tensor_value_info('hn', f, [2, 1, 64]),
         helper.make_tensor_value_info('cn', f, [1, 1, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


class NhwcCnn(nn.Module):
    """A speech-embedding CNN as tf2onnx exports a Keras model: NHWC input, a Transpose to NCHW in
    front of every Conv and back behind it."""

    def __init__(self):
        super().__init__()
        chans = [1, 32, 64, 128, 128]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(4))
        self.dense = nn.Linear(128, 64)

    def forward(self, x):                  # [N, 76, 32, 1]
        for i, conv in enumerate(self.convs):
            y = F.relu(conv(x.permute(0, 3, 1, 2)))
            if i < 3:
                y = F.max_pool2d(y, 2)
            x = y.permute(0, 2, 3, 1)
        return self.dense(x.mean(dim=(1, 2)))


class Encoder(nn.Module):
    """A BERT-style encoder (4 layers, d_model 256, 4 heads, GELU) written out so the export is
    plain MatMul/Softmax/LayerNorm whatever torch's fused fast paths do."""

    def __init__(self, d=256, heads=4, layers=4, ff=1024):
        super().__init__()
        self.heads = heads
        self.layers = nn.ModuleList()
        for _ in range(layers):
            self.layers.append(nn.ModuleDict(dict(qkv=nn.Linear(d, 3 * d), out=nn.Linear(d, d), ln1=nn.LayerNorm(d),
                                                  ff1=nn.Linear(d, ff), ff2=nn.Linear(ff, d), ln2=nn.LayerNorm(d))))

    def forward(self, x):                  # [1, S, d]
        b, s, d = x.shape
        hd = d // self.heads
        for l in self.layers:
            q, k, v = l['qkv'](x).reshape(b, s, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
            x = l['ln1'](x + l['out']((att @ v).transpose(1, 2).reshape(b, s, d)))
            x = l['ln2'](x + l['ff2'](F.gelu(l['ff1'](x))))
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--only', nargs='*', default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    torchvision = None
    try:
        import torchvision  # noqa: F811
    except ImportError:
        pass
    cases = []

    def want(name):
        return a.only is None or name in a.only

    def add(name, inputs, repeat=1):  # repeat: factor on the bench's REPEAT for tiny models
        cases.append(f'{name}|{os.path.abspath(os.path.join(a.out, name + ".onnx"))}|{inputs}|{repeat}')

    p = lambda name: os.path.join(a.out, name + '.onnx')
    if want('stft_frontend'):
        export(StftFrontEnd(), (torch.randn(1, 1, 64000),), p('stft_frontend'), ['signal'], ['logmel'])
        add('stft_frontend', '--input signal=1x1x64000', 5)
    if want('vad_lstm_if'):
        vad_model(p('vad_lstm_if'), a.out)
        add('vad_lstm_if', '--input x=1x512 --input sr=1 --input h=2x1x64 --input c=1x1x64', 20)
    if want('nhwc_cnn'):
        export(NhwcCnn(), (torch.randn(41, 76, 32, 1),), p('nhwc_cnn'), ['features'], ['embedding'])
        add('nhwc_cnn', '--input features=41x76x32x1')
    if want('mobilenet_v2') and torchvision is not None:
        export(torchvision.models.mobilenet_v2(), (torch.randn(1, 3, 224, 224),), p('mobilenet_v2'), ['input'],
               ['logits'])
        add('mobilenet_v2', '--input input=1x3x224x224')
    for s in (128, 512):
        name = f'encoder_{s}'
        if want(name):
            torch.manual_seed(1)
            export(Encoder(), (torch.randn(1, s, 256),), p(name), ['hidden'], ['out'])
            add(name, f'--input hidden=1x{s}x256')
    with open(os.path.join(a.out, 'cases.txt'), 'w') as f:
        f.write('\n'.join(cases) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
