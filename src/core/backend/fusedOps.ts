// LoRA Lab's fused CPU kernels on native TensorFlow (native/lora_lab_ops.cc, built by
// `npm run setup:native`: fusedOpsBuild.ts). Loading the module registers its ops in TensorFlow's
// registry; the tfjs-node backend then runs them by name like any TensorFlow op. Each replaces a
// chain of 4–12 small tfjs ops of the Llama block (RMSNorm, rotary embedding with the head
// split/merge, masked softmax, SwiGLU, and their backwards) by one pass.
//
// They have no tfjs gradient: they are used where no tape differentiates through them (the
// hand-written block forward/backward, and plain forwards when no tape is recording). Without the
// module (wasm, cpu, GPU device, not built, LORA_LAB_FUSED_OPS=0) tensorOps.ts runs the tfjs chains.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FUSED_OPS_FILE, fusedOpsSource, fusedOpsSourceHash } from './fusedOpsBuild';

export interface FusedOpsState {
  loaded: boolean;
  /** Where the module was (or would have been) loaded from. */
  file?: string;
  ops?: string[];
  threads?: number;
  /** float32 lanes of the vector path the hand-vectorised kernels take (16: AVX-512, 8: AVX2, 4: SSE2). */
  lanes?: number;
  /** Why it is not loaded. */
  reason?: string;
}

/** An empty float32 tensor, made once when the module loads (not during a step: tensor counts stay flat): an absent optional input. */
let empty: tf.Tensor1D | undefined;

let state: FusedOpsState = { loaded: false, reason: 'not loaded (native TensorFlow only)' };

interface FusedModule {
  ops: string[];
  threads: number;
  lanes?: number;
  source: string;
}

/**
 * Loads the module that sits next to the tfjs-node binding in `bindingDir`, after the binding (its
 * libtensorflow must be the one in the process). Never throws: the state says why not.
 */
export function loadFusedOps(bindingDir: string, env: NodeJS.ProcessEnv = process.env): FusedOpsState {
  const file = path.join(bindingDir, FUSED_OPS_FILE);
  if (['0', 'false', 'off'].includes((env.LORA_LAB_FUSED_OPS ?? '').toLowerCase())) {
    state = { loaded: false, file, reason: 'switched off (LORA_LAB_FUSED_OPS=0)' };
    return state;
  }
  if (!fs.existsSync(file)) {
    state = { loaded: false, file, reason: `${FUSED_OPS_FILE} is not built (npm run setup:native builds it)` };
    return state;
  }
  try {
    const mod = { exports: {} as FusedModule };
    process.dlopen(mod, file);
    const expected = fusedOpsSourceHash(fusedOpsSource());
    if (expected && mod.exports.source !== expected) {
      // Registered already (TensorFlow cannot unregister), but an older build may compute other ops: not used.
      state = { loaded: false, file, reason: `${FUSED_OPS_FILE} was built from another native/lora_lab_ops.cc (${mod.exports.source}, now ${expected}): npm run setup:native rebuilds it` };
      return state;
    }
    state = { loaded: true, file, ops: mod.exports.ops, threads: mod.exports.threads, ...(mod.exports.lanes ? { lanes: mod.exports.lanes } : {}) };
    if (!empty || empty.isDisposed) empty = tf.keep(tf.tensor1d([], 'float32')); // LoraLabAddLowRank's bias when a layer has none, LoraLabAttention's mask when none
  } catch (e) {
    state = { loaded: false, file, reason: `loading ${FUSED_OPS_FILE} failed: ${(e as Error).message.split('\n')[0]}` };
  }
  return state;
}

export function fusedOpsState(): FusedOpsState {
  return state;
}

/** True when the fused kernels can run: the module is loaded and the backend is native TensorFlow. */
export function fusedKernels(): boolean {
  return state.loaded && tf.getBackend() === 'tensorflow';
}

interface OpAttr {
  name: string;
  type: number;
  value: number | boolean;
}

interface NodeBackend {
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_INT: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
}

type Attr = [string, 'float' | 'int' | 'bool' | 'float32-type', number | boolean];

function run(name: string, attrs: Attr[], inputs: tf.Tensor[], outputs: number): tf.Tensor[] {
  const be = tf.backend() as unknown as NodeBackend;
  const b = be.binding;
  const attr = ([n, t, v]: Attr): OpAttr => (t === 'float32-type' ? { name: n, type: b.TF_ATTR_TYPE, value: b.TF_FLOAT } : { name: n, type: { float: b.TF_ATTR_FLOAT, int: b.TF_ATTR_INT, bool: b.TF_ATTR_BOOL }[t], value: v });
  return be.executeMultipleOutputs(name, attrs.map(attr), inputs, outputs);
}

