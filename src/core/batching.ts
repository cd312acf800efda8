// From tokenized examples to the micro-batches the trainer feeds the model: seeded epoch
// order, right padding with zero loss weight, and token-weighted evaluation loss.
import type { CausalLM } from './models/causalLm';
import { Rng } from './rng';

/** weights[t] is the loss weight of predicting ids[t] (weights[0] is never used). */
export interface TrainExample {
  ids: number[];
  weights: number[];
}

export interface Batch {
  ids: number[][];
  weights: number[][];
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Tokens that carry loss (weight > 0, excluding each row's first token). */
  lossTokens: number;
}

/** A seeded permutation of 0..n-1 for an epoch (Fisher–Yates): same seed and epoch, same order. */
export function epochPermutation(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(Math.imul(seed ^ 0x5bd1e995, 31) + epoch);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The epoch's micro-batches as lists of example indices. */
export function batchOrder(n: number, batchSize: number, seed: number, epoch: number): number[][] {
  const p = epochPermutation(n, seed, epoch);
  const out: number[][] = [];
  for (let i = 0; i < n; i += batchSize) out.push(p.slice(i, i + batchSize));
  return out;
}

/** Right-pads examples to the longest with `padId` and weight 0 (causal attention: padding after the text never affects it). */
export function padBatch(examples: TrainExample[], padId: number): Batch {
  const T = Math.max(...examples.map((e) => e.ids.length));
  let tokens = 0;
  let lossTokens = 0;
  const ids: number[][] = [];
  const weights: number[][] = [];
  for (const e of examples) {
    const pad = T - e.ids.length;
    ids.push(pad ? e.ids.concat(new Array(pad).fill(padId)) : e.ids);
    weights.push(pad ? e.weights.concat(new Array(pad).fill(0)) : e.weights);
    tokens += e.ids.length;
    for (let t = 1; t < e.weights.length; t++) if (e.weights[t] > 0) lossTokens++;
  }
  return { ids, weights, tokens, lossTokens };
}

/** Token-weighted mean next-token loss over examples (no dropout), and the token count. */
export function evalLoss(model: CausalLM, examples: TrainExample[], batchSize: number, padId: number): { loss: number; tokens: number } {
  let sum = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const b = padBatch(examples.slice(i, i + batchSize), padId);
    if (b.lossTokens === 0) continue;
    const { loss } = model.loss(b.ids, b.weights);
    sum += loss.dataSync()[0] * b.lossTokens;
    loss.dispose();
    tokens += b.lossTokens;
  }
  return { loss: tokens ? sum / tokens : NaN, tokens };
}
