// det_inputs.js - PP-OCR det eval inputs as .npy: each PNG of a folder resized to HxW, RGB,
// ImageNet mean/std (the RESULTS "Device blob" convert command's preprocessing), written as
// OUT/first/x.npy (the first image, sorted), OUT/all/x.npy (every image stacked on axis 0) and
// OUT/each/NAME/x.npy (one folder per image, NAME the PNG's name without extension).
//   node bench/det/det_inputs.js IMAGE_DIR OUT [H W]
'use strict';
const fs = require('fs');
const path = require('path');
const { imageSample } = require('../quant/inputs');
const { writeNpy } = require('../quant/npy');

const [dir, out, h = '320', w = '320'] = process.argv.slice(2);
const opt = { h: +h, w: +w, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], bgr: false };
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.png')).sort();
const per = 3 * opt.h * opt.w;
const all = new Float32Array(files.length * per);
files.forEach((f, i) => all.set(imageSample(path.join(dir, f), opt).data, i * per));
fs.mkdirSync(path.join(out, 'first'), { recursive: true });
fs.mkdirSync(path.join(out, 'all'), { recursive: true });
writeNpy(path.join(out, 'first', 'x.npy'), { dtype: 'float32', shape: [1, 3, opt.h, opt.w], data: all.slice(0, per) });
writeNpy(path.join(out, 'all', 'x.npy'), { dtype: 'float32', shape: [files.length, 3, opt.h, opt.w], data: all });
files.forEach((f, i) => {
  const d = path.join(out, 'each', path.basename(f, '.png'));
  fs.mkdirSync(d, { recursive: true });
  writeNpy(path.join(d, 'x.npy'), { dtype: 'float32', shape: [1, 3, opt.h, opt.w], data: all.slice(i * per, (i + 1) * per) });
});
console.log(`${files.length} images, first ${files[0]}`);
