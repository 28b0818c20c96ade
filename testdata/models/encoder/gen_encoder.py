#!/usr/bin/python3
"""gen_encoder.py - writes the small BERT-style sentence encoder the main job converts
(scripts/demo.sh): encoder.onnx, its vocab.txt, and the validation data the exporting framework
would save: validate/inputs.npz (tokenized held-out sentences) and validate/reference.npz
(PyTorch's own outputs for them).

    /usr/bin/python3 testdata/models/encoder/gen_encoder.py

Architecture as sentence-transformers' MiniLM exports it, scaled down: word + position + token
type embeddings, LayerNorm, 2 post-norm encoder layers (hidden 64, 4 heads, GELU FFN 128), mean
pooling over the attention mask, L2 normalization -> sentence_embedding [batch, 64]. Random
weights with a fixed seed (BERT's init, std 0.02): the conversion, not the semantics, is under
test. Inputs input_ids, attention_mask, token_type_ids: int64 [batch, sequence], both dynamic.
Needs python3-torch and python3-numpy; never used at npuconv run time. The outputs are committed.
"""
import math
import os
import shutil
import unicodedata

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
HIDDEN, HEADS, FFN, LAYERS, MAX_POS, SEQ = 64, 4, 128, 2, 64, 32


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.ModuleList(nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
        self.out = nn.Linear(HIDDEN, HIDDEN)
        self.ln1 = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.up = nn.Linear(HIDDEN, FFN)
        self.down = nn.Linear(FFN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, x, bias):
        b, s, _ = x.shape
        d = HIDDEN // HEADS
        q, k, v = (p(x).reshape(b, s, HEADS, d).transpose(1, 2) for p in self.qkv)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(d) + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, s, HIDDEN)
        x = self.ln1(x + self.out(ctx))
        return self.ln2(x + self.down(torch.nn.functional.gelu(self.up(x))))


class Encoder(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.word = nn.Embedding(vocab, HIDDEN)
        self.pos = nn.Embedding(MAX_POS, HIDDEN)
        self.token_type = nn.Embedding(2, HIDDEN)
        self.ln = nn.LayerNorm(HIDDEN, eps=1e-12)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.bias, std=0.02)

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.ln(self.word(input_ids) + self.pos(positions) + self.token_type(token_type_ids))
        mask = attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)
        bias = (1.0 - mask) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        m = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return pooled / pooled.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def basic_tokens(text):
    """BERT uncased: lower case, strip accents, split on whitespace and punctuation."""
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    out, word = [], ""
    for c in text:
        if c.isspace() or unicodedata.category(c).startswith("P"):
            if word:
                out.append(word)
            word = ""
            if not c.isspace():
                out.append(c)
        else:
            word += c
    if word:
        out.append(word)
    return out


def wordpiece(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end, piece = len(word), None
        while start < end:
            cand = ("##" if start else "") + word[start:end]
            if cand in vocab:
                piece = cand
                break
            end -= 1
        if piece is None:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def encode(sentence, vocab):
    ids = [vocab["[CLS]"]]
    for w in basic_tokens(sentence):
        ids += [vocab[p] for p in wordpiece(w, vocab)]
    ids = ids[: SEQ - 1] + [vocab["[SEP]"]]
    mask = [1] * len(ids) + [0] * (SEQ - len(ids))
    return ids + [vocab["[PAD]"]] * (SEQ - len(ids)), mask


def main():
    torch.manual_seed(20261205)
    vocab_path = os.path.join(HERE, "vocab.txt")
    shutil.copyfile(os.path.join(ROOT, "testdata/text/minilm_vocab.txt"), vocab_path)
    tokens = [line.rstrip("\n") for line in open(vocab_path, encoding="utf-8")]
    vocab = {t: i for i, t in enumerate(tokens)}
    model = Encoder(len(tokens)).eval()

    ids = torch.zeros(1, SEQ, dtype=torch.int64)
    torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(HERE, "encoder.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["sentence_embedding"], opset_version=14, do_constant_folding=True,
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids"]}
                      | {"sentence_embedding": {0: "batch"}})

    # Held-out sentences (not in the calibration file), as the framework's own check would use.
    calib = set(open(os.path.join(ROOT, "testdata/text/calib_sentences.txt"), encoding="utf-8").read().splitlines())
    held = [s.strip() for s in open(os.path.join(ROOT, "testdata/text/english_corpus.txt"), encoding="utf-8")
            if s.strip() and s.strip() not in calib][:16]
    enc = [encode(s, vocab) for s in held]
    input_ids = np.array([e[0] for e in enc], dtype=np.int64)
    attention_mask = np.array([e[1] for e in enc], dtype=np.int64)
    token_type_ids = np.zeros_like(input_ids)
    with torch.no_grad():
        ref = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask), torch.from_numpy(token_type_ids))
    os.makedirs(os.path.join(HERE, "validate"), exist_ok=True)
    np.savez(os.path.join(HERE, "validate/inputs.npz"), input_ids=input_ids, attention_mask=attention_mask,
             token_type_ids=token_type_ids)
    np.savez(os.path.join(HERE, "validate/reference.npz"), sentence_embedding=ref.numpy().astype(np.float32))
    with open(os.path.join(HERE, "validate/sentences.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(held) + "\n")


if __name__ == "__main__":
    main()
