// The LM head's loss: the weighted next-token negative log-likelihood of final hidden states,
// computed LOSS_CHUNK_TOKENS rows at a time over the rows that carry loss only, with its gradient
// formed from the same exponentials (no [tokens × vocab] logits tensor ever exists whole), and the
// head split into vocabulary blocks where a backend is faster that way (VOCAB_BLOCK). Used by
// CausalLM.loss / lossAndGrads (causalLm.ts).
import * as tf from '@tensorflow/tfjs';
import { fusedKernels, fusedLogSoftmax } from '../backend/fusedOps';
import { matMulT, tapeActive } from '../backend/tensorOps';

/** Rows of [tokens × vocab] logits materialised at once by the loss (bounds peak memory). */
export const LOSS_CHUNK_TOKENS = 256;

/**
 * A slice of the LM head's vocabulary: rows [start, start+n) as (d, n) for h·Wₕᵀ and as (n, d)
 * for the backward product. On wasm a product with the whole 50k-column head runs at ~30 GFLOP/s
 * while the same work in blocks of ~2k columns reaches ~58 (measured here for [256, 768] ×
 * [768, 50257]: 671 ms whole, 334 ms in 32 blocks; likewise for the backward): the blocks keep
 * XNNPACK's packed weights in cache. Costs one more copy of the head (V·d floats).
 */
export interface VocabBlock {
  t: tf.Tensor2D;
  rows: tf.Tensor2D;
}

/** Vocabulary columns per LM-head block, by backend (read when a model is built; tests shrink it). Native backends take the head whole. */
export const VOCAB_BLOCK: Record<string, number> = { wasm: 2048 };

export function vocabBlocks(lmRows: tf.Tensor2D, size: number): VocabBlock[] {
  const [V, d] = lmRows.shape;
  if (size >= V) return [{ t: lmRows.transpose(), rows: lmRows }];
  const out: VocabBlock[] = [];
  for (let start = 0; start < V; start += size) {
    const rows = lmRows.slice([start, 0], [Math.min(size, V - start), d]);
    out.push({ t: rows.transpose(), rows });
  }
  return out;
}

/**
 * One chunk of rows hc (n, d): the weighted NLL Σᵢ wᵢ·(logsumexp(hᵢ·Wₕᵀ) − hᵢ·wₜᵢ) and, when
 * asked, its gradient w ⊙ (softmax(hc·Wₕᵀ)·Wₕ − wₜ) (n, d). The logits are made per vocabulary
 * block; one exponential per logit gives both the log-sum-exp and the probabilities; the
 * gradient is a sum of plain block products (tfjs's own matMul gradient would multiply by a
 * transposed operand, the slow path on wasm).
 */
function chunkNll(hc: tf.Tensor2D, head: VocabBlock[], targetRows: tf.Tensor2D, w: tf.Tensor1D, withGrad: boolean): { nll: tf.Scalar; rowNll: tf.Tensor1D; grad?: tf.Tensor2D } {
  return tf.tidy(() => {
    const { lse, ph } = headLogSumExp(hc, head, withGrad);
    const rowNll = lse.sub(hc.mul(targetRows).sum(1)).mul(w) as tf.Tensor1D; // (n): each row's weighted NLL
    const nll = rowNll.sum() as tf.Scalar;
    if (!ph) return { nll, rowNll };
    return { nll, rowNll, grad: ph.sub(targetRows).mul(w.reshape([-1, 1])) as tf.Tensor2D };
  });
}

