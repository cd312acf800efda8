// Tensor building blocks shared by the model families: norms, activations, rotary embeddings,
// causal masks and grouped-query attention. Activations are kept 2-D ([tokens, features]) between
// blocks because plain 2-D matMul is the fast path on the wasm backend (see shared notes).
import * as tf from '@tensorflow/tfjs';
import {
  FUSED_ATTENTION_HEAD_DIM_MULTIPLE, fusedAddLayerNorm, fusedAddLowRank, fusedAddRmsNorm, fusedAttention, fusedAttentionGrad, fusedAttentionSaved, fusedBiasAct, fusedGeluNew, fusedGeluNewGrad, fusedHeadsMerge, fusedHeadsSplit, fusedKernels, fusedLayerNorm, fusedLayerNormGrad, fusedLowRank, fusedLowRankGrad, fusedMaskedSoftmax, fusedRmsNorm, fusedRmsNormGrad, fusedRopeMerge, fusedRopeSplit, fusedSoftmaxGrad, fusedSwiGlu, fusedSwiGluGrad, nativeMatMul, nativeMatMulFor,
} from './fusedOps';

/**
 * How the engine's products and per-op work are shaped on one backend. Every backend-specific
 * choice of the training and decoding code reads this table (and VOCAB_BLOCK in
 * models/headLoss.ts for the LM head), instead of checking tf.getBackend() here and there. The
 * figures behind each entry are in BENCHMARKS.md and docs/backends.md.
 */
export interface BackendTuning {
  /**
   * How a product with a transposed operand (dy·Wᵀ, xᵀ·g, q·kᵀ, …) is made.
   * - 'copy': transpose the operand explicitly (a memory copy), then a plain matMul. wasm: its
   *   matMul with transposeA/transposeB runs at 1–3 GFLOP/s against XNNPACK's 30–56 for the
   *   plain product, so the copy is far cheaper.
   * - 'flags': matMul's transposeA/transposeB. Native TensorFlow: a transposed operand costs
   *   0–25% in the product (0 with oneDNN's matmul, TF_ENABLE_ONEDNN_OPTS=1) while the explicit
   *   transpose of a frozen weight is a full copy each time (6 × [768, 3072] + … per distilgpt2
   *   step: 0.12 s of Transpose kernels, and the copies' memory).
   */
  transposedProducts: 'copy' | 'flags';
  /**
   * Attention products per (batch, KV head) as plain 2-D matMuls (wasm: its batched matMul runs at
   * ~2 GFLOP/s whatever the transposes), or one batched matMul over all heads (native: 35–50
   * GFLOP/s for [48, 128, 64] heads, and one op instead of ~3 per head).
   */
  perHeadAttention: boolean;
  /**
   * One-token decoding steps as one TensorFlow graph per model (models/decodeGraph.ts), run in
   * one session call, instead of ~600 (gpt2) to ~1000 (smollm-135m) eager ops. Native: an eager
   * op costs 15–30 µs of dispatch (tfjs-node, measured), a graph node a few µs. Other backends
   * run no TensorFlow graphs.
   */
  decodeGraph: boolean;
}

/** Backends not listed (cpu, webgl, …) get DEFAULT_TUNING: tfjs's own kernels, no workaround. */
export const DEFAULT_TUNING: BackendTuning = { transposedProducts: 'flags', perHeadAttention: false, decodeGraph: false };

export const BACKEND_TUNING: Record<string, BackendTuning> = {
  wasm: { transposedProducts: 'copy', perHeadAttention: true, decodeGraph: false },
  tensorflow: { transposedProducts: 'flags', perHeadAttention: false, decodeGraph: true },
};

/** The tuning of the current backend. */
export function tuning(): BackendTuning {
  return BACKEND_TUNING[tf.getBackend()] ?? DEFAULT_TUNING;
}

/**
 * a·b with optional transposes, made the way the backend multiplies fastest: 2-D products on
 * native TensorFlow as its MatMul op (nativeMatMul) unless a tape records; otherwise
 * (BackendTuning.transposedProducts) explicit transposes then a plain product, or matMul's flags.
 * Every product of the engine goes through here.
 */