/**
 * Whether a product can run as TensorFlow's MatMul op (nativeMatMul): 2-D float32 operands on
 * native TensorFlow. The op has no tfjs gradient: the caller (matMulT) also checks that no tape records.
 */
export function nativeMatMulFor(a: tf.Tensor, b: tf.Tensor): boolean {
  return a.rank === 2 && b.rank === 2 && a.dtype === 'float32' && b.dtype === 'float32' && tf.getBackend() === 'tensorflow';
}

/**
 * a·b (2-D) as one TensorFlow MatMul op. tf.matMul on tfjs-node runs every product as
 * BatchMatMulV2; for 2-D operands MatMul took 0.55–1.05× its time in one alternating probe (LoRA's
 * rank-8 products 0.55–0.6×, smollm's LM head [256,576]×[576,49152] 87 → 53 ms, the block products
 * 0.9–1.05×; BENCHMARKS.md, 2026-12-04).
 */
export function nativeMatMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  return run('MatMul', [['transpose_a', 'bool', transposeA], ['transpose_b', 'bool', transposeB], ['T', 'float32-type', 0]], [a, b], 1)[0] as tf.Tensor2D;
}

/** RMSNorm: y = x·r·w and r = 1/√(mean(x²) + eps) [rows, 1]. */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): { y: tf.Tensor2D; r: tf.Tensor2D } {
  const [y, r] = run('LoraLabRmsNorm', [['eps', 'float', eps]], [x, weight], 2);
  return { y: y as tf.Tensor2D, r: r as tf.Tensor2D };
}

/** sum = x + delta, then RMSNorm of sum: the residual add before a norm in the same pass. */
export function fusedAddRmsNorm(x: tf.Tensor2D, delta: tf.Tensor2D, weight: tf.Tensor1D, eps: number): { sum: tf.Tensor2D; y: tf.Tensor2D; r: tf.Tensor2D } {
  const [sum, y, r] = run('LoraLabAddRmsNorm', [['eps', 'float', eps]], [x, delta, weight], 3);
  return { sum: sum as tf.Tensor2D, y: y as tf.Tensor2D, r: r as tf.Tensor2D };
}

/** residual + RMSNorm's dx: r·(g − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = x·r. */
export function fusedRmsNormGrad(dy: tf.Tensor2D, x: tf.Tensor2D, r: tf.Tensor2D, weight: tf.Tensor1D, residual: tf.Tensor2D): tf.Tensor2D {
  return run('LoraLabRmsNormGrad', [], [dy, x, r, weight, residual], 1)[0] as tf.Tensor2D;
}

/**
 * splitHeads then applyRope: [B·T, heads·hd] → [B, heads, T, hd] rotated by cos/sin [T, hd]; x may be
 * wider, the heads at columns offset… (q, k, v as windows of one product).
 */
export function fusedRopeSplit(x: tf.Tensor2D, cos: tf.Tensor2D, sin: tf.Tensor2D, batch: number, heads: number, offset = 0): tf.Tensor4D {
  return run('LoraLabRope', [['batch', 'int', batch], ['heads', 'int', heads], ['offset', 'int', offset], ['merge', 'bool', false]], [x, cos, sin], 1)[0] as tf.Tensor4D;
}

