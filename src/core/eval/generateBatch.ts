// Generation for many prompts at once (issue 16's evaluation cases; the evaluation report's
// side-by-side generations, sideBySide.ts): prompts sorted by length and
// decoded `batchSize` at a time through one KV cache, left-padded to the longest of their batch
// (nextLogits' `pad`: a per-row key mask and positions counted from each row's first real token).
// Each row's output equals generate() on its prompt alone: the same greedy ids, and sampled rows
// draw from their own Rng seeded as generate() seeds it. A row that stops (EOS, its max new
// tokens, GPT-2's position limit) leaves the batch: the cache keeps only the live rows, and the
// left padding no live row needs any more is cut off (so a last lone row gets the fast decoding).
import { KvCache } from '../models/kvCache';
import type { CausalLM } from '../models/causalLm';
import { Rng } from '../util/rng';
import { argmax, sampleToken, type Generation, type Sampling, type StopReason } from './generate';

export interface BatchGenerateOptions {
  /** One limit for every prompt, or one per prompt. */
  maxNewTokens: number | readonly number[];
  /** Token ids that end a row's generation (included in its output). */
  eosIds: readonly number[];
  /** Per prompt; undefined (or absent) = greedy. */
  sampling?: (Sampling | undefined)[];
  /** Prompts decoded together (default DEFAULT_BATCH_SIZE); 1 = generate() one prompt at a time. */
  batchSize?: number;
  /** Checked before every step. */
  signal?: AbortSignal;
}

/**
 * Default prompts per batch, from `npm run bench -- --generate` (16 prompts of 4–34 tokens × 32
 * new tokens, 2 shared vCPUs): on native TensorFlow batches of 16 make 2.1–2.5× the tokens/s
 * of generate() in a loop (sample model 152 vs 64, distilgpt2 33 vs 13, smollm-135m 16.5 vs
 * 7.8), 8 make 1.5×, but 4 only 0.7× (the loop's one-token steps run as one fused graph,
 * batched steps as eager ops); on wasm the
 * two are within noise (sample model 10.7 vs 10.2). Peak tensors at 16: 36 MB (sample), 116 MB
 * (distilgpt2), 154 MB (smollm-135m) above the model's own.
 */
export const DEFAULT_BATCH_SIZE = 16;

/** One prompt's decoding state. */
interface Row {
  index: number;
  prompt: readonly number[];
  maxNewTokens: number;
  sampling?: Sampling;
  rng?: Rng;
  ids: number[];
  stop: StopReason;
  ms: number;
}

/**
 * Continues every prompt; result i belongs to prompts[i]. `ms` of a row is the time from the start
 * of its batch to its last token (rows of a batch share their steps).
 */
export function generateBatch(model: CausalLM, prompts: readonly (readonly number[])[], opts: BatchGenerateOptions): Generation[] {
  const steps = decodeAll(model, prompts, opts);
  for (let r = steps.next(); ; r = steps.next()) if (r.done) return r.value;
}

/**
 * generateBatch that lets the event loop run after every decoding step, so a cancel that arrives as
 * a message (the worker's IPC) aborts `opts.signal` within one step, not after the whole batch (a
 * batch of 16 prompts × 48 tokens takes seconds on 2 busy cores, longer than a job's cancel grace).
 * Same results as generateBatch.
 */
export async function generateBatchAsync(model: CausalLM, prompts: readonly (readonly number[])[], opts: BatchGenerateOptions): Promise<Generation[]> {
  const steps = decodeAll(model, prompts, opts);
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The decoding of every batch, yielding after each step; returns the generations in prompt order. */
function* decodeAll(model: CausalLM, prompts: readonly (readonly number[])[], opts: BatchGenerateOptions): Generator<void, Generation[]> {
  const size = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1) throw new Error(`batch size must be a positive integer, got ${size}`);
  if (typeof opts.maxNewTokens !== 'number' && opts.maxNewTokens.length !== prompts.length) {
    throw new Error(`maxNewTokens has ${opts.maxNewTokens.length} entries for ${prompts.length} prompts`);
  }
  const limit = model.spec.family === 'gpt2' ? model.spec.maxPositions : Infinity;
  const rows: Row[] = prompts.map((prompt, index) => {
    const maxNewTokens = typeof opts.maxNewTokens === 'number' ? opts.maxNewTokens : opts.maxNewTokens[index];
    const where = prompts.length > 1 ? ` (prompt ${index})` : '';
    if (prompt.length === 0) throw new Error(`generation needs a prompt of at least one token${where}`);
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`max new tokens must be a positive integer, got ${maxNewTokens}${where}`);
    if (prompt.length >= limit) throw new Error(`the prompt has ${prompt.length} tokens; the model has ${limit} positions, leaving no room to generate${where}`);
    const sampling = opts.sampling?.[index];
    return { index, prompt, maxNewTokens, ids: [], stop: 'max-new-tokens', ms: 0, ...(sampling ? { sampling, rng: new Rng(sampling.seed) } : {}) };
  });
  // Shortest first (stable): neighbours in a batch have similar lengths, so little padding.
  const sorted = [...rows].sort((a, b) => a.prompt.length - b.prompt.length);
  for (let s = 0; s < sorted.length; s += size) yield* decodeBatch(model, sorted.slice(s, s + size), opts.eosIds, limit, opts.signal);
  return rows.map((r) => ({ ids: r.ids, stop: r.stop, ms: r.ms }));
}

/** Decodes rows together until every one has stopped, yielding after each step; fills their ids, stop and ms. */
function* decodeBatch(model: CausalLM, rows: Row[], eosIds: readonly number[], limit: number, signal?: AbortSignal): Generator<void, void> {
  const t0 = performance.now();
  const V = model.spec.vocabSize;
  const S = Math.max(...rows.map((r) => r.prompt.length));
  let live = rows;
  // Left padding: every row's last prompt token in the last column, so one logits row each. The
  // pad id is the row's own first token (any valid id would do: the mask hides it).
  let pad = rows.map((r) => S - r.prompt.length);
  let feed = rows.map((r, b) => [...new Array<number>(pad[b]).fill(r.prompt[0]), ...r.prompt]); // (B, S)
  const cache = new KvCache(model.spec.numLayers);
  try {
    for (;;) {
      signal?.throwIfAborted();
      const logits = model.nextLogits(feed, cache, { pad }); // (B, V): each row's next-token logits
      const all = logits.dataSync() as Float32Array;
      logits.dispose();
      const kept: number[] = [];
      live.forEach((r, b) => {
        const row = all.subarray(b * V, (b + 1) * V);
        const next = r.sampling && r.rng ? sampleToken(row, r.sampling, r.rng) : argmax(row);
        r.ids.push(next);
        // The stops of generate(), in its order; the row's own length is cache.length − pad[b].
        if (eosIds.includes(next)) r.stop = 'eos';
        else if (r.ids.length >= r.maxNewTokens) r.stop = 'max-new-tokens';
        else if (cache.length - pad[b] + 1 > limit) r.stop = 'max-positions';
        else return void kept.push(b);
        r.ms = performance.now() - t0;
      });
      if (kept.length === 0) break;
      if (kept.length < live.length) {
        // Finished rows leave: the cache keeps the live rows, minus padding all of them have.
        const drop = Math.min(...kept.map((b) => pad[b]));
        cache.keepRows(kept, live.length, drop);
        pad = kept.map((b) => pad[b] - drop);
        live = kept.map((b) => live[b]);
      }
      feed = live.map((r) => [r.ids[r.ids.length - 1]]); // (B', 1)
      yield;
    }
  } finally {
    cache.dispose();
  }
}
