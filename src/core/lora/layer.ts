// The LoRA linear layer with PEFT's semantics: y = x·W + b + scale·dropout(x)·Aᵀ·Bᵀ.
// The frozen W is held as (in, out) so every product is a plain 2-D matMul; A and B live as
// trainable variables in the transposed layouts Aᵀ (in, r) and Bᵀ (r, out) for the same reason,
// and are converted to PEFT's A (r, in) / B (out, r) only at the file boundary. With DoRA
// (use_dora) a magnitude m (out) joins them and the math of forward, backward and merge is dora.ts's.
import * as tf from '@tensorflow/tfjs';
import type { LinearModule } from './modules';
import { loraScale, type LoraConfig } from './config';
import { Rng } from '../util/rng';
import { addBias, addLowRank, lowRankGrad, lowRankProduct, matMulT, tapeActive } from '../backend/tensorOps';
import { fusedKernels } from '../backend/fusedOps';
import { doraBackward, doraForward, doraLinear, doraMergedWeight, doraNorm, type DoraParams, type DoraSaved } from './dora';
import { decompose, isDecompInit, residualInOut, type Factors } from './initDecomp';

export interface ForwardContext {
  training: boolean;
  /** Seed source for dropout masks; required when training with lora_dropout > 0. */
  dropoutSeed?: () => number;
  /**
   * The base model's own dropout (embd/attn/resid_pdrop, attention_dropout) in training: the
   * multiplier of each site (models/baseDropout.ts). Absent: none (evaluation, decoding, merge,
   * or a run with training.baseDropout off). Tests inject fixed masks through it.
   */
  baseDropout?: BaseDropoutMasks;
}

/**
 * The dropout multiplier (0 or 1/(1 − p) entries) of `site`, a Hugging Face module path such as
 * `transformer.h.0.attn.attn_dropout`, for a tensor of `shape`; owned by the caller. Asked only
 * where p > 0.
 */
export type BaseDropoutMasks = (site: string, shape: number[], p: number) => tf.Tensor;

/**
 * What LoraLinear.backward needs from LoraLinear.forwardSaved besides the layer's input: the
 * dropout multiplier (mask, absent without dropout) and xd·Aᵀ (xa), where xd = x ⊙ mask. Empty
 * for a frozen layer, whose input gradient needs only W.
 */
export interface LinearSaved {
  mask?: tf.Tensor2D;
  /** s·xd·Aᵀ (N, r): the scale is applied on these r columns, not on the (N, out) product. */
  xa?: tf.Tensor2D;
  /** A DoRA layer's norm and unscaled output (dora.ts; xa is its own). */
  dora?: Omit<DoraSaved, 'xa'>;
}

interface Adapter {
  /** Aᵀ, shape (in, r). */
  at: tf.Variable<tf.Rank.R2>;
  /** Bᵀ, shape (r, out). */
  bt: tf.Variable<tf.Rank.R2>;
  scale: number;
  dropout: number;
  /** PiSSA/OLoRA (initDecomp.ts): A₀ (r, in) and B₀ (out, r), which the base weight had taken out. */
  init?: Factors;
  /** DoRA's magnitude m (out): PEFT's lora_magnitude_vector; absent for plain LoRA. */
  magnitude?: tf.Variable<tf.Rank.R1>;
}

export class LoraLinear {
  private weight: tf.Tensor2D;
  private adapter?: Adapter;
  /** The untouched base weight while merged, so unmerge restores it bit for bit. */
  private baseWhileMerged?: tf.Tensor2D;
  /** The original base weight while the layer trains on PiSSA/OLoRA's residual; removeAdapter puts it back. */
  private baseBeforeResidual?: tf.Tensor2D;

  /** `weightInOut` must be (in, out); the layer takes ownership. */
  constructor(
    readonly module: LinearModule,
    weightInOut: tf.Tensor2D,
    readonly bias?: tf.Tensor1D,
  ) {
    const [i, o] = weightInOut.shape;
    if (i !== module.inFeatures || o !== module.outFeatures) {
      throw new Error(`${module.path}: weight is ${i}×${o}, expected (in, out) = ${module.inFeatures}×${module.outFeatures}`);
    }
    this.weight = weightInOut;
  }

  get hasAdapter(): boolean {
    return this.adapter !== undefined;
  }

