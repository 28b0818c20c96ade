#!/usr/bin/env node
// ort_time.js - wall time of ONNX Runtime's plain float inference over a stack of samples (the
// yardstick of issue 9 section 7: calibration over N samples vs float inference of the same N).
//
//   node bench/quant/ort_time.js --model M.onnx --input NAME=FILE.npy ... [--threads N] [--opt all]
//
// Prints one JSON line: samples, session_ms (create), run_ms (all samples, sequential batch-1
// session.run calls), per_sample_ms, threads. Run it under /usr/bin/time for the peak RSS.
'use strict';

const path = require('path');
const { loadSamples, toOrtTensor } = require('./inputs');

async function main() {
  const a = { npyInputs: [], threads: 0, opt: 'all' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`missing value after ${k}`);
    if (k === '--model') a.model = v;
    else if (k === '--input') { const e = v.indexOf('='); a.npyInputs.push([v.slice(0, e), v.slice(e + 1)]); }
    else if (k === '--threads') a.threads = parseInt(v, 10);
    else if (k === '--opt') a.opt = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model || !a.npyInputs.length) throw new Error('usage: --model M --input NAME=FILE.npy ... [--threads N]');
  const ort = require(require.resolve('onnxruntime-node', { paths: [path.resolve(__dirname, '..', '..'), process.cwd()] }));
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, {
    graphOptimizationLevel: a.opt, intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const t1 = process.hrtime.bigint();
  const ranks = {};
  for (const m of session.inputMetadata || []) if (m.shape) ranks[m.name] = m.shape.length;
  const samples = loadSamples({ npyInputs: a.npyInputs }, ranks);
  const t2 = process.hrtime.bigint();
  for (const s of samples) {
    const feeds = {};
    for (const name of session.inputNames) feeds[name] = toOrtTensor(ort, s[name]);
    await session.run(feeds);
  }
  const t3 = process.hrtime.bigint();
  const ms = (x) => Math.round(Number(x) / 1e3) / 1e3;
  console.log(JSON.stringify({ model: path.basename(a.model), samples: samples.length, threads: a.threads, opt: a.opt,
    session_ms: ms(t1 - t0), run_ms: ms(t3 - t2), per_sample_ms: ms((t3 - t2) / BigInt(samples.length)) }));
}

main().catch((e) => {
  process.stderr.write(`ort_time.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