export function matMulT<T extends tf.Tensor>(a: T, b: T, transposeA = false, transposeB = false): T {
  if (nativeMatMulFor(a, b) && !tapeActive()) return nativeMatMul(a as unknown as tf.Tensor2D, b as unknown as tf.Tensor2D, transposeA, transposeB) as unknown as T;
  if (tuning().transposedProducts === 'flags' || (!transposeA && !transposeB)) return tf.matMul(a, b, transposeA, transposeB) as T;
  return tf.tidy(() => {
    const perm = (x: tf.Tensor) => (x.rank === 2 ? x.transpose() : x.transpose([0, 2, 1]));
    return tf.matMul(transposeA ? perm(a) : a, transposeB ? perm(b) : b) as T;
  });
}

/**
 * The largest rank addLowRank adds in LoRA Lab's fused kernel (r passes over each output row);
 * above it the product is a MatMul op and an add.
 */
export const LOW_RANK_FUSED_MAX = 16;

/**
 * base + u·m (+ bias [C]) with u [N, r] and m [r, C] (transposeM: m is [C, r]) for LoRA's low
 * rank r: one fused kernel on native TensorFlow (in place of a rank-r product and one or two adds
 * of [N, C]), else a product and the adds. No tfjs gradient: for the hand-written forward/backward and tape-free forwards.
 */
export function addLowRank(base: tf.Tensor2D, u: tf.Tensor2D, m: tf.Tensor2D, transposeM = false, bias?: tf.Tensor1D, offset = 0): tf.Tensor2D {
  if (fusedKernels() && u.shape[1] <= LOW_RANK_FUSED_MAX) return fusedAddLowRank(base, u, m, transposeM, bias, offset);
  return tf.tidy(() => {
    const y = columns(base, offset, m.shape[transposeM ? 0 : 1]).add(matMulT(u, m, false, transposeM)) as tf.Tensor2D;
    return bias ? (y.add(bias) as tf.Tensor2D) : y;
  });
}

/** Columns offset…offset + width of x [N, C] (x itself when that is all of it). */
export function columns(x: tf.Tensor2D, offset: number, width: number): tf.Tensor2D {
  return offset === 0 && width === x.shape[1] ? x : x.slice([0, offset], [x.shape[0], width]);
}

/**
 * s·x·m for LoRA's rank r: x [N, D] and m [D, r] (transposeM: m is [r, D]) → [N, r]. One fused
 * kernel on native TensorFlow for r ≤ 16 (TensorFlow's MatMul spends 150–330 µs on these thin
 * products, a few times the work), else a product and a scale. No tfjs gradient (as addLowRank).
 */
export function lowRankProduct(x: tf.Tensor2D, m: tf.Tensor2D, scale: number, transposeM = false): tf.Tensor2D {
  if (fusedKernels() && m.shape[transposeM ? 0 : 1] <= LOW_RANK_FUSED_MAX) return fusedLowRank(x, m, scale, transposeM);
  return tf.tidy(() => matMulT(x, m, false, transposeM).mul(scale) as tf.Tensor2D);
}

/**
 * aᵀ·g for a [N, D] and LoRA's g [N, r] → [D, r] (transposeOut: gᵀ·a, [r, D]): the reduction over
 * rows behind LoRA's weight gradients. Fused on native TensorFlow for r ≤ 16, else a product.
 */
export function lowRankGrad(a: tf.Tensor2D, g: tf.Tensor2D, transposeOut = false): tf.Tensor2D {
  if (fusedKernels() && g.shape[1] <= LOW_RANK_FUSED_MAX) return fusedLowRankGrad(a, g, transposeOut);
  return transposeOut ? matMulT(g, a, true, false) : matMulT(a, g, true, false);
}

/**
 * Whether a gradient tape is recording (inside tf.grads / engine().gradients). When none is, a
 * tf.customGrad wrapper only adds work: the forward's tensors are saved for a gradient nobody
 * asks for, and on native TensorFlow each extra kernel costs ~25–65 µs of overhead, which is what
 * token-by-token decoding is made of.
 */
export function tapeActive(): boolean {
  return (tf.engine() as unknown as { isTapeOn(): boolean }).isTapeOn();
}

/** LayerNorm over the last axis (GPT-2): (x − mean) / √(var + eps) · γ + β. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (fusedPlain()) {
    const { y, mean, rstd } = fusedLayerNorm(x, gamma, beta, eps);
    tf.dispose([mean, rstd]);
    return y;
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(gamma).add(beta) as tf.Tensor2D;
  });
}

/**
 * Whether a plain forward may use the fused kernels (backend/fusedOps.ts): they have no tfjs
 * gradient, so not while a tape records (the LM-head loss's final norm, tape-trained variants).
 */