  get merged(): boolean {
    return this.baseWhileMerged !== undefined;
  }

  /** Creates a fresh adapter: A Kaiming-uniform (a=√5) or N(0, 1/r), B zero, so the output is unchanged. */
  initAdapter(cfg: LoraConfig, rng: Rng): void {
    const { inFeatures: n, outFeatures: m } = this.module;
    const r = cfg.r;
    if (isDecompInit(cfg.initLoraWeights)) {
      const init = decompose(cfg.initLoraWeights, this.weight.dataSync() as Float32Array, n, m, r, loraScale(cfg), rng);
      this.loadResidual(tf.tensor2d(init.a, [r, n]), tf.tensor2d(init.b, [m, r]), init, cfg);
      return;
    }
    const a = new Float32Array(n * r); // stored as Aᵀ (in, r)
    if (cfg.initLoraWeights === 'gaussian') {
      for (let k = 0; k < a.length; k++) a[k] = rng.normal(0, 1 / r);
    } else {
      // kaiming_uniform_(a=√5) on A (r, in): fan_in = in, gain = √(2/(1+5)), bound = gain·√(3/fan_in) = 1/√in.
      const bound = 1 / Math.sqrt(n);
      // Draw in PEFT's row-major (r, in) order so a seed gives the same A whatever our internal layout.
      for (let row = 0; row < r; row++) for (let col = 0; col < n; col++) a[col * r + row] = rng.uniform(-bound, bound);
    }
    this.setAdapter(tf.tensor2d(a, [n, r]), tf.zeros([r, m]), cfg);
  }

  /** Installs an adapter from PEFT-layout tensors A (r, in) and B (out, r). */
  loadPeft(a: tf.Tensor2D, b: tf.Tensor2D, cfg: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora' | 'loraDropout'>): void {
    const { inFeatures: n, outFeatures: m, path } = this.module;
    if (a.shape[0] !== cfg.r || a.shape[1] !== n) throw new Error(`${path}.lora_A.weight has shape [${a.shape}], expected [${cfg.r}, ${n}]`);
    if (b.shape[0] !== m || b.shape[1] !== cfg.r) throw new Error(`${path}.lora_B.weight has shape [${b.shape}], expected [${m}, ${cfg.r}]`);
    this.setAdapter(a.transpose(), b.transpose(), cfg);
    a.dispose();
    b.dispose();
  }

  /**
   * PiSSA/OLoRA: installs A (r, in), B (out, r) on the residual base W − s·B₀·A₀ of `init` (the original W
   * comes back with removeAdapter). A fresh adapter passes its own A₀, B₀; a resumed one its trained A, B.
   */
  loadResidual(a: tf.Tensor2D, b: tf.Tensor2D, init: Factors, cfg: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora' | 'loraDropout'>): void {
    this.loadPeft(a, b, cfg);
    const { inFeatures: n, outFeatures: m } = this.module;
    this.baseBeforeResidual = this.weight;
    this.weight = tf.tensor2d(residualInOut(this.weight.dataSync() as Float32Array, init, n, m, cfg.r, loraScale(cfg)), [n, m]);
    this.adapter!.init = init;
  }

  /** PiSSA/OLoRA's A₀ (r, in) and B₀ (out, r); undefined for an adapter that did not change the base. */
  initFactors(): Factors | undefined {
    return this.adapter?.init;
  }

  private setAdapter(at: tf.Tensor2D, bt: tf.Tensor2D, cfg: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora' | 'loraDropout'>): void {
    if (this.merged) throw new Error(`${this.module.path}: unmerge before replacing the adapter`);
    this.removeAdapter();
    this.adapter = { at: tf.variable(at, true), bt: tf.variable(bt, true), scale: loraScale(cfg), dropout: cfg.loraDropout };
    at.dispose();
    bt.dispose();
  }

  removeAdapter(): void {
    if (!this.adapter) return;
    if (this.merged) this.unmerge();
    this.adapter.at.dispose();
    this.adapter.bt.dispose();
    this.adapter.magnitude?.dispose();
    this.adapter = undefined;
    if (this.baseBeforeResidual) {
      this.weight.dispose();
      this.weight = this.baseBeforeResidual;
      this.baseBeforeResidual = undefined;
    }
  }

