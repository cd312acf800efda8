// The base model's own dropout in training (GPT-2's embd/attn/resid_pdrop, Llama-family
// attention_dropout), as PyTorch applies it in model.train(): each kept element is scaled by
// 1/(1 − p), each dropped one is 0. Masks are addressed by site — the Hugging Face module path of
// the dropout (`transformer.h.0.attn.attn_dropout`) — and drawn from a seed mixed with that path,
// so a block's forward and its recomputation in the backward ('recompute' mode) draw the same
// mask whatever the order of the calls, and every backend draws the same one (the numbers come
// from JavaScript, not from a backend's random kernel).
import * as tf from '@tensorflow/tfjs';
import type { BaseDropoutMasks } from '../lora/layer';
import { mix32 } from '../util/rng';

/** FNV-1a of a site name, then mixed with the seed (SplitMix32's finaliser). */
function siteSeed(seed: number, site: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < site.length; i++) h = Math.imul(h ^ site.charCodeAt(i), 0x01000193);
  return mix32(h ^ Math.imul(seed >>> 0, 0x9e3779b1));
}

/**
 * A dropout multiplier of `shape`: 1/(1 − p) with probability 1 − p, else 0 (torch's
 * bernoulli_(1 − p).div_(1 − p)). The uniforms are SplitMix32 over a counter (util/rng.ts's
 * generator, inlined: ~3 ns an element where tf.randomUniform's seeded generator takes ~25).
 */
export function dropoutMask(shape: number[], p: number, seed: number): tf.Tensor {
  if (!(p > 0 && p < 1)) throw new Error(`internal: dropout probability ${p} is outside (0, 1)`);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const keep = 1 - p;
  const scale = 1 / keep;
  // Keep when the 32-bit draw is below keep·2³²: P(keep) = 1 − p.
  const threshold = keep * 4294967296;
  let state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x85ebca6b) >>> 0;
  for (let i = 0; i < n; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    if ((z ^ (z >>> 16)) >>> 0 < threshold) data[i] = scale;
  }
  return tf.tensor(data, shape, 'float32');
}

/**
 * The masks of one forward/backward (one micro-batch of a training step): each site's mask from
 * `seed` mixed with the site's path, identical however often and in whatever order it is asked for.
 */
export function seededBaseDropout(seed: number): BaseDropoutMasks {
  return (site, shape, p) => dropoutMask(shape, p, siteSeed(seed, site));
}

/** The seed of micro-batch `micro` of optimizer step `step` in a run seeded `seed`: identical after a resume. */
export function baseDropoutSeed(seed: number, step: number, micro: number): number {
  return siteSeed(Math.imul(step + 1, 0x27d4eb2d) ^ Math.imul(micro + 1, 0x165667b1), `base-dropout/${seed}`);
}

/** GPT-2's dropout sites (GPT2LMHeadModel's module paths). */
export const GPT2_SITES = {
  embd: 'transformer.drop',
  attn: (i: number) => `transformer.h.${i}.attn.attn_dropout`,
  residAttn: (i: number) => `transformer.h.${i}.attn.resid_dropout`,
  residMlp: (i: number) => `transformer.h.${i}.mlp.dropout`,
};

/** Llama/Mistral/Qwen2's one site per layer: the attention module's attention_dropout. */
export const llamaAttnSite = (i: number): string => `model.layers.${i}.self_attn.attention_dropout`;