function fusedPlain(): boolean {
  return fusedKernels() && !tapeActive();
}

/** RMSNorm (Llama family): x / √(mean(x²) + eps) · w. */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (fusedPlain()) {
    const { y, r } = fusedRmsNorm(x, weight, eps);
    r.dispose();
    return y;
  }
  return tf.tidy(() => x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(weight) as tf.Tensor2D);
}

/** The residual add before a norm: sum = x + delta and y = rmsNorm(sum) (one pass on native TensorFlow). */
export function addRmsNorm(x: tf.Tensor2D, delta: tf.Tensor2D, weight: tf.Tensor1D, eps: number): { sum: tf.Tensor2D; y: tf.Tensor2D } {
  if (fusedPlain()) {
    const { sum, y, r } = fusedAddRmsNorm(x, delta, weight, eps);
    r.dispose();
    return { sum, y };
  }
  const sum = x.add(delta) as tf.Tensor2D;
  return { sum, y: rmsNorm(sum, weight, eps) };
}

/** addRmsNorm keeping 1/rms for rmsNormBackward (the hand-written backward: a tape may be on). */
export function addRmsNormSaved(x: tf.Tensor2D, delta: tf.Tensor2D, weight: tf.Tensor1D, eps: number): { sum: tf.Tensor2D; y: tf.Tensor2D; r: tf.Tensor2D } {
  if (fusedKernels()) return fusedAddRmsNorm(x, delta, weight, eps);
  const sum = x.add(delta) as tf.Tensor2D;
  return { sum, ...rmsNormSaved(sum, weight, eps) };
}

/** The residual add before a LayerNorm: sum = x + (delta + bias) and y = layerNorm(sum); bias: a frozen projection's, optional. */
export function addLayerNorm(x: tf.Tensor2D, delta: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, bias?: tf.Tensor1D): { sum: tf.Tensor2D; y: tf.Tensor2D } {
  if (fusedPlain()) {
    const { sum, y, mean, rstd } = fusedAddLayerNorm(x, delta, gamma, beta, eps, bias);
    tf.dispose([mean, rstd]);
    return { sum, y };
  }
  const sum = tf.tidy(() => x.add(bias ? delta.add(bias) : delta) as tf.Tensor2D);
  return { sum, y: layerNorm(sum, gamma, beta, eps) };
}

/** addLayerNorm keeping each row's mean and rstd for layerNormBackward. */
export function addLayerNormSaved(
  x: tf.Tensor2D, delta: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number,
): { sum: tf.Tensor2D; y: tf.Tensor2D; mean: tf.Tensor2D; rstd: tf.Tensor2D } {
  if (fusedKernels()) return fusedAddLayerNorm(x, delta, gamma, beta, eps);
  const sum = x.add(delta) as tf.Tensor2D;
  return { sum, ...layerNormSaved(sum, gamma, beta, eps) };
}

/**
 * act(x + bias) + residual (bias and residual optional; act none or gelu_new): a frozen layer's
 * bias with what follows it in one pass on native TensorFlow (GPT-2's c_fc and gelu_new, c_proj and
 * the residual add). Plain forwards only (no tape).
 */
export function biasAct(x: tf.Tensor2D, bias: tf.Tensor1D | undefined, activation: 'none' | 'gelu_new', residual?: tf.Tensor2D): tf.Tensor2D {
  if (fusedPlain()) return fusedBiasAct(x, bias, activation, residual).y;
  return tf.tidy(() => {
    let y: tf.Tensor2D = bias ? x.add(bias) : x;
    if (activation === 'gelu_new') y = geluNew(y) as tf.Tensor2D;
    return residual ? (y.add(residual) as tf.Tensor2D) : y;
  });
}

/** y + bias for a frozen product (one fused pass on native TensorFlow, where TensorFlow's broadcast add takes ~1.5× as long). */
export function addBias(y: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  if (fusedKernels()) return fusedBiasAct(y, bias, 'none').y;
  return y.add(bias) as tf.Tensor2D;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GPT-2's gelu_new: the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
  if (fusedPlain() && x.dtype === 'float32') return fusedGeluNew(x);
  return tf.tidy(() => {
    const inner = x.add(x.square().mul(x).mul(0.044715)).mul(SQRT_2_OVER_PI); // x·x·x: cheaper than Pow and its Pow-based gradient on wasm (measured: Pow took 1.5% of a distilgpt2 step)
    return x.mul(0.5).mul(tf.tanh(inner).add(1));
  });
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)));
}

