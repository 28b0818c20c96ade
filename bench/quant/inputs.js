// inputs.js - evaluation samples for the quantization bench: stacks of samples from .npy files
// (one per model input) or from images (PNG, decoded here) with the preprocessing npuconv's
// --calib takes for image folders (resize to the model size, channel order, mean/std, NCHW).
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { readNpy } = require('./npy');

const kArrays = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array, float16: Uint16Array,
};

/// Decodes a non-interlaced PNG (grey, RGB, palette, grey+alpha, RGBA; 8-bit, or 1/2/4-bit grey
/// and palette) to {width, height, rgb: Uint8Array(h*w*3)}; alpha is dropped.
function decodePng(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error(`${file}: not a PNG file`);
  let off = 8;
  let ihdr = null;
  let plte = null;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') ihdr = body;
    else if (type === 'PLTE') plte = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (!ihdr) throw new Error(`${file}: no IHDR`);
  const w = ihdr.readUInt32BE(0), h = ihdr.readUInt32BE(4);
  const depth = ihdr[8], ctype = ihdr[9], interlace = ihdr[12];
  if (interlace) throw new Error(`${file}: interlaced PNG not supported`);
  const chans = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ctype];
  if (!chans || (depth !== 8 && !(depth < 8 && (ctype === 0 || ctype === 3)))) {
    throw new Error(`${file}: unsupported PNG colour type ${ctype} / bit depth ${depth}`);
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = Math.ceil((w * chans * depth) / 8);
  const bpp = Math.max(1, (chans * depth) / 8);
  const rows = new Uint8Array(h * stride);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = rows.subarray(y * stride, (y + 1) * stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      let p;
      if (f === 0) p = 0;
      else if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`${file}: bad PNG filter ${f}`);
      cur[i] = (src[i] + p) & 255;
    }
    prev = cur;
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const row = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < w; x++) {
      let r, g, b;
      if (depth < 8) {
        const bit = x * depth;
        const v = (row[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
        if (ctype === 3) { r = plte[3 * v]; g = plte[3 * v + 1]; b = plte[3 * v + 2]; }
        else { r = g = b = Math.round((v * 255) / ((1 << depth) - 1)); }
      } else if (ctype === 3) {
        const v = row[x]; r = plte[3 * v]; g = plte[3 * v + 1]; b = plte[3 * v + 2];
      } else if (chans <= 2) {
        r = g = b = row[x * chans];
      } else {
        r = row[x * chans]; g = row[x * chans + 1]; b = row[x * chans + 2];
      }
      const o = (y * w + x) * 3;
      rgb[o] = r; rgb[o + 1] = g; rgb[o + 2] = b;
    }
  }
  return { width: w, height: h, rgb };
}

/// Bilinear resize with half-pixel centres (OpenCV INTER_LINEAR, no antialiasing), HWC float.
function resizeBilinear(src, sw, sh, dw, dh) {
  const out = new Float32Array(dw * dh * 3);
  const sx = sw / dw, sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    let fy = (y + 0.5) * sy - 0.5; if (fy < 0) fy = 0;
    const y0 = Math.min(Math.floor(fy), sh - 1), y1 = Math.min(y0 + 1, sh - 1), wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      let fx = (x + 0.5) * sx - 0.5; if (fx < 0) fx = 0;
      const x0 = Math.min(Math.floor(fx), sw - 1), x1 = Math.min(x0 + 1, sw - 1), wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p00 = src[(y0 * sw + x0) * 3 + c], p01 = src[(y0 * sw + x1) * 3 + c];
        const p10 = src[(y1 * sw + x0) * 3 + c], p11 = src[(y1 * sw + x1) * 3 + c];
        out[(y * dw + x) * 3 + c] = (1 - wy) * ((1 - wx) * p00 + wx * p01) + wy * ((1 - wx) * p10 + wx * p11);
      }
    }
  }
  return out;
}

/// Image paths of a folder (sorted), a list file (one path per line, relative to the list), or a file.
function listImages(p) {
  if (fs.statSync(p).isDirectory()) {
    return fs.readdirSync(p).filter((f) => /\.png$/i.test(f)).sort().map((f) => path.join(p, f));
  }
  if (/\.txt$/i.test(p)) {
    return fs.readFileSync(p, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s.length)
      .map((s) => path.resolve(path.dirname(p), s));
  }
  return [p];
}

/// One image as a 1x3xHxW float32 sample: resized to h x w, channels RGB or BGR, (x-mean)/std
/// with mean/std in the model's channel order and the 0..255 scale (npuconv's --mean/--std).
function imageSample(file, { h, w, mean, std, bgr }) {
  const img = decodePng(file);
  const src = Float32Array.from(img.rgb);
  const hw = img.width === w && img.height === h ? src : resizeBilinear(src, img.width, img.height, w, h);
  const out = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    const sc = bgr ? 2 - c : c;
    for (let i = 0; i < h * w; i++) out[c * h * w + i] = (hw[i * 3 + sc] - mean[c]) / std[c];
  }
  return { dtype: 'float32', shape: [1, 3, h, w], data: out };
}

/// Splits a stack into batch-1 samples: a rank-r array of `rank`-dim inputs is a stack along the
/// batch axis (each sample keeps a batch of 1); a rank-(r+1) array is a stack along a new axis 0.
function splitStack(arr, rank) {
  const sampleDims = arr.shape.length === rank + 1 ? arr.shape.slice(1) : [1, ...arr.shape.slice(1)];
  const n = arr.shape[0];
  const per = sampleDims.reduce((a, b) => a * b, 1);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ dtype: arr.dtype, shape: sampleDims, data: arr.data.slice(i * per, (i + 1) * per) });
  }
  return out;
}

/// Samples as [{name: {dtype, shape, data}}], from --input NAME=FILE.npy specs or --images.
function loadSamples({ npyInputs, images, image }, inputRanks) {
  if (images) {
    return listImages(images).map((f) => ({ [image.name]: imageSample(f, image) }));
  }
  let samples = null;
  for (const [name, file] of npyInputs) {
    const parts = splitStack(readNpy(file), inputRanks[name] || readNpy(file).shape.length);
    if (!samples) samples = parts.map(() => ({}));
    if (parts.length !== samples.length) throw new Error(`${file}: ${parts.length} samples, other inputs have ${samples.length}`);
    parts.forEach((p, i) => { samples[i][name] = p; });
  }
  return samples || [];
}

function toOrtTensor(ort, t) {
  const Arr = kArrays[t.dtype];
  return new ort.Tensor(t.dtype, t.data instanceof Arr ? t.data : Arr.from(t.data), t.shape);
}

module.exports = { decodePng, resizeBilinear, listImages, imageSample, splitStack, loadSamples, toOrtTensor };
