// Text generation with incremental decoding (KvCache): greedy, or sampled with temperature and
// nucleus (top-p) filtering from a seeded generator, stopping at EOS, a maximum number of new
// tokens, or the model's position limit. Also picks evaluation prompts from tokenized examples
// (the side-by-side generations of the evaluation report: sideBySide.ts).
import type { Example } from '../data/types';
import { KvCache } from '../models/kvCache';
import type { CausalLM } from '../models/causalLm';
import { Rng } from '../util/rng';
import type { StopReason } from '../../protocol/evaluation';

export type { GenerationEntry, GenerationOut, StopReason, TokensText } from '../../protocol/evaluation';

export interface Sampling {
  /** > 0; logits are divided by it before the softmax. */
  temperature: number;
  /** Keep the smallest set of most likely tokens whose probability reaches top_p (1 = all). */
  topP: number;
  seed: number;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Token ids that end generation (included in the output). */
  eosIds: readonly number[];
  /** Absent: greedy (argmax, the first of equal maxima). */
  sampling?: Sampling;
}

export interface Generation {
  /** New tokens only (the prompt is not repeated). */
  ids: number[];
  stop: StopReason;
  ms: number;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Draws a token from softmax(logits / temperature) restricted to the top-p nucleus. */
export function sampleToken(logits: ArrayLike<number>, s: Sampling, rng: Rng): number {
  if (!(s.temperature > 0)) throw new Error(`temperature must be > 0 for sampling, got ${s.temperature} (use greedy decoding for 0)`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new Error(`top_p must be in (0, 1], got ${s.topP}`);
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  const p = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    p[i] = Math.exp((logits[i] - max) / s.temperature);
    total += p[i];
  }
  // Most likely first; ties by id so the order (and thus the draw) never depends on the sort.
  const order = Array.from({ length: V }, (_, i) => i);
  if (s.topP < 1) order.sort((a, b) => p[b] - p[a] || a - b);
  let kept = order.length;
  if (s.topP < 1) {
    let cum = 0;
    for (let j = 0; j < V; j++) {
      cum += p[order[j]];
      if (cum >= s.topP * total) {
        kept = j + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let j = 0; j < kept; j++) mass += p[order[j]];
  let u = rng.next() * mass;
  for (let j = 0; j < kept; j++) {
    u -= p[order[j]];
    if (u < 0) return order[j];
  }
  return order[kept - 1];
}

/** Continues `prompt` (token ids) with a KV cache: one forward pass over the prompt, then one per token. */
export function generate(model: CausalLM, prompt: readonly number[], opts: GenerateOptions): Generation {
  if (prompt.length === 0) throw new Error('generation needs a prompt of at least one token');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw new Error(`max new tokens must be a positive integer, got ${opts.maxNewTokens}`);
  const t0 = performance.now();
  const limit = model.spec.family === 'gpt2' ? model.spec.maxPositions : Infinity;
  if (prompt.length >= limit) throw new Error(`the prompt has ${prompt.length} tokens; the model has ${limit} positions, leaving no room to generate`);
  const rng = opts.sampling ? new Rng(opts.sampling.seed) : undefined;
  const cache = new KvCache(model.spec.numLayers);
  const ids: number[] = [];
  let stop: StopReason = 'max-new-tokens';
  try {
    let feed: number[] = [...prompt];
    for (;;) {
      const logits = model.nextLogits([feed], cache);
      const row = logits.dataSync() as Float32Array;
      logits.dispose();
      const next = opts.sampling && rng ? sampleToken(row, opts.sampling, rng) : argmax(row);
      ids.push(next);
      if (opts.eosIds.includes(next)) {
        stop = 'eos';
        break;
      }
      if (ids.length >= opts.maxNewTokens) break;
      if (cache.length + 1 > limit) {
        stop = 'max-positions';
        break;
      }
      feed = [next];
    }
  } finally {
    cache.dispose();
  }
  return { ids, stop, ms: performance.now() - t0 };
}

/** Tokens of a text row used as its prompt when the row has no prompt part. */
export const TEXT_PROMPT_TOKENS = 16;

/**
 * The prompt of an example: the tokens before the first loss-bearing one (the prompt of a
 * prompt/completion row, or the conversation before the assistant's turn), else, for text rows
 * where every token carries loss, the first min(16, half) tokens. The rest is the reference.
 */
export function promptOf(ex: Pick<Example, 'ids' | 'weights'>): { prompt: number[]; reference: number[] } {
  let first = ex.weights.findIndex((w, t) => t >= 1 && w > 0);
  if (first < 0) first = ex.ids.length;
  const cut = first >= 2 ? first : Math.max(1, Math.min(TEXT_PROMPT_TOKENS, Math.floor(ex.ids.length / 2)));
  return { prompt: ex.ids.slice(0, cut), reference: ex.ids.slice(cut) };
}

/** `count` examples spread evenly over the list (the first when count is 1), in order. */
export function pickPromptExamples<T>(examples: readonly T[], count: number): T[] {
  const n = Math.min(count, examples.length);
  return Array.from({ length: n }, (_, i) => examples[Math.floor((i * examples.length) / n)]);
}