export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.sigmoid(x)));
}

/** SwiGLU's product silu(gate)·up (Llama's MLP), one fused kernel on native TensorFlow. */
export function swiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  if (fusedPlain()) return fusedSwiGlu(gate, up);
  return tf.tidy(() => silu(gate).mul(up) as tf.Tensor2D);
}

/** swiGlu for the hand-written backward (which keeps gate and up). */
export function swiGluSaved(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  if (fusedKernels()) return fusedSwiGlu(gate, up);
  return tf.tidy(() => gate.mul(tf.sigmoid(gate)).mul(up) as tf.Tensor2D);
}

/** Backward of silu(g)·u: dg = dm·u·σ(g)·(1 + g·(1 − σ(g))), du = dm·silu(g). */
export function swiGluBackward(dm: tf.Tensor2D, gate: tf.Tensor2D, up: tf.Tensor2D): { dg: tf.Tensor2D; du: tf.Tensor2D } {
  if (fusedKernels()) return fusedSwiGluGrad(dm, gate, up);
  return tf.tidy(() => {
    const sig = tf.sigmoid(gate);
    const du = dm.mul(gate.mul(sig)) as tf.Tensor2D;
    const dg = dm.mul(up).mul(sig.mul(gate.mul(sig.neg().add(1)).add(1))) as tf.Tensor2D;
    return { dg, du };
  });
}

/**
 * Additive causal mask [T, T]: 0 where key j ≤ query i (and within the sliding window when given),
 * a large negative elsewhere. −1e9 underflows to exactly 0 after softmax, as HF's finfo.min does.
 * Keys may precede the queries by `pastLength` positions (incremental decoding with a cache).
 */
export function causalMask(queryLength: number, pastLength = 0, slidingWindow?: number): tf.Tensor2D {
  const keyLength = pastLength + queryLength;
  const data = new Float32Array(queryLength * keyLength);
  for (let i = 0; i < queryLength; i++) {
    const qi = pastLength + i;
    for (let j = 0; j < keyLength; j++) {
      const visible = j <= qi && (slidingWindow === undefined || qi - j < slidingWindow);
      data[i * keyLength + j] = visible ? 0 : -1e9;
    }
  }
  return tf.tensor2d(data, [queryLength, keyLength]);
}

/**
 * cos and sin tables [T, headDim] for rotary embeddings in HF's rotate-half layout
 * (frequencies repeated: cat(freqs, freqs)), positions offset..offset+T−1.
 */
export function ropeTables(invFreq: Float32Array, length: number, offset = 0): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const half = invFreq.length;
  const hd = 2 * half;
  const cos = new Float32Array(length * hd);
  const sin = new Float32Array(length * hd);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      // HF computes the angle in float32: round it the same way so long positions agree.
      const angle = Math.fround((offset + t) * invFreq[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * hd + i] = c;
      cos[t * hd + half + i] = c;
      sin[t * hd + i] = s;
      sin[t * hd + half + i] = s;
    }
  }
  return { cos: tf.tensor2d(cos, [length, hd]), sin: tf.tensor2d(sin, [length, hd]) };
}

/** Applies rotary embeddings to x [B, heads, T, hd] with tables [T, hd]: x·cos + rotate_half(x)·sin. */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const half = x.shape[3] / 2;
    const [x1, x2] = tf.split(x, [half, half], 3);
    const rotated = tf.concat([x2.neg(), x1], 3);
    return x.mul(cos).add(rotated.mul(sin)) as tf.Tensor4D;
  });
}

/**
 * GPT-2's fused q/k/v projection [B·T, 3·H·hd] → q, k, v as [B, H, T, hd]: one fused op each on
 * native (in place of a split, three reshapes and three transposes). `saved`: as ropeSplitHeads.
 */
export function splitQkvHeads(qkv: tf.Tensor2D, batch: number, length: number, heads: number, headDim: number, saved = false): tf.Tensor4D[] {
  if (length > 1 && (saved ? fusedKernels() : fusedPlain())) return [0, 1, 2].map((i) => fusedHeadsSplit(qkv, batch, heads, headDim, i * heads * headDim));
  return tf.split(qkv, 3, 1).map((t) => splitHeads(t as tf.Tensor2D, batch, length, heads, headDim, saved));
}

