// DoRA (weight-decomposed LoRA, Liu et al. 2024) with PEFT's semantics (use_dora=True,
// peft/tuners/lora/dora.py + variants.py DoraLinearVariant): a trained magnitude m per output
// rescales the adapted weight's direction, W' = m/‖W + s·Aᵀ·Bᵀ‖ ⊙ (W + s·Aᵀ·Bᵀ), the norm taken per
// output over the input dimension (a column of our (in, out) W; a row of nn.Linear's (out, in),
// a column of GPT-2's Conv1D (in, out): fan_in_fan_out) and treated as a constant (detached, the
// paper's §4.3), so only A, B and m get gradients. As PEFT computes it on top of the base output:
//   y = x·W + b + (c − 1)⊙(xd·W) + c⊙(s·xd·Aᵀ·Bᵀ),   c = m/n (per output), n = ‖W + s·Aᵀ·Bᵀ‖
// with xd = x ⊙ mask when training with lora_dropout (PEFT recomputes the base product on the
// dropped-out input, without bias), else xd = x and y = c⊙(x·W + s·x·Aᵀ·Bᵀ) + b.
// The layer (layer.ts) keeps the magnitude beside A and B and calls these functions from its
// forward, hand-written backward, merge and decoding weight.
import * as tf from '@tensorflow/tfjs';
import { matMulT } from '../backend/tensorOps';

/** One DoRA layer's tensors: the frozen W (in, out) and bias, Aᵀ (in, r), Bᵀ (r, out), m (out) and the LoRA scale. */
export interface DoraParams {
  w: tf.Tensor2D;
  b?: tf.Tensor1D;
  at: tf.Tensor2D;
  bt: tf.Tensor2D;
  m: tf.Tensor1D;
  s: number;
}

/** What doraBackward needs besides the layer's input and the dropout mask. */
export interface DoraSaved {
  /** s·xd·Aᵀ (N, r). */
  xa: tf.Tensor2D;
  /** n = ‖W + s·Aᵀ·Bᵀ‖ per output (out), the detached norm. */
  norm: tf.Tensor1D;
  /** xd·W + s·xd·Aᵀ·Bᵀ (N, out): the direction's output before scaling by c, for m's gradient. */
  pl: tf.Tensor2D;
}

/**
 * ‖W + s·Aᵀ·Bᵀ‖ per output (out): PEFT's get_weight_norm (torch.linalg.norm over the input
 * dimension). A value, never differentiated: callers use it as a constant.
 */
export function doraNorm(w: tf.Tensor2D, at: tf.Tensor2D, bt: tf.Tensor2D, s: number): tf.Tensor1D {
  return tf.tidy(() => w.add(matMulT(at, bt).mul(s)).square().sum(0).sqrt() as tf.Tensor1D);
}

/**
 * The merged weight (in, out): (W + s·Aᵀ·Bᵀ) ⊙ m/‖W + s·Aᵀ·Bᵀ‖ per output column, what PEFT's merge
 * writes (DoraLinearVariant.merge_safe) and what x·W' + b computes in evaluation.
 */
export function doraMergedWeight(p: Omit<DoraParams, 'b'>): tf.Tensor2D {
  return tf.tidy(() => {
    const v = p.w.add(matMulT(p.at, p.bt).mul(p.s)) as tf.Tensor2D; // (in, out)
    const n = v.square().sum(0).sqrt();
    return v.mul(p.m.div(n)) as tf.Tensor2D;
  });
}

