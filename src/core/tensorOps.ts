// Tensor building blocks shared by the model families: norms, activations, rotary embeddings,
// causal masks and grouped-query attention. Activations are kept 2-D ([tokens, features]) between
// blocks because plain 2-D matMul is the fast path on the wasm backend (see shared notes).
import * as tf from '@tensorflow/tfjs';

/** LayerNorm over the last axis (GPT-2): (x − mean) / √(var + eps) · γ + β. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(gamma).add(beta) as tf.Tensor2D;
  });
}

/** RMSNorm (Llama family): x / √(mean(x²) + eps) · w. */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  return tf.tidy(() => x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(weight) as tf.Tensor2D);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GPT-2's gelu_new: the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
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

/** [B·T, heads·hd] → [B, heads, T, hd]. */
export function splitHeads(x: tf.Tensor2D, batch: number, length: number, heads: number, headDim: number): tf.Tensor4D {
  return x.reshape([batch, length, heads, headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/**
 * Scaled dot-product attention with grouped-query heads, no key/value repetition: the `rep`
 * query heads sharing one KV head are stacked along the time axis, so head h reads KV head
 * ⌊h/rep⌋ exactly as HF's repeat_kv does.
 *   q [B, H, Tq, hd], k/v [B, K, Tk, hd], mask [Tq, Tk] additive → [B·Tq, H·hd]
 * On wasm the products run per head as plain 2-D matMuls with a hand-written backward
 * (attentionPerHead); elsewhere as batched matMuls with tfjs's own gradients.
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D, scale: number): tf.Tensor2D {
  if (tf.getBackend() === 'wasm') return attentionPerHead(q, k, v, mask, scale);
  return tf.tidy(() => {
    const [B, H, Tq, hd] = q.shape;
    const K = k.shape[1];
    const Tk = k.shape[2];
    const rep = H / K;
    const qg = q.reshape([B, K, rep * Tq, hd]); // (B, K, rep·Tq, hd)
    const scores = tf.matMul(qg, k, false, true).mul(scale); // (B, K, rep·Tq, Tk)
    const masked = scores.reshape([B * H, Tq, Tk]).add(mask); // (B·H, Tq, Tk)
    const probs = tf.softmax(masked, -1).reshape([B, K, rep * Tq, Tk]);
    const out = tf.matMul(probs, v); // (B, K, rep·Tq, hd)
    return out.reshape([B, H, Tq, hd]).transpose([0, 2, 1, 3]).reshape([B * Tq, H * hd]) as tf.Tensor2D;
  });
}

/** Per-group 2-D products: a[g]·b[g] for 3-D a (G, m, k) and b (G, k, n), stacked to (G, m, n). */
function groupMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const as = tf.unstack(a) as tf.Tensor2D[];
  const bs = tf.unstack(b) as tf.Tensor2D[];
  const out = tf.stack(as.map((x, i) => tf.matMul(x, bs[i]))) as tf.Tensor3D;
  tf.dispose([...as, ...bs]);
  return out;
}

/**
 * attention() for the wasm backend. Its batched matMul runs at ~2 GFLOP/s whatever the
 * transposes, while a plain 2-D matMul reaches XNNPACK's ~30–50 (shared notes; measured for
 * 48 heads × [128, 64]: 45 ms batched, 13 ms per head including the unstack/stack copies).
 * So every product is a per-(batch, KV head) 2-D matMul, with operands transposed explicitly,
 * and the backward is written out (G = B·K groups, R = rep·Tq stacked query rows):
 *   S = s·Q·Kᵀ + M;  P = softmax(S);  O = P·V
 *   dP = dO·Vᵀ;  dV = Pᵀ·dO;  dS = P ⊙ (dP − Σⱼ dP⊙P);  dQ = s·dS·K;  dK = s·dSᵀ·Q
 * Only P is kept for the backward besides the inputs.
 */
function attentionPerHead(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D, scale: number): tf.Tensor2D {
  const [B, H, Tq, hd] = q.shape;
  const K = k.shape[1];
  const Tk = k.shape[2];
  const G = B * K;
  const R = (H / K) * Tq;
  const T3 = [0, 2, 1];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qIn, kIn, vIn] = args as tf.Tensor4D[];
    const save = args[3] as tf.GradSaveFunc;
    const qg = qIn.reshape([G, R, hd]) as tf.Tensor3D;
    const kg = kIn.reshape([G, Tk, hd]) as tf.Tensor3D;
    const vg = vIn.reshape([G, Tk, hd]) as tf.Tensor3D;
    const scores = groupMatMul(qg, kg.transpose(T3) as tf.Tensor3D).mul(scale); // (G, R, Tk)
    const probs = tf.softmax(scores.reshape([B * H, Tq, Tk]).add(mask), -1).reshape([G, R, Tk]) as tf.Tensor3D;
    save([qg, kg, vg, probs]);
    const out = groupMatMul(probs, vg); // (G, R, hd)
    return {
      value: out.reshape([B, H, Tq, hd]).transpose([0, 2, 1, 3]).reshape([B * Tq, H * hd]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qS, kS, vS, p] = saved as tf.Tensor3D[];
        const dO = dy.reshape([B, Tq, H, hd]).transpose([0, 2, 1, 3]).reshape([G, R, hd]) as tf.Tensor3D;
        const dP = groupMatMul(dO, vS.transpose(T3) as tf.Tensor3D); // (G, R, Tk)
        const dV = groupMatMul(p.transpose(T3) as tf.Tensor3D, dO); // (G, Tk, hd)
        const dS = p.mul(dP.sub(dP.mul(p).sum(-1, true))).mul(scale) as tf.Tensor3D; // (G, R, Tk), scale folded in
        const dQ = groupMatMul(dS, kS); // (G, R, hd)
        const dK = groupMatMul(dS.transpose(T3) as tf.Tensor3D, qS); // (G, Tk, hd)
        return [dQ.reshape([B, H, Tq, hd]), dK.reshape([B, K, Tk, hd]), dV.reshape([B, K, Tk, hd])];
      },
    };
  });
  return op(q, k, v) as tf.Tensor2D;
}