/**
 * applyRope(splitHeads(x)) for tables [T, hd] (one fused kernel on native TensorFlow). `saved`:
 * for the hand-written backward (a tape may be on, nobody differentiates through it).
 */
export function ropeSplitHeads(x: tf.Tensor2D, batch: number, length: number, heads: number, headDim: number, cos: tf.Tensor2D, sin: tf.Tensor2D, saved = false, offset = 0): tf.Tensor4D {
  if ((saved ? fusedKernels() : fusedPlain()) && cos.rank === 2 && cos.shape[0] === length) return fusedRopeSplit(x, cos, sin, batch, heads, offset);
  return tf.tidy(() => applyRope(splitHeads(columns(x, offset, heads * headDim), batch, length, heads, headDim), cos, sin));
}

/** mergeHeads(applyRopeBackward(dy)) for tables [T, hd]: the backward of ropeSplitHeads. */
export function ropeMergeHeadsBackward(dy: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor2D {
  if (fusedKernels()) return fusedRopeMerge(dy, cos, sin);
  return tf.tidy(() => mergeHeads(applyRopeBackward(dy, cos, sin)));
}

/**
 * [B·T, heads·hd] → [B, heads, T, hd] (one token: a reshape, no transpose; native: one fused op
 * in place of a reshape and a transpose). x may be wider, the heads at columns offset…. `saved`: as ropeSplitHeads.
 */
export function splitHeads(x: tf.Tensor2D, batch: number, length: number, heads: number, headDim: number, saved = false, offset = 0): tf.Tensor4D {
  if (length > 1 && (saved ? fusedKernels() : fusedPlain())) return fusedHeadsSplit(x, batch, heads, headDim, offset);
  return tf.tidy(() => {
    const w = columns(x, offset, heads * headDim);
    if (length === 1) return w.reshape([batch, heads, 1, headDim]) as tf.Tensor4D;
    return w.reshape([batch, length, heads, headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  });
}

/**
 * Scaled dot-product attention with grouped-query heads, no key/value repetition: the `rep`
 * query heads sharing one KV head are stacked along the time axis, so head h reads KV head
 * ⌊h/rep⌋ exactly as HF's repeat_kv does.
 *   q [B, H, Tq, hd], k/v [B, K, Tk, hd], mask [Tq, Tk] additive (undefined: every key visible) → [B·Tq, H·hd]
 * `drop`: a dropout multiplier [B, H, Tq, Tk] on the probabilities (training with the model's
 * attention dropout), as HF's eager attention applies it: O = (P ⊙ drop)·V.
 * The backward is hand-written (attentionBackward) so its products avoid tfjs's transposed
 * matMul gradients; on wasm every product runs per head as a plain 2-D matMul (groupMatMul).
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number, drop?: tf.Tensor): tf.Tensor2D {
  if (!tapeActive()) {
    // No gradient wanted: nothing to save. Native: scores, softmax and P·V in one kernel over the keys each row sees.
    if (fusedAttentionFor(q, k, mask, drop)) return fusedAttention(q, k, v, mask, scale);
    return tf.tidy(() => attentionSaved(q, k, v, mask, scale, drop).y);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qIn, kIn, vIn] = args as tf.Tensor4D[];
    const save = args[3] as tf.GradSaveFunc;
    const { y, saved } = attentionSaved(qIn, kIn, vIn, mask, scale, drop);
    save([saved.q, saved.k, saved.v, saved.p, ...(saved.drop ? [saved.drop] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => {
        const [qS, kS, vS, p, dropS] = s as tf.Tensor3D[];
        const g = attentionBackward(dy as tf.Tensor2D, { ...saved, q: qS, k: kS, v: vS, p, drop: dropS });
        return [g.dq, g.dk, g.dv];
      },
    };
  });
  return op(q, k, v) as tf.Tensor2D;
}

/**
 * Whether LoRA Lab's fused attention kernels take this attention (native TensorFlow): no dropout
 * multiplier, a head dimension the kernels tile, and no mask or one [Tq, Tk] mask for every row.
 */
function fusedAttentionFor(q: tf.Tensor4D, k: tf.Tensor4D, mask: tf.Tensor2D | undefined, drop: tf.Tensor | undefined): boolean {
  return fusedKernels() && !drop && q.shape[3] % FUSED_ATTENTION_HEAD_DIM_MULTIPLE === 0 && (!mask || (mask.rank === 2 && mask.shape[0] === q.shape[2] && mask.shape[1] === k.shape[2]));
}

/**
 * What attentionBackward needs: q/k/v grouped by KV head (G = B·K groups) and the probabilities.
 * From the fused kernel (`fused`): q/k/v as given, [B, H, Tq, hd] and [B, K, Tk, hd] (the same
 * memory order; no reshape ops), and P 0 where masked.
 */
export interface AttentionSaved {
  /** (G, R, hd) with R = rep·Tq query rows per group; [B, H, Tq, hd] when fused. */
  q: tf.Tensor3D;
  /** (G, Tk, hd); [B, K, Tk, hd] when fused. */
  k: tf.Tensor3D;
  v: tf.Tensor3D;
  fused?: boolean;
  /** softmax probabilities (G, R, Tk). */
  p: tf.Tensor3D;
  /** The attention dropout multiplier (G, R, Tk) applied to p; absent without dropout. */
  drop?: tf.Tensor3D;
  /** [B, H, Tq, K, Tk, hd]. */
  dims: number[];
  scale: number;
}

/**
 * a[g]·b[g] over the groups of 3-D a and b, with optional transposes. The wasm backend's batched
 * matMul runs at ~2 GFLOP/s whatever the transposes while a plain 2-D matMul reaches XNNPACK's
 * ~30–50 (shared notes; measured for 48 heads × [128, 64]: 45 ms batched, 13 ms per head with
 * the unstack/stack copies), so there the operands are transposed explicitly and multiplied
 * group by group. Other backends get one batched matMul.
 */
export function groupMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  if (!tuning().perHeadAttention) return matMulT(a, b, transposeA, transposeB);
  return tf.tidy(() => {
    const as = tf.unstack(transposeA ? a.transpose([0, 2, 1]) : a) as tf.Tensor2D[];
    const bs = tf.unstack(transposeB ? b.transpose([0, 2, 1]) : b) as tf.Tensor2D[];
    return tf.stack(as.map((x, i) => tf.matMul(x, bs[i]))) as tf.Tensor3D;
  });
}

/**
 * Forward of attention() returning what attentionBackward needs. G = B·K groups, R = rep·Tq rows:
 *   S = s·Q·Kᵀ + M;  P = softmax(S);  O = P·V  (O = (P ⊙ D)·V with a dropout multiplier D)
 * D [B, H, Tq, Tk] is viewed as (G, R, Tk): head h = kv·rep + r is row r·Tq + t of group (b, kv),
 * the same element HF's [B, H, Tq, Tk] weights hold after repeat_kv.
 */
export function attentionSaved(
  q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number, drop?: tf.Tensor,
): { y: tf.Tensor2D; saved: AttentionSaved } {
  return tf.tidy(() => {
    const [B, H, Tq, hd] = q.shape;
    const K = k.shape[1];
    const Tk = k.shape[2];
    if (fusedAttentionFor(q, k, mask, drop)) {
      const { y, p } = fusedAttentionSaved(q, k, v, mask, scale);
      return { y, saved: { q: q as unknown as tf.Tensor3D, k: k as unknown as tf.Tensor3D, v: v as unknown as tf.Tensor3D, fused: true, p, dims: [B, H, Tq, K, Tk, hd], scale } };
    }
    const G = B * K;
    const R = (H / K) * Tq;
    const qg = reshapeTo<tf.Tensor3D>(q, [G, R, hd]);
    const kg = reshapeTo<tf.Tensor3D>(k, [G, Tk, hd]);
    const vg = reshapeTo<tf.Tensor3D>(v, [G, Tk, hd]);
    let p: tf.Tensor3D;
    if (fusedKernels() && mask && mask.rank === 2 && mask.shape[0] === Tq && mask.shape[1] === Tk) {
      p = fusedMaskedSoftmax(groupMatMul(qg, kg, false, true), mask, scale); // scale, mask and softmax in one pass
    } else {
      let scores = groupMatMul(qg, kg, false, true).mul(scale) as tf.Tensor3D; // (G, R, Tk)
      if (mask) scores = reshapeTo<tf.Tensor3D>(reshapeTo(scores, [B * H, Tq, Tk]).add(mask), [G, R, Tk]); // per query row: (B·H, Tq, Tk)
      p = tf.softmax(scores, -1) as tf.Tensor3D;
    }
    const d = drop && reshapeTo<tf.Tensor3D>(drop, [G, R, Tk]);
    const out = groupMatMul(d ? (p.mul(d) as tf.Tensor3D) : p, vg); // (G, R, hd)
    const y = (Tq === 1 ? out.reshape([B, H * hd]) : fusedKernels() ? fusedHeadsMerge(out, B, H, hd) : out.reshape([B, H, Tq, hd]).transpose([0, 2, 1, 3]).reshape([B * Tq, H * hd])) as tf.Tensor2D;
    return { y, saved: { q: qg, k: kg, v: vg, p, ...(d ? { drop: d } : {}), dims: [B, H, Tq, K, Tk, hd], scale } };
  });
}

/**
 * x reshaped, or x itself when it already has the shape: tfjs-node runs every reshape as a
 * TensorFlow op (~40 µs), where wasm and cpu only relabel the buffer.
 */
export function reshapeTo<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  return (x.shape.length === shape.length && x.shape.every((n, i) => n === shape[i]) ? x : x.reshape(shape)) as T;
}

/**
 * Backward of attention for upstream dy (B·Tq, H·hd):
 *   dP = dO·Vᵀ;  dV = Pᵀ·dO;  dS = P ⊙ (dP − Σⱼ dP⊙P);  dQ = s·dS·K;  dK = s·dSᵀ·Q
 * With a dropout multiplier D: dV = (P ⊙ D)ᵀ·dO and dP = (dO·Vᵀ) ⊙ D.
 */
export function attentionBackward(dy: tf.Tensor2D, saved: AttentionSaved): { dq: tf.Tensor4D; dk: tf.Tensor4D; dv: tf.Tensor4D } {
  if (saved.fused) return fusedAttentionGrad(saved.q as unknown as tf.Tensor4D, saved.k as unknown as tf.Tensor4D, saved.v as unknown as tf.Tensor4D, saved.p, dy, saved.scale);
  return tf.tidy(() => {
    const [B, H, Tq, K, Tk, hd] = saved.dims;
    const { q, k, v, p, drop, scale } = saved;
    const G = B * K;
    const R = (H / K) * Tq;
    const dO = (fusedKernels() ? fusedHeadsSplit(dy, B, H, hd).reshape([G, R, hd]) : dy.reshape([B, Tq, H, hd]).transpose([0, 2, 1, 3]).reshape([G, R, hd])) as tf.Tensor3D;
    let dP = groupMatMul(dO, v, false, true); // (G, R, Tk)
    const dv = groupMatMul(drop ? (p.mul(drop) as tf.Tensor3D) : p, dO, true, false); // (G, Tk, hd)
    if (drop) dP = dP.mul(drop) as tf.Tensor3D;
    const dS = fusedKernels() ? fusedSoftmaxGrad(dP, p, scale) : (p.mul(dP.sub(dP.mul(p).sum(-1, true))).mul(scale) as tf.Tensor3D); // scale folded in
    const dq = groupMatMul(dS, k); // (G, R, hd)
    const dk = groupMatMul(dS, q, true, false); // (G, Tk, hd)
    return { dq: dq.reshape([B, H, Tq, hd]) as tf.Tensor4D, dk: dk.reshape([B, K, Tk, hd]) as tf.Tensor4D, dv: dv.reshape([B, K, Tk, hd]) as tf.Tensor4D };
  });
}

/** [B, heads, T, hd] → [B·T, heads·hd]: the inverse of splitHeads. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor2D {
  const [B, H, T, hd] = x.shape;
  if (fusedKernels() && T > 1) return fusedHeadsMerge(x, B, H, hd); // the hand-written backward's
  return x.transpose([0, 2, 1, 3]).reshape([B * T, H * hd]) as tf.Tensor2D;
}

/** Backward of applyRope: dx = dy·cos + rotate_halfᵀ(dy·sin), where rotate_halfᵀ([a, b]) = [b, −a]. */
export function applyRopeBackward(dy: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const half = dy.shape[3] / 2;
    const [z1, z2] = tf.split(dy.mul(sin), [half, half], 3);
    return dy.mul(cos).add(tf.concat([z2, z1.neg()], 3)) as tf.Tensor4D;
  });
}

