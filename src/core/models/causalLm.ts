// The causal-LM driver every supported decoder-only model shares: the forward over the blocks,
// logits, the length-masked next-token loss (the LM-head loss itself is headLoss.ts), the training
// step by hand-written block backwards with kept or recomputed activations (lossAndGrads),
// incremental decoding (nextLogits with a KvCache) and disposal. The LoRA layers and the adapter
// bookkeeping over them (add, load, export, merge) are lora/adapters.ts; families (gpt2.ts,
// llama.ts) implement the blocks.
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hf/config';
import type { KvCache } from './kvCache';
import type { NativeGraph } from './decodeGraph';
import { LoraAdapters, type AdapterTensor } from '../lora/adapters';
import type { LoraLinear, ForwardContext } from '../lora/layer';
import type { LoraConfig } from '../lora/config';
import { headNll, lossTargets, LOSS_CHUNK_TOKENS, readExampleSums, VOCAB_BLOCK, vocabBlocks, type ExampleSums, type LossTargets, type RowLosses, type VocabBlock } from './headLoss';
import { causalMask, matMulT } from '../backend/tensorOps';

export const EVAL: ForwardContext = { training: false };

/**
 * One decoding step of a left-padded batch (nextLogits with `pad`): rows of unequal length share
 * one cache, row b's first pad[b] positions being padding. Each row sees only its own real keys
 * and counts positions from its first real token, so its logits equal those of the row alone.
 */
export interface PaddedStep {
  /** Left padding of each row in the whole sequence so far (cache + new tokens). */
  pad: readonly number[];
  /** Position ids of the new tokens (B·T): past + t − pad[b], may be negative on padding. */
  positions: Int32Array;
  /** Additive mask (B·H, T, past + T): causal, sliding window, and padded keys hidden. */
  mask: tf.Tensor3D;
  /** Llama's rotary tables for `positions` ([B, 1, T, hd]), made by the first layer that needs them. */
  rope?: { cos: tf.Tensor4D; sin: tf.Tensor4D };
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
export function collectGrads(layer: LoraLinear, r: { dx?: tf.Tensor2D; grads: tf.Tensor[] }, into: Map<tf.Variable, tf.Tensor>): tf.Tensor2D | undefined {
  const vs = layer.trainableVariables();
  r.grads.forEach((g, k) => into.set(vs[k], g));
  return r.dx;
}

export abstract class CausalLM {
  /** The LoRA-able linear layers by PEFT path and the adapter installed on them (lora/adapters.ts). */
  readonly adapters: LoraAdapters;
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
  /** Set during a nextLogits step with nonzero left padding (see PaddedStep); read by the families. */
  protected padded?: PaddedStep;

  /** The LM head in vocabulary blocks (see VocabBlock). */
  private readonly head: VocabBlock[];

  protected constructor(
    readonly spec: ModelSpec,
    /** LM head rows (V, d): the tied embedding or lm_head.weight; read for target-token vectors. */
    protected readonly lmRows: tf.Tensor2D,
  ) {
    this.head = vocabBlocks(lmRows, VOCAB_BLOCK[tf.getBackend()] ?? lmRows.shape[0]);
    this.adapters = new LoraAdapters(spec);
  }

  /** The linear layers by PEFT module path (filled by the family's constructor). */
  get linears(): Map<string, LoraLinear> {
    return this.adapters.linears;
  }

  /** The installed adapter's resolved config; undefined when none is installed. */
  get loraConfig(): LoraConfig | undefined {
    return this.adapters.config;
  }

