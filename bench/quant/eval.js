#!/usr/bin/env node
// eval.js - accuracy of a quantized (or otherwise converted) ONNX model against its float
// original, both run in ONNX Runtime (onnxruntime-node, CPU) on the same held-out inputs.
// The converted model runs twice: graphOptimizationLevel 'disabled' (Q/DQ execute as written,
// in float: the quantization scheme itself) and 'all' (ONNX Runtime fuses QDQ into its int8
// kernels: what a deployment on ORT gets). Issue 9 section 6.
//
//   node bench/quant/eval.js --float F.onnx --quant Q.onnx [--label L] [--json OUT.json]
//        (--input NAME=FILE.npy ... | --images DIR|LIST.txt --size HxW --mean a,b,c --std a,b,c
//         [--bgr] [--image-input NAME])
//        [--task generic|det|cls|embed|rec] [--opt disabled,all] [--float-opt all] [--threads N]
//        [--limit N] [--dump-dir DIR] [--rec-dict KEYS.txt] [--rec-labels LABELS.txt]
//
// Inputs: each .npy is a stack of samples (see inputs.js splitStack); images are preprocessed
// like npuconv's --calib image folders (mean/std in the model's channel order, 0..255 scale).
// Without --quant the float model runs at each level against itself at --float-opt (a self-test:
// ORT's float graph rewrites only, so cosine ~1 and SQNR > 100 dB).
//
// Per output and optimization level: cosine and SQNR (10 log10(sum x^2 / sum (x-y)^2)) per
// sample (mean, min), SQNR pooled over all samples, max abs error. Task metrics:
//   det    mean/min IoU of the p > 0.3 binary maps (first output)
//   cls    argmax agreement on the float model's confident predictions (max p > 0.9)
//   embed  per sample: last_hidden_state mean-pooled over attention_mask, L2-normalized, cosine
//   rec    greedy CTC decoding (argmax per step, repeats collapsed, blank 0 dropped): lines whose
//          decoded class sequence equals the float model's; the float model's near-ties (steps
//          whose top two probabilities are within 0.02 / 0.1), the steps whose argmax flips with
//          the float margin there, lines whose confident steps (float margin >= 0.1) all agree;
//          with --rec-dict KEYS.txt --rec-labels LABELS.txt also lines decoded to the true text
// Prints JSON to stdout (and --json), and one markdown table row per level to stderr
// (the header with --header).
'use strict';

const fs = require('fs');
const path = require('path');
const { loadSamples, toOrtTensor } = require('./inputs');
const { writeNpy } = require('./npy');

function parseArgs(argv) {
  const a = { npyInputs: [], task: 'generic', opt: ['disabled', 'all'], floatOpt: 'all', threads: 0,
    limit: 0, bgr: false, imageInput: null, header: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--bgr') { a.bgr = true; continue; }
    if (k === '--rgb') { a.bgr = false; continue; }
    if (k === '--header') { a.header = true; continue; }
    const v = argv[++i];
    if (v === undefined) throw new Error(`missing value after ${k}`);
    if (k === '--float') a.float = v;
    else if (k === '--quant') a.quant = v;
    else if (k === '--label') a.label = v;
    else if (k === '--json') a.json = v;
    else if (k === '--input') {
      const eq = v.indexOf('=');
      if (eq < 1) throw new Error(`--input ${v}: expected NAME=FILE.npy`);
      a.npyInputs.push([v.slice(0, eq), v.slice(eq + 1)]);
    } else if (k === '--images') a.images = v;
    else if (k === '--size') a.size = v.split('x').map(Number);
    else if (k === '--mean') a.mean = v.split(',').map(Number);
    else if (k === '--std') a.std = v.split(',').map(Number);
    else if (k === '--image-input') a.imageInput = v;
    else if (k === '--task') a.task = v;
    else if (k === '--opt') a.opt = v.split(',');
    else if (k === '--float-opt') a.floatOpt = v;
    else if (k === '--threads') a.threads = parseInt(v, 10);
    else if (k === '--limit') a.limit = parseInt(v, 10);
    else if (k === '--dump-dir') a.dumpDir = v;
    else if (k === '--rec-dict') a.recDict = v;
    else if (k === '--rec-labels') a.recLabels = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.float) throw new Error('--float MODEL is required');
  if (!a.images && !a.npyInputs.length) throw new Error('give --input NAME=FILE.npy or --images');
  if (a.images && (!a.size || !a.mean || !a.std)) throw new Error('--images needs --size HxW --mean --std');
  if (!['generic', 'det', 'cls', 'embed', 'rec'].includes(a.task)) throw new Error(`unknown --task ${a.task}`);
  return a;
}

