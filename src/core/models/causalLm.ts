// What every supported decoder-only model shares: the LoRA-able linear layers by PEFT path,
// the LM head, logits, the length-masked next-token loss (computed in token chunks), adapter
// creation/loading/export, merge/unmerge, incremental decoding (nextLogits with a KvCache) and
// disposal. Families implement `hidden()` and `hiddenCached()`.
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hf/config';
import type { KvCache } from './kvCache';
import { LoraLinear, type ForwardContext } from '../lora/layer';
import { resolveLoraConfig, selectTargets, type LoraConfig } from '../lora/config';
import { Rng } from '../util/rng';
import { causalMask } from '../backend/tensorOps';

export const EVAL: ForwardContext = { training: false };

/** Rows of [tokens × vocab] logits materialised at once by the loss (bounds peak memory). */
export const LOSS_CHUNK_TOKENS = 256;

export interface AdapterTensor {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

/** A block's saved activations: any nesting of tensors (and numbers), disposed as a whole. */
export type BlockSaved = tf.TensorContainer;

export interface BlockGrads {
  dx?: tf.Tensor2D;
  grads: Map<tf.Variable, tf.Tensor>;
}

/** How lossAndGrads treats block activations: keep them all, recompute each block in the backward, or decide by memory. */
export type ActivationMode = 'keep' | 'recompute' | 'auto';

/** Collects a LoraLinear.backward result into a BlockGrads map; returns dx. */
export function collectGrads(layer: LoraLinear, r: { dx?: tf.Tensor2D; grads: tf.Tensor2D[] }, into: Map<tf.Variable, tf.Tensor>): tf.Tensor2D | undefined {
  const vs = layer.trainableVariables();
  r.grads.forEach((g, k) => into.set(vs[k], g));
  return r.dx;
}

export abstract class CausalLM {
  readonly linears = new Map<string, LoraLinear>();
  loraConfig?: LoraConfig;
  /**
   * Called after each block of a forward pass while its intermediates are alive; throwing stops the
   * pass (tidy frees what it made). The backend's memory check goes here (see backend.checkMemory).
   */
  memoryGuard?: (where: string) => void;
  /**
   * lossAndGrads keeps every adapted block's activations ('keep': no recomputation, the fastest)
   * or re-runs each block's forward in the backward ('recompute': one block's activations at a
   * time, one more forward). 'auto' keeps them when memoryFits says they fit.
   */
  activationMode: ActivationMode = 'auto';
  /** Whether this many more bytes of tensors fit on the backend (see backend.memoryFits); unset: no limit known. */
  memoryFits?: (extraBytes: number) => boolean;
  /**
   * When set, lossAndGrads reports the wall time of its parts (the bench's --parts): 'forward'
   * (embeddings and blocks), 'head' (final norm, LM-head loss and its gradient), 'backward' (the
   * blocks' backward, with their recomputed forwards in recompute mode). Ops run synchronously on
   * the CPU backends, so the clock needs no sync; on a GPU the parts are only launch times.
   */
  onPart?: (part: 'forward' | 'head' | 'backward', ms: number) => void;
  /** What the last lossAndGrads did with activations, and how many bytes one block kept. */
  lastActivations?: { mode: 'keep' | 'recompute'; bytesPerBlock: number };
  private masks = new Map<string, tf.Tensor2D>();

  /** The LM head in vocabulary blocks (see VocabBlock). */
  private readonly head: VocabBlock[];

  protected constructor(
    readonly spec: ModelSpec,
    /** LM head rows (V, d): the tied embedding or lm_head.weight; read for target-token vectors. */
    protected readonly lmRows: tf.Tensor2D,
  ) {
    this.head = vocabBlocks(lmRows, VOCAB_BLOCK[tf.getBackend()] ?? lmRows.shape[0]);
  }

