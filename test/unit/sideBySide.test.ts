// The evaluation report's side-by-side generations (sideBySide), now decoded in batches. The
// reference is the one-prompt-at-a-time loop sideBySide ran before: generate() per prompt, greedy
// and then sampled with seed + prompt index, per model. Invariant: the batched outputs equal it
// token for token (ids, text, stop) for every model and prompt, on prompts of different lengths,
// more prompts than one batch holds, an EOS met early, and GPT-2's trimmed long prompt.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, promptOf, pickPromptExamples, type GenerateOptions } from '../../src/core/eval/generate';
import { SIDE_BY_SIDE_PROMPTS_PER_BATCH, sideBySide } from '../../src/core/eval/sideBySide';
import type { CausalLM } from '../../src/core/models/causalLm';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter } from '../../src/core/peft/adapterFolder';
import type { GenerationEntry } from '../../src/protocol/evaluation';

const FIX = path.join(__dirname, '..', 'fixtures');
const OPTS = { maxNewTokens: 9, temperature: 0.9, topP: 0.95, seed: 5 };

/** Prompt/completion rows with prompts of 1 to 12 tokens (and `longPrompt`), loss on the completion; two text rows (loss everywhere). */
function examples(V: number, longPrompt?: number): { ids: number[]; weights: number[] }[] {
  const rows = [1, 4, 2, 12, 7, 3, 9, 1, 5, 11, ...(longPrompt ? [longPrompt] : [])].map((n, r) => {
    const ids = Array.from({ length: n + 6 }, (_, t) => (7 * t + 13 * r + 5) % V);
    return { ids, weights: ids.map((_, t): number => (t >= n ? 1 : 0)) };
  });
  for (const n of [20, 40]) rows.push({ ids: Array.from({ length: n }, (_, t) => (3 * t + n) % V), weights: new Array<number>(n).fill(1) });
  return rows;
}

/** What sideBySide returned before batching: one generate() call per prompt, output and model. */
function oneAtATime(model: CausalLM, prompts: number[][], eosIds: number[]): GenerationEntry['outputs']['base'][] {
  const opts: GenerateOptions = { maxNewTokens: OPTS.maxNewTokens, eosIds };
  const out = (g: ReturnType<typeof generate>) => ({ ids: g.ids, stop: g.stop });
  return prompts.map((p, i) => ({
    greedy: out(generate(model, p, opts)) as never,
    sampled: out(generate(model, p, { ...opts, sampling: { temperature: OPTS.temperature, topP: OPTS.topP, seed: OPTS.seed + i } })) as never,
  }));
}

const strip = (o: GenerationEntry['outputs']['base']) => o && { greedy: { ids: o.greedy.ids, stop: o.greedy.stop }, sampled: { ids: o.sampled.ids, stop: o.sampled.stop } };

describe('sideBySide (batched) equals the one-at-a-time generations token for token', () => {
  it('gpt2-tiny, merged model and base: 12 prompts of 1–16 tokens and one of 60 cut to 55 (two batches), an early EOS, a prompt trimmed to leave room', async () => {
    const base = loadModel(path.join(FIX, 'gpt2-tiny')).model;
    const merged = loadModel(path.join(FIX, 'gpt2-tiny')).model;
    const V = base.spec.vocabSize;
    // A prompt longer than maxPositions − maxNewTokens: sideBySide keeps its last tokens.
    const room = base.spec.maxPositions - OPTS.maxNewTokens;
    const ex = examples(V, room + 5);
    const picked = pickPromptExamples(ex, ex.length);
    const prompts = picked.map((e) => {
      const p = promptOf(e).prompt;
      return p.slice(Math.max(0, p.length - room));
    });
    expect(prompts.length).toBeGreaterThan(SIDE_BY_SIDE_PROMPTS_PER_BATCH);
    expect(new Set(prompts.map((p) => p.length)).size).toBeGreaterThan(5);
    // An EOS that the third prompt's greedy output meets on its second token.
    const eosIds = [generate(base, prompts[2], { maxNewTokens: 2, eosIds: [] }).ids[1]];
    const progress: [number, number][] = [];
    const got = await sideBySide({ model: base, merged, hasAdapter: false, setAdapter: () => {}, examples: ex, prompts: ex.length, eosIds, ...OPTS, onProgress: (d, t) => progress.push([d, t]) });
    expect(got.map((e) => e.prompt.ids)).toEqual(prompts);
    expect(got.map((e) => strip(e.outputs.merged))).toEqual(oneAtATime(merged, prompts, eosIds));
    expect(got.map((e) => strip(e.outputs.base))).toEqual(oneAtATime(base, prompts, eosIds));
    expect(got[2].outputs.base!.greedy.stop).toBe('eos');
    expect(got.every((e) => e.outputs.adapter === undefined)).toBe(true);
    expect(Math.max(...prompts.map((p) => p.length))).toBe(room);
    expect(progress).toEqual([[0, 26], [8, 26], [13, 26], [21, 26], [26, 26]]);
    base.dispose();
    merged.dispose();
  });

  it('llama-tiny-gqa-bf16 with its lora-r4-qv adapter, then the base: the adapter toggled through setAdapter', async () => {
    const dir = path.join(FIX, 'llama-tiny-gqa-bf16');
    const model = loadModel(dir).model;
    const setAdapter = (on: boolean) => {
      if (on && !model.loraConfig) loadPeftAdapter(model, path.join(dir, 'lora-r4-qv'));
      if (!on && model.loraConfig) model.removeAdapter();
    };
    const ex = examples(model.spec.vocabSize);
    const prompts = pickPromptExamples(ex, 9).map((e) => promptOf(e).prompt);
    const got = await sideBySide({ model, hasAdapter: true, setAdapter, examples: ex, prompts: 9, eosIds: [], ...OPTS });
    setAdapter(true);
    const adapter = oneAtATime(model, prompts, []);
    setAdapter(false);
    const base = oneAtATime(model, prompts, []);
    expect(got.map((e) => strip(e.outputs.adapter))).toEqual(adapter);
    expect(got.map((e) => strip(e.outputs.base))).toEqual(base);
    expect(adapter.map((o) => o!.greedy.ids)).not.toEqual(base.map((o) => o!.greedy.ids)); // the adapter did change the outputs
    model.dispose();
  });
});
