#!/usr/bin/python3
"""gen_ocr_images.py - renders the deterministic document-like images of testdata/ocr (run once by
hand; never at test time). Needs Debian's python3-pil, python3-numpy and fonts-dejavu-core:

    /usr/bin/python3 scripts/gen_ocr_images.py [--out testdata/ocr]

Writes
  det/calib/doc_00..39.png   40 pages, 480 wide x 640 high RGB (multiples of 32, PP-OCRv4 detection)
  det/eval/doc_40..55.png    16 other pages, never used for calibration
  lines/calib/line_00..39.png  40 text-line crops, 320 wide x 48 high RGB (PP-OCRv4 recognition;
  lines/eval/line_40..55.png   16 more; the direction classifier resizes them to 192x48)
  lines/labels.txt          one "file angle" line per crop: 0 upright, 180 upside down (about half)
  rec_lines/calib/line_00..39.png  40 text lines as PaddleOCR's recognizer gets them (below)
  rec_lines/eval/line_40..55.png   16 more, never used for calibration
  rec_lines/labels.txt      one "file<TAB>text" line per crop: the text drawn (the true text)
  det/calib.txt, det/eval.txt, lines/calib.txt, lines/eval.txt, rec_lines/calib.txt,
  rec_lines/eval.txt        image lists (RKNN dataset.txt style, one path per line, relative to
                            the list's folder)

The lines/ crops were made for the direction classifier: the text sits on the left of a 320x48
field with blank paper on the right, and about half are upside down. PP-OCR's recognizer never
sees such crops: the detector's box is cut out, the classifier turns it upright, and
resize_norm_img (PaddleOCR tools/infer/predict_rec.py) resizes it to height 48 keeping the aspect
ratio (width at most 320) and pads the rest of the width with 0 after (x/255 - 0.5)/0.5, i.e. with
mid-grey. rec_lines/ are rendered that way: upright text, cropped to its ink box plus a small
margin, resized to height 48 and padded on the right with grey 127 to 320 (a pixel value, so the
padding is (127/255 - 0.5)/0.5 = -0.004 after npuconv's mean/std 127.5: 0 to within a step).
`--sets` picks which sets to write (default all); a re-run writes the same bytes.

Pages: a light (slightly tinted) background with a low-frequency paper texture, lines of words in
varied DejaVu fonts and sizes, some dark blocks with light text, a slight rotation and sparse
speckle noise. Everything comes from one seeded PRNG per image, so a re-run writes identical pixels
(the PNG bytes too, with the same zlib). The PNGs are palette images (colour type 3, 16 colours,
median cut, no dithering) so the set stays under 3 MB; decoders expand them to 8-bit RGB.
"""

import argparse
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf",
         "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed.ttf", "DejaVuSansMono-Bold.ttf"]
WORDS = ("invoice total amount date number customer address payment due account balance order "
         "quantity price item description shipping tax subtotal discount reference page section "
         "chapter report summary figure table results method model data value input output sample "
         "calibration network layer weight scale offset range error signal noise quality review "
         "the of and to in for with on by from at as is are was be this that which not or "
         "Berlin Paris Tokyo London Madrid Zurich Oslo Vienna Prague Lisbon Dublin Athens "
         "January March April June August October December Monday Friday").split()
SEED = 20240611
W, H = 480, 640          # page size (PIL: width, height)
LW, LH = 320, 48         # text-line crop size
N_CALIB, N_EVAL = 40, 16


def font(name, size):
    return ImageFont.truetype(os.path.join(FONT_DIR, name), size)


def token(rng):
    r = rng.random()
    if r < 0.12:
        return str(rng.randint(0, 99999))
    if r < 0.18:
        return f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(1990, 2030)}"
    if r < 0.22:
        return f"${rng.randint(1, 9999)}.{rng.randint(0, 99):02d}"
    w = rng.choice(WORDS)
    return w.capitalize() if rng.random() < 0.2 else (w.upper() if rng.random() < 0.05 else w)


def words_fitting(rng, fnt, width):
    text = token(rng)
    while True:
        nxt = text + " " + token(rng)
        if fnt.getlength(nxt) > width:
            return text
        text = nxt


