// What every supported decoder-only model shares: the LoRA-able linear layers by PEFT path,
// the LM head, logits, the length-masked next-token loss (computed in token chunks), adapter
// creation/loading/export, merge/unmerge, incremental decoding (nextLogits with a KvCache) and
// disposal. Families implement `hidden()` and `hiddenCached()`.
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hfConfig';
import type { KvCache } from '../kvCache';
import { LoraLinear, type ForwardContext } from '../lora';
import { resolveLoraConfig, selectTargets, type LoraConfig } from '../loraConfig';
import { Rng } from '../rng';
import { causalMask } from '../tensorOps';

export const EVAL: ForwardContext = { training: false };

/** Rows of [tokens × vocab] logits materialised at once by the loss (bounds peak memory). */
export const LOSS_CHUNK_TOKENS = 256;

export interface AdapterTensor {
  name: string;
  shape: [number, number];
  data: Float32Array;
}

export abstract class CausalLM {
  readonly linears = new Map<string, LoraLinear>();
  loraConfig?: LoraConfig;
  /**
   * Called after each block of a forward pass while its intermediates are alive; throwing stops the
   * pass (tidy frees what it made). The backend's memory check goes here (see backend.checkMemory).
   */
  memoryGuard?: (where: string) => void;
  private masks = new Map<string, tf.Tensor2D>();

  protected constructor(
    readonly spec: ModelSpec,
    /** LM head as (d, V) for h·W, and as rows (V, d) to read target-token vectors. */
    protected readonly lmHeadT: tf.Tensor2D,
    protected readonly lmRows: tf.Tensor2D,
  ) {}

  /** Final hidden states (after the last norm) [B·T, d] for ids [B, T]. */
  abstract hidden(ids: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D;

  /**
   * Incremental forward (no dropout): final hidden states [B·T, d] of new tokens ids [B, T] at
   * positions cache.length…, attending to the cached keys/values; stages this step's keys/values
   * in `cache` (nextLogits commits them).
   */
  protected abstract hiddenCached(ids: tf.Tensor2D, cache: KvCache): tf.Tensor2D;

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
      return tf.matMul(this.hidden(idsT, ctx), this.lmHeadT).reshape([B, T, this.spec.vocabSize]) as tf.Tensor3D;
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
        const last = this.hiddenCached(idsT, cache).reshape([B, T, d]).slice([0, T - 1, 0], [B, 1, d]).reshape([B, d]);
        return tf.matMul(last, this.lmHeadT) as tf.Tensor2D;
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
    const totalWeight = w.reduce((s, x) => s + x, 0);
    const loss = tf.tidy(() => {
      const h = this.hidden(this.idsTensor(ids), ctx); // (B·T, d)
      const d = this.spec.hiddenSize;
      const parts: tf.Scalar[] = [];
      for (let s = 0; s < B * T; s += LOSS_CHUNK_TOKENS) {
        const n = Math.min(LOSS_CHUNK_TOKENS, B * T - s);
        const wChunk = w.subarray(s, s + n);
        if (!wChunk.some((x) => x !== 0)) continue;
        const hc = h.slice([s, 0], [n, d]); // (n, d)
        const tgt = tf.gather(this.lmRows, tf.tensor1d(targets.subarray(s, s + n), 'int32')); // (n, d), constant
        parts.push(weightedNll(hc, this.lmHeadT, this.lmRows, tgt, tf.tensor1d(wChunk)));
        this.memoryGuard?.('loss, LM head');
      }
      return tf.addN(parts).div(totalWeight) as tf.Scalar;
    });
    return { loss, tokens };
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
    const own = new Set<tf.Tensor>([this.lmHeadT, this.lmRows, ...this.frozenTensors()]);
    for (const t of own) if (!t.isDisposed) t.dispose();
  }
}

/**
 * Σᵢ wᵢ·(logsumexp(hᵢ·Wₕ) − hᵢ·wₜᵢ): the weighted next-token NLL of a chunk of rows, with a
 * hand-written backward dh = w ⊙ (softmax(h·Wₕ)·Wₕᵀ − wₜ) where Wₕᵀ is the LM head held as rows
 * (V, d), so the [n × V]·[V × d] product is a plain matMul (tfjs's own gradient would multiply
 * by a transposed operand, the slow path on wasm). Only the probabilities are kept for backward.
 */
function weightedNll(h: tf.Tensor2D, headT: tf.Tensor2D, headRows: tf.Tensor2D, targetRows: tf.Tensor2D, w: tf.Tensor1D): tf.Scalar {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const hIn = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const logits = tf.matMul(hIn, headT); // (n, V)
    const lse = tf.logSumExp(logits, 1, true); // (n, 1)
    const probs = tf.exp(logits.sub(lse)); // (n, V)
    save([probs, targetRows, w]); // saved: the tidy around loss() would dispose the constants otherwise
    const nll = lse.reshape([-1]).sub(hIn.mul(targetRows).sum(1)); // (n)
    return {
      value: nll.mul(w).sum(),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [p, tRows, wS] = saved;
        const scale = wS.mul(dy).reshape([-1, 1]); // (n, 1)
        return [tf.matMul(p as tf.Tensor2D, headRows).sub(tRows).mul(scale)];
      },
    };
  });
  return op(h) as tf.Scalar;
}

export function peftName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}
