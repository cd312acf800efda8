// LoRA Lab's fused CPU kernels (native/lora_lab_ops.cc via backend/fusedOps.ts) against the tfjs op
// chains they replace, which the golden tests check against PyTorch (test/unit/golden.test.ts).
// The kernels run on native TensorFlow only (LORA_LAB_TEST_BACKEND=tensorflow, npm run test:native);
// elsewhere the kernel cases are skipped and the fallback cases check that nothing fused runs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  fusedAddLayerNorm, fusedAddLowRank, fusedAddRmsNorm, fusedAttention, fusedAttentionGrad, fusedAttentionSaved, fusedBiasAct, fusedGeluNew, fusedGeluNewGrad, fusedHeadsMerge, fusedHeadsSplit, fusedKernels, fusedLayerNorm, fusedLayerNormGrad, fusedLogSoftmax, fusedLowRank, fusedLowRankGrad, fusedMaskedSoftmax, fusedOpsState, fusedRmsNorm, fusedRmsNormGrad, fusedRopeMerge, fusedRopeSplit, fusedSoftmaxGrad,
  fusedSwiGlu, fusedSwiGluGrad, loadFusedOps,
} from '../../src/core/backend/fusedOps';
import { FUSED_OPS_HEADERS } from '../../src/core/backend/fusedOpsBuild';
import { tfWheelDest } from '../../src/core/backend/nativeSetup';
import { causalMask, ropeTables } from '../../src/core/backend/tensorOps';
import { maxRelDiff } from './helpers/relDiff';

const onNative = tf.getBackend() === 'tensorflow' && fusedOpsState().loaded;

/** max |a − b| / max |b| of two tensors of one shape. */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return maxRelDiff(a.dataSync(), b.dataSync());
}

function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  const half = x.shape[3] / 2;
  const [a, b] = tf.split(x, [half, half], 3);
  return tf.concat([b.neg(), a], 3) as tf.Tensor4D;
}

function invFreq(hd: number): Float32Array {
  return Float32Array.from({ length: hd / 2 }, (_, i) => 1 / Math.pow(10000, (2 * i) / hd));
}

