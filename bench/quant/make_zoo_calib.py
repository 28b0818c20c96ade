#!/usr/bin/python3
"""make_zoo_calib.py - the seeded calibration and evaluation inputs of the random-weight zoo CNNs
(resnet18, mobilenet_v3_small, resnet50: one input "input" 1x3x224x224), shared by npuconv
(`--calib calib.npy`) and the PyTorch FX peer (torch_fx_peer.py), so both calibrate on the same
samples and are judged on the same held-out ones.

    /usr/bin/python3 bench/quant/make_zoo_calib.py [--out bench/out/zoo_data] [--dist normal]
                                                   [--calib 32] [--eval 16]

Writes calib.npy (N x 3 x 224 x 224 float32: a rank-4 stack of batch-1 samples along the batch
axis) and eval.npy (16 other samples, never used for calibration). The models have random
weights, so there is no "natural image" distribution to honour; --dist normal (standard normal
pixels, what the models were exported with) is the default because it reproduces the PyTorch FX
figures of issue 9 (see bench/RESULTS.md); uniform (U(-1,1)) and image-like (ImageNet-normalized
smooth random images) are there to check how much the figures depend on it.
"""

import argparse
import os

import numpy as np

SEED = 9_2024


def sample(rng, dist, n):
    shape = (n, 3, 224, 224)
    if dist == "normal":
        return rng.standard_normal(shape, dtype=np.float32)
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    if dist == "image":
        # Smooth random colour fields in 0..1 (8x8 noise upsampled, plus fine noise), then the
        # torchvision normalization: the statistics of a normalized natural image, roughly.
        low = rng.uniform(0, 1, (n, 3, 8, 8)).astype(np.float32)
        up = np.repeat(np.repeat(low, 28, axis=2), 28, axis=3)
        img = np.clip(up + 0.08 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
        mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
        std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
        return ((img - mean) / std).astype(np.float32)
    raise SystemExit(f"make_zoo_calib.py: unknown --dist {dist}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "out", "zoo_data"))
    ap.add_argument("--dist", default="normal", choices=["normal", "uniform", "image"])
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--eval", type=int, default=16)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # Separate generators: the evaluation samples do not depend on the calibration count.
    np.save(os.path.join(args.out, "calib.npy"), sample(np.random.default_rng(SEED), args.dist, args.calib))
    np.save(os.path.join(args.out, "eval.npy"), sample(np.random.default_rng(SEED + 1), args.dist, args.eval))
    print(f"make_zoo_calib.py: {args.out}: calib.npy {args.calib}, eval.npy {args.eval} samples ({args.dist})")


if __name__ == "__main__":
    main()
