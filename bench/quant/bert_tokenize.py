#!/usr/bin/python3
"""bert_tokenize.py - BERT WordPiece tokenization (HuggingFace BertTokenizer, do_lower_case=True)
of one sentence per line into the three int64 inputs of the MiniLM-like encoder, as .npy stacks
for eval.js and the ORT timing of bench/quant/quant_bench.sh. A bench-side reference only: npuconv
tokenizes --calib-text itself (formats/text/); this is how the held-out sentences reach ORT.

    /usr/bin/python3 bench/quant/bert_tokenize.py --vocab vocab.txt --text sentences.txt --seq-len 128
        --out DIR [--skip N] [--count N] [--repeat K]

Writes DIR/input_ids.npy, DIR/attention_mask.npy, DIR/token_type_ids.npy (N x seq-len int64;
with --npz also one .npz of the three as N x 1 x seq-len stacks, which npuconv's --calib binds by
input name):
[CLS] tokens [SEP], truncated to seq-len, padded with [PAD]; mask 1 on real tokens; types 0.
BasicTokenizer: control characters dropped, whitespace normalized, CJK ideographs split, NFD
lower-casing with accent stripping, punctuation split; WordPiece: greedy longest match with ##
continuations, [UNK] for words over 100 characters or without a match.
"""

import argparse
import os
import sys
import unicodedata

import numpy as np


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        out.append(" " if is_whitespace(c) else (f" {c} " if is_cjk(cp) else c))
    words = []
    for w in "".join(out).split():
        w = "".join(c for c in unicodedata.normalize("NFD", w.lower()) if unicodedata.category(c) != "Mn")
        cur = ""
        for c in w:
            if is_punctuation(c):
                if cur:
                    words.append(cur)
                words.append(c)
                cur = ""
            else:
                cur += c
        if cur:
            words.append(cur)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def encode(text, vocab, seq_len):
    toks = [p for w in basic_tokens(text) for p in wordpiece(w, vocab)][: seq_len - 2]
    ids = [vocab["[CLS]"]] + [vocab[t] for t in toks] + [vocab["[SEP]"]]
    n = len(ids)
    return ids + [vocab["[PAD]"]] * (seq_len - n), [1] * n + [0] * (seq_len - n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--seq-len", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="repeat the selected lines K times")
    ap.add_argument("--npz", help="also write the three arrays into this .npz (npuconv --calib)")
    args = ap.parse_args()
    with open(args.vocab, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
        if t not in vocab:
            sys.exit(f"bert_tokenize.py: {args.vocab}: no {t} token")
    with open(args.text, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    lines = lines[args.skip:]
    if args.count:
        lines = lines[: args.count]
    lines = lines * args.repeat
    if not lines:
        sys.exit(f"bert_tokenize.py: {args.text}: no sentences")
    enc = [encode(l, vocab, args.seq_len) for l in lines]
    os.makedirs(args.out, exist_ok=True)
    ids = np.array([e[0] for e in enc], np.int64)
    mask = np.array([e[1] for e in enc], np.int64)
    np.save(os.path.join(args.out, "input_ids.npy"), ids)
    np.save(os.path.join(args.out, "attention_mask.npy"), mask)
    np.save(os.path.join(args.out, "token_type_ids.npy"), np.zeros_like(ids))
    if args.npz:
        # N x 1 x S: a stack of batch-1 samples. N x S would be ONE sample of batch N for the
        # encoder's dynamic batch (docs/calibration-data.md, stacking rule 3).
        np.savez(args.npz, input_ids=ids[:, None], attention_mask=mask[:, None], token_type_ids=np.zeros_like(ids)[:, None])
    unk = int((ids == vocab["[UNK]"]).sum())
    print(f"bert_tokenize.py: {len(lines)} sentences, {int(mask.sum())} tokens ({unk} [UNK]), seq-len {args.seq_len}", file=sys.stderr)


if __name__ == "__main__":
    main()