describe.runIf(onNative)('fused kernels equal the tfjs chains they replace (native TensorFlow)', () => {
  it('are loaded by the test setup as initBackend loads them', () => {
    expect(fusedKernels()).toBe(true);
    expect(fusedOpsState().ops).toEqual(expect.arrayContaining(['LoraLabRmsNorm', 'LoraLabRope', 'LoraLabMaskedSoftmax', 'LoraLabSwiGluGrad']));
  });

  it('RMSNorm forward (y and 1/rms) and backward with the residual: within 2e-6 relative', () => {
    tf.tidy(() => {
      const eps = 1e-5;
      const x = tf.randomNormal([37, 96], 0, 3, 'float32', 1) as tf.Tensor2D; // rows not a multiple of anything
      const w = tf.randomNormal([96], 1, 0.2, 'float32', 2) as tf.Tensor1D;
      const { y, r } = fusedRmsNorm(x, w, eps);
      const rRef = tf.rsqrt(x.square().mean(-1, true).add(eps));
      expect(r.shape).toEqual([37, 1]);
      expect(relErr(r, rRef)).toBeLessThan(2e-6);
      expect(relErr(y, x.mul(rRef).mul(w))).toBeLessThan(2e-6);
      const dy = tf.randomNormal([37, 96], 0, 1, 'float32', 3) as tf.Tensor2D;
      const res = tf.randomNormal([37, 96], 0, 1, 'float32', 4) as tf.Tensor2D;
      const xhat = x.mul(rRef);
      const g = dy.mul(w);
      const dxRef = res.add(g.sub(xhat.mul(g.mul(xhat).mean(-1, true))).mul(rRef));
      expect(relErr(fusedRmsNormGrad(dy, x, r, w, res), dxRef)).toBeLessThan(2e-6);
    });
  });

  it('rotary embedding with the head split, and its backward with the merge: within 1e-6 relative', () => {
    tf.tidy(() => {
      const [B, T, H, hd] = [3, 11, 5, 16];
      const { cos, sin } = ropeTables(invFreq(hd), T, 0);
      const x = tf.randomNormal([B * T, H * hd], 0, 1, 'float32', 5) as tf.Tensor2D;
      const x4 = x.reshape([B, T, H, hd]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
      const ref = x4.mul(cos).add(rotateHalf(x4).mul(sin));
      const y = fusedRopeSplit(x, cos, sin, B, H);
      expect(y.shape).toEqual([B, H, T, hd]);
      expect(relErr(y, ref)).toBeLessThan(1e-6);
      // Backward: dx = dy·cos + rotate_halfᵀ(dy·sin), rotate_halfᵀ([a, b]) = [b, −a]; then [B·T, H·hd].
      const dy = tf.randomNormal([B, H, T, hd], 0, 1, 'float32', 6) as tf.Tensor4D;
      const [z1, z2] = tf.split(dy.mul(sin), [hd / 2, hd / 2], 3);
      const dxRef = dy.mul(cos).add(tf.concat([z2, z1.neg()], 3)).transpose([0, 2, 1, 3]).reshape([B * T, H * hd]);
      expect(relErr(fusedRopeMerge(dy, cos, sin), dxRef)).toBeLessThan(1e-6);
      // Invariant: the backward is the inverse rotation, so merge(split(x)) = x.
      expect(relErr(fusedRopeMerge(y, cos, sin), x)).toBeLessThan(1e-6);
    });
  });

  it('masked softmax over grouped-query rows (rep 3, sliding window, decoding offset) and its backward: within 2e-6 relative', () => {
    tf.tidy(() => {
      const [G, rep, Tq, past] = [4, 3, 9, 5];
      const Tk = Tq + past;
      const scale = 0.125;
      const mask = causalMask(Tq, past, 7);
      const s = tf.randomNormal([G, rep * Tq, Tk], 0, 6, 'float32', 7) as tf.Tensor3D;
      const p = fusedMaskedSoftmax(s, mask, scale);
      const pRef = tf.softmax(s.mul(scale).reshape([G * rep, Tq, Tk]).add(mask).reshape([G, rep * Tq, Tk]), -1);
      expect(relErr(p, pRef)).toBeLessThan(2e-6);
      // Masked keys get exactly 0, as softmax of −1e9 does.
      const pd = p.dataSync();
      expect(pd[Tq - 1]).toBe(0); // row 0 (query at position past) cannot see key Tq − 1 > past
      const dP = tf.randomNormal([G, rep * Tq, Tk], 0, 1, 'float32', 8) as tf.Tensor3D;
      const dSRef = pRef.mul(dP.sub(dP.mul(pRef).sum(-1, true))).mul(scale);
      expect(relErr(fusedSoftmaxGrad(dP, p, scale), dSRef)).toBeLessThan(2e-6);
    });
  });

  it('SwiGLU silu(g)·u and its backward, over |g| up to 40: within 1e-6 relative', () => {
    tf.tidy(() => {
      const g = tf.randomNormal([33, 70], 0, 8, 'float32', 9).clipByValue(-40, 40) as tf.Tensor2D;
      const u = tf.randomNormal([33, 70], 0, 1, 'float32', 10) as tf.Tensor2D;
      const sig = tf.sigmoid(g);
      expect(relErr(fusedSwiGlu(g, u), g.mul(sig).mul(u))).toBeLessThan(1e-6);
      const dm = tf.randomNormal([33, 70], 0, 1, 'float32', 11) as tf.Tensor2D;
      const { dg, du } = fusedSwiGluGrad(dm, g, u);
      expect(relErr(du, dm.mul(g.mul(sig)))).toBeLessThan(1e-6);
      expect(relErr(dg, dm.mul(u).mul(sig.mul(g.mul(sig.neg().add(1)).add(1))))).toBeLessThan(1e-6);
    });
  });

  it('LayerNorm forward (y, mean, rstd) and backward with the residual: within 2e-6 relative', () => {
    tf.tidy(() => {
      const eps = 1e-5;
      const x = tf.randomNormal([29, 80], 2, 3, 'float32', 12) as tf.Tensor2D; // off-centre rows
      const gamma = tf.randomNormal([80], 1, 0.2, 'float32', 13) as tf.Tensor1D;
      const beta = tf.randomNormal([80], 0, 0.5, 'float32', 14) as tf.Tensor1D;
      const { y, mean, rstd } = fusedLayerNorm(x, gamma, beta, eps);
      const m = tf.moments(x, -1, true);
      const rRef = tf.rsqrt(m.variance.add(eps));
      expect(relErr(mean, m.mean)).toBeLessThan(2e-6);
      expect(relErr(rstd, rRef)).toBeLessThan(2e-6);
      const xhat = x.sub(m.mean).mul(rRef);
      expect(relErr(y, xhat.mul(gamma).add(beta))).toBeLessThan(2e-6);
      const dy = tf.randomNormal([29, 80], 0, 1, 'float32', 15) as tf.Tensor2D;
      const res = tf.randomNormal([29, 80], 0, 1, 'float32', 16) as tf.Tensor2D;
      const g = dy.mul(gamma);
      const dxRef = res.add(g.sub(g.mean(-1, true)).sub(xhat.mul(g.mul(xhat).mean(-1, true))).mul(rRef));
      expect(relErr(fusedLayerNormGrad(dy, x, mean, rstd, gamma, res), dxRef)).toBeLessThan(2e-6);
    });
  });

  it('the residual add fused into the norm: sum = x + delta exactly, then RMSNorm / LayerNorm of the sum as the unfused kernels give it', () => {
    tf.tidy(() => {
      const eps = 1e-5;
      const x = tf.randomNormal([33, 72], 1, 3, 'float32', 17) as tf.Tensor2D;
      const delta = tf.randomNormal([33, 72], 0, 2, 'float32', 18) as tf.Tensor2D;
      const w = tf.randomNormal([72], 1, 0.2, 'float32', 19) as tf.Tensor1D;
      const b = tf.randomNormal([72], 0, 0.5, 'float32', 20) as tf.Tensor1D;
      const sumRef = x.add(delta) as tf.Tensor2D; // float32 adds: the fused sum must be bit-identical
      const rms = fusedAddRmsNorm(x, delta, w, eps);
      expect(relErr(rms.sum, sumRef)).toBe(0);
      const rmsRef = fusedRmsNorm(sumRef, w, eps);
      expect(relErr(rms.y, rmsRef.y)).toBe(0);
      expect(relErr(rms.r, rmsRef.r)).toBe(0);
      const ln = fusedAddLayerNorm(x, delta, w, b, eps);
      expect(relErr(ln.sum, sumRef)).toBe(0);
      const lnRef = fusedLayerNorm(sumRef, w, b, eps);
      expect(relErr(ln.y, lnRef.y)).toBe(0);
      expect(relErr(ln.mean, lnRef.mean)).toBe(0);
      expect(relErr(ln.rstd, lnRef.rstd)).toBe(0);
      expect(() => fusedAddRmsNorm(x, delta.slice([0, 0], [32, 72]) as tf.Tensor2D, w, eps)).toThrow(/LoraLabAddRmsNorm: x and delta must be \[rows, d\] and weight \[d\]/);
    });
  });

  it("a frozen layer's bias folded into what follows: act(x + b) + residual and LayerNorm(x + (delta + b)) equal the unfused ops", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([19, 48], 0, 2, 'float32', 21) as tf.Tensor2D;
      const b = tf.randomNormal([48], 0, 1, 'float32', 22) as tf.Tensor1D;
      const res = tf.randomNormal([19, 48], 0, 1, 'float32', 23) as tf.Tensor2D;
      const pre = x.add(b) as tf.Tensor2D;
      const g = fusedBiasAct(x, b, 'gelu_new', undefined, true);
      expect(relErr(g.pre!, pre)).toBe(0); // one float32 add
      expect(relErr(g.y, fusedGeluNew(pre))).toBe(0); // the same gelu_new as the unfused kernel
      expect(relErr(fusedBiasAct(x, b, 'none', res).y, pre.add(res))).toBe(0);
      expect(relErr(fusedBiasAct(x, undefined, 'none', res).y, x.add(res))).toBe(0);
      const gamma = tf.randomNormal([48], 1, 0.2, 'float32', 24) as tf.Tensor1D;
      const beta = tf.randomNormal([48], 0, 0.5, 'float32', 25) as tf.Tensor1D;
      const ln = fusedAddLayerNorm(res, x, gamma, beta, 1e-5, b);
      expect(relErr(ln.sum, res.add(pre))).toBe(0);
      expect(relErr(ln.y, fusedLayerNorm(res.add(pre) as tf.Tensor2D, gamma, beta, 1e-5).y)).toBe(0);
      expect(() => fusedBiasAct(x, tf.zeros([47]) as tf.Tensor1D, 'none')).toThrow(/LoraLabBiasAct: x must be \[N, C\], bias \[C\] or empty/);
    });
  });

  it("GPT-2's gelu_new and its derivative, over |x| up to 12: within 1e-6 relative of float64 (and closer than the tfjs chain)", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([31, 64], 0, 4, 'float32', 17).clipByValue(-12, 12) as tf.Tensor2D;
      const dy = tf.randomNormal([31, 64], 0, 1, 'float32', 18) as tf.Tensor2D;
      // float64 references from the same float32 inputs.
      const c = Math.sqrt(2 / Math.PI);
      const xs = x.dataSync();
      const ds = dy.dataSync();
      const y64 = new Float64Array(xs.length);
      const dx64 = new Float64Array(xs.length);
      xs.forEach((v, i) => {
        const t = Math.tanh(c * (v + 0.044715 * v * v * v));
        y64[i] = 0.5 * v * (1 + t);
        dx64[i] = ds[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v));
      });
      const err = (a: tf.Tensor, ref: Float64Array): number => maxRelDiff(a.dataSync(), ref);
      const t = tf.tanh(x.add(x.square().mul(x).mul(0.044715)).mul(c));
      const chainY = x.mul(0.5).mul(t.add(1));
      const chainDx = dy.mul(t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(x.square().mul(3 * 0.044715).add(1).mul(c))));
      const fusedY = err(fusedGeluNew(x), y64);
      const fusedDx = err(fusedGeluNewGrad(dy, x), dx64);
      expect(fusedY).toBeLessThan(1e-6);
      expect(fusedDx).toBeLessThan(1e-6);
      expect(fusedY).toBeLessThanOrEqual(2 * err(chainY, y64) + 1e-7);
      expect(fusedDx).toBeLessThanOrEqual(2 * err(chainDx, dx64) + 1e-7);
    });
  });

  it("LoRA's low-rank add base + u·m (m as [r, C] and transposed [C, r]), ranks 1–16: within 1e-6 relative of base + matMul", () => {
    tf.tidy(() => {
      for (const [N, C, r] of [[19, 40, 1], [64, 96, 8], [33, 70, 16]]) {
        const base = tf.randomNormal([N, C], 0, 2, 'float32', 19) as tf.Tensor2D;
        const u = tf.randomNormal([N, r], 0, 1, 'float32', 20) as tf.Tensor2D;
        const m = tf.randomNormal([r, C], 0, 1, 'float32', 21) as tf.Tensor2D;
        const ref = base.add(tf.matMul(u, m));
        expect(relErr(fusedAddLowRank(base, u, m), ref)).toBeLessThan(1e-6);
        expect(relErr(fusedAddLowRank(base, u, m.transpose() as tf.Tensor2D, true), ref)).toBeLessThan(1e-6);
      }
    });
  });

  it("the LM head's log-sum-exp and softmax per row (vocabulary 5003, logits up to ±60): within 1e-6 relative", () => {
    tf.tidy(() => {
      const logits = tf.randomNormal([9, 5003], 0, 20, 'float32', 22).clipByValue(-60, 60) as tf.Tensor2D;
      const withP = fusedLogSoftmax(logits, true);
      expect(relErr(withP.lse, tf.logSumExp(logits, 1))).toBeLessThan(1e-6);
      expect(relErr(withP.p!, tf.softmax(logits, -1))).toBeLessThan(1e-6);
      const lseOnly = fusedLogSoftmax(logits, false);
      expect(lseOnly.p).toBeUndefined();
      expect(relErr(lseOnly.lse, withP.lse)).toBe(0);
    });
  });

  it("attention's head layout: split (with GPT-2's q/k/v column offsets) and merge equal reshape + transpose exactly", () => {
    tf.tidy(() => {
      const [B, T, H, hd] = [2, 7, 3, 8];
      const qkv = tf.randomNormal([B * T, 3 * H * hd], 0, 1, 'float32', 23) as tf.Tensor2D;
      const parts = tf.split(qkv, 3, 1);
      for (let i = 0; i < 3; i++) {
        const ref = parts[i].reshape([B, T, H, hd]).transpose([0, 2, 1, 3]);
        expect(relErr(fusedHeadsSplit(qkv, B, H, hd, i * H * hd), ref)).toBe(0);
      }
      const x4 = tf.randomNormal([B, H, T, hd], 0, 1, 'float32', 24) as tf.Tensor4D;
      expect(relErr(fusedHeadsMerge(x4, B, H, hd), x4.transpose([0, 2, 1, 3]).reshape([B * T, H * hd]))).toBe(0);
      expect(relErr(fusedHeadsMerge(x4.reshape([B * H, T, hd]), B, H, hd), x4.transpose([0, 2, 1, 3]).reshape([B * T, H * hd]))).toBe(0); // any shape holding [B, H, T, hd]
    });
  });

  it('attention without gradient equals softmax(scale·QKᵀ + mask)·V with repeat_kv (causal, cache, window, no mask, a fully masked row): within 5e-6', () => {
    // The reference: HF's eager attention, written out — K/V repeated per query head, full scores, softmax, merge.
    const reference = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number) => {
      const [B, H, Tq, hd] = q.shape;
      const rep = H / k.shape[1];
      const kr = tf.stack(tf.unstack(k, 1).flatMap((t) => Array<tf.Tensor>(rep).fill(t)), 1) as tf.Tensor4D;
      const vr = tf.stack(tf.unstack(v, 1).flatMap((t) => Array<tf.Tensor>(rep).fill(t)), 1) as tf.Tensor4D;
      let s = tf.matMul(q, kr, false, true).mul(scale);
      if (mask) s = s.add(mask);
      return tf.matMul(tf.softmax(s, -1), vr).transpose([0, 2, 1, 3]).reshape([B * Tq, H * hd]);
    };
    const cases: { name: string; q: [number, number, number, number]; kv: [number, number, number, number]; mask?: tf.Tensor2D }[] = [
      { name: 'grouped-query, causal, 37 rows', q: [2, 6, 37, 64], kv: [2, 2, 37, 64], mask: causalMask(37) },
      { name: 'with 16 cached keys', q: [1, 4, 5, 128], kv: [1, 4, 21, 128], mask: causalMask(5, 16) },
      { name: 'sliding window 6', q: [2, 2, 20, 64], kv: [2, 1, 20, 64], mask: causalMask(20, 0, 6) },
      { name: 'one query, no mask', q: [3, 4, 1, 64], kv: [3, 2, 9, 64] },
      { name: 'a fully masked row', q: [1, 2, 4, 64], kv: [1, 2, 4, 64], mask: tf.tensor2d([[0, -1e9, -1e9, -1e9], [-1e9, -1e9, -1e9, -1e9], [0, 0, 0, -1e9], [0, 0, 0, 0]]) },
    ];
    cases.forEach(({ name, q: qs, kv, mask }, i) => {
      tf.tidy(() => {
        const q = tf.randomNormal(qs, 0, 2, 'float32', 30 + i) as tf.Tensor4D;
        const k = tf.randomNormal(kv, 0, 2, 'float32', 40 + i) as tf.Tensor4D;
        const v = tf.randomNormal(kv, 0, 1, 'float32', 50 + i) as tf.Tensor4D;
        const scale = 1 / Math.sqrt(qs[3]);
        const y = fusedAttention(q, k, v, mask, scale);
        expect(y.shape, name).toEqual([qs[0] * qs[2], qs[1] * qs[3]]);
        expect(relErr(y, reference(q, k, v, mask, scale)), name).toBeLessThan(5e-6);
      });
    });
  });

  it("LoRA's rank-r products: s·x·Aᵀ, s·dy·B and the weight gradients xᵀ·g, (xa)ᵀ·dy equal tf.matMul within 2e-6, for r = 1, 8, 13, 16", () => {
    for (const [N, D, r] of [[33, 37, 1], [512, 576, 8], [7, 130, 13], [70, 64, 16]]) {
      tf.tidy(() => {
        const x = tf.randomNormal([N, D], 0, 1, 'float32', N + r) as tf.Tensor2D;
        const at = tf.randomNormal([D, r], 0, 0.1, 'float32', D + r) as tf.Tensor2D; // Aᵀ (in, r)
        const bt = tf.randomNormal([r, D], 0, 0.1, 'float32', 2 * D + r) as tf.Tensor2D; // Bᵀ (r, out)
        const g = tf.randomNormal([N, r], 0, 1, 'float32', 3 * D + r) as tf.Tensor2D;
        const s = 2 / r;
        const tag = `N=${N} D=${D} r=${r}`;
        expect(relErr(fusedLowRank(x, at, s), tf.matMul(x, at).mul(s)), tag).toBeLessThan(2e-6);
        expect(relErr(fusedLowRank(x, bt, s, true), tf.matMul(x, bt, false, true).mul(s)), tag).toBeLessThan(2e-6);
        expect(relErr(fusedLowRankGrad(x, g), tf.matMul(x, g, true, false)), tag).toBeLessThan(2e-6);
        expect(relErr(fusedLowRankGrad(x, g, true), tf.matMul(g, x, true, false)), tag).toBeLessThan(2e-6);
      });
    }
  });

  it("attention's training pair: the saved probabilities are softmax's, and the backward equals autograd of the reference (dq, dk, dv within 1e-5)", () => {
    const reference = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number) => {
      const [B, H, Tq, hd] = q.shape;
      const [, K, Tk] = k.shape;
      const repeat = (t: tf.Tensor4D) => t.reshape([B * K, 1, Tk * hd]).tile([1, H / K, 1]).reshape([B, H, Tk, hd]) as tf.Tensor4D; // HF's repeat_kv: head h reads KV head ⌊h/rep⌋
      const [kr, vr] = [repeat(k), repeat(v)];
      let s = tf.matMul(q, kr, false, true).mul(scale);
      if (mask) s = s.add(mask);
      const p = tf.softmax(s, -1);
      return { p, y: tf.matMul(p, vr).transpose([0, 2, 1, 3]).reshape([B * Tq, H * hd]) as tf.Tensor2D };
    };
    const cases: { name: string; q: [number, number, number, number]; kv: [number, number, number, number]; mask?: tf.Tensor2D }[] = [
      { name: 'grouped-query, causal, 37 rows', q: [2, 6, 37, 64], kv: [2, 2, 37, 64], mask: causalMask(37) },
      { name: 'sliding window 6', q: [1, 2, 20, 128], kv: [1, 1, 20, 128], mask: causalMask(20, 0, 6) },
      { name: 'no mask', q: [2, 3, 9, 64], kv: [2, 3, 9, 64] },
    ];
    cases.forEach(({ name, q: qs, kv, mask }, i) => {
      tf.tidy(() => {
        const q = tf.randomNormal(qs, 0, 2, 'float32', 70 + i) as tf.Tensor4D;
        const k = tf.randomNormal(kv, 0, 2, 'float32', 80 + i) as tf.Tensor4D;
        const v = tf.randomNormal(kv, 0, 1, 'float32', 90 + i) as tf.Tensor4D;
        const dy = tf.randomNormal([qs[0] * qs[2], qs[1] * qs[3]], 0, 1, 'float32', 100 + i) as tf.Tensor2D;
        const scale = 1 / Math.sqrt(qs[3]);
        const ref = reference(q, k, v, mask, scale);
        const { y, p } = fusedAttentionSaved(q, k, v, mask, scale);
        const [B, H, Tq] = qs;
        const K = kv[1];
        expect(relErr(y, ref.y), name).toBeLessThan(5e-6);
        // P as (B·K, (H/K)·Tq, Tk): head h = kv·rep + r is row r·Tq + t of group (b, kv), as [B, H, Tq, Tk] holds it.
        expect(relErr(p, ref.p.reshape([B * K, (H / K) * Tq, kv[2]])), name).toBeLessThan(5e-6);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => reference(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, mask, scale).y.mul(dy).sum())([q, k, v]);
        const got = fusedAttentionGrad(q, k, v, p, dy, scale);
        expect(relErr(got.dq, g[0]), `${name} dq`).toBeLessThan(1e-5);
        expect(relErr(got.dk, g[1]), `${name} dk`).toBeLessThan(1e-5);
        expect(relErr(got.dv, g[2]), `${name} dv`).toBeLessThan(1e-5);
      });
    });
  });

  it('windows of a wider product (q, k, v from one MatMul): rope, head split and the low-rank add read columns offset… exactly as from a slice', () => {
    tf.tidy(() => {
      const [B, T, H, K, hd] = [2, 5, 4, 2, 8];
      const base = tf.randomNormal([B * T, (H + 2 * K) * hd], 0, 1, 'float32', 60) as tf.Tensor2D;
      const { cos, sin } = ropeTables(invFreq(hd), T, 0);
      const win = (o: number, w: number) => base.slice([0, o], [B * T, w]) as tf.Tensor2D;
      expect(relErr(fusedRopeSplit(base, cos, sin, B, K, H * hd), fusedRopeSplit(win(H * hd, K * hd), cos, sin, B, K))).toBe(0);
      expect(relErr(fusedHeadsSplit(base, B, K, hd, (H + K) * hd), fusedHeadsSplit(win((H + K) * hd, K * hd), B, K, hd))).toBe(0);
      const u = tf.randomNormal([B * T, 3], 0, 1, 'float32', 61) as tf.Tensor2D;
      const m = tf.randomNormal([3, K * hd], 0, 1, 'float32', 62) as tf.Tensor2D;
      expect(relErr(fusedAddLowRank(base, u, m, false, undefined, (H + K) * hd), fusedAddLowRank(win((H + K) * hd, K * hd), u, m))).toBe(0);
      expect(() => fusedAddLowRank(base, u, m, false, undefined, (H + K) * hd + 1)).toThrow(/LoraLabAddLowRank: base must be \[N, C\] \(or wider, from column offset\)/);
    });
  });

  it('bad shapes fail with the op and the shape it wants, not a crash', () => {
    tf.tidy(() => {
      expect(() => fusedRmsNorm(tf.zeros([4, 8]) as tf.Tensor2D, tf.zeros([7]) as tf.Tensor1D, 1e-5)).toThrow(/LoraLabRmsNorm: x must be \[rows, d\] and weight \[d\]/);
      const { cos, sin } = ropeTables(invFreq(8), 3, 0);
      expect(() => fusedRopeSplit(tf.zeros([5, 16]) as tf.Tensor2D, cos, sin, 2, 2)).toThrow(/LoraLabRope: x must be \[batch·T, columns\] with offset \+ heads·headDim columns or more/);
      expect(() => fusedMaskedSoftmax(tf.zeros([2, 5, 4]) as tf.Tensor3D, tf.zeros([2, 4]) as tf.Tensor2D, 1)).toThrow(/LoraLabMaskedSoftmax/);
      expect(() => fusedSwiGlu(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([3, 2]) as tf.Tensor2D)).toThrow(/LoraLabSwiGlu: gate and up must have the same shape/);
      expect(() => fusedHeadsSplit(tf.zeros([6, 10]) as tf.Tensor2D, 2, 2, 4, 4)).toThrow(/LoraLabHeads: x must be \[batch·T, columns\] with offset \+ heads·head_dim columns or more/);
      expect(() => fusedAttention(tf.zeros([1, 2, 3, 32]) as tf.Tensor4D, tf.zeros([1, 2, 3, 32]) as tf.Tensor4D, tf.zeros([1, 2, 3, 32]) as tf.Tensor4D, undefined, 1)).toThrow(/LoraLabAttention: head_dim must be a multiple of 64/);
      expect(() => fusedAttention(tf.zeros([1, 3, 3, 64]) as tf.Tensor4D, tf.zeros([1, 2, 3, 64]) as tf.Tensor4D, tf.zeros([1, 2, 3, 64]) as tf.Tensor4D, undefined, 1)).toThrow(/LoraLabAttention: q must be \[batch, heads, Tq, head_dim\] and k, v \[batch, kv_heads, Tk, head_dim\] with kv_heads dividing heads/);
      expect(() => fusedLowRank(tf.zeros([4, 6]) as tf.Tensor2D, tf.zeros([6, 17]) as tf.Tensor2D, 1)).toThrow(/LoraLabLowRank: x must be \[N, D\] and m \[D, r\] with 1 ≤ r ≤ 16/);
      expect(() => fusedLowRankGrad(tf.zeros([4, 6]) as tf.Tensor2D, tf.zeros([5, 2]) as tf.Tensor2D)).toThrow(/LoraLabLowRankGrad: a must be \[N, D\] and g \[N, r\] with 1 ≤ r ≤ 16/);
      expect(() => fusedAddLowRank(tf.zeros([4, 6]) as tf.Tensor2D, tf.zeros([4, 2]) as tf.Tensor2D, tf.zeros([6, 2]) as tf.Tensor2D)).toThrow(/LoraLabAddLowRank: base must be \[N, C\] \(or wider, from column offset\), u \[N, r\], m \[r, C\] and bias \[C\] or empty/);
    });
  });
});