  /** Logits h·Wₕᵀ (N, V) for hidden states h (N, d), one product per vocabulary block. */
  protected headLogits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => (this.head.length === 1 ? tf.matMul(h, this.head[0].t) : tf.concat(this.head.map((b) => tf.matMul(h, b.t)), 1)) as tf.Tensor2D);
  }

  /** Embeddings of ids [B, T] at positions past… → (B·T, d). */
  protected abstract embedTokens(ids: tf.Tensor2D, past: number): tf.Tensor2D;

  /** Transformer block i on x (B·T, d) → (B·T, d); with a cache, attending to cached keys/values (staged in the cache). */
  protected abstract runBlock(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext, cache?: KvCache): tf.Tensor2D;

  /**
   * Block i's forward without a tape, returning with the output what blockBackward needs
   * (activations, dropout masks). The result is owned by the caller.
   */
  protected abstract blockForwardSaved(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext): { y: tf.Tensor2D; saved: BlockSaved };

  /**
   * Hand-written backward of block i for upstream dy: dx (when needDx) and the gradients of the
   * block's adapter variables, keyed by variable. Must not dispose x or saved.
   */
  protected abstract blockBackward(i: number, dy: tf.Tensor2D, x: tf.Tensor2D, saved: BlockSaved, needDx: boolean): BlockGrads;

  /** The norm after the last block. */
  protected abstract finalNorm(x: tf.Tensor2D): tf.Tensor2D;

  /** Final hidden states (after the last norm) [B·T, d] for ids [B, T]. */
  hidden(ids: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return this.forward(ids, ctx);
  }

  /**
   * Incremental forward (no dropout): final hidden states [B·T, d] of new tokens ids [B, T] at
   * positions cache.length…, attending to the cached keys/values; stages this step's keys/values
   * in `cache` (nextLogits commits them).
   */
  protected hiddenCached(ids: tf.Tensor2D, cache: KvCache): tf.Tensor2D {
    return this.forward(ids, EVAL, cache);
  }

  private forward(ids: tf.Tensor2D, ctx: ForwardContext, cache?: KvCache): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      let x = this.embedTokens(ids, cache?.length ?? 0);
      for (let i = 0; i < this.spec.numLayers; i++) {
        x = this.runBlock(i, x, B, T, ctx, cache);
        this.memoryGuard?.(`forward, layer ${i}`);
      }
      return this.finalNorm(x);
    });
  }

  /** Frozen tensors owned by the family (embeddings, norms). */
  protected abstract frozenTensors(): tf.Tensor[];

  protected linear(path: string): LoraLinear {
    const l = this.linears.get(path);
    if (!l) throw new Error(`internal: no linear module ${path}`);
    return l;
  }

  /** Cached additive causal mask for a length (constants: never part of a gradient). */
  protected mask(length: number): tf.Tensor2D {
    const key = `${length}`;
    let m = this.masks.get(key);
    if (!m) {
      m = tf.keep(causalMask(length, 0, this.spec.slidingWindow));
      this.masks.set(key, m);
    }
    return m;
  }

  private stepMask?: { key: string; mask: tf.Tensor2D | undefined };

  /**
   * The additive mask of a decoding step: T new tokens after `past` cached ones. Undefined when
   * every key is visible (one new token within the sliding window): no mask to build, upload and
   * add. Built once per step, not once per layer; replaced at the next step.
   */
  protected decodeMask(T: number, past: number): tf.Tensor2D | undefined {
    const w = this.spec.slidingWindow;
    if (T === 1 && (w === undefined || past < w)) return undefined;
    const key = `${T}@${past}`;
    if (this.stepMask?.key !== key) {
      this.stepMask?.mask?.dispose();
      this.stepMask = { key, mask: tf.keep(causalMask(T, past, w)) };
    }
    return this.stepMask.mask;
  }

  /** Validates token ids and makes the int32 [B, T] tensor. */
  idsTensor(ids: number[][]): tf.Tensor2D {
    if (ids.length === 0 || ids[0].length === 0) throw new Error('empty batch of token ids');
    const T = ids[0].length;
    if (T > this.spec.maxPositions && this.spec.family === 'gpt2') {
      throw new Error(`sequence length ${T} exceeds the model's ${this.spec.maxPositions} positions (n_positions): lower max_seq_len`);
    }
    const flat = new Int32Array(ids.length * T);
    ids.forEach((row, b) => {
      if (row.length !== T) throw new Error(`batch row ${b} has ${row.length} tokens, expected ${T} (rows must be padded to one length)`);
      row.forEach((id, t) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.spec.vocabSize) {
          throw new Error(`token id ${id} at row ${b}, position ${t} is outside the vocabulary (0..${this.spec.vocabSize - 1})`);
        }
        flat[b * T + t] = id;
      });
    });
    return tf.tensor2d(flat, [ids.length, T], 'int32');
  }

  /** Logits [B, T, V]. Materialises the whole vocabulary: for evaluation and small models. */
  logits(ids: number[][], ctx: ForwardContext = EVAL): tf.Tensor3D {
    return tf.tidy(() => {
      const idsT = this.idsTensor(ids);
      const [B, T] = idsT.shape;
      return this.headLogits(this.hidden(idsT, ctx)).reshape([B, T, this.spec.vocabSize]) as tf.Tensor3D;
    });
  }

  /**
   * Incremental decoding with a KV cache: feeds ids [B, T] (a prompt, then one token per call) at
   * positions cache.length…, keeps their keys/values in `cache`, and returns the logits of the last
   * position [B, V]. Equals the last row of logits() on the whole sequence so far.
   */
  nextLogits(ids: number[][], cache: KvCache): tf.Tensor2D {
    const T = ids[0]?.length ?? 0;
    if (this.spec.family === 'gpt2' && cache.length + T > this.spec.maxPositions) {
      throw new Error(`sequence length ${cache.length + T} exceeds the model's ${this.spec.maxPositions} positions (n_positions): use a shorter prompt or fewer new tokens`);
    }
    try {
      const out = tf.tidy(() => {
        const idsT = this.idsTensor(ids);
        const B = idsT.shape[0];
        const d = this.spec.hiddenSize;
        const h = this.hiddenCached(idsT, cache);
        const last = T === 1 ? h : h.reshape([B, T, d]).slice([0, T - 1, 0], [B, 1, d]).reshape([B, d]); // one token: already (B, d)
        return this.headLogits(last as tf.Tensor2D);
      });
      cache.commit(T);
      return out;
    } catch (e) {
      cache.rollback();
      throw e;
    }
  }

  /**
   * Mean next-token cross-entropy. Position t predicts ids[t+1] with weight weights[t+1]
   * (weights default to 1; 0 masks prompt, padding and non-assistant tokens). The LM head runs
   * in chunks of LOSS_CHUNK_TOKENS rows so [tokens × vocab] logits never exist whole.
   */
  loss(ids: number[][], weights?: number[][], ctx: ForwardContext = EVAL): { loss: tf.Scalar; tokens: number } {
    const t = lossTargets(ids, weights);
    const loss = tf.tidy(() => this.headLoss(this.hidden(this.idsTensor(ids), ctx), t, false));
    return { loss, tokens: t.tokens };
  }

  /**
   * The weighted NLL of final hidden states h (B·T, d), divided by the total weight: one custom
   * op (headNll). Only rows with a nonzero weight reach the LM head (t.runs), LOSS_CHUNK_TOKENS at
   * a time, so [rows × vocab] logits never exist whole. With `eagerGrad` (lossAndGrads, which
   * always wants the gradient) each chunk's gradient is formed right after its loss, while its
   * probabilities exist, and only the (rows, d) gradient is kept; otherwise (evaluation) nothing
   * is kept and a backward, if asked for, recomputes the chunks. `targetRows` are the chunks'
   * target-token vectors when made beforehand (targetRowChunks); else they are made here.
   */
  private headLoss(h: tf.Tensor2D, t: LossTargets, eagerGrad: boolean, targetRows?: tf.Tensor2D[]): tf.Scalar {
    const tgts = targetRows ?? this.targetRowChunks(t);
    try {
      return headNll(h, this.head, t, tgts, eagerGrad, () => this.memoryGuard?.('loss, LM head'));
    } finally {
      if (!targetRows) tf.dispose(tgts);
    }
  }

  /**
   * The target-token vectors (n, d) of each loss chunk: constants. lossAndGrads makes them before
   * the head's gradient tape starts, because a gather on the tape makes tfjs keep a copy of the
   * whole (V, d) table it reads from (measured: 2 × 154 MB copies per distilgpt2 step).
   */
  private targetRowChunks(t: LossTargets): tf.Tensor2D[] {
    const out: tf.Tensor2D[] = [];
    for (let s = 0; s < t.selTargets.length; s += LOSS_CHUNK_TOKENS) {
      const idx = t.selTargets.subarray(s, Math.min(s + LOSS_CHUNK_TOKENS, t.selTargets.length));
      out.push(tf.tidy(() => tf.gather(this.lmRows, tf.tensor1d(idx, 'int32')) as tf.Tensor2D));
    }
    return out;
  }

  /** The adapter variables of block i (empty when the block is not adapted). */
  private blockVariables(i: number): tf.Variable[] {
    return [...this.linears.values()].filter((l) => l.module.layer === i).flatMap((l) => l.trainableVariables());
  }

  /**
   * The loss (times `scale`) and its gradients for trainableVariables(), by hand-written block
   * backward passes (blockForwardSaved/blockBackward; no tape except for the LM-head loss). Each
   * adapted block keeps its activations from the forward ('keep'), or only its input, re-running
   * its forward just before its backward ('recompute': one block's activations alive at a time,
   * for one extra forward). 'auto' measures the first adapted block's activations and keeps them
   * all when memoryFits says they fit, with room for the LM head. Blocks below the lowest
   * adapted one run without saving anything. Dropout masks are the same in both passes: each
   * block draws its seeds from its own base seed.
   */
  lossAndGrads(ids: number[][], weights: number[][] | undefined, ctx: ForwardContext, scale = 1): { loss: number; tokens: number; grads: tf.Tensor[] } {
    const t = lossTargets(ids, weights);
    const L = this.spec.numLayers;
    const vars = this.trainableVariables();
    const adaptedBlocks = Array.from({ length: L }, (_, i) => this.blockVariables(i).length > 0);
    const lowest = adaptedBlocks.indexOf(true);
    if (lowest < 0) throw new Error('the model has no adapter to train');
    const bases = ctx.training && ctx.dropoutSeed ? adaptedBlocks.map(() => ctx.dropoutSeed!()) : undefined;
    const ctxFor = (i: number): ForwardContext => {
      if (!bases) return ctx;
      let k = 0;
      return { training: ctx.training, dropoutSeed: () => (bases[i] + k++) >>> 0 };
    };
    const idsT = this.idsTensor(ids);
    const [B, T] = idsT.shape;
    const inputs: tf.Tensor2D[] = [];
    const saved: (BlockSaved | undefined)[] = [];
    let keep = this.activationMode !== 'recompute';
    let bytesPerBlock = 0;
    let x = this.embedTokens(idsT, 0);
    idsT.dispose();
    let dy: tf.Tensor2D | undefined;
    const byVar = new Map<tf.Variable, tf.Tensor>();
    let clock = performance.now();
    const lap = (part: 'forward' | 'head' | 'backward'): void => {
      if (!this.onPart) return;
      const now = performance.now();
      this.onPart(part, now - clock);
      clock = now;
    };
    try {
      for (let i = 0; i < L; i++) {
        const xi = x;
        if (i < lowest) {
          x = tf.tidy(() => this.runBlock(i, xi, B, T, ctxFor(i)));
          xi.dispose(); // nothing below the lowest adapted block needs its input again
        } else {
          inputs[i] = xi;
          const r = this.blockForwardSaved(i, xi, B, T, ctxFor(i));
          x = r.y;
          if (i === lowest) {
            bytesPerBlock = containerBytes(r.saved);
            if (this.activationMode === 'auto') keep = this.activationsFit(bytesPerBlock * (L - lowest), bytesPerBlock);
          }
          if (keep) saved[i] = r.saved;
          else tf.dispose(r.saved);
        }
        this.memoryGuard?.(`forward, layer ${i}`);
      }
      this.lastActivations = { mode: keep ? 'keep' : 'recompute', bytesPerBlock };
      lap('forward');
      const xL = x;
      const tgts = this.targetRowChunks(t);
      let head: { value: tf.Tensor; grads: tf.Tensor[] };
      try {
        head = gradientsFreeingOnError(() => this.headLoss(this.finalNorm(xL), t, true, tgts).mul(scale) as tf.Scalar, [xL]);
      } finally {
        tf.dispose(tgts);
      }
      const loss = head.value.dataSync()[0] / scale;
      head.value.dispose();
      xL.dispose();
      dy = head.grads[0] as tf.Tensor2D;
      lap('head');
      for (let i = L - 1; i >= lowest; i--) {
        const xi = inputs[i];
        let s = saved[i];
        if (!s) {
          const r = this.blockForwardSaved(i, xi, B, T, ctxFor(i));
          r.y.dispose();
          s = saved[i] = r.saved; // in `saved` so that a failing backward frees it too
        }
        if (!dy) throw new Error(`internal: block ${i} got no upstream gradient`);
        const upstream: tf.Tensor2D = dy;
        const g = this.blockBackward(i, upstream, xi, s, i > lowest);
        tf.dispose(s);
        saved[i] = undefined;
        upstream.dispose();
        xi.dispose();
        for (const [v, gv] of g.grads) byVar.set(v, gv);
        dy = g.dx;
        this.memoryGuard?.(`backward, layer ${i}`);
      }
      const grads = vars.map((v) => {
        const gv = byVar.get(v);
        if (!gv) throw new Error('internal: an adapter variable got no gradient');
        return gv;
      });
      lap('backward');
      return { loss, tokens: t.tokens, grads };
    } catch (e) {
      // Nothing of a failed step stays allocated (tf.dispose skips what is already disposed).
      tf.dispose([x, dy, ...inputs, ...saved.filter((v) => v !== undefined), ...byVar.values()] as tf.TensorContainer[]);
      throw e;
    }
  }

  /**
   * Whether `total` bytes of kept activations fit (memoryFits), leaving room for the LM-head loss
   * (a chunk's logits, exponentials and probabilities) and one block's backward.
   */
  private activationsFit(total: number, perBlock: number): boolean {
    if (!this.memoryFits) return true;
    const head = 4 * LOSS_CHUNK_TOKENS * this.spec.vocabSize * 4;
    return this.memoryFits(total + head + 2 * perBlock);
  }

  /** Adds a fresh adapter (B = 0: outputs unchanged) on the modules the config targets. */
  addAdapter(partial: Partial<LoraConfig> = {}, seed = 0): LoraConfig {
    const cfg = resolveLoraConfig(this.spec, partial);
    this.removeAdapter();
    const rng = new Rng(seed);
    for (const m of selectTargets(this.spec, cfg)) this.linear(m.path).initAdapter(cfg, rng);
    this.loraConfig = cfg;
    return cfg;
  }

  /** Installs PEFT-layout weights (A (r, in), B (out, r)) by PEFT tensor name; every target must be present. */
  loadAdapter(cfg: LoraConfig, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    const resolved = resolveLoraConfig(this.spec, cfg);
    this.removeAdapter();
    const used = new Set<string>();
    for (const m of selectTargets(this.spec, resolved)) {
      const [an, bn] = [peftName(m.path, 'A'), peftName(m.path, 'B')];
      const a = tensors.get(an);
      const b = tensors.get(bn);
      if (!a || !b) throw new Error(`adapter is missing ${!a ? an : bn} for target module ${m.path}`);
      this.linear(m.path).loadPeft(tf.tensor2d(a.data, a.shape as [number, number]), tf.tensor2d(b.data, b.shape as [number, number]), resolved);
      used.add(an).add(bn);
    }
    const extra = [...tensors.keys()].filter((k) => !used.has(k));
    if (extra.length) throw new Error(`adapter has tensors for modules the config does not target: ${extra.slice(0, 5).join(', ')}`);
    this.loraConfig = resolved;
  }

  removeAdapter(): void {
    for (const l of this.linears.values()) l.removeAdapter();
    this.loraConfig = undefined;
  }

  /** PEFT-named adapter tensors (`base_model.model.<path>.lora_A.weight` (r, in), `.lora_B.weight` (out, r)). */
  adapterTensors(): AdapterTensor[] {
    const out: AdapterTensor[] = [];
    for (const l of this.linears.values()) {
      if (!l.hasAdapter) continue;
      const { a, b } = l.peftTensors();
      out.push({ name: peftName(l.module.path, 'A'), shape: a.shape, data: a.dataSync() as Float32Array });
      out.push({ name: peftName(l.module.path, 'B'), shape: b.shape, data: b.dataSync() as Float32Array });
      a.dispose();
      b.dispose();
    }
    return out;
  }

  /** Trainable variables with the PEFT tensor they hold, transposed: Aᵀ (in, r) for lora_A, Bᵀ (r, out) for lora_B. */
  namedVariables(): { peftName: string; variable: tf.Variable }[] {
    return [...this.linears.values()].flatMap((l) => {
      const [at, bt] = l.trainableVariables();
      return at ? [{ peftName: peftName(l.module.path, 'A'), variable: at }, { peftName: peftName(l.module.path, 'B'), variable: bt }] : [];
    });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.linears.values()].flatMap((l) => l.trainableVariables());
  }

  merge(): void {
    for (const l of this.linears.values()) l.merge();
  }

  unmerge(): void {
    for (const l of this.linears.values()) l.unmerge();
  }

  dispose(): void {
    for (const l of this.linears.values()) l.dispose();
    this.linears.clear();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    this.stepMask?.mask?.dispose();
    this.stepMask = undefined;
    const own = new Set<tf.Tensor>([...this.head.flatMap((b) => [b.t, b.rows]), this.lmRows, ...this.frozenTensors()]);
    for (const t of own) if (!t.isDisposed) t.dispose();
  }
}

