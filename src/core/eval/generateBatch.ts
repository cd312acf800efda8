// Generation for many prompts (issue 16's evaluation cases): the same outputs as generate() on
// each prompt alone (greedy ids identical; sampled rows draw from the prompt's own seeded Rng),
// returned in input order. This first version loops over generate(); the batched forward with
// left padding comes next.
import type { CausalLM } from '../models/causalLm';
import { generate, type Generation, type Sampling } from './generate';

export interface BatchGenerateOptions {
  /** One limit for every prompt, or one per prompt. */
  maxNewTokens: number | readonly number[];
  /** Token ids that end a row's generation (included in its output). */
  eosIds: readonly number[];
  /** Per prompt; undefined (or absent) = greedy. */
  sampling?: (Sampling | undefined)[];
  /** Prompts decoded together in one forward. */
  batchSize?: number;
  /** Checked between batches and steps. */
  signal?: AbortSignal;
}

/** Continues every prompt; result i belongs to prompts[i]. */
export function generateBatch(model: CausalLM, prompts: readonly (readonly number[])[], opts: BatchGenerateOptions): Generation[] {
  return prompts.map((prompt, i) => {
    opts.signal?.throwIfAborted();
    const maxNewTokens = typeof opts.maxNewTokens === 'number' ? opts.maxNewTokens : opts.maxNewTokens[i];
    const sampling = opts.sampling?.[i];
    return generate(model, prompt, { maxNewTokens, eosIds: opts.eosIds, ...(sampling ? { sampling } : {}) });
  });
}