// float16 <-> float32 (IEEE binary16 bits in a Uint16Array), for fp16 models without kept IO types.
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
function toHalf(x) {
  f32[0] = x;
  const b = u32[0], s = (b >>> 16) & 0x8000, e = (b >>> 23) & 0xff, m = b & 0x7fffff;
  if (e === 0xff) return s | 0x7c00 | (m ? 0x200 : 0);
  const he = e - 127 + 15;
  if (he >= 0x1f) return s | 0x7c00;
  if (he <= 0) {
    if (he < -10) return s;
    const mm = (m | 0x800000) >>> (1 - he);
    return s | ((mm + 0xfff + ((mm >>> 13) & 1)) >>> 13);
  }
  const r = s | (he << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && (r & 1)) ? r + 1 : r;
}
function fromHalf(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function asFloat(t) {
  if (t.type === 'float16') return Float64Array.from(t.data, fromHalf);
  return Float64Array.from(t.data, Number);
}

async function runModel(ort, file, opt, threads, samples) {
  const session = await ort.InferenceSession.create(file, {
    graphOptimizationLevel: opt, intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const meta = {};
  for (const m of session.inputMetadata || []) meta[m.name] = m;
  const outs = [];
  for (const s of samples) {
    const feeds = {};
    for (const name of session.inputNames) {
      if (!s[name]) throw new Error(`${file}: input "${name}" has no data`);
      let t = s[name];
      if (meta[name] && meta[name].type === 'float16' && t.dtype === 'float32') {
        t = { dtype: 'float16', shape: t.shape, data: Uint16Array.from(t.data, toHalf) };
      }
      feeds[name] = toOrtTensor(ort, t);
    }
    const r = await session.run(feeds);
    const o = {};
    for (const name of session.outputNames) o[name] = { dims: r[name].dims, data: asFloat(r[name]) };
    outs.push(o);
  }
  const ranks = {};
  for (const m of session.inputMetadata || []) if (m.shape) ranks[m.name] = m.shape.length;
  return { outs, outputNames: session.outputNames, ranks };
}

function stats(vals) {
  const v = vals.filter((x) => !Number.isNaN(x));
  if (!v.length) return { mean: null, min: null };
  return { mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v) };
}

function cosine(x, y) {
  let xy = 0, xx = 0, yy = 0;
  for (let i = 0; i < x.length; i++) { xy += x[i] * y[i]; xx += x[i] * x[i]; yy += y[i] * y[i]; }
  if (xx === 0 && yy === 0) return 1;
  return xy / Math.sqrt(xx * yy);
}

function sqnrParts(x, y) {
  let sig = 0, noise = 0, maxAbs = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - y[i];
    sig += x[i] * x[i]; noise += d * d;
    if (Math.abs(d) > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? NaN : Math.abs(d);
  }
  return { sig, noise, maxAbs };
}
const dB = (sig, noise) => (noise === 0 ? Infinity : 10 * Math.log10(sig / noise));

function compareOutputs(ref, got, outputNames) {
  const res = {};
  for (const name of outputNames) {
    const cos = [], sq = [];
    let sig = 0, noise = 0, maxAbs = 0;
    for (let i = 0; i < ref.length; i++) {
      const x = ref[i][name].data, y = got[i][name] && got[i][name].data;
      if (!y || y.length !== x.length) throw new Error(`output "${name}": sample ${i}: shape differs from the float model`);
      const p = sqnrParts(x, y);
      cos.push(cosine(x, y)); sq.push(dB(p.sig, p.noise));
      sig += p.sig; noise += p.noise; maxAbs = Math.max(maxAbs, p.maxAbs);
    }
    const c = stats(cos), s = stats(sq);
    res[name] = { cosine_mean: c.mean, cosine_min: c.min, sqnr_db_mean: s.mean, sqnr_db_min: s.min,
      sqnr_db_pooled: dB(sig, noise), max_abs_err: maxAbs };
  }
  return res;
}

function detMetric(ref, got, name, thr = 0.3) {
  const ious = [];
  for (let i = 0; i < ref.length; i++) {
    const x = ref[i][name].data, y = got[i][name].data;
    let inter = 0, uni = 0;
    for (let j = 0; j < x.length; j++) {
      const a = x[j] > thr, b = y[j] > thr;
      if (a && b) inter++;
      if (a || b) uni++;
    }
    ious.push(uni === 0 ? 1 : inter / uni);
  }
  const s = stats(ious);
  return { iou_mean: s.mean, iou_min: s.min, threshold: thr, per_sample: ious };
}

function argmaxRows(t) {
  const classes = t.dims[t.dims.length - 1];
  const rows = [];
  for (let r = 0; r * classes < t.data.length; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (t.data[r * classes + c] > t.data[r * classes + best]) best = c;
    rows.push({ arg: best, p: t.data[r * classes + best] });
  }
  return rows;
}

function clsMetric(ref, got, name, thr = 0.9) {
  let confident = 0, kept = 0;
  const classes = {};
  for (let i = 0; i < ref.length; i++) {
    const a = argmaxRows(ref[i][name]), b = argmaxRows(got[i][name]);
    a.forEach((r, j) => {
      classes[r.arg] = (classes[r.arg] || 0) + 1;
      if (r.p > thr) { confident++; if (b[j].arg === r.arg) kept++; }
    });
  }
  return { confident, kept, agreement: confident ? kept / confident : null, threshold: thr, float_classes: classes };
}

// CTC greedy decoding (PP-OCR rec): per time step the argmax class, repeats collapsed, blank
// (class 0) dropped. A line is kept when the quantized model decodes exactly the float model's
// class sequence.
function ctcGreedy(t) {
  const out = [];
  let prev = -1;
  for (const r of argmaxRows(t)) {
    if (r.arg !== prev && r.arg !== 0) out.push(r.arg);
    prev = r.arg;
  }
  return out;
}

// Per step of a [1, T, C] probability tensor: top-1 class and the gap to the second probability.
function top2Rows(t) {
  const classes = t.dims[t.dims.length - 1];
  const rows = [];
  for (let r = 0; r * classes < t.data.length; r++) {
    let b1 = -1, b2 = -1;
    for (let c = 0; c < classes; c++) {
      const v = t.data[r * classes + c];
      if (b1 < 0 || v > t.data[r * classes + b1]) { b2 = b1; b1 = c; } else if (b2 < 0 || v > t.data[r * classes + b2]) b2 = c;
    }
    rows.push({ arg: b1, second: b2, margin: t.data[r * classes + b1] - t.data[r * classes + b2] });
  }
  return rows;
}

const kTieMargins = [0.02, 0.1];

// The float model's own decision margins: steps (and lines with a step) whose top two
// probabilities are within each of kTieMargins. Such steps flip under any small perturbation.
function recMargins(ref, name) {
  const out = { steps: 0, min_margin_per_line: [] };
  for (const m of kTieMargins) { out[`steps_below_${m}`] = 0; out[`lines_below_${m}`] = 0; }
  for (const o of ref) {
    const rows = top2Rows(o[name]);
    out.steps += rows.length;
    let mn = Infinity;
    for (const r of rows) mn = Math.min(mn, r.margin);
    out.min_margin_per_line.push(Number(mn.toFixed(4)));
    for (const m of kTieMargins) {
      const n = rows.filter((r) => r.margin < m).length;
      out[`steps_below_${m}`] += n;
      if (n) out[`lines_below_${m}`]++;
    }
  }
  return out;
}

const classText = (seq, dict) => (dict ? seq.map((k) => (k >= 1 && k <= dict.length ? dict[k - 1] : '?')).join('') : null);

// labels: the true text per sample (or null); dict: the character list (class k = dict[k-1]).
function recMetric(ref, got, name, labels, dict) {
  let identical = 0, confidentAgree = 0, trueFloat = 0, trueQuant = 0;
  const differing = [], flips = [];
  for (let i = 0; i < ref.length; i++) {
    const a = ctcGreedy(ref[i][name]), b = ctcGreedy(got[i][name]);
    if (a.length === b.length && a.every((v, k) => v === b[k])) identical++;
    else differing.push(i);
    // Steps whose argmax differs, with the float model's margin there.
    const ra = top2Rows(ref[i][name]), rb = argmaxRows(got[i][name]);
    let confidentFlip = false;
    ra.forEach((r, s) => {
      if (rb[s].arg === r.arg) return;
      flips.push({ line: i, step: s, float: r.arg, float_second: r.second, float_margin: Number(r.margin.toFixed(4)), quant: rb[s].arg });
      if (r.margin >= kTieMargins[1]) confidentFlip = true;
    });
    if (!confidentFlip) confidentAgree++;
    if (labels && dict && labels[i] !== null) {
      if (classText(a, dict) === labels[i]) trueFloat++;
      if (classText(b, dict) === labels[i]) trueQuant++;
    }
  }
  const r = { lines: ref.length, identical, differing,
    // Lines where every step the float model decides by at least kTieMargins[1] keeps its argmax.
    [`confident_steps_agree_${kTieMargins[1]}`]: confidentAgree,
    flips_total: flips.length,
    [`flips_float_margin_below_${kTieMargins[1]}`]: flips.filter((f) => f.float_margin < kTieMargins[1]).length,
    flips: flips.slice(0, 200) };
  if (labels && dict) {
    r.true_text = { labelled: labels.filter((l) => l !== null).length, float: trueFloat, quant: trueQuant,
      float_text: ref.map((o) => classText(ctcGreedy(o[name]), dict)),
      quant_text: got.map((o) => classText(ctcGreedy(o[name]), dict)) };
  }
  return r;
}

function pooled(t, mask) {
  const [, seq, hidden] = t.dims;
  const v = new Float64Array(hidden);
  let n = 0;
  for (let s = 0; s < seq; s++) {
    if (mask && !mask[s]) continue;
    n++;
    for (let h = 0; h < hidden; h++) v[h] += t.data[s * hidden + h];
  }
  let norm = 0;
  for (let h = 0; h < hidden; h++) { v[h] /= Math.max(n, 1); norm += v[h] * v[h]; }
  norm = Math.sqrt(norm) || 1;
  return v.map((x) => x / norm);
}

function embedMetric(ref, got, name, samples) {
  const cos = samples.map((s, i) => {
    const m = s.attention_mask ? Array.from(s.attention_mask.data, (x) => Number(x) !== 0) : null;
    return cosine(pooled(ref[i][name], m), pooled(got[i][name], m));
  });
  const s = stats(cos);
  return { pooled_cosine_mean: s.mean, pooled_cosine_min: s.min, per_sample: cos };
}

const fmt = (x, d) => (x === null || x === undefined ? '-' : !Number.isFinite(x) ? String(x) : x.toFixed(d));

function tableRow(label, level, r, task) {
  const first = r.outputs[Object.keys(r.outputs)[0]];
  let extra = '';
  if (task === 'det') extra = `IoU ${fmt(r.task.iou_mean, 4)} / min ${fmt(r.task.iou_min, 4)}`;
  if (task === 'cls') extra = `kept ${r.task.kept}/${r.task.confident}`;
  if (task === 'rec') {
    extra = `lines identical ${r.task.identical}/${r.task.lines}, confident steps agree ` +
      `${r.task[`confident_steps_agree_${kTieMargins[1]}`]}/${r.task.lines}`;
    if (r.task.true_text) extra += `, true text float ${r.task.true_text.float} / quant ${r.task.true_text.quant} of ${r.task.true_text.labelled}`;
  }
  if (task === 'embed') extra = `pooled cos ${fmt(r.task.pooled_cosine_mean, 5)} / min ${fmt(r.task.pooled_cosine_min, 5)}`;
  if (r.outputs.last_layer_input) {
    const l = r.outputs.last_layer_input;
    extra += `${extra ? '; ' : ''}last-layer input cos ${fmt(l.cosine_mean, 4)} / min ${fmt(l.cosine_min, 4)}`;
  }
  return `| ${label} | ${level} | ${fmt(first.cosine_mean, 4)} | ${fmt(first.cosine_min, 4)} | ` +
    `${fmt(first.sqnr_db_mean, 1)} | ${fmt(first.sqnr_db_min, 1)} | ${fmt(first.max_abs_err, 3)} | ${extra} |`;
}
const kHeader = '| model | ORT opt | cos mean | cos min | SQNR dB mean | SQNR dB min | max abs err | task |\n' +
  '| --- | --- | --- | --- | --- | --- | --- | --- |';

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const repo = path.resolve(__dirname, '..', '..');
  const ort = require(require.resolve('onnxruntime-node', { paths: [repo, process.cwd()] }));
  const probe = await ort.InferenceSession.create(a.float);
  const ranks = {};
  for (const m of probe.inputMetadata || []) if (m.shape) ranks[m.name] = m.shape.length;
  const image = a.images ? { name: a.imageInput || probe.inputNames[0], h: a.size[0], w: a.size[1],
    mean: a.mean, std: a.std, bgr: a.bgr } : null;
  let samples = loadSamples({ npyInputs: a.npyInputs, images: a.images, image }, ranks);
  if (a.limit > 0) samples = samples.slice(0, a.limit);
  if (!samples.length) throw new Error('no evaluation samples');

  // rec: the character list (PaddleOCR's ppocr_keys: class k is line k-1, the last class a space)
  // and the true text of each image ("path<TAB>text" lines, paths relative to the labels file).
  let recDict = null, recLabels = null;
  if (a.recDict) {
    recDict = fs.readFileSync(a.recDict, 'utf8').split('\n');
    if (recDict[recDict.length - 1] === '') recDict.pop();
    recDict.push(' ');
  }
  if (a.recLabels) {
    if (!a.images) throw new Error('--rec-labels needs --images');
    const byPath = {};
    for (const l of fs.readFileSync(a.recLabels, 'utf8').split('\n')) {
      const tab = l.indexOf('\t');
      if (tab > 0) byPath[path.resolve(path.dirname(a.recLabels), l.slice(0, tab))] = l.slice(tab + 1);
    }
    const { listImages } = require('./inputs');
    recLabels = listImages(a.images).slice(0, samples.length).map((f) => (f in byPath ? byPath[f] : null));
  }

  const t0 = Date.now();
  const ref = await runModel(ort, a.float, a.floatOpt, a.threads, samples);
  const result = { label: a.label || path.basename(a.quant || a.float), float: a.float, quant: a.quant || a.float,
    task: a.task, samples: samples.length, float_opt: a.floatOpt, levels: {} };
  if (a.task === 'rec') result.float_margins = recMargins(ref.outs, ref.outputNames[0]);
  for (const level of a.opt) {
    try {
      const got = await runModel(ort, a.quant || a.float, level, a.threads, samples);
      const r = { outputs: compareOutputs(ref.outs, got.outs, ref.outputNames) };
      const main0 = ref.outputNames[0];
      if (a.task === 'det') r.task = detMetric(ref.outs, got.outs, main0);
      if (a.task === 'cls') r.task = clsMetric(ref.outs, got.outs, main0);
      if (a.task === 'rec') r.task = recMetric(ref.outs, got.outs, main0, recLabels, recDict);
      if (a.task === 'embed') r.task = embedMetric(ref.outs, got.outs, main0, samples);
      result.levels[level] = r;
      if (a.dumpDir) {
        fs.mkdirSync(a.dumpDir, { recursive: true });
        for (const name of ref.outputNames) {
          const all = got.outs.flatMap((o) => Array.from(o[name].data));
          const dims = [got.outs.length, ...got.outs[0][name].dims.slice(1)];
          writeNpy(path.join(a.dumpDir, `${level}_${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`),
            { dtype: 'float32', shape: dims, data: Float32Array.from(all) });
        }
      }
    } catch (e) {
      result.levels[level] = { error: String(e && e.message ? e.message : e) };
    }
  }
  result.seconds = (Date.now() - t0) / 1000;
  const text = JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1);
  if (a.json) fs.writeFileSync(a.json, text + '\n');
  process.stdout.write(text + '\n');
  if (a.header) process.stderr.write(kHeader + '\n');
  for (const level of a.opt) {
    const r = result.levels[level];
    process.stderr.write(r.error ? `| ${result.label} | ${level} | error: ${r.error} |\n` : tableRow(result.label, level, r, a.task) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`eval.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
