// Batched generation with left padding (generateBatch, nextLogits' `pad`, KvCache.keepRows). The
// reference is generate() / nextLogits on each prompt alone: left padding with a key mask and
// shifted positions leaves each row's logits unchanged (1e-5), so greedy ids are identical, rows
// stop where generate() stops (EOS, max new tokens, GPT-2's position limit), and sampled rows
// repeat generate()'s draws for the same seed. On GPT-2, Llama with GQA (with and without an
// adapter), Mistral's sliding window (4) and Qwen2 (q/k/v biases, adapter on every linear).
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, type Sampling } from '../../src/core/eval/generate';
import { generateBatch, generateBatchAsync } from '../../src/core/eval/generateBatch';
import { KvCache } from '../../src/core/models/kvCache';
import type { CausalLM } from '../../src/core/models/causalLm';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter } from '../../src/core/peft/adapterFolder';

const FIX = path.join(__dirname, '..', 'fixtures');

function load(name: string, adapter?: string): CausalLM {
  const { model } = loadModel(path.join(FIX, name));
  if (adapter) loadPeftAdapter(model, path.join(FIX, name, adapter));
  return model;
}

/** Prompts of lengths 1, 3, 7 and 12 with ids inside the vocabulary. */
function prompts(V: number): number[][] {
  return [1, 3, 7, 12].map((n, r) => Array.from({ length: n }, (_, t) => (7 * t + 13 * r + 5) % V));
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Logits rows of a prompt then `next` fed one at a time, the prompt alone through its own cache. */
function aloneLogits(model: CausalLM, prompt: number[], next: number[]): Float32Array[] {
  const cache = new KvCache(model.spec.numLayers);
  const out: Float32Array[] = [];
  for (const feed of [prompt, ...next.map((t) => [t])]) {
    const l = model.nextLogits([feed], cache);
    out.push((l.dataSync() as Float32Array).slice());
    l.dispose();
  }
  cache.dispose();
  return out;
}

const CASES: [string, string | undefined][] = [
  ['gpt2-tiny', undefined],
  ['gpt2-tiny-inverse-layer-idx', undefined],
  ['llama-tiny-gqa-bf16', undefined],
  ['llama-tiny-gqa-bf16', 'lora-r4-qv'],
  ['mistral-tiny-sliding', undefined], // window 4: both the window and the padding hide keys
  ['qwen2-tiny', 'lora-r4-all-linear'],
];

describe.each(CASES)('batched generation on %s (adapter %s)', (name, adapter) => {
  it("left padding with a key mask and shifted positions leaves each row's logits unchanged (1e-5)", () => {
    const model = load(name, adapter);
    const V = model.spec.vocabSize;
    const ps = prompts(V);
    const S = Math.max(...ps.map((p) => p.length));
    const next = ps.map((p, r) => [p[0], (r * 11 + 2) % V, (r * 5 + 9) % V, 40 % V]); // any tokens: the invariant is per step (12 + 4 ≤ 16 positions)
    const cache = new KvCache(model.spec.numLayers);
    const pad = ps.map((p) => S - p.length);
    let worst = 0;
    const alone = ps.map((p, r) => aloneLogits(model, p, next[r]));
    const before = tf.memory().numTensors;
    for (let s = 0; s <= next[0].length; s++) {
      const feed = s === 0 ? ps.map((p, r) => [...new Array<number>(pad[r]).fill(0), ...p]) : next.map((n) => [n[s - 1]]);
      const l = model.nextLogits(feed, cache, { pad });
      const all = l.dataSync() as Float32Array;
      l.dispose();
      ps.forEach((_, r) => (worst = Math.max(worst, maxAbs(all.subarray(r * V, (r + 1) * V), alone[r][s]))));
    }
    expect(worst).toBeLessThan(1e-5);
    cache.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before); // the masks and rotary tables of every step are freed
    model.dispose();
  });

  it('greedy ids equal generate() on each prompt alone, with per-prompt limits and an early EOS', () => {
    const model = load(name, adapter);
    const ps = prompts(model.spec.vocabSize);
    const maxNewTokens = [9, 4, 12, 7];
    const solo = ps.map((p, r) => generate(model, p, { maxNewTokens: maxNewTokens[r], eosIds: [] }));
    const before = tf.memory().numTensors;
    const batched = generateBatch(model, ps, { maxNewTokens, eosIds: [] });
    expect(tf.memory().numTensors).toBe(before); // cache, masks and every step's tensors freed
    expect(batched.map((g) => g.ids)).toEqual(solo.map((g) => g.ids));
    expect(batched.map((g) => g.stop)).toEqual(solo.map((g) => g.stop)); // gpt2-tiny-inverse-layer-idx has 16 positions: its long rows stop there
    // An EOS one row meets on its third token (rows then leave the batch at different steps).
    const eosIds = [solo[2].ids[2]];
    const soloEos = ps.map((p, r) => generate(model, p, { maxNewTokens: maxNewTokens[r], eosIds }));
    const batchedEos = generateBatch(model, ps, { maxNewTokens, eosIds });
    expect(batchedEos.map((g) => [g.ids, g.stop])).toEqual(soloEos.map((g) => [g.ids, g.stop]));
    expect(batchedEos[2].stop).toBe('eos');
    model.dispose();
  });
});