/** LayerNorm keeping each row's mean and rstd [rows, 1] for layerNormBackward (which also takes x). */
export function layerNormSaved(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor2D; mean: tf.Tensor2D; rstd: tf.Tensor2D } {
  if (fusedKernels()) return fusedLayerNorm(x, gamma, beta, eps);
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    const rstd = tf.rsqrt(variance.add(eps)) as tf.Tensor2D;
    return { y: x.sub(mean).mul(rstd).mul(gamma).add(beta) as tf.Tensor2D, mean: mean as tf.Tensor2D, rstd };
  });
}

/** residual + dx, dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)) with g = dy·γ and x̂ = (x − mean)·rstd. */
export function layerNormBackward(dy: tf.Tensor2D, x: tf.Tensor2D, mean: tf.Tensor2D, rstd: tf.Tensor2D, gamma: tf.Tensor1D, residual: tf.Tensor2D): tf.Tensor2D {
  if (fusedKernels()) return fusedLayerNormGrad(dy, x, mean, rstd, gamma, residual);
  return tf.tidy(() => {
    const xhat = x.sub(mean).mul(rstd);
    const g = dy.mul(gamma);
    return residual.add(g.sub(g.mean(-1, true)).sub(xhat.mul(g.mul(xhat).mean(-1, true))).mul(rstd)) as tf.Tensor2D;
  });
}