/** Each row's logsumexp(hc·Wₕᵀ) (n) and, with `withGrad`, softmax(hc·Wₕᵀ)·Wₕ (n, d). */
function headLogSumExp(hc: tf.Tensor2D, head: VocabBlock[], withGrad: boolean): { lse: tf.Tensor1D; ph?: tf.Tensor2D } {
  if (head.length === 1 && fusedKernels() && !tapeActive()) {
    // Native with LoRA Lab's kernels: log-sum-exp (and the softmax) in one kernel over the logits.
    const { lse, p } = fusedLogSoftmax(matMulT(hc, head[0].t), withGrad);
    return p ? { lse, ph: matMulT(p, head[0].rows) } : { lse };
  }
  const logits = head.map((b) => matMulT(hc, b.t)); // (n, V_b) each
  const m = (logits.length === 1 ? logits[0].max(1) : tf.stack(logits.map((l) => l.max(1))).max(0)).reshape([-1, 1]); // (n, 1)
  const e = logits.map((l) => tf.exp(l.sub(m)));
  tf.dispose(logits);
  const sum = e.length === 1 ? e[0].sum(1, true) : tf.addN(e.map((x) => x.sum(1, true))); // (n, 1)
  const lse = m.add(tf.log(sum)).reshape([-1]) as tf.Tensor1D; // (n)
  if (!withGrad) return { lse };
  const inv = tf.reciprocal(sum);
  return { lse, ph: tf.addN(e.map((x, k) => matMulT(x.mul(inv) as tf.Tensor2D, head[k].rows))) as tf.Tensor2D }; // softmax·Wₕ (n, d)
}

/**
 * The weighted next-token NLL of h (B·T, d) over the rows in t.runs, divided by the total weight,
 * as one custom op whose gradient is dense: the rows without loss get zeros, assembled in one
 * concat (a taped slice per run or chunk would make tfjs keep a full (B·T, d) padded gradient for
 * each of them until the backward ends). `eager`: see CausalLM.headLoss (models/causalLm.ts).
 * `rowLosses`, when given, receives the forward pass's weighted NLL of each row in t.runs (n), kept
 * (the caller disposes it): the per-token losses the sum is made of, for per-example losses
 * (exampleSums) at the cost of one concat and a read of n floats, no second forward.
 */
export function headNll(h: tf.Tensor2D, head: VocabBlock[], t: LossTargets, targetRows: tf.Tensor2D[], eager: boolean, guard: () => void, rowLosses?: RowLosses): tf.Scalar {
  const [rows, d] = h.shape;
  const n = t.selW.length;
  const select = (x: tf.Tensor2D): tf.Tensor2D =>
    t.runs.length === 1 ? x.slice([t.runs[0][0], 0], [t.runs[0][1], d]) : (tf.concat(t.runs.map(([s, len]) => x.slice([s, 0], [len, d]))) as tf.Tensor2D);
  /** The selected rows' loss (and gradient), chunk by chunk. */
  const chunks = (hIn: tf.Tensor2D, tgts: tf.Tensor2D[], withGrad: boolean, check: () => void, into?: RowLosses): { total: tf.Scalar; grad?: tf.Tensor2D } =>
    tf.tidy(() => {
      const hSel = select(hIn);
      const nlls: tf.Scalar[] = [];
      const rowNlls: tf.Tensor1D[] = [];
      const grads: tf.Tensor2D[] = [];
      for (let s = 0, c = 0; s < n; s += LOSS_CHUNK_TOKENS, c++) {
        const len = Math.min(LOSS_CHUNK_TOKENS, n - s);
        const r = chunkNll(len === n ? hSel : hSel.slice([s, 0], [len, d]), head, tgts[c], tf.tensor1d(t.selW.subarray(s, s + len)), withGrad);
        nlls.push(r.nll);
        rowNlls.push(r.rowNll);
        if (r.grad) grads.push(r.grad);
        check();
      }
      // Kept past this tidy (and the op's): the caller reads and disposes it.
      if (into) into.value = tf.keep(rowNlls.length === 1 ? rowNlls[0] : (tf.concat(rowNlls) as tf.Tensor1D));
      const total = tf.addN(nlls).div(t.totalWeight) as tf.Scalar;
      if (!withGrad) return { total };
      return { total, grad: (grads.length === 1 ? grads[0] : tf.concat(grads)).div(t.totalWeight) as tf.Tensor2D };
    });
  /** (n, d) gradient of the selected rows → (rows, d), zeros elsewhere. */
  const scatter = (g: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      const pieces: tf.Tensor2D[] = [];
      let pos = 0;
      let k = 0;
      for (const [s, len] of t.runs) {
        if (s > pos) pieces.push(tf.zeros([s - pos, d]));
        pieces.push(t.runs.length === 1 ? g : g.slice([k, 0], [len, d]));
        k += len;
        pos = s + len;
      }
      if (pos < rows) pieces.push(tf.zeros([rows - pos, d]));
      return tf.concat(pieces) as tf.Tensor2D;
    });
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const hIn = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const r = chunks(hIn, targetRows, eager, guard, rowLosses);
    save(eager ? [r.grad!] : [hIn, ...targetRows]); // saved: a tidy around the caller disposes the constants otherwise
    return {
      value: r.total,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        if (eager) return [scatter(saved[0] as tf.Tensor2D).mul(dy)];
        const again = chunks(saved[0] as tf.Tensor2D, saved.slice(1) as tf.Tensor2D[], true, () => {});
        again.total.dispose();
        return [scatter(again.grad!).mul(dy)];
      },
    };
  });
  return op(h) as tf.Scalar;
}