/** The forward for an input x (N, in) and optional dropout multiplier (N, in): y (N, out) and what the backward needs. */
export function doraForward(x: tf.Tensor2D, mask: tf.Tensor2D | undefined, p: DoraParams): { y: tf.Tensor2D; saved: DoraSaved } {
  return tf.tidy(() => {
    const norm = doraNorm(p.w, p.at, p.bt, p.s);
    const c = p.m.div(norm);
    const xd = mask ? (x.mul(mask) as tf.Tensor2D) : x;
    const xa = matMulT(xd, p.at).mul(p.s) as tf.Tensor2D; // s·xd·Aᵀ (N, r)
    const base = matMulT(x, p.w); // x·W (N, out)
    const pd = mask ? matMulT(xd, p.w) : base; // xd·W: PEFT's F.linear on the dropped-out x
    const pl = pd.add(matMulT(xa, p.bt)) as tf.Tensor2D;
    // No dropout: x·W + (c − 1)⊙x·W + c⊙l = c⊙(x·W + l). With it: x·W + c⊙(xd·W + l) − xd·W.
    let y = pl.mul(c);
    if (mask) y = y.add(base).sub(pd);
    if (p.b) y = y.add(p.b);
    return { y: y as tf.Tensor2D, saved: { xa, norm, pl } };
  });
}

/**
 * The backward of doraForward for upstream dy (N, out): dx (when asked) and the gradients of Aᵀ,
 * Bᵀ and m, the norm held constant. With c = m/n, dyc = dy⊙c and g = s·dyc·B (N, r):
 *   dAᵀ = xdᵀ·g;  dBᵀ = xaᵀ·dyc;  dm = Σ_rows(dy ⊙ pl) / n
 *   dx = dyc·Wᵀ + g·A                                   (no dropout)
 *   dx = dy·Wᵀ + ((dy⊙(c − 1))·Wᵀ + g·A) ⊙ mask          (dropout)
 */
export function doraBackward(
  dy: tf.Tensor2D, x: tf.Tensor2D, mask: tf.Tensor2D | undefined, saved: DoraSaved, p: Omit<DoraParams, 'b'>, needDx: boolean,
): { dx?: tf.Tensor2D; grads: [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D] } {
  return tf.tidy(() => {
    const { xa, norm, pl } = saved;
    const c = p.m.div(norm);
    const dyc = dy.mul(c) as tf.Tensor2D;
    const g = matMulT(dyc, p.bt, false, true).mul(p.s) as tf.Tensor2D; // (N, r)
    const xd = mask ? (x.mul(mask) as tf.Tensor2D) : x;
    const grads: [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D] = [
      matMulT(xd, g, true, false), // dAᵀ (in, r)
      matMulT(xa, dyc, true, false), // dBᵀ (r, out)
      dy.mul(pl).sum(0).div(norm) as tf.Tensor1D, // dm (out)
    ];
    if (!needDx) return { grads };
    const ga = matMulT(g, p.at, false, true); // g·A (N, in)
    const dx = mask
      ? matMulT(dy, p.w, false, true).add(matMulT(dy.mul(c.sub(1)) as tf.Tensor2D, p.w, false, true).add(ga).mul(mask))
      : matMulT(dyc, p.w, false, true).add(ga);
    return { dx: dx as tf.Tensor2D, grads };
  });
}

/**
 * doraForward as one differentiable op of x, Aᵀ, Bᵀ and m (for tf.grads / variableGrads), its
 * gradients those of doraBackward; W, b, the mask and the norm are constants.
 */
export function doraLinear(x: tf.Tensor2D, mask: tf.Tensor2D | undefined, p: DoraParams): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, atIn, btIn, mIn] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const save = args[4] as tf.GradSaveFunc;
    const q = { ...p, at: atIn, bt: btIn, m: mIn };
    const { y, saved } = doraForward(xIn, mask, q);
    // The mask too: the tape keeps what is saved, while the caller's scope may free the mask before the backward.
    save([xIn, atIn, btIn, mIn, saved.xa, saved.norm, saved.pl, ...(mask ? [mask] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, s: tf.Tensor[]) => {
        const [xS, atS, btS, mS, xaS, normS, plS, maskS] = s as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor2D?];
        const r = doraBackward(dy as tf.Tensor2D, xS, maskS, { xa: xaS, norm: normS, pl: plS }, { ...p, at: atS, bt: btS, m: mS }, true);
        return [r.dx!, ...r.grads];
      },
    };
  });
  return op(x, p.at, p.bt, p.m) as tf.Tensor2D;
}