  /** Logits h·Wₕᵀ (N, V) for hidden states h (N, d), one product per vocabulary block. */
  protected headLogits(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => (this.head.length === 1 ? matMulT(h, this.head[0].t) : tf.concat(this.head.map((b) => matMulT(h, b.t)), 1)) as tf.Tensor2D);
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
      let x = this.embedDropout(this.embedTokens(ids, cache?.length ?? 0), ctx);
      for (let i = 0; i < this.spec.numLayers; i++) {
        x = this.runBlock(i, x, B, T, ctx, cache);
        this.memoryGuard?.(`forward, layer ${i}`);
      }
      return this.finalNorm(x);
    });
  }

  /**
   * The base model's dropout multiplier of `site` for a tensor of `shape` when training with the
   * model's own dropout (ctx.baseDropout) and p > 0; undefined otherwise, so a model whose
   * probabilities are all 0, evaluation and decoding run no extra op.
   */
  protected dropMask(ctx: ForwardContext, site: string, shape: number[], p: number | undefined): tf.Tensor | undefined {
    if (!ctx.training || !ctx.baseDropout || !(p !== undefined && p > 0)) return undefined;
    const m = ctx.baseDropout(site, shape, p);
    if (m.shape.length !== shape.length || m.shape.some((n, k) => n !== shape[k])) {
      const got = m.shape;
      m.dispose();
      throw new Error(`dropout mask for ${site} has shape [${got}], expected [${shape}]`);
    }
    return m;
  }

  /** The embedding dropout of training (GPT-2's embd_pdrop) on x (B·T, d): a new tensor, or x itself when none applies. */
  protected embedDropout(x: tf.Tensor2D, _ctx: ForwardContext): tf.Tensor2D {
    return x;
  }

  /** Frozen tensors owned by the family (embeddings, norms). */
  protected abstract frozenTensors(): tf.Tensor[];

  protected linear(path: string): LoraLinear {
    return this.adapters.linear(path);
  }

  /** The loaded one-token decoding graph (native backend; see decodeGraphLogits), freed by dispose(). */
  private decodeGraph?: NativeGraph;
  /** Why the decoding graph could not be built or loaded: decoding then runs op by op. */
  decodeGraphError?: string;

  /** The model's decoding graph, built by `build` on first use; undefined (op by op) if that failed. */
  protected loadDecodeGraph(build: () => NativeGraph): NativeGraph | undefined {
    if (!this.decodeGraph && this.decodeGraphError === undefined) {
      try {
        this.decodeGraph = build();
      } catch (e) {
        this.decodeGraphError = e instanceof Error ? e.message : String(e);
      }
    }
    return this.decodeGraph;
  }

  /**
   * Logits [1, V] of one new token (ids [1, 1]) at position cache.length by one TensorFlow graph
   * (models/decodeGraph.ts), staging every layer's keys/values in `cache` as hiddenCached does; or
   * undefined when the family or the backend has no such graph (BackendTuning.decodeGraph), and
   * the step runs op by op.
   */
  protected decodeGraphLogits(_ids: tf.Tensor2D, _cache: KvCache): tf.Tensor2D | undefined {
    return undefined;
  }

  /** The LM head as one (d, V) matrix, or undefined when it is kept in vocabulary blocks. */
  protected wholeHead(): tf.Tensor2D | undefined {
    return this.head.length === 1 ? this.head[0].t : undefined;
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
    // attention() adds its mask to the scores viewed as (B·H, Tq, Tk): a per-row (B·H, T, S) mask
    // broadcasts there exactly like a shared (T, S) one.
    if (this.padded) return this.padded.mask as unknown as tf.Tensor2D;
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
   * `pad`: rows of unequal length, left-padded to one; row b's first pad[b] positions (cache + new
   * tokens) are padding, hidden from every query, and its positions count from its first real
   * token, so each row's logits equal those of the row decoded alone (see PaddedStep).
   */
  nextLogits(ids: number[][], cache: KvCache, opts?: { pad?: readonly number[] }): tf.Tensor2D {
    const T = ids[0]?.length ?? 0;
    const pad = opts?.pad?.some((p) => p > 0) ? opts.pad : undefined; // all zero: the plain path and its fast decoding
    if (pad && (pad.length !== ids.length || pad.some((p) => !Number.isInteger(p) || p < 0 || p >= cache.length + T))) {
      throw new Error(`internal: left padding [${pad.join(', ')}] does not fit ${ids.length} rows of ${cache.length + T} positions (every row needs a real token)`);
    }
    const longest = cache.length + T - (pad ? Math.min(...pad) : 0);
    if (this.spec.family === 'gpt2' && longest > this.spec.maxPositions) {
      throw new Error(`sequence length ${longest} exceeds the model's ${this.spec.maxPositions} positions (n_positions): use a shorter prompt or fewer new tokens`);
    }
    if (pad) this.padded = this.paddedStep(pad, T, cache.length);
    try {
      const out = tf.tidy(() => {
        const idsT = this.idsTensor(ids);
        const B = idsT.shape[0];
        const d = this.spec.hiddenSize;
        if (T === 1 && B === 1 && !pad) {
          const logits = this.decodeGraphLogits(idsT, cache);
          if (logits) return logits;
        }
        const h = this.hiddenCached(idsT, cache);
        const last = T === 1 ? h : h.reshape([B, T, d]).slice([0, T - 1, 0], [B, 1, d]).reshape([B, d]); // one token: already (B, d)
        return this.headLogits(last as tf.Tensor2D);
      });
      cache.commit(T);
      return out;
    } catch (e) {
      cache.rollback();
      throw e;
    } finally {
      if (this.padded) tf.dispose([this.padded.mask, ...(this.padded.rope ? [this.padded.rope.cos, this.padded.rope.sin] : [])]);
      this.padded = undefined;
    }
  }

  /**
   * Positions and mask of a left-padded step: T new tokens after `past` cached ones in rows with
   * pad[b] leading pads. Query t of row b (column q = past + t) sees key column j when j ≤ q, j is
   * not padding (j ≥ pad[b]) and, with a sliding window w, q − j < w (a difference, so unchanged
   * by the shift). Padded queries see nothing: their rows are uniform and never read.
   */
  private paddedStep(pad: readonly number[], T: number, past: number): PaddedStep {
    const B = pad.length;
    const S = past + T;
    const H = this.spec.numHeads;
    const w = this.spec.slidingWindow;
    const positions = new Int32Array(B * T);
    const data = new Float32Array(B * T * S).fill(-1e9);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const q = past + t;
        positions[b * T + t] = q - pad[b];
        const lo = Math.max(pad[b], w === undefined ? 0 : q - w + 1);
        for (let j = lo; j <= q; j++) data[(b * T + t) * S + j] = 0;
      }
    }
    // (B, 1, T, S) → (B, H, T, S) → (B·H, T, S): one copy per head, as attention() views its scores.
    const mask = tf.tidy(() => tf.keep(tf.tensor4d(data, [B, 1, T, S]).tile([1, H, 1, 1]).reshape([B * H, T, S]) as tf.Tensor3D));
    return { pad, positions, mask };
  }

  /**
   * Mean next-token cross-entropy. Position t predicts ids[t+1] with weight weights[t+1]
   * (weights default to 1; 0 masks prompt, padding and non-assistant tokens). The LM head runs
   * in chunks of LOSS_CHUNK_TOKENS rows so [tokens × vocab] logits never exist whole. With
   * `perExample`, also each row's sums from the same forward (`examples`; see ExampleSums).
   */
  loss(ids: number[][], weights?: number[][], ctx: ForwardContext = EVAL, perExample = false): { loss: tf.Scalar; tokens: number; examples?: ExampleSums } {
    const t = lossTargets(ids, weights);
    const rows: RowLosses | undefined = perExample ? {} : undefined;
    let loss: tf.Scalar;
    try {
      loss = tf.tidy(() => this.headLoss(this.hidden(this.idsTensor(ids), ctx), t, false, undefined, rows));
    } catch (e) {
      rows?.value?.dispose();
      throw e;
    }
    const examples = rows && readExampleSums(t, rows, ids.length);
    return { loss, tokens: t.tokens, ...(examples ? { examples } : {}) };
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
  private headLoss(h: tf.Tensor2D, t: LossTargets, eagerGrad: boolean, targetRows?: tf.Tensor2D[], rows?: RowLosses): tf.Scalar {
    const tgts = targetRows ?? this.targetRowChunks(t);
    try {
      return headNll(h, this.head, t, tgts, eagerGrad, () => this.memoryGuard?.('loss, LM head'), rows);
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

  /**
   * The loss (times `scale`) and its gradients for trainableVariables(), by hand-written block
   * backward passes (blockForwardSaved/blockBackward; no tape except for the LM-head loss). Each
   * adapted block keeps its activations from the forward ('keep'), or only its input, re-running
   * its forward just before its backward ('recompute': one block's activations alive at a time,
   * for one extra forward). 'auto' measures the first adapted block's activations and keeps them
   * all when memoryFits says they fit, with room for the LM head. Blocks below the lowest
   * adapted one run without saving anything. Dropout masks are the same in both passes: each
   * block draws its LoRA dropout seeds from its own base seed, and the model's own dropout
   * (ctx.baseDropout) addresses each mask by its site. `examples`: each batch row's loss sums, read
   * from the same forward's per-token losses (a reduction, no second pass; see ExampleSums).
   */
  lossAndGrads(ids: number[][], weights: number[][] | undefined, ctx: ForwardContext, scale = 1): { loss: number; tokens: number; grads: tf.Tensor[]; examples: ExampleSums } {
    const t = lossTargets(ids, weights);
    const L = this.spec.numLayers;
    const vars = this.trainableVariables();
    const adaptedBlocks = Array.from({ length: L }, (_, i) => this.adapters.blockVariables(i).length > 0);
    const lowest = adaptedBlocks.indexOf(true);
    if (lowest < 0) throw new Error('the model has no adapter to train');
    const bases = ctx.training && ctx.dropoutSeed ? adaptedBlocks.map(() => ctx.dropoutSeed!()) : undefined;
    const ctxFor = (i: number): ForwardContext => {
      if (!bases) return ctx;
      let k = 0;
      return { ...ctx, dropoutSeed: () => (bases[i] + k++) >>> 0 };
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
    const rows: RowLosses = {};
    let clock = performance.now();
    const lap = (part: 'forward' | 'head' | 'backward'): void => {
      if (!this.onPart) return;
      const now = performance.now();
      this.onPart(part, now - clock);
      clock = now;
    };
    try {
      const dropped = this.embedDropout(x, ctx); // the undropped embeddings are not needed again: no gradient goes below block 0
      if (dropped !== x) {
        x.dispose();
        x = dropped;
      }
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
        head = gradientsFreeingOnError(() => this.headLoss(this.finalNorm(xL), t, true, tgts, rows).mul(scale) as tf.Scalar, [xL]);
      } finally {
        tf.dispose(tgts);
      }
      const loss = head.value.dataSync()[0] / scale;
      head.value.dispose();
      const examples = readExampleSums(t, rows, B);
      if (!examples) throw new Error('internal: the LM-head loss kept no per-row losses');
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
      return { loss, tokens: t.tokens, grads, examples };
    } catch (e) {
      // Nothing of a failed step stays allocated (tf.dispose skips what is already disposed).
      tf.dispose([x, dy, rows.value, ...inputs, ...saved.filter((v) => v !== undefined), ...byVar.values()] as tf.TensorContainer[]);
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
    return this.adapters.add(partial, seed);
  }

  /** Installs PEFT-layout weights (A (r, in), B (out, r)) by PEFT tensor name; every target must be present. */
  loadAdapter(cfg: LoraConfig, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    this.adapters.load(cfg, tensors);
  }

  removeAdapter(): void {
    this.adapters.remove();
  }

  /** PEFT-named adapter tensors (see LoraAdapters.tensors). */
  adapterTensors(): AdapterTensor[] {
    return this.adapters.tensors();
  }

  /** Trainable variables with the PEFT tensor they hold (see LoraAdapters.namedVariables). */
  namedVariables(): { peftName: string; variable: tf.Variable }[] {
    return this.adapters.namedVariables();
  }

  trainableVariables(): tf.Variable[] {
    return this.adapters.trainableVariables();
  }

  merge(): void {
    this.adapters.merge();
  }

  unmerge(): void {
    this.adapters.unmerge();
  }

  dispose(): void {
    this.adapters.dispose();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    this.stepMask?.mask?.dispose();
    this.stepMask = undefined;
    this.decodeGraph?.dispose();
    this.decodeGraph = undefined;
    const own = new Set<tf.Tensor>([...this.head.flatMap((b) => [b.t, b.rows]), this.lmRows, ...this.frozenTensors()]);
    for (const t of own) if (!t.isDisposed) t.dispose();
  }
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