/** Receives the weighted NLL of each loss-bearing row (headNll's `rowLosses`). */
export interface RowLosses {
  value?: tf.Tensor1D;
}

/**
 * Per batch row b: the sum of its tokens' weighted NLL and of their weights (so nll[b] / weight[b]
 * is its mean loss per loss token, the same weighting as the batch's loss), and its count of
 * loss-bearing tokens. From the per-row NLL of headNll (`rowNll`, the rows of t.runs in order).
 */
export interface ExampleSums {
  nll: number[];
  weight: number[];
  tokens: number[];
}

export function exampleSums(t: LossTargets, rowNll: Float32Array | readonly number[], batch: number): ExampleSums {
  const T = t.w.length / batch;
  const out: ExampleSums = { nll: new Array<number>(batch).fill(0), weight: new Array<number>(batch).fill(0), tokens: new Array<number>(batch).fill(0) };
  let k = 0;
  for (const [start, len] of t.runs) {
    for (let r = start; r < start + len; r++, k++) {
      const b = Math.floor(r / T);
      out.nll[b] += rowNll[k];
      out.weight[b] += t.w[r];
      out.tokens[b]++;
    }
  }
  return out;
}

/** Reads (and disposes) the kept per-row NLL into per-example sums; undefined when none was captured. */
export function readExampleSums(t: LossTargets, rows: RowLosses, batch: number): ExampleSums | undefined {
  const v = rows.value;
  if (!v) return undefined;
  rows.value = undefined;
  try {
    return exampleSums(t, v.dataSync() as Float32Array, batch);
  } finally {
    v.dispose();
  }
}

export interface LossTargets {
  /** Row r = b·T + t predicts targets[r] = ids[b][t+1] with weight w[r] (0 for the last position). */
  targets: Int32Array;
  w: Float32Array;
  tokens: number;
  totalWeight: number;
  /**
   * The rows that carry loss, as runs [start, length) of rows with w ≠ 0: the LM head runs on
   * these only (prompts, padding and the last position cost nothing there).
   */
  runs: [number, number][];
  /** targets and w of the rows in `runs`, in order. */
  selTargets: Int32Array;
  selW: Float32Array;
}

export function lossTargets(ids: number[][], weights?: number[][]): LossTargets {
  const B = ids.length;
  const T = ids[0]?.length ?? 0;
  if (T < 2) throw new Error('sequences need at least 2 tokens to have a next-token loss');
  const targets = new Int32Array(B * T);
  const w = new Float32Array(B * T);
  let tokens = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const wt = weights ? weights[b][t + 1] : 1;
      targets[b * T + t] = ids[b][t + 1];
      w[b * T + t] = wt;
      tokens += wt > 0 ? 1 : 0;
    }
  }
  if (tokens === 0) throw new Error('no token carries loss in this batch (all weights are 0)');
  const runs: [number, number][] = [];
  for (let r = 0; r < w.length; r++) {
    if (w[r] === 0) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === r) last[1]++;
    else runs.push([r, 1]);
  }
  const selTargets = new Int32Array(runs.reduce((n, [, len]) => n + len, 0));
  const selW = new Float32Array(selTargets.length);
  let k = 0;
  for (const [start, len] of runs) {
    selTargets.set(targets.subarray(start, start + len), k);
    selW.set(w.subarray(start, start + len), k);
    k += len;
  }
  return { targets, w, tokens, totalWeight: w.reduce((s, x) => s + x, 0), runs, selTargets, selW };
}
