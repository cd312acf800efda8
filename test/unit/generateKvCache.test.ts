// Incremental decoding: a KV cache gives the same logits (1e-4) and the same greedy tokens as
// recomputing the whole sequence every step, for GPT-2, Llama with grouped-query attention, Mistral's
// sliding window and a model with a LoRA adapter; sampling is reproducible from its seed.
import * as tf from '@tensorflow/tfjs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { argmax, generate, pickPromptExamples, promptOf, sampleToken } from '../../src/core/eval/generate';
import { KvCache } from '../../src/core/models/kvCache';
import type { CausalLM } from '../../src/core/models/causalLm';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter } from '../../src/core/peft/adapterFolder';
import { Rng } from '../../src/core/util/rng';

const FIX = path.join(__dirname, '..', 'fixtures');

function lastRow(model: CausalLM, seq: number[]): Float32Array {
  const l = model.logits([seq]);
  const V = model.spec.vocabSize;
  const row = (l.dataSync() as Float32Array).slice((seq.length - 1) * V, seq.length * V);
  l.dispose();
  return row;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Greedy decoding by full recomputation, comparing every step's logits with the cached path. */
function checkAgainstFullRecompute(model: CausalLM, prompt: number[], steps: number): { cached: number[]; full: number[]; worst: number } {
  const cache = new KvCache(model.spec.numLayers);
  const seqFull = [...prompt];
  const full: number[] = [];
  const cached: number[] = [];
  let worst = 0;
  let feed = [...prompt];
  for (let s = 0; s < steps; s++) {
    const l = model.nextLogits([feed], cache);
    const rowCached = l.dataSync() as Float32Array;
    l.dispose();
    const rowFull = lastRow(model, seqFull);
    worst = Math.max(worst, maxAbs(rowCached, rowFull));
    cached.push(argmax(rowCached));
    full.push(argmax(rowFull));
    seqFull.push(full[s]);
    feed = [cached[s]];
  }
  expect(cache.length).toBe(prompt.length + steps - 1);
  cache.dispose();
  return { cached, full, worst };
}

const CASES: [string, string | undefined, number][] = [
  ['gpt2-tiny', undefined, 20],
  ['gpt2-tiny-inverse-layer-idx', undefined, 12],
  ['llama-tiny-gqa-bf16', undefined, 20],
  ['llama-tiny-gqa-bf16', 'lora-r4-qv', 20],
  ['mistral-tiny-sliding', undefined, 8], // window 4, 12 positions in the fixture: the cache must mask old keys
  ['qwen2-tiny', 'lora-r4-all-linear', 12],
];

describe.each(CASES)('KV cache on %s (adapter %s)', (name, adapter, steps) => {
  it('logits equal full recomputation within 1e-4 at every step; greedy tokens identical', () => {
    const { model } = loadModel(path.join(FIX, name));
    if (adapter) loadPeftAdapter(model, path.join(FIX, name, adapter));
    const prompt = [3, 17, 5, 42, 8].map((t) => t % model.spec.vocabSize);
    const { cached, full, worst } = checkAgainstFullRecompute(model, prompt, steps);
    expect(worst).toBeLessThan(1e-4);
    expect(cached).toEqual(full);
    const before = tf.memory().numTensors;
    const g = generate(model, prompt, { maxNewTokens: steps, eosIds: [] });
    expect(tf.memory().numTensors).toBe(before); // the cache and every step's tensors are freed
    expect(g.ids).toEqual(full);
    expect(g.stop).toBe('max-new-tokens');
    model.dispose();
  });
});

describe('generate', () => {
  it('a batch of two equal-length prompts through the cache equals each prompt alone', () => {
    const { model } = loadModel(path.join(FIX, 'llama-tiny-gqa-bf16'));
    const [p1, p2] = [[1, 9, 33, 4], [7, 7, 120, 64]];
    const cache = new KvCache(model.spec.numLayers);
    const both = model.nextLogits([p1, p2], cache);
    const step = model.nextLogits([[5], [6]], cache);
    const V = model.spec.vocabSize;
    expect(maxAbs((both.dataSync() as Float32Array).slice(V), lastRow(model, p2))).toBeLessThan(1e-4);
    expect(maxAbs((step.dataSync() as Float32Array).slice(0, V), lastRow(model, [...p1, 5]))).toBeLessThan(1e-4);
    tf.dispose([both, step]);
    cache.dispose();
    model.dispose();
  });

  it('a failed step leaves the cache as it was', () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    const cache = new KvCache(model.spec.numLayers);
    tf.dispose(model.nextLogits([[1, 2, 3]], cache));
    const before = tf.memory().numTensors;
    expect(() => model.nextLogits([[500]], cache)).toThrow(/outside the vocabulary/);
    model.memoryGuard = (where) => {
      if (where === 'forward, layer 1') throw new Error('out of memory'); // after layer 0 staged its keys/values
    };
    expect(() => model.nextLogits([[4]], cache)).toThrow('out of memory');
    model.memoryGuard = undefined;
    expect(cache.length).toBe(3);
    expect(tf.memory().numTensors).toBe(before);
    const l = model.nextLogits([[4]], cache);
    expect(maxAbs(l.dataSync(), lastRow(model, [1, 2, 3, 4]))).toBeLessThan(1e-4);
    tf.dispose(l);
    cache.dispose();
    model.dispose();
  });

  it('stops at EOS (included) and at the position limit of GPT-2', () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    const prompt = [1, 2, 3];
    const first = generate(model, prompt, { maxNewTokens: 5, eosIds: [] }).ids[0];
    const g = generate(model, prompt, { maxNewTokens: 5, eosIds: [first] });
    expect(g).toMatchObject({ ids: [first], stop: 'eos' });
    const long = Array.from({ length: 60 }, (_, i) => i % 90);
    const h = generate(model, long, { maxNewTokens: 50, eosIds: [] });
    expect(h.stop).toBe('max-positions');
    expect(long.length + h.ids.length - 1).toBe(model.spec.maxPositions); // the last token is predicted from position 63
    expect(() => generate(model, Array.from({ length: 64 }, () => 1), { maxNewTokens: 1, eosIds: [] })).toThrow(/64 positions/);
    model.dispose();
  });

  it('sampling is reproducible from its seed, differs across seeds, and top_p → 0 is greedy', () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    const prompt = [10, 20, 30];
    const s = (seed: number, topP = 0.95) => generate(model, prompt, { maxNewTokens: 16, eosIds: [], sampling: { temperature: 1.5, topP, seed } }).ids;
    expect(s(7)).toEqual(s(7));
    expect([s(1), s(2), s(3)].map((x) => x.join(',')).filter((x, i, a) => a.indexOf(x) === i).length).toBeGreaterThan(1);
    expect(s(5, 1e-9)).toEqual(generate(model, prompt, { maxNewTokens: 16, eosIds: [] }).ids);
    model.dispose();
  });

  it('sampleToken follows softmax(logits / T) and never leaves the nucleus', () => {
    const logits = [2, 1, 0, -1];
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1, topP: 1, seed: 0 }, rng)]++;
    const z = logits.map(Math.exp).reduce((a, b) => a + b, 0);
    logits.forEach((l, i) => expect(Math.abs(counts[i] / n - Math.exp(l) / z)).toBeLessThan(0.015));
    // top_p 0.7: p = [.64, .24, .09, .03] → nucleus {0, 1}.
    for (let i = 0; i < 2000; i++) expect(sampleToken(logits, { temperature: 1, topP: 0.7, seed: 0 }, rng)).toBeLessThan(2);
    expect(() => sampleToken(logits, { temperature: 0, topP: 1, seed: 0 }, rng)).toThrow(/temperature/);
  });

  it('prompts: the prompt part of prompt/completion rows, the first tokens of text rows', () => {
    expect(promptOf({ ids: [1, 2, 3, 4, 5], weights: [0, 0, 0, 1, 1] })).toEqual({ prompt: [1, 2, 3], reference: [4, 5] });
    const text = Array.from({ length: 40 }, (_, i) => i);
    expect(promptOf({ ids: text, weights: text.map((_, t) => (t === 0 ? 0 : 1)) }).prompt).toHaveLength(16);
    expect(promptOf({ ids: [1, 2, 3, 4], weights: [0, 1, 1, 1] }).prompt).toEqual([1, 2]);
    expect(pickPromptExamples([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).toEqual([0, 3, 6]);
    expect(pickPromptExamples([0, 1], 5)).toEqual([0, 1]);
  });
});
