// Llama family (LlamaForCausalLM: SmolLM, TinyLlama; MistralForCausalLM; Qwen2ForCausalLM):
// RMSNorm, rotary embeddings in HF's rotate-half layout, grouped-query attention, SwiGLU MLP,
// optional q/k/v biases (Qwen2), explicit head_dim, tied or separate lm_head.
// nn.Linear weights are stored (out, in) and transposed once at load to (in, out).
// Incremental decoding reads and extends a KvCache (rotary positions continue from the cached length).
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hf/config';
import { keptTensors, LoraLinear, type ForwardContext, type LinearSaved } from '../lora/layer';
import { llamaModules } from '../lora/modules';
import type { DecodeState, KvCache } from './kvCache';
import { GraphBuilder, graphsSupported, NativeGraph } from './decodeGraph';
import {
  addRmsNorm, addRmsNormSaved, attention, attentionBackward, attentionSaved, mergeHeads, rmsNorm, rmsNormBackward, rmsNormSaved, ropeMergeHeadsBackward, ropeSplitHeads,
  ropeTables, splitHeads, swiGlu, swiGluBackward, swiGluSaved, tuning, type AttentionSaved, matMulT,
} from '../backend/tensorOps';
import { CausalLM, collectGrads, type BlockGrads, type BlockSaved } from './causalLm';
import { llamaAttnSite } from './baseDropout';
import type { WeightReader } from './weightReader';

interface Block {
  inputNorm: tf.Tensor1D;
  postNorm: tf.Tensor1D;
  q: LoraLinear;
  k: LoraLinear;
  v: LoraLinear;
  o: LoraLinear;
  gate: LoraLinear;
  up: LoraLinear;
  down: LoraLinear;
}

/** What a Llama block keeps for its hand-written backward (the block input x is passed to it apart). */
interface LlamaSaved {
  /** The input norm's 1/rms per row. */
  r1: tf.Tensor2D;
  h1: tf.Tensor2D;
  q: LinearSaved;
  k: LinearSaved;
  v: LinearSaved;
  /** q, k and v came from one product (sharedQkvWeight): their dx is made with one product too. */
  sharedQkv?: boolean;
  att: AttentionSaved;
  a: tf.Tensor2D;
  o: LinearSaved;
  /** The attention residual's output (the post norm's input) and its 1/rms per row. */
  x1: tf.Tensor2D;
  r2: tf.Tensor2D;
  h2: tf.Tensor2D;
  gate: LinearSaved;
  up: LinearSaved;
  /** gate and up outputs, silu(gate)·up. */
  g: tf.Tensor2D;
  u: tf.Tensor2D;
  m: tf.Tensor2D;
  down: LinearSaved;
}

/**
 * What one-token decoding steps use, built once per KV cache (one generation): q/k/v as one
 * (d, (H + 2K)·hd) product with any active adapter merged and √d·(input norm weight) folded into
 * its rows; the other weights with their adapters merged (LoraLinear.inferenceWeight); √d·(post
 * norm weight); and the rotation of the current position (see decodeRotation).
 */
interface LlamaDecode extends DecodeState {
  layers: { qkv: tf.Tensor2D; qkvBias?: tf.Tensor1D; o: tf.Tensor2D; gate: tf.Tensor2D; up: tf.Tensor2D; down: tf.Tensor2D; post: tf.Tensor1D }[];
  dEps: tf.Scalar;
  rotation?: { position: number; r: tf.Tensor4D };
  /** The decoding graph's rotation of the current position: one (hd, hd) matrix, unscaled. */
  rotation2d?: { position: number; r: tf.Tensor2D };
}