describe('generateBatch', () => {
  it("GPT-2's position limit stops long rows like generate() while short rows go on", () => {
    const model = load('gpt2-tiny');
    const ps = [[4], [1, 2, 3], Array.from({ length: 50 }, (_, i) => (i * 7) % 90), Array.from({ length: 60 }, (_, i) => i % 90)];
    const opts = { maxNewTokens: 30, eosIds: [] };
    const solo = ps.map((p) => generate(model, p, opts));
    const batched = generateBatch(model, ps, opts);
    expect(batched.map((g) => [g.ids, g.stop])).toEqual(solo.map((g) => [g.ids, g.stop]));
    expect(batched.map((g) => g.stop)).toEqual(['max-new-tokens', 'max-new-tokens', 'max-positions', 'max-positions']);
    expect(ps[3].length + batched[3].ids.length - 1).toBe(model.spec.maxPositions);
    model.dispose();
  });

  it('sampled rows draw the same tokens as generate() with the same seed; greedy rows beside them stay greedy', () => {
    for (const name of ['gpt2-tiny', 'llama-tiny-gqa-bf16']) {
      const model = load(name);
      const ps = prompts(model.spec.vocabSize);
      const sampling: (Sampling | undefined)[] = [{ temperature: 1.3, topP: 0.9, seed: 1 }, undefined, { temperature: 0.8, topP: 1, seed: 2 }, { temperature: 1.5, topP: 0.95, seed: 3 }];
      const solo = ps.map((p, r) => generate(model, p, { maxNewTokens: 10, eosIds: [], ...(sampling[r] ? { sampling: sampling[r] } : {}) }));
      const batched = generateBatch(model, ps, { maxNewTokens: 10, eosIds: [], sampling });
      expect(batched.map((g) => g.ids)).toEqual(solo.map((g) => g.ids));
      model.dispose();
    }
  });

  it('batches of any size return results in input order, equal to generate()', () => {
    const model = load('llama-tiny-gqa-bf16');
    const V = model.spec.vocabSize;
    const ps = [5, 1, 9, 2, 12, 3, 7].map((n, r) => Array.from({ length: n }, (_, t) => (3 * t + 17 * r + 1) % V));
    const solo = ps.map((p) => generate(model, p, { maxNewTokens: 6, eosIds: [] }).ids);
    for (const batchSize of [1, 3, 8]) expect(generateBatch(model, ps, { maxNewTokens: 6, eosIds: [], batchSize }).map((g) => g.ids)).toEqual(solo);
    model.dispose();
  });

  it('KvCache.keepRows keeps the chosen rows and drops shared left padding: their next logits are unchanged', () => {
    const model = load('gpt2-tiny');
    const V = model.spec.vocabSize;
    const ps = [[9, 8, 7, 6, 5], [1, 2, 3], [40, 41, 42, 43]];
    const cache = new KvCache(model.spec.numLayers);
    tf.dispose(model.nextLogits(ps.map((p) => [...new Array<number>(5 - p.length).fill(0), ...p]), cache, { pad: [0, 2, 1] }));
    cache.keepRows([1, 2], 3, 1); // rows 1 and 2 keep padding 1 and 0
    expect(cache.length).toBe(4);
    const l = model.nextLogits([[11], [12]], cache, { pad: [1, 0] });
    const all = l.dataSync() as Float32Array;
    expect(maxAbs(all.subarray(0, V), aloneLogits(model, ps[1], [11])[1])).toBeLessThan(1e-5);
    expect(maxAbs(all.subarray(V), aloneLogits(model, ps[2], [12])[1])).toBeLessThan(1e-5);
    tf.dispose(l);
    cache.dispose();
    model.dispose();
  });

  it('rejects what generate() rejects, naming the prompt', () => {
    const model = load('gpt2-tiny');
    expect(() => generateBatch(model, [[1], []], { maxNewTokens: 3, eosIds: [] })).toThrow(/at least one token \(prompt 1\)/);
    expect(() => generateBatch(model, [[1], [2]], { maxNewTokens: [3, 0], eosIds: [] })).toThrow(/positive integer, got 0 \(prompt 1\)/);
    expect(() => generateBatch(model, [[1]], { maxNewTokens: [3, 4], eosIds: [] })).toThrow(/2 entries for 1 prompts/);
    expect(() => generateBatch(model, [new Array<number>(64).fill(1)], { maxNewTokens: 1, eosIds: [] })).toThrow(/64 positions/);
    expect(generateBatch(model, [], { maxNewTokens: 3, eosIds: [] })).toEqual([]);
    model.dispose();
  });
});

describe('generateBatchAsync (the event loop runs between steps)', () => {
  it('gives generateBatch\'s generations (ids and stops) on GPT-2', async () => {
    const model = load('gpt2-tiny');
    const p = prompts(model.spec.vocabSize);
    const opts = { maxNewTokens: [5, 9, 3, 7], eosIds: [], batchSize: 3 };
    const sync = generateBatch(model, p, opts);
    const viaLoop = await generateBatchAsync(model, p, opts);
    expect(viaLoop.map((g) => [g.ids, g.stop])).toEqual(sync.map((g) => [g.ids, g.stop]));
  });

  it('an abort that arrives as an event (a timer, as the worker\'s cancel message does) stops it within a step, not after the batch', async () => {
    const model = load('gpt2-tiny');
    const controller = new AbortController();
    let steps = 0;
    const nextLogits = model.nextLogits.bind(model);
    model.nextLogits = ((...args: Parameters<typeof nextLogits>) => {
      steps++;
      return nextLogits(...args);
    }) as typeof model.nextLogits;
    setTimeout(() => controller.abort(), 0);
    await expect(generateBatchAsync(model, prompts(model.spec.vocabSize), { maxNewTokens: 40, eosIds: [], signal: controller.signal })).rejects.toThrow(/abort/i);
    // The synchronous form would have run all 40 steps before the timer could fire.
    expect(steps).toBeLessThan(5);
  });
});
