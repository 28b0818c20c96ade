#!/usr/bin/env node
// ort_bench.js - times ONNX Runtime (onnxruntime-node, CPU EP) on one model with the inputs that
// bench/exec_bench wrote (--dump DIR: raw files + inputs.json, see tests/oracle/ort_run.js).
// Runs --warmup untimed then --repeat timed session.run() calls and prints one JSON line
// {"model", "threads", "runs", "median_ms", "min_ms", "mean_ms", "opt"}.
//
//   node bench/ort_bench.js --model M.onnx --inputs DIR/inputs.json [--threads N]
//                           [--warmup W] [--repeat R] [--opt all|extended|basic|disabled]
//
// Default optimization level is "all" (what a deployment would use); intra-op threads as given,
// inter-op 1, sequential execution.
'use strict';

const fs = require('fs');
const path = require('path');

const kArrays = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array,
  int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array, float16: Uint16Array,
};

function parseArgs(argv) {
  const a = { threads: 1, warmup: 2, repeat: 10, opt: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`missing value after ${k}`);
    if (k === '--model') a.model = v;
    else if (k === '--inputs') a.inputs = v;
    else if (k === '--threads') a.threads = parseInt(v, 10);
    else if (k === '--warmup') a.warmup = parseInt(v, 10);
    else if (k === '--repeat') a.repeat = parseInt(v, 10);
    else if (k === '--opt') a.opt = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model || !a.inputs) throw new Error('usage: --model M --inputs J [--threads N] [--warmup W] [--repeat R]');
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const repo = path.resolve(__dirname, '..');
  const ort = require(require.resolve('onnxruntime-node', { paths: [repo, process.cwd()] }));
  const spec = JSON.parse(fs.readFileSync(args.inputs, 'utf8'));
  const base = path.dirname(path.resolve(args.inputs));
  const feeds = {};
  for (const inp of spec.inputs) {
    const Arr = kArrays[inp.dtype];
    if (!Arr) throw new Error(`input ${inp.name}: unsupported dtype ${inp.dtype}`);
    const buf = fs.readFileSync(path.resolve(base, inp.file));
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
  const times = [];
  let cpu0 = process.cpuUsage();
  for (let i = 0; i < args.warmup + args.repeat; i++) {
    if (i === args.warmup) cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= args.warmup) times.push(ms);
  }
  // CPU time (user + system, every thread of the process) per timed run: on a shared machine
  // less disturbed by other processes than the wall times (bench/exec/cpu_time.sh).
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / Math.max(1, args.repeat);
  const sorted = [...times].sort((x, y) => x - y);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  const mean = times.reduce((x, y) => x + y, 0) / n;
  const r = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({ model: path.basename(args.model), threads: args.threads, runs: n,
    median_ms: r(median), min_ms: r(sorted[0]), mean_ms: r(mean), cpu_ms: r(cpuMs), opt: args.opt }));
}

main().catch((e) => {
  process.stderr.write(`ort_bench.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
