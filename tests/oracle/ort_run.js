#!/usr/bin/env node
// ort_run.js - runs an ONNX model with ONNX Runtime (onnxruntime-node, CPU) on inputs given as
// raw little-endian files, and writes the outputs the same way. The numeric oracle of
// tests/oracle/ort_oracle_test.cc.
//
//   node tests/oracle/ort_run.js --model M.onnx --inputs in.json --outdir DIR [--threads N]
//
// in.json:  {"inputs": [{"name": "x", "dtype": "float32", "dims": [1,3,224,224], "file": "x.bin"}]}
//           (relative files resolve against the folder of in.json)
// DIR/manifest.json: {"outputs": [{"name", "dtype", "dims", "file"}]} with DIR/<index>.bin files.
// Graph optimizations are disabled (ORT_DISABLE_ALL) so ORT computes the graph as written;
// pass --opt all to enable them. Exits non-zero with a message on any error.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const args = { threads: 1, opt: 'disabled' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value after ${a}`);
      return argv[++i];
    };
    if (a === '--model') args.model = next();
    else if (a === '--inputs') args.inputs = next();
    else if (a === '--outdir') args.outdir = next();
    else if (a === '--threads') args.threads = parseInt(next(), 10);
    else if (a === '--opt') args.opt = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.model || !args.inputs || !args.outdir) throw new Error('usage: --model M --inputs J --outdir D [--threads N]');
  return args;
}

const kArrays = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  float16: Uint16Array,
};

function loadRequire() {
  // Prefer the repo's node_modules, whatever the working directory.
  const repo = path.resolve(__dirname, '..', '..');
  return require(require.resolve('onnxruntime-node', { paths: [repo, process.cwd()] }));
}

function toBytes(data) {
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) throw new Error('non-numeric output (string tensor) is not supported');
  throw new Error('unexpected output data');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadRequire();
  const spec = JSON.parse(fs.readFileSync(args.inputs, 'utf8'));
  const base = path.dirname(path.resolve(args.inputs));
  const feeds = {};
  for (const inp of spec.inputs) {
    const Arr = kArrays[inp.dtype];
    if (!Arr) throw new Error(`input ${inp.name}: unsupported dtype ${inp.dtype}`);
    const file = path.resolve(base, inp.file);
    const buf = fs.readFileSync(file);
    const count = inp.dims.reduce((a, b) => a * b, 1);
    if (buf.length !== count * Arr.BYTES_PER_ELEMENT)
      throw new Error(`input ${inp.name}: ${file} has ${buf.length} bytes, expected ${count * Arr.BYTES_PER_ELEMENT}`);
    // Copy into an aligned buffer of its own.
    const ab = new ArrayBuffer(buf.length);
    new Uint8Array(ab).set(buf);
    feeds[inp.name] = new ort.Tensor(inp.dtype, new Arr(ab), inp.dims);
  }
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: args.opt,
  });
  const results = await session.run(feeds);
  fs.mkdirSync(args.outdir, { recursive: true });
  const outputs = [];
  session.outputNames.forEach((name, i) => {
    const t = results[name];
    const file = `${i}.bin`;
    fs.writeFileSync(path.join(args.outdir, file), toBytes(t.data));
    outputs.push({ name, dtype: t.type, dims: Array.from(t.dims), file });
  });
  const tmp = path.join(args.outdir, 'manifest.json.tmp');
  fs.writeFileSync(tmp, JSON.stringify({ outputs }, null, 1));
  fs.renameSync(tmp, path.join(args.outdir, 'manifest.json'));
}

main().catch((e) => {
  process.stderr.write(`ort_run.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