/** applyRopeBackward then mergeHeads: [B, heads, T, hd] → [B·T, heads·hd]. */
export function fusedRopeMerge(dy: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor2D {
  const [B, H] = dy.shape;
  return run('LoraLabRope', [['batch', 'int', B], ['heads', 'int', H], ['merge', 'bool', true]], [dy, cos, sin], 1)[0] as tf.Tensor2D;
}

/** softmax(scale·scores + mask[t]) over scores (G, R, Tk) whose row r is query t = r mod Tq of mask [Tq, Tk]. */
export function fusedMaskedSoftmax(scores: tf.Tensor3D, mask: tf.Tensor2D, scale: number): tf.Tensor3D {
  return run('LoraLabMaskedSoftmax', [['scale', 'float', scale]], [scores, mask], 1)[0] as tf.Tensor3D;
}

/** LoraLabAttention's head dimension must be a multiple of this. */
export const FUSED_ATTENTION_HEAD_DIM_MULTIPLE = 64;

/**
 * softmax(scale·Q·Kᵀ + mask)·V without saving anything: q [B, H, Tq, hd], k/v [B, K, Tk, hd]
 * (K dividing H: grouped-query heads read KV head ⌊h/(H/K)⌋), mask [Tq, Tk] additive or none →
 * [B·Tq, H·hd]. Keys a row's mask hides at its ends (≤ −1e8) are skipped. hd a multiple of 64.
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number): tf.Tensor2D {
  const [y, p] = run('LoraLabAttention', [['scale', 'float', scale], ['probs', 'bool', false]], [q, k, v, mask ?? empty!], 2);
  p.dispose();
  return y as tf.Tensor2D;
}

/** fusedAttention keeping the probabilities P [B·K, (H/K)·Tq, Tk] (0 where masked) for fusedAttentionGrad. */
export function fusedAttentionSaved(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D | undefined, scale: number): { y: tf.Tensor2D; p: tf.Tensor3D } {
  const [y, p] = run('LoraLabAttention', [['scale', 'float', scale], ['probs', 'bool', true]], [q, k, v, mask ?? empty!], 2);
  return { y: y as tf.Tensor2D, p: p as tf.Tensor3D };
}

/**
 * Attention's backward from fusedAttentionSaved's P and dy [B·Tq, H·hd]: dQ = dS·K, dK = dSᵀ·Q,
 * dV = Pᵀ·dO with dS = scale·P ⊙ (dO·Vᵀ − Σⱼ dO·Vᵀ ⊙ P), over each row's nonzero span of P.
 */
export function fusedAttentionGrad(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, p: tf.Tensor3D, dy: tf.Tensor2D, scale: number): { dq: tf.Tensor4D; dk: tf.Tensor4D; dv: tf.Tensor4D } {
  const [dq, dk, dv] = run('LoraLabAttentionGrad', [['scale', 'float', scale]], [q, k, v, p, dy], 3);
  return { dq: dq as tf.Tensor4D, dk: dk as tf.Tensor4D, dv: dv as tf.Tensor4D };
}

/** dS = scale·P⊙(dP − Σⱼ dP⊙P). */
export function fusedSoftmaxGrad(dp: tf.Tensor3D, p: tf.Tensor3D, scale: number): tf.Tensor3D {
  return run('LoraLabSoftmaxGrad', [['scale', 'float', scale]], [dp, p], 1)[0] as tf.Tensor3D;
}

/** silu(gate)·up. */
export function fusedSwiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return run('LoraLabSwiGlu', [], [gate, up], 1)[0] as tf.Tensor2D;
}

/** d(silu(g)·u): dg = dm·u·σ(g)·(1 + g·(1 − σ(g))), du = dm·silu(g). */
export function fusedSwiGluGrad(dm: tf.Tensor2D, gate: tf.Tensor2D, up: tf.Tensor2D): { dg: tf.Tensor2D; du: tf.Tensor2D } {
  const [dg, du] = run('LoraLabSwiGluGrad', [], [dm, gate, up], 2);
  return { dg: dg as tf.Tensor2D, du: du as tf.Tensor2D };
}

/** LayerNorm: y = (x − mean)·rstd·γ + β, with mean and rstd [rows, 1]. */
export function fusedLayerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor2D; mean: tf.Tensor2D; rstd: tf.Tensor2D } {
  const [y, mean, rstd] = run('LoraLabLayerNorm', [['eps', 'float', eps]], [x, gamma, beta], 3);
  return { y: y as tf.Tensor2D, mean: mean as tf.Tensor2D, rstd: rstd as tf.Tensor2D };
}

/** sum = x + (delta + bias), then LayerNorm of sum (bias: a frozen projection's, optional). */
export function fusedAddLayerNorm(
  x: tf.Tensor2D, delta: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, bias?: tf.Tensor1D,
): { sum: tf.Tensor2D; y: tf.Tensor2D; mean: tf.Tensor2D; rstd: tf.Tensor2D } {
  const [sum, y, mean, rstd] = run('LoraLabAddLayerNorm', [['eps', 'float', eps]], [x, delta, bias ?? empty!, gamma, beta], 4);
  return { sum: sum as tf.Tensor2D, y: y as tf.Tensor2D, mean: mean as tf.Tensor2D, rstd: rstd as tf.Tensor2D };
}

/** residual + LayerNorm's dx: rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙γ, x̂ = (x − mean)·rstd. */
export function fusedLayerNormGrad(dy: tf.Tensor2D, x: tf.Tensor2D, mean: tf.Tensor2D, rstd: tf.Tensor2D, gamma: tf.Tensor1D, residual: tf.Tensor2D): tf.Tensor2D {
  return run('LoraLabLayerNormGrad', [], [dy, x, mean, rstd, gamma, residual], 1)[0] as tf.Tensor2D;
}