/** Rotary inverse frequencies 1/θ^(2i/hd), with HF's linear or llama3 scaling when configured. */
export function ropeInverseFrequencies(spec: ModelSpec): Float32Array {
  const hd = spec.headDim;
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = 1 / Math.pow(spec.ropeTheta, (2 * i) / hd);
  const rs = spec.ropeScaling;
  if (rs.type === 'linear') for (let i = 0; i < inv.length; i++) inv[i] /= rs.factor;
  if (rs.type === 'llama3') {
    // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
    const lowWavelen = rs.originalMaxPositions / rs.lowFreqFactor;
    const highWavelen = rs.originalMaxPositions / rs.highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] /= rs.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (rs.originalMaxPositions / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / rs.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

export class LlamaModel extends CausalLM {
  private readonly invFreq: Float32Array;
  private rope = new Map<number, { cos: tf.Tensor2D; sin: tf.Tensor2D }>();

  private constructor(
    spec: ModelSpec,
    private readonly embed: tf.Tensor2D,
    private readonly blocks: Block[],
    private readonly finalNormWeight: tf.Tensor1D,
    lmRows: tf.Tensor2D,
  ) {
    super(spec, lmRows);
    this.invFreq = ropeInverseFrequencies(spec);
    for (const b of blocks) for (const l of [b.q, b.k, b.v, b.o, b.gate, b.up, b.down]) this.linears.set(l.module.path, l);
  }

  static load(spec: ModelSpec, reader: WeightReader): LlamaModel {
    const d = spec.hiddenSize;
    const V = spec.vocabSize;
    // Some checkpoints keep rotary inv_freq buffers: derived from the config, never read.
    for (const n of reader.source.names()) if (/\.rotary_emb\.inv_freq$/.test(n)) reader.markIgnored(n);
    const embed = reader.read2d('model.embed_tokens.weight', V, d);
    const modules = llamaModules(spec);
    const blocks: Block[] = [];
    for (let i = 0; i < spec.numLayers; i++) {
      const lin = (k: number): LoraLinear => {
        const m = modules[7 * i + k];
        const w = reader.readLinearInOut(`${m.path}.weight`, m.inFeatures, m.outFeatures);
        return new LoraLinear(m, w, m.bias ? reader.read1d(`${m.path}.bias`, m.outFeatures) : undefined);
      };
      const p = `model.layers.${i}.`;
      blocks.push({
        inputNorm: reader.read1d(`${p}input_layernorm.weight`, d),
        q: lin(0),
        k: lin(1),
        v: lin(2),
        o: lin(3),
        postNorm: reader.read1d(`${p}post_attention_layernorm.weight`, d),
        gate: lin(4),
        up: lin(5),
        down: lin(6),
      });
    }
    const finalNorm = reader.read1d('model.norm.weight', d);
    let lmRows = embed;
    if (!spec.tieWordEmbeddings) lmRows = reader.read2d('lm_head.weight', V, d);
    else if (reader.has('lm_head.weight')) reader.markIgnored('lm_head.weight'); // tied copy saved anyway
    return new LlamaModel(spec, embed, blocks, finalNorm, lmRows);
  }

  protected frozenTensors(): tf.Tensor[] {
    const ropeTs = [...this.rope.values(), ...(this.stepRope ? [this.stepRope] : [])].flatMap((r) => [r.cos, r.sin]);
    const shared = this.sharedQkv.flatMap((c) => (c ? [c.w] : []));
    return [this.embed, this.finalNormWeight, ...this.blocks.flatMap((b) => [b.inputNorm, b.postNorm]), ...ropeTs, ...shared];
  }

  /** Per layer: [Wq Wk Wv] (in, (H + 2K)·hd) and the three weights it was made from. */
  private sharedQkv: ({ parts: tf.Tensor2D[]; w: tf.Tensor2D } | undefined)[] = [];

  /**
   * Block i's q, k and v weights side by side for one product, when a plain forward (or, `saved`,
   * the hand-written training forward and its backward's dx) may share it (LoraLinear.canShareProduct:
   * native TensorFlow's fused kernels, no bias, no DoRA); made once and kept while the three weights
   * stay the same tensors (merging makes new ones).
   */
  private sharedQkvWeight(i: number, saved = false): tf.Tensor2D | undefined {
    const { q, k, v } = this.blocks[i];
    if (!q.canShareProduct(saved) || !k.canShareProduct(saved) || !v.canShareProduct(saved)) return undefined;
    const parts = [q.productWeight, k.productWeight, v.productWeight];
    const cached = this.sharedQkv[i];
    if (cached && cached.parts.every((p, j) => p === parts[j])) return cached.w;
    cached?.w.dispose();
    const w = tf.keep(tf.concat(parts, 1) as tf.Tensor2D);
    this.sharedQkv[i] = { parts, w };
    return w;
  }

  /** Where q, k and v start in the shared product's columns. */
  private get qkvOffsets(): number[] {
    const { numHeads: H, numKvHeads: K, headDim: hd } = this.spec;
    return [0, H * hd, (H + K) * hd];
  }

  /**
   * q and k rotated and v split into heads, each from its layer's output or, where a layer gave none
   * (its output is its window of the shared product `base`), from that window in place. `saved`: as
   * ropeSplitHeads (the hand-written training forward).
   */
  private qkvHeads(
    ys: (tf.Tensor2D | undefined)[], base: tf.Tensor2D | undefined, B: number, T: number, cos: tf.Tensor2D, sin: tf.Tensor2D, saved: boolean,
  ): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
    const { numHeads: H, numKvHeads: K, headDim: hd } = this.spec;
    const [q, k, v] = ys.map((y, j): [tf.Tensor2D, number] => (y ? [y, 0] : [base!, this.qkvOffsets[j]]));
    return [
      ropeSplitHeads(q[0], B, T, H, hd, cos, sin, saved, q[1]),
      ropeSplitHeads(k[0], B, T, K, hd, cos, sin, saved, k[1]),
      splitHeads(v[0], B, T, K, hd, saved, v[1]),
    ];
  }

  private ropeFor(length: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    let r = this.rope.get(length);
    if (!r) {
      const t = ropeTables(this.invFreq, length);
      r = { cos: tf.keep(t.cos), sin: tf.keep(t.sin) };
      this.rope.set(length, r);
    }
    return r;
  }

  private stepRope?: { key: string; cos: tf.Tensor2D; sin: tf.Tensor2D };

  /** Rotary tables of a decoding step (positions past…past+T−1): made once per step, not once per layer. */
  private stepRopeFor(T: number, past: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    const key = `${T}@${past}`;
    if (this.stepRope?.key !== key) {
      if (this.stepRope) tf.dispose([this.stepRope.cos, this.stepRope.sin]);
      const t = ropeTables(this.invFreq, T, past);
      this.stepRope = { key, cos: tf.keep(t.cos), sin: tf.keep(t.sin) };
    }
    return this.stepRope;
  }

  /**
   * Rotary tables of a left-padded step (see PaddedStep): row b at positions past − pad[b]…, as
   * [B, 1, T, hd], which applyRope's products broadcast over the heads of q/k [B, heads, T, hd].
   * Made once per step and disposed with it.
   */
  private paddedRope(T: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
    const p = this.padded!;
    if (!p.rope) {
      const B = p.pad.length;
      const hd = this.spec.headDim;
      const rows = Array.from({ length: B }, (_, b) => ropeTables(this.invFreq, T, p.positions[b * T]));
      p.rope = tf.tidy(() => ({
        cos: tf.keep(tf.stack(rows.map((r) => r.cos)).reshape([B, 1, T, hd]) as tf.Tensor4D), // (B, 1, T, hd)
        sin: tf.keep(tf.stack(rows.map((r) => r.sin)).reshape([B, 1, T, hd]) as tf.Tensor4D),
      }));
      tf.dispose(rows.flatMap((r) => [r.cos, r.sin]));
    }
    return p.rope as unknown as { cos: tf.Tensor2D; sin: tf.Tensor2D };
  }

  protected embedTokens(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.gather(this.embed, ids.reshape([ids.shape[0] * ids.shape[1]])) as tf.Tensor2D); // (B·T, d)
  }

  /** Block i on x (B·T, d); with a cache, at positions cache.length… attending to cached keys/values. */
  protected runBlock(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext, cache?: KvCache): tf.Tensor2D {
    const past = cache?.length ?? 0;
    // With a cache: a mask over past + new keys (none for one token inside the window).
    const mask = cache ? this.decodeMask(T, past) : this.mask(T);
    if (cache && B === 1 && T === 1 && !mask) return this.decodeBlock(i, x, cache);
    if (cache) this.decodeState(cache); // built with the cache's first step (a prompt), so a failed one-token step leaves nothing behind
    return tf.tidy(() => {
      const { numHeads: H, numKvHeads: K, headDim: hd, normEps: eps } = this.spec;
      const blk = this.blocks[i];
      // Rotary tables for the new positions only (not cached: they change every step).
      const { cos, sin } = cache ? (this.padded ? this.paddedRope(T) : this.stepRopeFor(T, past)) : this.ropeFor(T);
      const scale = 1 / Math.sqrt(hd);
      const h = rmsNorm(x, blk.inputNorm, eps);
      // One product for q, k and v when they can share it (a [d, 192]-wide product ran at ~55% of a
      // [d, 960] one's rate): each layer's adapter is added to its window, or the window is read in place.
      const qkv = this.sharedQkvWeight(i);
      const base = qkv && matMulT(h, qkv);
      const layers = [blk.q, blk.k, blk.v];
      const ys = base ? layers.map((l, j) => l.outputFromShared(h, base, this.qkvOffsets[j], ctx)) : layers.map((l) => l.apply(h, ctx));
      const heads = this.qkvHeads(ys, base, B, T, cos, sin, false); // (B, H, T, hd), (B, K, T, hd) ×2
      const q = heads[0];
      let [, k, v] = heads;
      if (cache) {
        // The cache holds [B·K, 1, time, hd] (the layout decodeBlock broadcasts with).
        const c = cache.extend(i, k.reshape([B * K, 1, T, hd]) as tf.Tensor4D, v.reshape([B * K, 1, T, hd]) as tf.Tensor4D);
        const Tk = c.k.shape[2];
        k = c.k.reshape([B, K, Tk, hd]);
        v = c.v.reshape([B, K, Tk, hd]);
      }
      // attention_dropout on the probabilities in training (decoding runs in eval mode).
      const drop = cache ? undefined : this.dropMask(ctx, llamaAttnSite(i), [B, H, T, T], this.spec.dropout?.attn);
      const { sum: x1, y: h2 } = addRmsNorm(x, blk.o.apply(attention(q, k, v, mask, scale, drop), ctx), blk.postNorm, eps);
      const mlp = swiGlu(blk.gate.apply(h2, ctx), blk.up.apply(h2, ctx));
      return x1.add(blk.down.apply(mlp, ctx)) as tf.Tensor2D;
    });
  }

  private decodeState(cache: KvCache): LlamaDecode {
    return cache.decodeState(this, () => {
      const { keep, weight, dispose } = keptTensors();
      const d = this.spec.hiddenSize;
      const state: LlamaDecode = {
        layers: this.blocks.map((b) => ({
          qkv: keep(
            tf.tidy(() => {
              const ws = [b.q, b.k, b.v].map((l) => l.inferenceWeight().w); // merged copies (if any) are freed by this tidy
              return tf.concat(ws, 1).mul(b.inputNorm.mul(Math.sqrt(d)).reshape([d, 1])) as tf.Tensor2D;
            }),
          ),
          qkvBias: b.q.bias && b.k.bias && b.v.bias ? keep(tf.concat([b.q.bias, b.k.bias, b.v.bias]) as tf.Tensor1D) : undefined,
          o: weight(b.o), gate: weight(b.gate), up: weight(b.up), down: weight(b.down),
          post: keep(b.postNorm.mul(Math.sqrt(d)) as tf.Tensor1D),
        })),
        dEps: keep(tf.scalar(d * this.spec.normEps)),
        dispose: () => {
          dispose();
          if (state.rotation) state.rotation.r.dispose();
          if (state.rotation2d) state.rotation2d.r.dispose();
        },
      };
      return state;
    });
  }

  /**
   * Rotary embedding of one position as per-head matrices [H + 2K, 1, hd, hd] for rows [q heads, k
   * heads, v heads]: x·R = x·cos + rotate_half(x)·sin for q (times the attention scale 1/√hd) and
   * k, the identity for v. One batched product instead of split, neg, concat, two products and an
   * add, twice. Made once per step (shared by the layers).
   */
  private decodeRotation(st: LlamaDecode, position: number): tf.Tensor4D {
    if (st.rotation?.position !== position) {
      const { numHeads: H, numKvHeads: K, headDim: hd } = this.spec;
      const heads = H + 2 * K;
      const m = new Float32Array(heads * hd * hd);
      const scale = 1 / Math.sqrt(hd);
      for (let h = 0; h < heads; h++) {
        const o = h * hd * hd;
        if (h >= H + K) {
          for (let j = 0; j < hd; j++) m[o + j * hd + j] = 1;
          continue;
        }
        this.fillRotation(m, o, position, h < H ? scale : 1);
      }
      st.rotation?.r.dispose();
      st.rotation = { position, r: tf.keep(tf.tensor4d(m, [heads, 1, hd, hd])) };
    }
    return st.rotation.r;
  }

  /** x·R = x·cos + rotate_half(x)·sin at `position`, times `s`, written as (hd, hd) at m[o…]. */
  private fillRotation(m: Float32Array, o: number, position: number, s: number): void {
    const hd = this.spec.headDim;
    const half = hd / 2;
    for (let i = 0; i < half; i++) {
      // Angle rounded to float32 as ropeTables (and HF) do.
      const angle = Math.fround(position * this.invFreq[i]);
      const c = Math.fround(Math.cos(angle)) * s;
      const sn = Math.fround(Math.sin(angle)) * s;
      // out[i] = x[i]·c − x[i+half]·s;  out[i+half] = x[i+half]·c + x[i]·s   (row j of R feeds column k)
      m[o + i * hd + i] = c;
      m[o + (i + half) * hd + i] = -sn;
      m[o + (i + half) * hd + i + half] = c;
      m[o + i * hd + i + half] = sn;
    }
  }

  /** The decoding graph's rotation: one (hd, hd) matrix for q and k heads alike (q is scaled apart). */
  private decodeRotation2d(st: LlamaDecode, position: number): tf.Tensor2D {
    if (st.rotation2d?.position !== position) {
      const hd = this.spec.headDim;
      const m = new Float32Array(hd * hd);
      this.fillRotation(m, 0, position, 1);
      st.rotation2d?.r.dispose();
      st.rotation2d = { position, r: tf.keep(tf.tensor2d(m, [hd, hd])) };
    }
    return st.rotation2d.r;
  }

  /**
   * One new token (B = T = 1, no mask) at position cache.length: the block of runBlock in fewer
   * ops, for native TensorFlow where every op (even a reshape) costs 15–60 µs. RMSNorm from one
   * sum (rsqrt(Σx² + d·eps) with √d folded into the weights); q, k and v from one product, rotated
   * (and q scaled) by one batched product, split once; attention by broadcasting over the cache
   * ([K, 1, time, hd]) instead of batched matMuls; adapters merged.
   */
  private decodeBlock(i: number, x: tf.Tensor2D, cache: KvCache): tf.Tensor2D {
    return tf.tidy(() => {
      const { numHeads: H, numKvHeads: K, headDim: hd } = this.spec;
      const st = this.decodeState(cache);
      const L = st.layers[i];
      const rep = H / K;
      const rstd = (z: tf.Tensor2D) => tf.rsqrt(z.square().sum(-1, true).add(st.dEps));
      const product = (a: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D => (bias ? matMulT(a, w).add(bias) : matMulT(a, w)) as tf.Tensor2D;
      const qkv = product(x.mul(rstd(x)) as tf.Tensor2D, L.qkv, L.qkvBias).reshape([H + 2 * K, 1, 1, hd]);
      const [q, k, v] = tf.split(tf.matMul(qkv, this.decodeRotation(st, cache.length)), [H, K, K], 0) as tf.Tensor4D[]; // (·, 1, 1, hd)
      const kv = cache.extend(i, k, v); // (K, 1, past + 1, hd)
      // Attention for one query as broadcast products and sums: small batched matMuls cost
      // ~100 µs more each on native TensorFlow with oneDNN than these elementwise ops.
      const Tk = kv.k.shape[2];
      const p = tf.softmax((rep === 1 ? q : q.reshape([K, rep, 1, hd])).mul(kv.k).sum(-1)); // (K, rep, Tk)
      const a = p.reshape([K, rep, Tk, 1]).mul(kv.v).sum(2).reshape([1, H * hd]) as tf.Tensor2D;
      const x1 = x.add(product(a, L.o, this.blocks[i].o.bias)) as tf.Tensor2D;
      const h2 = x1.mul(rstd(x1)).mul(L.post) as tf.Tensor2D;
      const g = matMulT(h2, L.gate);
      const mlp = g.mul(tf.sigmoid(g)).mul(matMulT(h2, L.up)) as tf.Tensor2D;
      return x1.add(product(mlp, L.down, this.blocks[i].down.bias)) as tf.Tensor2D;
    });
  }

  /**
   * One new token through the decoding graph (native): decodeBlock's ops for every layer, the
   * final RMSNorm and the head in one session call. Inputs: ids, the embedding, the step's
   * rotation (decodeRotation2d), then per layer the fused q/k/v weight (and bias), o (W, b), gate,
   * up, down (W, b), √d·(post norm), cached keys, values; then the final norm weight and the head
   * (d, V). Outputs: logits, then each layer's keys and values with the new position.
   */
  protected override decodeGraphLogits(ids: tf.Tensor2D, cache: KvCache): tf.Tensor2D | undefined {
    const head = this.wholeHead();
    if (!tuning().decodeGraph || cache.length === 0 || !head || this.decodeMask(1, cache.length) || !graphsSupported()) return undefined;
    const graph = this.loadDecodeGraph(() => this.buildDecodeGraph());
    if (!graph) return undefined;
    const st = this.decodeState(cache);
    const inputs: tf.Tensor[] = [ids, this.embed, this.decodeRotation2d(st, cache.length)];
    this.blocks.forEach((b, i) => {
      const L = st.layers[i];
      const kv = cache.cached(i)!;
      inputs.push(L.qkv, ...(L.qkvBias ? [L.qkvBias] : []), L.o, ...(b.o.bias ? [b.o.bias] : []), L.gate, L.up, L.down, ...(b.down.bias ? [b.down.bias] : []), L.post, kv.k, kv.v);
    });
    inputs.push(this.finalNormWeight, head);
    const out = graph.run(inputs);
    for (let i = 0; i < this.spec.numLayers; i++) {
      cache.stage(i, out[1 + 2 * i], out[2 + 2 * i]);
      this.memoryGuard?.(`forward, layer ${i}`);
    }
    return out[0] as tf.Tensor2D;
  }

  private buildDecodeGraph(): NativeGraph {
    const { numHeads: H, numKvHeads: K, headDim: hd, hiddenSize: d, numLayers, normEps } = this.spec;
    const rep = H / K;
    const g = new GraphBuilder();
    const inputs: { name: string; dtype: 'float32' | 'int32' }[] = [];
    const input = (name: string, dtype: 'float32' | 'int32' = 'float32') => {
      inputs.push({ name, dtype });
      return g.placeholder(name, dtype);
    };
    const ids = input('ids', 'int32');
    const embed = input('embed');
    const rotation = input('rotation'); // (hd, hd): q and k rows alike
    const qScale = g.scalar(1 / Math.sqrt(hd));
    const dEps = g.scalar(d * normEps);
    const rstd = (z: string) => g.rsqrt(g.add(g.sum(g.square(z), -1, true), dEps));
    let x = g.gather(embed, g.reshape(ids, [1], 'int32')); // (1, d)
    const outputs: string[] = [];
    for (let i = 0; i < numLayers; i++) {
      const b = this.blocks[i];
      const w = (n: string) => input(`l${i}_${n}`);
      const qkvW = w('qkv');
      const qkvB = b.q.bias && b.k.bias && b.v.bias ? w('qkv_b') : undefined;
      const oW = w('o');
      const oB = b.o.bias ? w('o_b') : undefined;
      const [gateW, upW, downW] = ['gate', 'up', 'down'].map(w);
      const downB = b.down.bias ? w('down_b') : undefined;
      const [post, kc, vc] = ['post', 'k', 'v'].map(w);
      const product = (a: string, m: string, bias?: string) => (bias ? g.add(g.matMul(a, m), bias) : g.matMul(a, m));
      // Rotary embedding of q and k heads as one 2-D product with the position's (hd, hd) matrix
      // (a batched matMul over per-head matrices costs ~50 µs in the graph, this ~15).
      const [qk, v0] = g.splitV(g.reshape(product(g.mul(x, rstd(x)), qkvW, qkvB), [H + 2 * K, hd]), [H + K, K], 0);
      const [q0, k0] = g.splitV(g.matMul(qk, rotation), [H, K], 0);
      const q = g.reshape(g.mul(q0, qScale), [K, rep, 1, hd]);
      const k = g.reshape(k0, [K, 1, 1, hd]);
      const v = g.reshape(v0, [K, 1, 1, hd]);
      const Kc = g.concat(kc, k, 2); // (K, 1, past + 1, hd)
      const Vc = g.concat(vc, v, 2);
      outputs.push(Kc, Vc);
      const p = g.softmax(g.sum(g.mul(q, Kc), -1, false)); // (K, rep, Tk)
      const att = g.reshape(g.sum(g.mul(g.reshape(p, [K, rep, -1, 1]), Vc), 2, false), [1, H * hd]);
      const x1 = g.add(x, product(att, oW, oB));
      const h2 = g.mul(g.mul(x1, rstd(x1)), post);
      const gg = g.matMul(h2, gateW);
      x = g.add(x1, product(g.mul(g.mul(gg, g.sigmoid(gg)), g.matMul(h2, upW)), downW, downB));
    }
    const normW = input('norm');
    const ms = g.op('Mean', [g.square(x), g.ints([-1])], { T: { type: 'float32' }, Tidx: { type: 'int32' }, keep_dims: { b: true } });
    const logits = g.matMul(g.mul(g.mul(x, g.rsqrt(g.add(ms, g.scalar(normEps)))), normW), input('head'));
    return NativeGraph.load(g, inputs, [logits, ...outputs]);
  }

  protected blockForwardSaved(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext): { y: tf.Tensor2D; saved: BlockSaved } {
    return tf.tidy(() => {
      const { numHeads: H, headDim: hd, normEps: eps } = this.spec;
      const blk = this.blocks[i];
      const { cos, sin } = this.ropeFor(T);
      const n1 = rmsNormSaved(x, blk.inputNorm, eps);
      // q, k and v from one product when they can share it (as runBlock); their backward then makes dx with one product too.
      const qkvW = this.sharedQkvWeight(i, true);
      const base = qkvW && matMulT(n1.y, qkvW);
      const [q, k, v] = [blk.q, blk.k, blk.v].map((l, j) => (base ? l.forwardSavedShared(n1.y, base, this.qkvOffsets[j], ctx) : l.forwardSaved(n1.y, ctx)));
      const att = attentionSaved(
        ...this.qkvHeads([q.y, k.y, v.y], base, B, T, cos, sin, true),
        this.mask(T),
        1 / Math.sqrt(hd),
        this.dropMask(ctx, llamaAttnSite(i), [B, H, T, T], this.spec.dropout?.attn),
      );
      const o = blk.o.forwardSaved(att.y, ctx);
      const { sum: x1, ...n2 } = addRmsNormSaved(x, o.y, blk.postNorm, eps);
      const gate = blk.gate.forwardSaved(n2.y, ctx);
      const up = blk.up.forwardSaved(n2.y, ctx);
      const m = swiGluSaved(gate.y, up.y);
      const down = blk.down.forwardSaved(m, ctx);
      const saved: LlamaSaved = {
        r1: n1.r, h1: n1.y, q: q.saved, k: k.saved, v: v.saved, ...(qkvW ? { sharedQkv: true } : {}), att: att.saved, a: att.y, o: o.saved,
        x1, r2: n2.r, h2: n2.y, gate: gate.saved, up: up.saved, g: gate.y, u: up.y, m, down: down.saved,
      };
      return { y: x1.add(down.y) as tf.Tensor2D, saved: saved as unknown as BlockSaved };
    });
  }

  protected blockBackward(i: number, dy: tf.Tensor2D, x: tf.Tensor2D, savedIn: BlockSaved, needDx: boolean): BlockGrads {
    const s = savedIn as unknown as LlamaSaved;
    const blk = this.blocks[i];
    const grads = new Map<tf.Variable, tf.Tensor>();
    const dx = tf.tidy(() => {
      const T = s.att.dims[2];
      const { cos, sin } = this.ropeFor(T);
      const dm = collectGrads(blk.down, blk.down.backward(dy, s.m, s.down, true), grads)!;
      const { dg, du } = swiGluBackward(dm, s.g, s.u);
      const dh2 = collectGrads(blk.gate, blk.gate.backward(dg, s.h2, s.gate, true), grads)!.add(
        collectGrads(blk.up, blk.up.backward(du, s.h2, s.up, true), grads)!,
      ) as tf.Tensor2D;
      const dx1 = rmsNormBackward(dh2, s.x1, s.r2, blk.postNorm, dy);
      const da = collectGrads(blk.o, blk.o.backward(dx1, s.a, s.o, true), grads)!;
      const g = attentionBackward(da, s.att);
      const dq = ropeMergeHeadsBackward(g.dq, cos, sin);
      const dk = ropeMergeHeadsBackward(g.dk, cos, sin);
      const dv = mergeHeads(g.dv);
      let dh1: tf.Tensor2D | undefined;
      const qkvW = s.sharedQkv ? this.sharedQkvWeight(i, true) : undefined;
      if (qkvW) {
        // One product for the three frozen parts: [dq dk dv]·[Wq Wk Wv]ᵀ; each layer adds its adapter's part.
        dh1 = needDx ? matMulT(tf.concat([dq, dk, dv], 1) as tf.Tensor2D, qkvW, false, true) : undefined;
        dh1 = collectGrads(blk.q, blk.q.backward(dq, s.h1, s.q, needDx, dh1), grads);
        dh1 = collectGrads(blk.k, blk.k.backward(dk, s.h1, s.k, needDx, dh1), grads);
        dh1 = collectGrads(blk.v, blk.v.backward(dv, s.h1, s.v, needDx, dh1), grads);
      } else {
        const parts = [
          collectGrads(blk.q, blk.q.backward(dq, s.h1, s.q, needDx), grads),
          collectGrads(blk.k, blk.k.backward(dk, s.h1, s.k, needDx), grads),
          collectGrads(blk.v, blk.v.backward(dv, s.h1, s.v, needDx), grads),
        ];
        if (needDx) dh1 = tf.addN(parts as tf.Tensor2D[]) as tf.Tensor2D;
      }
      for (const gv of grads.values()) tf.keep(gv);
      if (!needDx) return undefined;
      return rmsNormBackward(dh1!, x, s.r1, blk.inputNorm, dx1);
    });
    return dx ? { dx, grads } : { grads };
  }

  protected finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return rmsNorm(x, this.finalNormWeight, this.spec.normEps);
  }
}
