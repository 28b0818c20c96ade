#!/usr/bin/env node
// summarize.js - gathers the per-case JSON records of quant_bench.sh into one results.json and
// prints the markdown tables of bench/RESULTS.md: per model every precision / calibration method /
// bias correction with the scheme (ORT optimizations disabled) and ORT's int8 kernels (all), the
// PyTorch FX peer, and calibration speed and memory against ONNX Runtime.
//
//   node bench/quant/summarize.js --dir bench/out/quant/json [--out bench/quant/results.json]
'use strict';

const fs = require('fs');
const path = require('path');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.dir) { process.stderr.write('usage: summarize.js --dir DIR [--out results.json]\n'); process.exit(2); }

const records = fs.readdirSync(args.dir).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(args.dir, f), 'utf8')));
const num = (x) => (typeof x === 'string' && /^-?Infinity$/.test(x) ? Number(x) : x);
const f = (x, d) => { x = num(x); return x === null || x === undefined ? '-' : !Number.isFinite(x) ? (x > 0 ? 'inf' : String(x)) : x.toFixed(d); };

function level(r, name) {
  const l = r.levels && r.levels[name];
  if (!l) return '-';
  if (l.error) return `error: ${l.error.slice(0, 80)}`;
  const o = l.outputs[Object.keys(l.outputs)[0]];
  const parts = [`cos ${f(o.cosine_mean, 4)} (min ${f(o.cosine_min, 4)})`, `SQNR ${f(o.sqnr_db_mean, 1)} (min ${f(o.sqnr_db_min, 1)}) dB`];
  const t = l.task;
  if (r.task === 'det' && t) parts.push(`IoU ${f(t.iou_mean, 4)} (min ${f(t.iou_min, 4)})`);
  if (r.task === 'cls' && t) parts.push(`confident kept ${t.kept}/${t.confident}`);
  if (r.task === 'embed' && t) parts.push(`pooled cos ${f(t.pooled_cosine_mean, 5)} (min ${f(t.pooled_cosine_min, 5)})`);
  if (r.task === 'rec' && t) parts.push(`lines identical ${t.identical}/${t.lines}` + (t.true_text ? `, true text ${t.true_text.quant}/${t.true_text.labelled} (float ${t.true_text.float})` : ''));
  if (l.outputs.last_layer_input) {
    const x = l.outputs.last_layer_input;
    parts.push(`last-layer input cos ${f(x.cosine_mean, 4)} (min ${f(x.cosine_min, 4)})`);
  }
  return parts.join(', ');
}

const lines = [];
const cases = records.filter((r) => !r.kind);
const models = [...new Set(cases.map((r) => r.model || (r.id || '').split('__')[0]))];
for (const m of models) {
  lines.push(`### ${m}`, '', '| precision | method | bias corr. | scheme (ORT opt disabled) | ORT int8 kernels (opt all) | convert s | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of cases.filter((x) => (x.model || (x.id || '').split('__')[0]) === m)) {
    const id = (r.id || '').split('__');
    const prec = r.precision || id[1] || '-';
    const method = id[1] === 'int8' ? id[2] : id[1] === 'w8ref' ? 'weights RTN (bench reference)' : '-';
    const bc = id[3] ? id[3].replace(/^bc/, '') : '-';
    if (r.error) { lines.push(`| ${prec} | ${method} | ${bc} | ${r.error.slice(0, 120)} | | | |`); continue; }
    lines.push(`| ${prec} | ${method} | ${bc} | ${level(r, 'disabled')} | ${level(r, 'all')} | ${f(r.convert_wall_s, 1)} | ` +
      `${r.convert_peak_rss_kb ? f(r.convert_peak_rss_kb / 1024, 0) : '-'} |`);
  }
  lines.push('');
}

const peers = records.filter((r) => r.kind === 'peer' || (r.id || '').startsWith('peer__'));
if (peers.length) {
  lines.push('### PyTorch FX post-training quantization (peer), same weights, calibration and evaluation samples', '',
    '| model | qconfig | run as | logits cos mean (min) | logits SQNR dB mean (min) | last-layer input cos mean (min) | centered logits cos / SQNR dB | torch float vs ORT float cos min |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of peers) {
    if (r.error) { lines.push(`| ${r.id} | ${r.error} | | | | | | |`); continue; }
    for (const kind of ['reference', r.engine]) {
      const x = r[kind];
      if (!x) continue;
      lines.push(`| ${r.model} | ${r.backend}${r.reduce_range ? '' : ' no reduce_range'} | ${kind === 'reference' ? 'reference (Q/DQ in float)' : kind + ' int8 kernels'} | ` +
        `${f(x.logits.cosine_mean, 4)} (${f(x.logits.cosine_min, 4)}) | ${f(x.logits.sqnr_db_mean, 1)} (${f(x.logits.sqnr_db_min, 1)}) | ` +
        `${f(x.last_layer_input.cosine_mean, 4)} (${f(x.last_layer_input.cosine_min, 4)}) | ` +
        `${x.logits_centered ? f(x.logits_centered.cosine_mean, 4) + ' / ' + f(x.logits_centered.sqnr_db_mean, 1) : '-'} | ` +
        `${r.torch_float_vs_onnx_float ? f(r.torch_float_vs_onnx_float.cosine_min, 7) : '-'} |`);
    }
  }
  lines.push('');
}

const speed = records.find((r) => r.kind === 'speed');
if (speed) {
  const s = (x) => (!x ? '-' : x.error ? x.error : `${f(x.wall_s, 2)} s, ${f(x.peak_rss_kb / 1024, 0)} MB`);
  const o = speed.ort_float_100 || {};
  lines.push(`### Calibration speed and memory (MiniLM-like encoder, 1x${speed.seq_len}, 100 samples)`, '',
    '| what | wall, peak RSS |', '| --- | --- |',
    `| ORT float32 inference, 100 samples (whole process; session ${f(o.session_ms, 0)} ms, session.run loop ${f(o.run_ms, 0)} ms) | ${s(speed.ort_float_100)} |`,
    `| npuconv calibrate, 100 samples | ${s(speed.npuconv_calibrate_100)} |`,
    `| npuconv calibrate, 1000 samples | ${s(speed.npuconv_calibrate_1000)} |`,
    `| npuconv convert --precision int8, 100 samples | ${s(speed.npuconv_convert_100)} |`,
    `| npuconv convert --precision int8, 1000 samples | ${s(speed.npuconv_convert_1000)} |`,
    `| calibrate / ORT time (processes; vs the run loop only) | ${f(speed.calibrate_time_ratio_vs_ort_process, 2)} (${f(speed.calibrate_time_ratio_vs_ort_inference, 2)}) |`,
    `| convert int8 / ORT time (processes) | ${f(speed.convert_time_ratio_vs_ort_process, 2)} |`,
    `| peak RSS 1000 / 100 samples: calibrate, convert | ${f(speed.calibrate_rss_ratio_1000_vs_100, 3)}, ${f(speed.convert_rss_ratio_1000_vs_100, 3)} |`, '');
}

const text = lines.join('\n');
process.stdout.write(text + '\n');
if (args.out) {
  fs.writeFileSync(args.out, JSON.stringify({ generated_by: 'bench/quant/quant_bench.sh', records }, null, 1) + '\n');
  process.stderr.write(`summarize.js: ${records.length} records -> ${args.out}\n`);
}
