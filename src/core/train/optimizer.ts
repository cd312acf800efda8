// AdamW with PyTorch's semantics (torch.optim.AdamW: decoupled weight decay, bias-corrected
// moments), global-norm clipping, and state that can be saved and restored exactly for resume.
// A per-variable learning-rate multiplier gives torch's parameter groups with their own lr under
// one schedule (LambdaLR scales every group's base rate by the same factor): LoRA+ (loraplusLrScales).
import * as tf from '@tensorflow/tfjs';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export interface AdamWState {
  step: number;
  /** First and second moments per variable, in the order of the variables given to the optimizer. */
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  private step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  /**
   * `lrScales[i]`: variable i learns at lr × lrScales[i] in each step, weight decay included (torch
   * decays by the group's lr); absent = 1 for every variable, today's arithmetic unchanged.
   */
  constructor(
    private readonly vars: tf.Variable[],
    readonly cfg: AdamWConfig = ADAMW_DEFAULTS,
    private readonly lrScales?: readonly number[],
  ) {
    if (lrScales && lrScales.length !== vars.length) throw new Error(`AdamW: ${lrScales.length} learning-rate scales for ${vars.length} variables`);
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  get stepCount(): number {
    return this.step;
  }

  /** One update with gradients aligned to the variables; lr for this step. */
  apply(grads: tf.Tensor[], baseLr: number): void {
    if (grads.length !== this.vars.length) throw new Error(`AdamW: ${grads.length} gradients for ${this.vars.length} variables`);
    this.step++;
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    tf.tidy(() => {
      this.vars.forEach((p, i) => {
        const g = grads[i];
        const lr = this.lrScales ? baseLr * this.lrScales[i] : baseLr;
        const m = this.m[i].mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i].mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        // p ← p·(1 − lr·wd) − lr · m̂ / (√v̂ + eps), with m̂ = m/bc1, v̂ = v/bc2 (PyTorch's order of operations).
        const denom = v.div(bc2).sqrt().add(eps);
        const decayed = weightDecay > 0 ? p.mul(1 - lr * weightDecay) : p;
        p.assign(decayed.sub(m.div(denom).mul(lr / bc1)));
      });
    });
  }

  getState(): AdamWState {
    return { step: this.step, m: this.m.map((t) => t.dataSync() as Float32Array), v: this.v.map((t) => t.dataSync() as Float32Array) };
  }

  setState(s: AdamWState): void {
    if (s.m.length !== this.vars.length || s.v.length !== this.vars.length) {
      throw new Error(`optimizer state has ${s.m.length} moments for ${this.vars.length} variables: the checkpoint belongs to another adapter configuration`);
    }
    this.vars.forEach((x, i) => {
      if (s.m[i].length !== x.size || s.v[i].length !== x.size) throw new Error(`optimizer state for variable ${i} has ${s.m[i].length} values, expected ${x.size}`);
      this.m[i].assign(tf.tensor(s.m[i], x.shape));
      this.v[i].assign(tf.tensor(s.v[i], x.shape));
    });
    this.step = s.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/**
 * LoRA+ learning-rate multipliers per variable, as PEFT 0.21's create_loraplus_optimizer groups
 * parameters (peft/optimizers/loraplus.py): `lora_B` tensors and any 1-D tensor (groupB, lr ×
 * ratio, with the run's weight decay), every other tensor (groupA, lr). Its other groups do not
 * arise here: groupB_no_decay holds biases and LayerNorm weights, and `embedding` LoRA on
 * embedding layers (lr = loraplus_lr_embedding), neither of which LoRA Lab trains — an
 * embedding-LoRA tensor is refused rather than given a rate PEFT would not give it.
 * `ratio` undefined: no multipliers (plain AdamW).
 */
export function loraplusLrScales(vars: readonly { peftName: string; variable: { rank: number } }[], ratio: number | undefined): number[] | undefined {
  if (ratio === undefined) return undefined;
  return vars.map(({ peftName, variable }) => {
    if (/\.lora_embedding_[AB]\b/.test(peftName)) throw new Error(`LoRA+: ${peftName} is an embedding LoRA tensor; PEFT gives those loraplus_lr_embedding, which LoRA Lab does not implement`);
    return peftName.includes('lora_B') || variable.rank === 1 ? ratio : 1;
  });
}

/** Global L2 norm of the gradients; scales them in place of the array to at most maxNorm (maxNorm ≤ 0: no clipping). */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: number } {
  const norm = tf.tidy(() => Math.sqrt(tf.addN(grads.map((g) => g.square().sum())).dataSync()[0]));
  if (!(maxNorm > 0) || !(norm > maxNorm) || !Number.isFinite(norm)) return { grads, norm };
  // torch.nn.utils.clip_grad_norm_: coefficient maxNorm / (norm + 1e-6).
  const coef = maxNorm / (norm + 1e-6);
  const clipped = grads.map((g) => g.mul(coef));
  tf.dispose(grads);
  return { grads: clipped, norm };
}