/** RMSNorm keeping r = 1/√(mean(x²) + eps) [rows, 1] for rmsNormBackward (which also takes x). */
export function rmsNormSaved(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): { y: tf.Tensor2D; r: tf.Tensor2D } {
  if (fusedKernels()) return fusedRmsNorm(x, weight, eps);
  return tf.tidy(() => {
    const r = tf.rsqrt(x.square().mean(-1, true).add(eps)) as tf.Tensor2D;
    return { y: x.mul(r).mul(weight) as tf.Tensor2D, r };
  });
}

/** residual + dx, dx = r·(g − x̂·mean(g⊙x̂)) with g = dy·w and x̂ = x·r. */
export function rmsNormBackward(dy: tf.Tensor2D, x: tf.Tensor2D, r: tf.Tensor2D, weight: tf.Tensor1D, residual: tf.Tensor2D): tf.Tensor2D {
  if (fusedKernels()) return fusedRmsNormGrad(dy, x, r, weight, residual);
  return tf.tidy(() => {
    const xhat = x.mul(r);
    const g = dy.mul(weight);
    return residual.add(g.sub(xhat.mul(g.mul(xhat).mean(-1, true))).mul(r)) as tf.Tensor2D;
  });
}

export type ActivationKind = 'gelu_new' | 'gelu' | 'relu';

