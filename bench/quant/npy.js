// npy.js - a small .npy reader and writer (format versions 1-3, little-endian, C order) for the
// quantization bench scripts: float32/64, float16 (as raw Uint16), int8..int64, uint8..uint64, bool.
'use strict';

const fs = require('fs');

const kDescr = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<f2': ['float16', Uint16Array],
  '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array], '<i2': ['int16', Int16Array],
  '<u2': ['uint16', Uint16Array], '<i4': ['int32', Int32Array], '<u4': ['uint32', Uint32Array],
  '<i8': ['int64', BigInt64Array], '<u8': ['uint64', BigUint64Array], '|b1': ['bool', Uint8Array],
};
const kDtypeDescr = Object.fromEntries(Object.entries(kDescr).map(([d, [t]]) => [t, d]));

/// Parses a .npy file into {dtype, shape, data} (data: a typed array over its own buffer).
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const order = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw new Error(`${file}: bad .npy header ${header.trim()}`);
  if (order[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not supported`);
  const d = descr[1] === '<b1' ? '|b1' : descr[1].replace(/^=/, '<');
  const entry = kDescr[d];
  if (!entry) throw new Error(`${file}: unsupported dtype ${descr[1]}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const [dtype, Arr] = entry;
  const off = hstart + hlen;
  const bytes = count * Arr.BYTES_PER_ELEMENT;
  if (buf.length < off + bytes) throw new Error(`${file}: truncated (${buf.length - off} of ${bytes} data bytes)`);
  const ab = new ArrayBuffer(bytes);
  new Uint8Array(ab).set(buf.subarray(off, off + bytes));
  return { dtype, shape: dims, data: new Arr(ab) };
}

/// Writes {dtype, shape, data} as a version 1.0 .npy file.
function writeNpy(file, arr) {
  const descr = kDtypeDescr[arr.dtype];
  if (!descr) throw new Error(`${file}: unsupported dtype ${arr.dtype}`);
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const d = arr.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

module.exports = { readNpy, writeNpy };