def paper(rng, w, h):
    """Light tinted background with a smooth texture (drawn at 1/16 size, upsampled)."""
    base = np.array([rng.randint(225, 255), rng.randint(222, 255), rng.randint(215, 252)], np.float32)
    small = np.random.RandomState(rng.randint(0, 2**31 - 1)).uniform(-6, 6, (h // 16 + 1, w // 16 + 1, 3))
    tex = Image.fromarray(np.uint8(np.clip(small + 128, 0, 255))).resize((w, h), Image.BILINEAR)
    arr = np.clip(base + np.asarray(tex, np.float32) - 128, 0, 255)
    return Image.fromarray(np.uint8(arr), "RGB")


def ink(rng):
    g = rng.randint(0, 70)
    return (g + rng.randint(0, 20), g + rng.randint(0, 20), g + rng.randint(0, 30))


def speckle(rng, img, rate):
    arr = np.array(img)
    r = np.random.RandomState(rng.randint(0, 2**31 - 1))
    mask = r.random_sample(arr.shape[:2]) < rate
    arr[mask] = r.randint(0, 256, (int(mask.sum()), 1)).astype(np.uint8)
    return Image.fromarray(arr)


def page(rng):
    img = paper(rng, W, H)
    d = ImageDraw.Draw(img)
    y = rng.randint(10, 40)
    while y < H - 30:
        kind = rng.random()
        size = rng.choice([11, 12, 14, 16, 18, 20, 24, 28, 34]) if kind > 0.15 else rng.randint(26, 40)
        fnt = font(rng.choice(FONTS), size)
        x = rng.randint(12, 60)
        width = rng.randint(W // 3, W - x - 12)
        if kind < 0.08:  # dark block with light text
            rows = rng.randint(1, 3)
            bh = rows * int(size * 1.35) + 10
            if y + bh > H - 10:
                break
            shade = rng.randint(20, 90)
            d.rectangle([x - 6, y - 4, x + width + 6, y + bh - 4], fill=(shade, shade + rng.randint(0, 20), shade + rng.randint(0, 40)))
            for r in range(rows):
                light = rng.randint(210, 255)
                d.text((x, y + r * int(size * 1.35)), words_fitting(rng, fnt, width), font=fnt, fill=(light, light, light))
            y += bh + rng.randint(6, 20)
            continue
        if kind < 0.14:  # a rule or table line
            d.line([x, y + 4, x + width, y + 4], fill=ink(rng), width=rng.randint(1, 2))
            y += rng.randint(8, 16)
            continue
        d.text((x, y), words_fitting(rng, fnt, width), font=fnt, fill=ink(rng))
        y += int(size * rng.uniform(1.2, 1.9)) + (rng.randint(8, 30) if rng.random() < 0.15 else 0)
    angle = rng.uniform(-3.0, 3.0)
    fill = tuple(int(v) for v in np.asarray(img)[2, 2])
    img = img.rotate(angle, resample=Image.BILINEAR, fillcolor=fill)
    return speckle(rng, img, 0.0015)


def line(rng, upside_down):
    bg = paper(rng, LW, LH)
    d = ImageDraw.Draw(bg)
    dark = rng.random() < 0.15
    if dark:
        shade = rng.randint(20, 80)
        d.rectangle([0, 0, LW, LH], fill=(shade, shade, shade + rng.randint(0, 30)))
    size = rng.randint(24, 36)
    fnt = font(rng.choice(FONTS), size)
    text = words_fitting(rng, fnt, LW - rng.randint(4, 60))
    top = (LH - size) // 2 - 3 + rng.randint(-2, 2)
    colour = (rng.randint(215, 255),) * 3 if dark else ink(rng)
    d.text((rng.randint(2, 10), top), text, font=fnt, fill=colour)
    img = bg.rotate(rng.uniform(-1.5, 1.5), resample=Image.BILINEAR, fillcolor=tuple(int(v) for v in np.asarray(bg)[1, 1]))
    if upside_down:
        img = img.rotate(180)
    return speckle(rng, img, 0.002)


def rec_line(rng):
    """One upright line as PaddleOCR feeds the recognizer: cropped to the text, height 48, padded
    right with grey 127 to 320. Returns (image, text)."""
    size = rng.randint(20, 40)
    fnt = font(rng.choice(FONTS), size)
    # Lines from one word to a little past the 320 field (the widest are squeezed to 320, as
    # resize_norm_img does past aspect 320/48).
    text = words_fitting(rng, fnt, rng.randint(2 * size, 11 * size))
    cw, ch = int(fnt.getlength(text)) + 4 * size, 3 * size
    bg = paper(rng, cw, ch)
    d = ImageDraw.Draw(bg)
    dark = rng.random() < 0.15
    if dark:
        shade = rng.randint(20, 80)
        d.rectangle([0, 0, cw, ch], fill=(shade, shade, shade + rng.randint(0, 30)))
    colour = (rng.randint(215, 255),) * 3 if dark else ink(rng)
    x0, y0 = 2 * size, size
    d.text((x0, y0), text, font=fnt, fill=colour)
    left, top, right, bottom = d.textbbox((x0, y0), text, font=fnt)
    img = bg.rotate(rng.uniform(-1.0, 1.0), resample=Image.BILINEAR,
                    fillcolor=tuple(int(v) for v in np.asarray(bg)[1, 1]))
    img = speckle(rng, img, 0.002)
    # The detector's box: the ink box plus a few pixels (DB's unclip leaves a margin too).
    m = [rng.randint(1, max(2, size // 5)) for _ in range(4)]
    img = img.crop((left - m[0], top - m[1], right + m[2], bottom + m[3]))
    w = min(LW, int(np.ceil(LH * img.width / img.height)))   # resize_norm_img's resized_w
    img = img.resize((w, LH), Image.BILINEAR)
    return img, text


def padded_palette(img, colours):
    """Palette PNG of a resized line padded right to LW with grey 127: the line gets colours-1
    median-cut colours, the padding its own exact palette entry."""
    q = img.quantize(colours - 1, method=Image.MEDIANCUT, dither=Image.NONE)
    pal = q.getpalette()[:3 * (colours - 1)]
    pal += [0, 0, 0] * (colours - 1 - len(pal) // 3) + [127, 127, 127]
    out = Image.new("P", (LW, LH), colours - 1)
    out.putpalette(pal)
    out.paste(q, (0, 0))
    return out


def palette(img, colours):
    """Palette PNG (colour type 3): 16 colours keep 56 pages under 3 MB; readers expand it to RGB."""
    return img.quantize(colours, method=Image.MEDIANCUT, dither=Image.NONE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "ocr")))
    ap.add_argument("--sets", default="det,lines,rec_lines", help="comma-separated: det, lines, rec_lines")
    args = ap.parse_args()
    sets = set(args.sets.split(","))
    lists = {}
    labels = []
    rec_labels = []
    for i in range(N_CALIB + N_EVAL):
        split = "calib" if i < N_CALIB else "eval"
        if "rec_lines" in sets:
            rng = random.Random(SEED * 1000 + 700 + i)
            img, text = rec_line(rng)
            rel = f"{split}/line_{i:02d}.png"
            os.makedirs(os.path.join(args.out, "rec_lines", split), exist_ok=True)
            padded_palette(img, 16).save(os.path.join(args.out, "rec_lines", rel), optimize=True)
            lists.setdefault(("rec_lines", split), []).append(rel)
            rec_labels.append(f"{rel}\t{text}")
        if "det" in sets:
            rng = random.Random(SEED * 1000 + i)
            rel = f"{split}/doc_{i:02d}.png"
            os.makedirs(os.path.join(args.out, "det", split), exist_ok=True)
            palette(page(rng), 16).save(os.path.join(args.out, "det", rel), optimize=True)
            lists.setdefault(("det", split), []).append(rel)
        if "lines" not in sets:
            continue
        rng = random.Random(SEED * 1000 + 500 + i)
        upside = rng.random() < 0.5
        rel = f"{split}/line_{i:02d}.png"
        os.makedirs(os.path.join(args.out, "lines", split), exist_ok=True)
        palette(line(rng, upside), 16).save(os.path.join(args.out, "lines", rel), optimize=True)
        lists.setdefault(("lines", split), []).append(rel)
        labels.append(f"{rel} {180 if upside else 0}")
    for (kind, split), files in lists.items():
        with open(os.path.join(args.out, kind, f"{split}.txt"), "w") as f:
            f.write("\n".join(files) + "\n")
    if "lines" in sets:
        with open(os.path.join(args.out, "lines", "labels.txt"), "w") as f:
            f.write("\n".join(labels) + "\n")
    if "rec_lines" in sets:
        with open(os.path.join(args.out, "rec_lines", "labels.txt"), "w") as f:
            f.write("\n".join(rec_labels) + "\n")


if __name__ == "__main__":
    main()