/**
 * GPT-2's MLP activations keeping what activationBackward needs: the input, and tanh(u) for
 * gelu_new (not with the fused kernels, whose backward recomputes it).
 */
export function activationSaved(kind: ActivationKind, x: tf.Tensor2D): { y: tf.Tensor2D; saved: tf.Tensor2D[] } {
  if (kind === 'gelu_new' && fusedKernels()) return { y: fusedGeluNew(x) as tf.Tensor2D, saved: [x] };
  return tf.tidy(() => {
    if (kind === 'gelu_new') {
      const t = tf.tanh(x.add(x.square().mul(x).mul(0.044715)).mul(SQRT_2_OVER_PI)) as tf.Tensor2D;
      return { y: x.mul(0.5).mul(t.add(1)) as tf.Tensor2D, saved: [x, t] };
    }
    if (kind === 'gelu') return { y: geluExact(x) as tf.Tensor2D, saved: [x] };
    return { y: tf.relu(x), saved: [x] };
  });
}

/**
 * d activation / dx ⊙ dy:
 *   gelu_new: 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(√(2/π)·(x + 0.044715·x³))
 *   gelu:     Φ(x) + x·φ(x);   relu: step(x)
 */
export function activationBackward(kind: ActivationKind, dy: tf.Tensor2D, saved: tf.Tensor2D[]): tf.Tensor2D {
  return tf.tidy(() => {
    const x = saved[0];
    if (kind === 'gelu_new' && saved.length === 1) return fusedGeluNewGrad(dy, x); // saved by the fused forward
    if (kind === 'gelu_new') {
      const t = saved[1];
      const x2 = x.square();
      const inner = x2.mul(3 * 0.044715).add(1).mul(SQRT_2_OVER_PI);
      const d = t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(inner));
      return dy.mul(d) as tf.Tensor2D;
    }
    if (kind === 'gelu') {
      const cdf = tf.erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5);
      const pdf = x.square().mul(-0.5).exp().mul(1 / Math.sqrt(2 * Math.PI));
      return dy.mul(cdf.add(x.mul(pdf))) as tf.Tensor2D;
    }
    return dy.mul(tf.step(x)) as tf.Tensor2D;
  });
}