  /**
   * Makes the adapter DoRA with PEFT's initial magnitude m = ‖W + s·Aᵀ·Bᵀ‖ per output (DoraLinearLayer.update_layer,
   * after A and B are initialised: ‖W‖ for a fresh B = 0), so the output is unchanged.
   */
  initMagnitude(): void {
    const ad = this.requireUnmerged();
    ad.magnitude?.dispose();
    ad.magnitude = tf.variable(doraNorm(this.weight, ad.at, ad.bt, ad.scale), true);
  }

  /** Makes the adapter DoRA with a saved magnitude (out): PEFT's `lora_magnitude_vector`. Takes ownership of `m`. */
  loadMagnitude(m: tf.Tensor): void {
    const ad = this.requireUnmerged();
    const { outFeatures, path } = this.module;
    if (m.shape.length !== 1 || m.shape[0] !== outFeatures) {
      m.dispose();
      throw new Error(`${path}.lora_magnitude_vector has shape [${m.shape}], expected [${outFeatures}] (one magnitude per output)`);
    }
    ad.magnitude?.dispose();
    ad.magnitude = tf.variable(m as tf.Tensor1D, true);
    m.dispose();
  }

  get isDora(): boolean {
    return this.adapter?.magnitude !== undefined;
  }

  trainableVariables(): tf.Variable[] {
    const ad = this.adapter;
    return ad ? (ad.magnitude ? [ad.at, ad.bt, ad.magnitude] : [ad.at, ad.bt]) : [];
  }

