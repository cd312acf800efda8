// The evaluation report's generations: greedy and sampled continuations of a few validation
// prompts by the merged model (or the base with its adapter) and by the base, side by side. Each
// model's prompts decode in batches (generateBatch.ts: the same ids and stops as generate() on
// each prompt alone, faster); progress after each batch, a cancel within one decoding step.
import type { Example } from '../data/types';
import type { CausalLM } from '../models/causalLm';
import type { LoraTokenizer } from '../hf/tokenizer';
import type { GenerationEntry, GenerationOut, TokensText } from '../../protocol/evaluation';
import { pickPromptExamples, promptOf, type Generation } from './generate';
import { DEFAULT_BATCH_SIZE, generateBatchAsync } from './generateBatch';

/** Prompts of one model decoded together by sideBySide (each as a greedy and a sampled row: DEFAULT_BATCH_SIZE rows). */
export const SIDE_BY_SIDE_PROMPTS_PER_BATCH = DEFAULT_BATCH_SIZE / 2;

/**
 * Greedy and sampled continuations of `prompts` prompts from the examples, by the merged model (or
 * the base with its adapter installed) and by the base (adapter removed through setAdapter). Prompt
 * i samples with seed + i for every model, so their samples are comparable. A model's rows (greedy
 * and sampled of up to SIDE_BY_SIDE_PROMPTS_PER_BATCH prompts) decode together (generateBatch:
 * the same ids and stops as generate() on each alone); an output's `ms` is then the time from its
 * batch's start to its last token, not its own decoding alone.
 */
export async function sideBySide(s: {
  model: CausalLM; merged?: CausalLM; hasAdapter: boolean; setAdapter: (on: boolean) => void; examples: readonly Pick<Example, 'ids' | 'weights'>[];
  tokenizer?: LoraTokenizer; prompts: number; maxNewTokens: number; temperature: number; topP: number; seed: number; eosIds: number[];
  /** Told after each batch of prompts of each model: (done, total) over prompts × models. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}): Promise<GenerationEntry[]> {
  if (s.prompts <= 0 || s.maxNewTokens <= 0) return [];
  const limit = s.model.spec.family === 'gpt2' ? s.model.spec.maxPositions : Infinity;
  const text = (ids: number[]): TokensText => (s.tokenizer ? { ids, text: s.tokenizer.decode(ids, { skipSpecialTokens: true }) } : { ids });
  const entries: GenerationEntry[] = pickPromptExamples(s.examples, s.prompts).map((ex) => {
    const { prompt, reference } = promptOf(ex);
    const room = Math.max(1, limit - s.maxNewTokens); // GPT-2: keep the prompt's end when it would not leave room
    return { prompt: text(prompt.slice(Math.max(0, prompt.length - room))), reference: text(reference.slice(0, s.maxNewTokens)), outputs: {} };
  });
  const total = entries.length * (s.merged || s.hasAdapter ? 2 : 1);
  let done = 0;
  s.onProgress?.(0, total);
  const out = (g: Generation): GenerationOut => ({ ...text(g.ids), stop: g.stop, ms: Math.round(g.ms) });
  const run = async (role: keyof GenerationEntry['outputs'], model: CausalLM) => {
    for (let first = 0; first < entries.length; first += SIDE_BY_SIDE_PROMPTS_PER_BATCH) {
      s.signal?.throwIfAborted();
      const chunk = entries.slice(first, first + SIDE_BY_SIDE_PROMPTS_PER_BATCH);
      // Rows 2j and 2j + 1: prompt first + j greedy, then sampled with seed + its index.
      const gens = await generateBatchAsync(model, chunk.flatMap((e) => [e.prompt.ids, e.prompt.ids]), {
        maxNewTokens: s.maxNewTokens, eosIds: s.eosIds, batchSize: 2 * chunk.length, signal: s.signal,
        sampling: chunk.flatMap((_, j) => [undefined, { temperature: s.temperature, topP: s.topP, seed: s.seed + first + j }]),
      });
      chunk.forEach((e, j) => (e.outputs[role] = { greedy: out(gens[2 * j]), sampled: out(gens[2 * j + 1]) }));
      done += chunk.length;
      s.onProgress?.(done, total);
    }
  };
  if (s.merged) await run('merged', s.merged);
  else if (s.hasAdapter) {
    s.setAdapter(true);
    await run('adapter', s.model);
  }
  s.setAdapter(false);
  await run('base', s.model);
  return entries;
}
