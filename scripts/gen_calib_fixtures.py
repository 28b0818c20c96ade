#!/usr/bin/python3
"""Writes the calibration-data fixtures of tests/formats/calib_*_test.cc into testdata/calib/:
small PNG/JPEG images and, for each image case, the tensor npuconv must produce (computed here
with PIL and numpy, independently of the C++ code), plus .npz archives (stored and deflated).

The expected tensors follow docs/calibration-data.md: PIL decodes and converts (RGB, L), the
resize is cv2.resize INTER_LINEAR's sampling grid computed in float64, then
(x - mean[c]) / std[c] per model channel, then the layout. Run: /usr/bin/python3 scripts/gen_calib_fixtures.py
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "calib")


def pattern(h, w, c, seed):
    y, x = np.mgrid[0:h, 0:w]
    chans = [((x * (37 + 11 * k) + y * (53 + 7 * k) + seed * 29 + k * 101) % 256) for k in range(c)]
    return np.stack(chans, axis=-1).astype(np.uint8)


def taps(src, dst):
    """cv2 INTER_LINEAR: src = (dst + 0.5) * scale - 0.5, clamped at both ends."""
    scale = 1.0 / (dst / src)
    i0, i1, w = [], [], []
    for d in range(dst):
        f = (d + 0.5) * scale - 0.5
        i = int(np.floor(f))
        f -= i
        if i < 0:
            i, f = 0, 0.0
        if i >= src - 1:
            i, f = src - 1, 0.0
        i0.append(i), i1.append(min(i + 1, src - 1)), w.append(f)
    return np.array(i0), np.array(i1), np.array(w)


def resize(img, h, w):
    """img HWC uint8 -> HWC float32, bilinear in float64."""
    a = img.astype(np.float64)
    y0, y1, wy = taps(a.shape[0], h)
    x0, x1, wx = taps(a.shape[1], w)
    wx = wx[None, :, None]
    top = a[y0][:, x0] * (1 - wx) + a[y0][:, x1] * wx
    bottom = a[y1][:, x0] * (1 - wx) + a[y1][:, x1] * wx
    wy = wy[:, None, None]
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def preprocess(path, h, w, channels, mean, std, bgr, nchw, dtype=np.float32):
    img = Image.open(path).convert("RGB" if channels == 3 else "L")
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    v = resize(a, h, w)
    if bgr and channels == 3:
        v = v[:, :, ::-1]
    if dtype == np.uint8:
        out = np.floor(v + np.float32(0.5)).astype(np.uint8)
    else:
        m = np.broadcast_to(np.array(mean, dtype=np.float64), (channels,))
        s = np.broadcast_to(np.array(std, dtype=np.float64), (channels,))
        out = ((v.astype(np.float64) - m) / s).astype(np.float32)
    if nchw:
        out = out.transpose(2, 0, 1)
    return np.ascontiguousarray(out[None])


def write_png16(path, rgb16):
    """A 16-bit RGB PNG (PIL cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw)))
        f.write(chunk(b"IEND", b""))


def main():
    os.makedirs(os.path.join(OUT, "folder"), exist_ok=True)
    p = lambda *n: os.path.join(OUT, *n)
    Image.fromarray(pattern(5, 7, 3, 1), "RGB").save(p("rgb.png"))
    Image.fromarray(pattern(6, 4, 1, 2)[:, :, 0], "L").save(p("grey.png"))
    Image.fromarray(pattern(5, 5, 4, 3), "RGBA").save(p("rgba.png"))
    Image.fromarray(pattern(8, 9, 3, 4), "RGB").save(p("photo.jpg"), quality=90)
    Image.fromarray(pattern(8, 8, 3, 5), "RGB").convert("P", palette=Image.ADAPTIVE, colors=16).save(p("palette.png"))
    rgb16 = (pattern(4, 6, 3, 6).astype(np.uint32) * 257 + pattern(4, 6, 3, 7) % 200).astype(np.uint16)
    write_png16(p("rgb16.png"), rgb16)
    # The 16-bit expectation: libpng's accurate scaling, round(v / 257).
    np.save(p("rgb16_expected.npy"), ((rgb16.astype(np.int64) * 2 + 257) // 514).astype(np.uint8))

    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0]
    cases = {
        # name: (file, h, w, channels, mean, std, bgr, nchw, dtype)
        "rgb_nchw": ("rgb.png", 4, 10, 3, mean, std, False, True, np.float32),
        "rgb_nhwc_bgr": ("rgb.png", 4, 10, 3, mean, std, True, False, np.float32),
        "grey_as_rgb": ("grey.png", 3, 3, 3, [0.0], [1.0], False, True, np.float32),
        "rgb_as_grey": ("rgb.png", 3, 5, 1, [128.0], [64.0], False, True, np.float32),
        "rgba": ("rgba.png", 5, 5, 3, [0.0], [1.0], False, True, np.float32),
        "palette": ("palette.png", 8, 8, 3, [0.0], [1.0], False, False, np.float32),
        "jpeg_u8_nhwc": ("photo.jpg", 4, 10, 3, [0.0], [1.0], False, False, np.uint8),
        "jpeg_nchw": ("photo.jpg", 16, 5, 3, [127.5], [127.5], False, True, np.float32),
    }
    for name, (f, h, w, c, m, s, bgr, nchw, dt) in cases.items():
        np.save(p(name + "_expected.npy"), preprocess(p(f), h, w, c, m, s, bgr, nchw, dt))

    # A folder: sorted by name (byte order) "10.png" < "a.jpg" < "b.png"; other files skipped.
    Image.fromarray(pattern(6, 6, 3, 8), "RGB").save(p("folder", "b.png"))
    Image.fromarray(pattern(7, 5, 3, 9), "RGB").save(p("folder", "a.jpg"), quality=95)
    Image.fromarray(pattern(3, 4, 3, 10), "RGB").save(p("folder", "10.png"))
    with open(p("folder", "notes.txt"), "w") as f:
        f.write("not an image\n")
    stack = [preprocess(p("folder", n), 4, 4, 3, [0.0], [1.0], False, True) for n in ["10.png", "a.jpg", "b.png"]]
    np.save(p("folder_expected.npy"), np.concatenate(stack))

    # Two-input archives: a[k] = k * 100 + arange(6).reshape(2, 3) * 0.5 (float32), b[k] = k - 2 + arange(4) (int64).
    a = (np.arange(5)[:, None, None] * 100 + np.arange(6).reshape(2, 3) * 0.5).astype(np.float32)
    b = (np.arange(5)[:, None] - 2 + np.arange(4)).astype(np.int64)
    np.savez(p("two_inputs_stored.npz"), a=a, b=b)
    np.savez_compressed(p("two_inputs_deflated.npz"), a=a, b=b)


if __name__ == "__main__":
    main()