  /**
   * x [N, in] → [N, out]. The backward pass is written by hand so every product is a plain 2-D
   * matMul: tfjs's own matMul gradient multiplies with transposeA/transposeB, which the wasm
   * backend runs 10–30× slower than plain products (shared notes). Transposing an operand
   * explicitly (a memory copy) and multiplying plainly is much cheaper.
   */
  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    if (!tapeActive()) {
      // No gradient wanted (evaluation, decoding): the plain forward, without a customGrad wrapper.
      const { y, saved } = this.forwardSaved(x, ctx);
      tf.dispose([saved.mask, saved.xa, saved.dora] as tf.TensorContainer[]);
      return y;
    }
    return tf.tidy(() => {
      const ad = this.adapter;
      if (!ad || this.merged) return frozenLinear(x, this.weight, this.bias);
      if (ad.magnitude) return doraLinear(x, this.dropoutMask(x, ctx), this.doraParams());
      let xd: tf.Tensor2D = x;
      if (ctx.training && ad.dropout > 0) {
        if (!ctx.dropoutSeed) throw new Error('training with lora_dropout needs a dropout seed source');
        xd = tf.dropout(x, ad.dropout, undefined, ctx.dropoutSeed()) as tf.Tensor2D;
      }
      return loraLinear(x, xd, ad.at, ad.bt, this.weight, this.bias, ad.scale);
    });
  }

  /** The weight x·W multiplies by, (in, out): the merged one while merged. Read-only for callers that multiply several layers' input at once. */
  get productWeight(): tf.Tensor2D {
    return this.weight;
  }

  /**
   * Whether a plain forward (no tape, native TensorFlow's fused kernels) may take this layer's x·W
   * as a window of a wider product made by the caller (llama.ts: q, k and v from one MatMul) and
   * finish it with outputFromShared: no bias, no DoRA (their forwards need the layer's own product).
   */
  canShareProduct(saved = false): boolean {
    return !this.bias && !this.adapter?.magnitude && fusedKernels() && (saved || !tapeActive());
  }

  /**
   * The output when x·W is columns offset…offset + out of `base` (see canShareProduct): the window
   * plus the adapter's s·(xd·Aᵀ)·Bᵀ in one kernel; undefined when the window itself is the output
   * (no adapter, or merged), so the caller reads it in place.
   */
  outputFromShared(x: tf.Tensor2D, base: tf.Tensor2D, offset: number, ctx: ForwardContext): tf.Tensor2D | undefined {
    const { y, saved } = this.forwardSavedShared(x, base, offset, ctx);
    tf.dispose([saved.mask, saved.xa] as tf.TensorContainer[]);
    return y;
  }

  /**
   * forwardSaved() when x·W is columns offset…offset + out of the caller's `base` (canShareProduct(true)):
   * y as outputFromShared gives it (undefined: the window is the output) and what backward() needs.
   */
  forwardSavedShared(x: tf.Tensor2D, base: tf.Tensor2D, offset: number, ctx: ForwardContext): { y?: tf.Tensor2D; saved: LinearSaved } {
    const ad = this.adapter;
    if (!ad || this.merged) return { saved: {} };
    return tf.tidy(() => {
      const mask = this.dropoutMask(x, ctx);
      const xd = mask ? (x.mul(mask) as tf.Tensor2D) : x;
      const xa = lowRankProduct(xd, ad.at, ad.scale); // s·xd·Aᵀ (N, r)
      const y = addLowRank(base, xa, ad.bt, false, undefined, offset);
      return { y, saved: mask ? { mask, xa } : { xa } };
    });
  }

  /**
   * apply() for a plain forward (no tape) with the bias of a frozen layer (no adapter, or merged)
   * left out and returned, so the caller can fold it into the op that follows (backend/tensorOps.ts
   * biasAct, addLayerNorm) on native TensorFlow. Otherwise y = apply(x) and no bias.
   */
  applyUnbiased(x: tf.Tensor2D, ctx: ForwardContext): { y: tf.Tensor2D; bias?: tf.Tensor1D } {
    if (this.bias && fusedKernels() && !tapeActive() && (!this.adapter || this.merged)) return { y: matMulT(x, this.weight), bias: this.bias };
    return { y: this.apply(x, ctx) };
  }

  /**
   * The forward of apply() without a tape: y plus what backward() needs. Used by the models'
   * hand-written block backward (CausalLM.lossAndGrads). Dropout draws the same mask as
   * tf.dropout with the same seed (floor(U + keep) / keep), kept for the backward.
   */
  forwardSaved(x: tf.Tensor2D, ctx: ForwardContext): { y: tf.Tensor2D; saved: LinearSaved } {
    return tf.tidy(() => {
      const ad = this.adapter;
      if (!ad || this.merged) return { y: frozenProduct(x, this.weight, this.bias), saved: {} };
      const mask = this.dropoutMask(x, ctx);
      if (ad.magnitude) {
        const { y, saved: { xa, ...dora } } = doraForward(x, mask, this.doraParams());
        return { y, saved: mask ? { mask, xa, dora } : { xa, dora } };
      }
      const xd = mask ? (x.mul(mask) as tf.Tensor2D) : x;
      const xa = lowRankProduct(xd, ad.at, ad.scale); // s·xd·Aᵀ (N, r)
      const y = addLowRank(matMulT(x, this.weight), xa, ad.bt, false, this.bias);
      return { y, saved: mask ? { mask, xa } : { xa } };
    });
  }

  /**
   * The backward of forwardSaved for upstream dy (N, out) and the layer's input x: dx (when asked) and, with an adapter,
   * the gradients of Aᵀ and Bᵀ in the order of trainableVariables(). Transposed operands go
   * through matMulT (explicit copies on wasm, matMul's flags on native: BackendTuning):
   *   g = s·dy·B;  dx = dy·Wᵀ + (g·A) ⊙ mask;  dAᵀ = xdᵀ·g;  dBᵀ = (s·xa)ᵀ·dy
   * (DoRA: doraBackward, with the magnitude's gradient third.) `dxBase`: dy·Wᵀ already made by the
   * caller (one product for several layers that shared their forward product): dx adds to it.
   */
  backward(dy: tf.Tensor2D, x: tf.Tensor2D, saved: LinearSaved, needDx: boolean, dxBase?: tf.Tensor2D): { dx?: tf.Tensor2D; grads: tf.Tensor[] } {
    return tf.tidy(() => {
      const ad = this.adapter;
      if (dxBase && ad?.magnitude && !this.merged) throw new Error(`internal: ${this.module.path} (DoRA) cannot share its dx product`);
      if (ad?.magnitude && !this.merged) {
        const { mask, xa, dora } = saved;
        if (!xa || !dora) throw new Error(`internal: ${this.module.path} (DoRA) was run without saving its adapter product and norm`);
        return doraBackward(dy, x, mask, { xa, ...dora }, this.doraParams(), needDx);
      }
      // dxBase: dy·Wᵀ made by the caller together with other layers' (outputFromShared's backward), this layer's part added to it.
      const frozenDx = needDx ? (dxBase ?? matMulT(dy, this.weight, false, true)) : undefined;
      if (!ad || this.merged) return frozenDx ? { dx: frozenDx, grads: [] } : { grads: [] };
      const { mask, xa } = saved;
      if (!xa) throw new Error(`internal: ${this.module.path} was run without saving its adapter product`);
      const xd = mask ? (x.mul(mask) as tf.Tensor2D) : x;
      const g = lowRankProduct(dy, ad.bt as tf.Tensor2D, ad.scale, true); // s·dy·B (N, r)
      let dx = frozenDx;
      if (needDx && !mask) dx = addLowRank(frozenDx!, g, ad.at as tf.Tensor2D, true); // dy·Wᵀ + g·A
      else if (needDx) dx = dx!.add(matMulT(g, ad.at as tf.Tensor2D, false, true).mul(mask!)) as tf.Tensor2D;
      const grads = [lowRankGrad(xd, g), lowRankGrad(dy, xa, true)]; // dAᵀ = xdᵀ·g (in, r), dBᵀ = xaᵀ·dy (r, out)
      return dx ? { dx, grads } : { grads };
    });
  }

  /** The weight update scale·Aᵀ·Bᵀ in (in, out) layout. */
  deltaInOut(): tf.Tensor2D {
    const ad = this.adapter;
    if (!ad) throw new Error(`${this.module.path} has no adapter`);
    return tf.tidy(() => matMulT(ad.at, ad.bt).mul(ad.scale) as tf.Tensor2D);
  }

  /**
   * For decoding (no gradient): the weight x·W' equals apply() with, (in, out). Without an active
   * adapter (none, or merged) this is the layer's own weight (owned: false, do not dispose);
   * with one, a new tensor W + scale·Aᵀ·Bᵀ (owned: true). Never changes the layer.
   */
  inferenceWeight(): { w: tf.Tensor2D; owned: boolean } {
    if (!this.adapter || this.merged) return { w: this.weight, owned: false };
    if (this.adapter.magnitude) return { w: doraMergedWeight(this.doraParams()), owned: true };
    const delta = this.deltaInOut();
    const w = this.weight.add(delta) as tf.Tensor2D;
    delta.dispose();
    return { w, owned: true };
  }

  /** W ← W + scale·(B·A)ᵀ-as-stored. Refuses NaN/Inf adapters (PEFT's safe_merge check). */
  merge(): void {
    if (!this.adapter || this.merged) return;
    if (this.adapter.magnitude) {
      // DoRA: W ← (W + ΔW) ⊙ m/‖W + ΔW‖ per output (dora.ts); the base stays aside for unmerge.
      const next = doraMergedWeight(this.doraParams());
      if (!tf.tidy(() => tf.all(tf.isFinite(next)).dataSync()[0] === 1)) {
        next.dispose();
        throw new Error(`${this.module.path}: the DoRA adapter gives NaN or Inf weights (NaN/Inf in A, B or the magnitude, or a zero weight norm); refusing to merge`);
      }
      this.baseWhileMerged = this.weight;
      this.weight = next;
      return;
    }
    const delta = this.deltaInOut();
    const finite = tf.tidy(() => tf.all(tf.isFinite(delta)).dataSync()[0] === 1);
    if (!finite) {
      delta.dispose();
      throw new Error(`${this.module.path}: the adapter contains NaN or Inf; refusing to merge`);
    }
    this.baseWhileMerged = this.weight;
    this.weight = tf.tidy(() => this.baseWhileMerged!.add(delta) as tf.Tensor2D);
    delta.dispose();
  }

  unmerge(): void {
    if (!this.baseWhileMerged) return;
    this.weight.dispose();
    this.weight = this.baseWhileMerged;
    this.baseWhileMerged = undefined;
  }

  /** The effective weight in the layout of the checkpoint file: Conv1D (in, out), nn.Linear (out, in). */
  fileLayoutWeight(): tf.Tensor2D {
    return this.module.fanInFanOut ? this.weight.clone() : (this.weight.transpose() as tf.Tensor2D);
  }

  /** PEFT-layout adapter weights: A (r, in), B (out, r) and, for DoRA, the magnitude (out). Caller disposes. */
  peftTensors(): { a: tf.Tensor2D; b: tf.Tensor2D; magnitude?: tf.Tensor1D } {
    const ad = this.adapter;
    if (!ad) throw new Error(`${this.module.path} has no adapter`);
    const ab = { a: ad.at.transpose() as tf.Tensor2D, b: ad.bt.transpose() as tf.Tensor2D };
    return ad.magnitude ? { ...ab, magnitude: ad.magnitude.clone() } : ab;
  }

  private requireUnmerged(): Adapter {
    if (!this.adapter) throw new Error(`${this.module.path} has no adapter`);
    if (this.merged) throw new Error(`${this.module.path}: unmerge before changing the adapter`);
    return this.adapter;
  }

  /** The DoRA layer's tensors for dora.ts (the layer must have a magnitude). */
  private doraParams(): DoraParams {
    const ad = this.adapter!;
    return { w: this.weight, b: this.bias, at: ad.at, bt: ad.bt, m: ad.magnitude!, s: ad.scale };
  }

  /**
   * The lora_dropout multiplier for x when training (0 or 1/keep entries), else undefined: the mask
   * tf.dropout draws with the same seed (floor(U + keep) / keep), so both passes agree.
   */
  private dropoutMask(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D | undefined {
    const p = this.adapter?.dropout ?? 0;
    if (!ctx.training || p <= 0) return undefined;
    if (!ctx.dropoutSeed) throw new Error('training with lora_dropout needs a dropout seed source');
    const keep = 1 - p;
    return tf.tidy(() => tf.randomUniform(x.shape, 0, 1, 'float32', ctx.dropoutSeed!()).add(keep).floor().div(keep) as tf.Tensor2D);
  }

  dispose(): void {
    this.removeAdapter();
    this.weight.dispose();
    this.bias?.dispose();
  }
}

