// blob_double_rounding.js - a copy of a format-1.3 device blob whose program rounds its
// requantization twice (as formats 1.0-1.2 do, docs/blob-format.md §8.4): clears the header flag
// requant_single_rounding, sets minor 2 (VARS present) or 1, and re-seals the header CRC-32C (it
// covers the header and the section table only; no section changes). For A/B of the two roundings
// on the same converted model with one interpreter binary.
//
//   node bench/det/blob_double_rounding.js IN.npub OUT.npub
'use strict';
const fs = require('fs');

function crc32c(buf) {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; ++k) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) throw new Error('usage: IN.npub OUT.npub');
const b = Buffer.from(fs.readFileSync(inPath));
const flags = b.readUInt32LE(40);
if (!(flags & 2)) throw new Error(`${inPath}: the header flag requant_single_rounding is not set`);
const count = b.readUInt32LE(20), table = Number(b.readBigUInt64LE(24));
let vars = false;
for (let i = 0; i < count; ++i) vars ||= b.toString('latin1', table + 32 * i, table + 32 * i + 4) === 'VARS';
b.writeUInt32LE(flags & ~2, 40);
b.writeUInt16LE(vars ? 2 : 1, 10);
b.writeUInt32LE(0, 44);
b.writeUInt32LE(crc32c(b.subarray(0, table + 32 * count)), 44);
fs.writeFileSync(outPath, b);