/**
 * A slice of the LM head's vocabulary: rows [start, start+n) as (d, n) for h·Wₕᵀ and as (n, d)
 * for the backward product. On wasm a product with the whole 50k-column head runs at ~30 GFLOP/s
 * while the same work in blocks of ~2k columns reaches ~58 (measured here for [256, 768] ×
 * [768, 50257]: 671 ms whole, 334 ms in 32 blocks; likewise for the backward): the blocks keep
 * XNNPACK's packed weights in cache. Costs one more copy of the head (V·d floats).
 */
interface VocabBlock {
  t: tf.Tensor2D;
  rows: tf.Tensor2D;
}

/** Vocabulary columns per LM-head block, by backend (read when a model is built; tests shrink it). Native backends take the head whole. */
export const VOCAB_BLOCK: Record<string, number> = { wasm: 2048 };

function vocabBlocks(lmRows: tf.Tensor2D, size: number): VocabBlock[] {
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
function chunkNll(hc: tf.Tensor2D, head: VocabBlock[], targetRows: tf.Tensor2D, w: tf.Tensor1D, withGrad: boolean): { nll: tf.Scalar; grad?: tf.Tensor2D } {
  return tf.tidy(() => {
    const logits = head.map((b) => tf.matMul(hc, b.t)); // (n, V_b) each
    const m = (logits.length === 1 ? logits[0].max(1) : tf.stack(logits.map((l) => l.max(1))).max(0)).reshape([-1, 1]); // (n, 1)
    const e = logits.map((l) => tf.exp(l.sub(m)));
    tf.dispose(logits);
    const sum = e.length === 1 ? e[0].sum(1, true) : tf.addN(e.map((x) => x.sum(1, true))); // (n, 1)
    const lse = m.add(tf.log(sum)).reshape([-1]); // (n)
    const nll = lse.sub(hc.mul(targetRows).sum(1)).mul(w).sum() as tf.Scalar;
    if (!withGrad) return { nll };
    const inv = tf.reciprocal(sum);
    const ph = tf.addN(e.map((x, k) => tf.matMul(x.mul(inv) as tf.Tensor2D, head[k].rows))); // softmax·Wₕ (n, d)
    return { nll, grad: ph.sub(targetRows).mul(w.reshape([-1, 1])) as tf.Tensor2D };
  });
}

/**
 * The weighted next-token NLL of h (B·T, d) over the rows in t.runs, divided by the total weight,
 * as one custom op whose gradient is dense: the rows without loss get zeros, assembled in one
 * concat (a taped slice per run or chunk would make tfjs keep a full (B·T, d) padded gradient for
 * each of them until the backward ends). `eager`: see CausalLM.headLoss.
 */
function headNll(h: tf.Tensor2D, head: VocabBlock[], t: LossTargets, targetRows: tf.Tensor2D[], eager: boolean, guard: () => void): tf.Scalar {
  const [rows, d] = h.shape;
  const n = t.selW.length;
  const select = (x: tf.Tensor2D): tf.Tensor2D =>
    t.runs.length === 1 ? x.slice([t.runs[0][0], 0], [t.runs[0][1], d]) : (tf.concat(t.runs.map(([s, len]) => x.slice([s, 0], [len, d]))) as tf.Tensor2D);
  /** The selected rows' loss (and gradient), chunk by chunk. */
  const chunks = (hIn: tf.Tensor2D, tgts: tf.Tensor2D[], withGrad: boolean, check: () => void): { total: tf.Scalar; grad?: tf.Tensor2D } =>
    tf.tidy(() => {
      const hSel = select(hIn);
      const nlls: tf.Scalar[] = [];
      const grads: tf.Tensor2D[] = [];
      for (let s = 0, c = 0; s < n; s += LOSS_CHUNK_TOKENS, c++) {
        const len = Math.min(LOSS_CHUNK_TOKENS, n - s);
        const r = chunkNll(len === n ? hSel : hSel.slice([s, 0], [len, d]), head, tgts[c], tf.tensor1d(t.selW.subarray(s, s + len)), withGrad);
        nlls.push(r.nll);
        if (r.grad) grads.push(r.grad);
        check();
      }
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
    const r = chunks(hIn, targetRows, eager, guard);
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

interface LossTargets {
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

function lossTargets(ids: number[][], weights?: number[][]): LossTargets {
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

/**
 * tf.engine().gradients, except that when f throws (a memory guard stopping the step) the
 * tensors tfjs 4.22 saved on its tape are freed: its gradients() leaves them allocated then.
 */
function gradientsFreeingOnError(f: () => tf.Tensor, xs: tf.Tensor[]): { value: tf.Tensor; grads: tf.Tensor[] } {
  try {
    return tf.engine().gradients(f, xs);
  } catch (e) {
    const state = (tf.engine() as unknown as { state: { gradientDepth: number; activeTape: { saved?: tf.Tensor[] }[] | null } }).state;
    if (state.gradientDepth === 0 && state.activeTape) {
      for (const node of state.activeTape) tf.dispose(node.saved ?? []);
      state.activeTape = null;
    }
    throw e;
  }
}

/** Bytes of the distinct tensors in a container. */
function containerBytes(c: tf.TensorContainer): number {
  const seen = new Set<number>();
  let bytes = 0;
  const walk = (v: unknown): void => {
    if (v instanceof tf.Tensor) {
      if (!seen.has(v.id)) {
        seen.add(v.id);
        bytes += v.size * 4;
      }
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(c);
  return bytes;
}

export function peftName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}
