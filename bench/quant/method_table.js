#!/usr/bin/env node
// method_table.js - the compact method x bias-correction table of issue 9 section 6 from a
// quant_bench.sh results file: per model and int8 setting, the task metric and output SQNR of the
// scheme (ORT optimizations disabled) and the per-layer SQNR summary of convert's report.
//
//   node bench/quant/method_table.js bench/quant/results.json > table.md
'use strict';
const fs = require('fs');
const file = process.argv[2] || 'bench/quant/results.json';
const { records } = JSON.parse(fs.readFileSync(file, 'utf8'));
const byModel = new Map();
for (const r of records) {
  if (r.precision !== 'int8' || !r.levels) continue;
  const model = r.model;
  if (!byModel.has(model)) byModel.set(model, []);
  byModel.get(model).push(r);
}
const f = (v, d) => (v === undefined || v === null ? '-' : Number(v).toFixed(d));
for (const [model, rows] of byModel) {
  console.log(`\n**${model}**\n`);
  console.log('| method | bias corr. | task | output SQNR dB mean (min) | layers: min / median SQNR dB (worst) |');
  console.log('| --- | --- | --- | --- | --- |');
  rows.sort((a, b) => a.id.localeCompare(b.id));
  for (const r of rows) {
    const m = /__int8__(.*)__bc(on|off)$/.exec(r.id) || [];
    const lv = r.levels.disabled;
    const out = Object.values(lv.outputs)[0];
    const t = lv.task || {};
    let task = '';
    if (t.iou_mean !== undefined) task = `IoU ${f(t.iou_mean, 4)} (min ${f(t.iou_min, 4)})`;
    else if (t.pooled_cosine_mean !== undefined) task = `pooled cos ${f(t.pooled_cosine_mean, 5)} (min ${f(t.pooled_cosine_min, 5)})`;
    else if (t.kept !== undefined) task = `confident kept ${t.kept}/${t.confident}`;
    else if (lv.outputs.last_layer_input) task = `logits cos ${f(out.cosine_mean, 4)}, last-layer input cos ${f(lv.outputs.last_layer_input.cosine_mean, 4)}`;
    let layers = '-';
    if (r.report && fs.existsSync(r.report)) {
      const le = JSON.parse(fs.readFileSync(r.report, 'utf8')).layer_error;
      if (le) layers = `${f(le.summary.min_sqnr_db, 1)} / ${f(le.summary.median_sqnr_db, 1)} (${le.summary.worst})`;
    }
    console.log(`| ${m[1] || r.id} | ${m[2] || '-'} | ${task} | ${f(out.sqnr_db_mean, 1)} (${f(out.sqnr_db_min, 1)}) | ${layers} |`);
  }
}
