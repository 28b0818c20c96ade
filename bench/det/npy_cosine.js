// npy_cosine.js - cosine similarity of two saved outputs (.npy, same element count), in float64:
// how far apart two reference runs of one model are (det_blob_accuracy.sh's reference spread),
// where `npuconv validate` needs a model on one side.
//   node bench/det/npy_cosine.js A.npy B.npy        prints the cosine with 6 decimals
'use strict';
const { readNpy } = require('../quant/npy');

const [a, b] = process.argv.slice(2).map(readNpy);
if (!a || !b) { console.error('usage: node bench/det/npy_cosine.js A.npy B.npy'); process.exit(2); }
if (a.data.length !== b.data.length) {
  console.error(`element counts differ: ${a.data.length} vs ${b.data.length}`);
  process.exit(1);
}
let ab = 0, aa = 0, bb = 0;
for (let i = 0; i < a.data.length; i++) {
  const x = Number(a.data[i]), y = Number(b.data[i]);
  ab += x * y; aa += x * x; bb += y * y;
}
console.log((aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb)).toFixed(6));
