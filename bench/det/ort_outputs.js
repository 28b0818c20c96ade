// ort_outputs.js - runs an ONNX model in onnxruntime-node (one thread) on each sample of a
// stacked .npy (axis 0) and writes the first output stacked the same way, OUT/OUTPUT.npy: a
// reference for `npuconv validate --reference-outputs`.
//   node bench/det/ort_outputs.js MODEL.onnx X.npy OUT disabled|basic|extended|all
'use strict';
const fs = require('fs');
const path = require('path');
const { readNpy, writeNpy } = require('../quant/npy');

const ort = require(path.join(__dirname, '..', '..', 'node_modules', 'onnxruntime-node'));
(async () => {
  const [model, input, out, level] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, { graphOptimizationLevel: level, intraOpNumThreads: 1 });
  const x = readNpy(input);
  const n = x.shape[0], per = x.data.length / n;
  let dims = null, all = null;
  for (let i = 0; i < n; i++) {
    const t = new ort.Tensor('float32', x.data.slice(i * per, (i + 1) * per), [1, ...x.shape.slice(1)]);
    const y = (await s.run({ [s.inputNames[0]]: t }))[s.outputNames[0]];
    if (!all) dims = y.dims, all = new Float32Array(y.data.length * n);
    all.set(y.data, i * y.data.length);
  }
  fs.mkdirSync(out, { recursive: true });
  writeNpy(path.join(out, `${s.outputNames[0]}.npy`), { dtype: 'float32', shape: [n, ...dims.slice(1)], data: all });
})().catch((e) => { console.error(String(e)); process.exit(1); });