describe('fused kernels: loading and set-up', () => {
  it.runIf(!onNative)('are not used off native TensorFlow (the tfjs chains run)', () => {
    expect(fusedKernels()).toBe(false);
  });

  it('a binding folder without the module, or LORA_LAB_FUSED_OPS=0, leaves them off with the reason', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fused-'));
    try {
      const before = fusedOpsState();
      expect(loadFusedOps(dir, {}).reason).toMatch(/lora_lab_ops\.node is not built \(npm run setup:native builds it\)/);
      expect(loadFusedOps(dir, { LORA_LAB_FUSED_OPS: '0' }).reason).toMatch(/switched off/);
      fs.writeFileSync(path.join(dir, 'lora_lab_ops.node'), 'not an ELF file');
      const bad = loadFusedOps(dir, {});
      expect(bad.loaded).toBe(false);
      expect(bad.reason).toMatch(/loading lora_lab_ops\.node failed/);
      // Put the process's state back for the other files' cases (the module, once registered, stays).
      if (before.loaded && before.file) loadFusedOps(path.dirname(before.file), {});
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an install keeps the headers kernels.h pulls in (tfWheelDest takes each of FUSED_OPS_HEADERS out of the wheel)", () => {
    for (const h of FUSED_OPS_HEADERS) expect(tfWheelDest('/i', `tensorflow/include/${h}`)).toBe(path.join('/i', 'include', h));
    expect(tfWheelDest('/i', 'tensorflow/include/tsl/platform/logging.h')).toBeUndefined();
  });
});