function frozenProduct(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y = matMulT(x, w);
  return b ? addBias(y, b) : y;
}

/** y = x·W + b with dx = dy·Wᵀ as a plain product (W is frozen: no gradient for it). */
function frozenLinear(x: tf.Tensor2D, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (args[1] as tf.GradSaveFunc)([]);
    let y = matMulT(args[0] as tf.Tensor2D, w);
    if (b) y = y.add(b);
    return { value: y, gradFunc: (dy: tf.Tensor) => [matMulT(dy as tf.Tensor2D, w, false, true)] };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * y = x·W + b + (s·xd·Aᵀ)·Bᵀ, with xd = dropout(x) (or x itself). Gradients (matMulT products):
 *   g = s·dy·B (N, r);  dx = dy·Wᵀ;  dxd = g·A;  dAᵀ = xdᵀ·g;  dBᵀ = (s·xd·Aᵀ)ᵀ·dy
 */
function loraLinear(x: tf.Tensor2D, xd: tf.Tensor2D, at: tf.Tensor2D, bt: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | undefined, s: number): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, xdIn, atIn, btIn] = args as tf.Tensor2D[];
    const save = args[4] as tf.GradSaveFunc;
    const xa = matMulT(xdIn, atIn).mul(s); // s·xd·Aᵀ (N, r)
    save([xdIn, xa, atIn, btIn]);
    let y = matMulT(xIn, w).add(matMulT(xa, btIn));
    if (b) y = y.add(b);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xdS, xaS, atS, btS] = saved as tf.Tensor2D[];
        const dy2 = dy as tf.Tensor2D;
        const g = matMulT(dy2, btS, false, true).mul(s) as tf.Tensor2D; // (N, r), scale folded in
        return [
          matMulT(dy2, w, false, true), // dx (frozen path)
          matMulT(g, atS, false, true), // dxd (adapter path)
          matMulT(xdS, g, true, false), // dAᵀ (in, r)
          matMulT(xaS, dy2, true, false), // dBᵀ (r, out)
        ];
      },
    };
  });
  return op(x, xd, at, bt) as tf.Tensor2D;
}

/**
 * Tensors a decoding state keeps alive across tf.tidy scopes (built once per KV cache): `keep`
 * marks one, `weight` gives a layer's inference weight (W, or a kept W + ΔW), `dispose` frees them all.
 */
export function keptTensors(): { keep: <T extends tf.Tensor>(t: T) => T; weight: (l: LoraLinear) => tf.Tensor2D; dispose: () => void } {
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    kept.push(tf.keep(t));
    return t;
  };
  const weight = (l: LoraLinear): tf.Tensor2D => {
    const r = l.inferenceWeight();
    return r.owned ? keep(r.w) : r.w;
  };
  return { keep, weight, dispose: () => tf.dispose(kept) };
}
