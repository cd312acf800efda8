// `npm run bench -- --tokenize`: encode speed of the tokenizer's fast path (src/core/hf/fastTokenize.ts)
// against the library's plain encode, on generated prompt/completion rows like issue 14's lint
// file ("Define: <5 common words>" / " <20 common words>"). Plain and fast alternate, each round
// with freshly loaded tokenizers (a cold memo, as one lint or training run starts), and the ids
// of both are checked to be equal.
import { performance } from 'node:perf_hooks';
import { loadTokenizer, type LoraTokenizer } from '../core/hf/tokenizer';

const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we ' +
  'when your can said there use an each which she do how their if will up other about out many then them these so some her would make ' +
  'like him into time has look two more write go see number no way could people my than first water been call who oil its now find long ' +
  'down day did get come made may part'
).split(' ');

function rows(n: number): string[][] {
  let seed = 14;
  const next = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const words = (k: number): string => Array.from({ length: k }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ');
  return Array.from({ length: n }, () => {
    const prompt = `Define: ${words(5)}`;
    const completion = ` ${words(20)}`;
    return [prompt, completion, prompt + completion];
  });
}

function load(modelDir: string, fastPath: boolean): LoraTokenizer {
  const tok = loadTokenizer(modelDir, { fastPath });
  if (!tok) throw new Error(`${modelDir} has no tokenizer.json; pass a model folder with one (--tokenize-model)`);
  return tok;
}

/** Encodes every text of every row; returns the time and a checksum of the ids. */
function run(tok: LoraTokenizer, texts: string[][]): { ms: number; tokens: number; sum: number } {
  let tokens = 0;
  let sum = 0;
  const t0 = performance.now();
  for (const row of texts) {
    for (const text of row) {
      const ids = tok.encode(text, { addSpecialTokens: true });
      tokens += ids.length;
      for (let i = 0; i < ids.length; i++) sum = (sum * 31 + ids[i]) % 2147483647;
    }
  }
  return { ms: performance.now() - t0, tokens, sum };
}

export function tokenizerBench(modelDir: string, n: number, repeat: number): void {
  const texts = rows(n);
  const fastPath = load(modelDir, true).encodePath;
  console.log(`tokenizer of ${modelDir}: encode path "${fastPath}"; ${n} rows × 3 texts (prompt, completion, both), addSpecialTokens, fresh tokenizers per round\n`);
  console.log('| round | path | ms | texts/s | tokens/s |');
  console.log('| --- | --- | --- | --- | --- |');
  const best = { plain: Infinity, fast: Infinity };
  let check: number | undefined;
  for (let r = 1; r <= repeat; r++) {
    for (const path of ['plain', 'fast'] as const) {
      const res = run(load(modelDir, path === 'fast'), texts);
      if (check !== undefined && res.sum !== check) throw new Error(`the ${path} path gave other ids than the first round (checksum ${res.sum} vs ${check})`);
      check = res.sum;
      best[path] = Math.min(best[path], res.ms);
      console.log(`| ${r} | ${path} | ${res.ms.toFixed(0)} | ${((3 * n) / (res.ms / 1000)).toFixed(0)} | ${(res.tokens / (res.ms / 1000)).toFixed(0)} |`);
    }
  }
  console.log(`\nbest plain ${best.plain.toFixed(0)} ms, best fast ${best.fast.toFixed(0)} ms: ×${(best.plain / best.fast).toFixed(1)}; ids identical (checksum ${check})`);
}
