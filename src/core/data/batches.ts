// Training order and batches: a seeded, reproducible permutation per epoch (so a run resumes from
// (epoch, index) exactly), and right-padded batches with zero loss weight on the padding.
import type { LoraTokenizer } from '../hf/tokenizer';
import { Rng } from '../util/rng';
import type { Batch, Example } from './types';

/**
 * The id padding is written with: the tokenizer's pad token, else its EOS, else 0. Padding has
 * weight 0 and sits after the real tokens (which causal attention never lets them see), so the
 * id only has to be a valid one.
 */
export function padIdFor(tokenizer: LoraTokenizer | undefined): number {
  return tokenizer?.special.pad?.id ?? tokenizer?.special.eos?.id ?? 0;
}

/** Fisher–Yates shuffle of 0..n-1. (floor(next()·(i+1)) has a bias of at most i/2³², negligible for any dataset.) */
export function shuffledIndices(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, got ${value}`);
}

/**
 * The order examples are visited in during `epoch` (0-based): a permutation of 0..n-1 that
 * depends only on (n, seed, epoch), so a resumed run recomputes it and continues at its index.
 * Each epoch's shuffle seed is the epoch-th draw of an Rng seeded with `seed`, so epochs differ
 * and nearby seeds do not give related orders.
 */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  checkCount('the number of examples', n, 0);
  checkCount('epoch', epoch, 0);
  const seeds = new Rng(seed);
  let epochSeed = 0;
  for (let e = 0; e <= epoch; e++) epochSeed = seeds.nextUint32();
  return shuffledIndices(n, new Rng(epochSeed));
}

/**
 * Examples per length-sorted group in `lengthGroupedOrder`: 50 batches, or fewer so that a small
 * dataset still has at least 4 groups to shuffle (the same rule as Hugging Face's LengthGroupedSampler).
 */
export function lengthGroupSize(n: number, batchSize: number): number {
  return batchSize * Math.max(1, Math.min(50, Math.floor(n / (4 * batchSize))));
}

/**
 * epochOrder, then each consecutive group of `lengthGroupSize` examples sorted longest first, and the
 * batch holding the longest example moved to the front (an out-of-memory shows on the first step).
 * Batches then hold examples of similar length, so far less of each batch is padding, while the
 * order still changes with the seed and the epoch. Deterministic for (lengths, batchSize, seed,
 * epoch), so a resumed run continues it exactly.
 */
export function lengthGroupedOrder(lengths: readonly number[], batchSize: number, seed: number, epoch: number): number[] {
  checkCount('batch size', batchSize, 1);
  const order = epochOrder(lengths.length, seed, epoch);
  const size = lengthGroupSize(lengths.length, batchSize);
  const out: number[] = [];
  for (let k = 0; k < order.length; k += size) {
    // Longest first; ties keep the shuffled order (Array.prototype.sort is stable).
    out.push(...order.slice(k, k + size).sort((a, b) => lengths[b] - lengths[a]));
  }
  let longest = 0;
  for (let i = 1; i < out.length; i++) if (lengths[out[i]] > lengths[out[longest]]) longest = i;
  // Swap that batch with the first, position by position (batch sizes stay as they were; a short
  // last batch swaps only its own length).
  const first = Math.floor(longest / batchSize) * batchSize;
  for (let j = 0; first > 0 && j < Math.min(batchSize, out.length - first); j++) [out[j], out[first + j]] = [out[first + j], out[j]];
  return out;
}

/** One batch of the given examples, right-padded to its longest row. */
export function makeBatch(examples: readonly Pick<Example, 'ids' | 'weights'>[], indices: number[], padId = 0): Batch {
  if (indices.length === 0) throw new Error('a batch needs at least one example');
  const rows = indices.map((i) => {
    const ex = examples[i];
    if (ex === undefined) throw new Error(`batch index ${i} is outside the ${examples.length} examples`);
    return ex;
  });
  const T = Math.max(...rows.map((ex) => ex.ids.length));
  let tokens = 0;
  let lossTokens = 0;
  const ids: number[][] = [];
  const weights: number[][] = [];
  for (const ex of rows) {
    const pad = T - ex.ids.length;
    ids.push(pad === 0 ? ex.ids.slice() : ex.ids.concat(new Array<number>(pad).fill(padId)));
    weights.push(pad === 0 ? ex.weights.slice() : ex.weights.concat(new Array<number>(pad).fill(0)));
    tokens += ex.ids.length;
    for (let t = 1; t < ex.weights.length; t++) if (ex.weights[t] > 0) lossTokens++;
  }
  return { ids, weights, tokens, lossTokens, indices: indices.slice() };
}

/**
 * Consecutive batches of `batchSize` examples taken in `order` (e.g. epochOrder(...), or its
 * remainder from a resume index); the last batch holds what is left. Builds all batches at once:
 * for one batch at a time, call makeBatch on a slice of the order.
 */
export function makeBatches(examples: readonly Pick<Example, 'ids' | 'weights'>[], batchSize: number, order: number[], padId = 0): Batch[] {
  checkCount('batch size', batchSize, 1);
  const batches: Batch[] = [];
  for (let k = 0; k < order.length; k += batchSize) batches.push(makeBatch(examples, order.slice(k, k + batchSize), padId));
  return batches;
}
