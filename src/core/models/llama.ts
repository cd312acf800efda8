// Llama family (LlamaForCausalLM: SmolLM, TinyLlama; MistralForCausalLM; Qwen2ForCausalLM):
// RMSNorm, rotary embeddings in HF's rotate-half layout, grouped-query attention, SwiGLU MLP,
// optional q/k/v biases (Qwen2), explicit head_dim, tied or separate lm_head.
// nn.Linear weights are stored (out, in) and transposed once at load to (in, out).
// Incremental decoding reads and extends a KvCache (rotary positions continue from the cached length).
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hfConfig';
import { LoraLinear, type ForwardContext } from '../lora';
import { llamaModules } from '../modules';
import type { KvCache } from '../kvCache';
import { applyRope, attention, causalMask, rmsNorm, ropeTables, silu, splitHeads } from '../tensorOps';
import { CausalLM } from './causalLm';
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
    lmHeadT: tf.Tensor2D,
    lmRows: tf.Tensor2D,
  ) {
    super(spec, lmHeadT, lmRows);
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
    const lmHeadT = lmRows.transpose() as tf.Tensor2D;
    return new LlamaModel(spec, embed, blocks, finalNorm, lmHeadT, lmRows);
  }

  protected frozenTensors(): tf.Tensor[] {
    const ropeTs = [...this.rope.values()].flatMap((r) => [r.cos, r.sin]);
    return [this.embed, this.finalNormWeight, ...this.blocks.flatMap((b) => [b.inputNorm, b.postNorm]), ...ropeTs];
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

  protected embedTokens(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.gather(this.embed, ids.reshape([ids.shape[0] * ids.shape[1]])) as tf.Tensor2D); // (B·T, d)
  }

  /** Block i on x (B·T, d); with a cache, at positions cache.length… attending to cached keys/values. */
  protected runBlock(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext, cache?: KvCache): tf.Tensor2D {
    return tf.tidy(() => {
      const { numHeads: H, numKvHeads: K, headDim: hd, normEps: eps } = this.spec;
      const blk = this.blocks[i];
      const past = cache?.length ?? 0;
      // With a cache: a mask over past + new keys, and rotary tables for the new positions only (not cached: they change every step).
      const mask = cache ? causalMask(T, past, this.spec.slidingWindow) : this.mask(T);
      const { cos, sin } = cache ? ropeTables(this.invFreq, T, past) : this.ropeFor(T);
      const scale = 1 / Math.sqrt(hd);
      const h = rmsNorm(x, blk.inputNorm, eps);
      const q = applyRope(splitHeads(blk.q.apply(h, ctx), B, T, H, hd), cos, sin); // (B, H, T, hd)
      const k = applyRope(splitHeads(blk.k.apply(h, ctx), B, T, K, hd), cos, sin); // (B, K, T, hd)
      const v = splitHeads(blk.v.apply(h, ctx), B, T, K, hd);
      const kv = cache ? cache.extend(i, k, v) : { k, v }; // (B, K, past + T, hd)
      const x1 = x.add(blk.o.apply(attention(q, kv.k, kv.v, mask, scale), ctx)) as tf.Tensor2D;
      const h2 = rmsNorm(x1, blk.postNorm, eps);
      const mlp = silu(blk.gate.apply(h2, ctx)).mul(blk.up.apply(h2, ctx)) as tf.Tensor2D;
      return x1.add(blk.down.apply(mlp, ctx)) as tf.Tensor2D;
    });
  }

  protected finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return rmsNorm(x, this.finalNormWeight, this.spec.normEps);
  }
}
