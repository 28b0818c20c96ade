#!/usr/bin/env node
// ort_profile.js - ONNX Runtime's own per-node time for one model, to set beside
// `npuconv run --repeat N --profile` when finding where an executor case loses to ORT.
// Feeds one float32 input filled with sin(0.37 i) (or the inputs bench/exec_bench --dump wrote,
// given as DIR/inputs.json in place of the name and dims), runs warmup + repeat times with profiling on
// (optimization "all", the given intra-op threads, sequential) and prints, slowest first, each
// node's mean kernel time over the fastest `repeat` runs. ORT's node names after its own fusions
// (e.g. "<relu output>_nchwc") are printed as ORT gives them.
//
//   node bench/exec/ort_profile.js MODEL.onnx INPUT_NAME 1x3x224x224 [THREADS] [REPEAT]
//   node bench/exec/ort_profile.js MODEL.onnx DIR/inputs.json [THREADS] [REPEAT]
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

async function main() {
  const args = process.argv.slice(2);
  const fromDump = (args[1] || '').endsWith('.json');
  const [model, name, dimsText] = fromDump ? [args[0], args[1], ''] : args;
  const [threadsText = '1', repeatText = '20'] = args.slice(fromDump ? 2 : 3);
  if (!model || !name || (!fromDump && !dimsText)) {
    throw new Error('usage: MODEL.onnx (INPUT_NAME DIMS | DIR/inputs.json) [THREADS] [REPEAT]');
  }
  const repo = path.resolve(__dirname, '..', '..');
  const ort = require(require.resolve('onnxruntime-node', { paths: [repo, process.cwd()] }));
  const feeds = {};
  if (fromDump) {
    const arrays = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array };
    const spec = JSON.parse(fs.readFileSync(name, 'utf8'));
    for (const inp of spec.inputs) {
      const Arr = arrays[inp.dtype];
      if (!Arr) throw new Error(`input ${inp.name}: unsupported dtype ${inp.dtype}`);
      const buf = fs.readFileSync(path.resolve(path.dirname(name), inp.file));
      const ab = new ArrayBuffer(buf.length);
      new Uint8Array(ab).set(buf);
      feeds[inp.name] = new ort.Tensor(inp.dtype, new Arr(ab), inp.dims);
    }
  } else {
    const dims = dimsText.split('x').map(Number);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  const repeat = parseInt(repeatText, 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threadsText, 10), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: path.join(dir, 'p'),
  });
  for (let i = 0; i < repeat + 2; i++) await session.run(feeds);
  session.endProfiling();
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  const times = new Map();
  for (const e of JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const key = `${e.name.slice(0, -'_kernel_time'.length)}\t${e.args.op_name}`;
    if (!times.has(key)) times.set(key, []);
    times.get(key).push(e.dur);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const rows = [...times].map(([key, v]) => {
    const best = v.sort((a, b) => a - b).slice(0, repeat);
    return [key, best.reduce((a, b) => a + b, 0) / best.length / 1000];
  });
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((a, r) => a + r[1], 0);
  for (const [key, ms] of rows) console.log(`${ms.toFixed(3).padStart(9)} ms  ${key}`);
  console.log(`${total.toFixed(3).padStart(9)} ms  total of node kernel times`);
}

main().catch((e) => { console.error(`ort_profile: ${e.message}`); process.exit(1); });