/** GPT-2's gelu_new. */
export function fusedGeluNew(x: tf.Tensor): tf.Tensor {
  return run('LoraLabGeluNew', [], [x], 1)[0];
}

/** dy ⊙ gelu_new'(x). */
export function fusedGeluNewGrad(dy: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  return run('LoraLabGeluNewGrad', [], [dy, x], 1)[0] as tf.Tensor2D;
}

/**
 * base (+ bias) + u·m for a low rank r: u [N, r], m [r, C] (or [C, r] with transposeM), bias [C];
 * base [N, C], or wider with its columns offset…offset + C taken.
 */
export function fusedAddLowRank(base: tf.Tensor2D, u: tf.Tensor2D, m: tf.Tensor2D, transposeM = false, bias?: tf.Tensor1D, offset = 0): tf.Tensor2D {
  return run('LoraLabAddLowRank', [['transpose_m', 'bool', transposeM], ['offset', 'int', offset]], [base, u, m, bias ?? empty!], 1)[0] as tf.Tensor2D;
}

/** s·x·m for LoRA's rank r ≤ 16: x [N, D], m [D, r] (or [r, D] with transposeM) → [N, r]. */
export function fusedLowRank(x: tf.Tensor2D, m: tf.Tensor2D, scale: number, transposeM = false): tf.Tensor2D {
  return run('LoraLabLowRank', [['scale', 'float', scale], ['transpose_m', 'bool', transposeM]], [x, m], 1)[0] as tf.Tensor2D;
}

/** aᵀ·g for a [N, D], g [N, r ≤ 16] → [D, r] (transposeOut: gᵀ·a [r, D]): LoRA's weight gradients. */
export function fusedLowRankGrad(a: tf.Tensor2D, g: tf.Tensor2D, transposeOut = false): tf.Tensor2D {
  return run('LoraLabLowRankGrad', [['transpose_out', 'bool', transposeOut]], [a, g], 1)[0] as tf.Tensor2D;
}

/**
 * pre = x + bias, y = act(pre) + residual (bias [C] and residual [N, C] optional; act: none or
 * gelu_new): a frozen layer's bias with the activation or residual add after it. `keepPre`: pre too.
 */
export function fusedBiasAct(x: tf.Tensor2D, bias: tf.Tensor1D | undefined, activation: 'none' | 'gelu_new', residual?: tf.Tensor2D, keepPre = false): { y: tf.Tensor2D; pre?: tf.Tensor2D } {
  const [y, pre] = run('LoraLabBiasAct', [['activation', 'int', activation === 'gelu_new' ? 1 : 0], ['keep_pre', 'bool', keepPre]], [x, bias ?? empty!, residual ?? empty!], 2);
  if (keepPre) return { y: y as tf.Tensor2D, pre: pre as tf.Tensor2D };
  pre.dispose();
  return { y: y as tf.Tensor2D };
}

/** Per row of logits [n, V]: lse = log Σ exp(l) [n], and with `probs` the softmax p [n, V]. */
export function fusedLogSoftmax(logits: tf.Tensor2D, probs: boolean): { lse: tf.Tensor1D; p?: tf.Tensor2D } {
  const [lse, p] = run('LoraLabLogSoftmax', [['probs', 'bool', probs]], [logits], 2);
  if (probs) return { lse: lse as tf.Tensor1D, p: p as tf.Tensor2D };
  p.dispose();
  return { lse: lse as tf.Tensor1D };
}

/** [B·T, C] (columns offset…offset + H·hd) → [B, H, T, hd]. */
export function fusedHeadsSplit(x: tf.Tensor2D, batch: number, heads: number, headDim: number, offset = 0): tf.Tensor4D {
  return run('LoraLabHeads', [['batch', 'int', batch], ['heads', 'int', heads], ['head_dim', 'int', headDim], ['offset', 'int', offset], ['merge', 'bool', false]], [x], 1)[0] as tf.Tensor4D;
}

/** [B, H, T, hd] (any shape with those values in that order) → [B·T, H·hd]. */
export function fusedHeadsMerge(x: tf.Tensor, batch: number, heads: number, headDim: number): tf.Tensor2D {
  return run('LoraLabHeads', [['batch', 'int', batch], ['heads', 'int', heads], ['head_dim', 'int', headDim], ['offset', 'int', 0], ['merge', 'bool', true]], [x], 1)[0] as tf.Tensor2D;
}
