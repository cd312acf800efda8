// GPT-2 (GPT2LMHeadModel, distilgpt2): learned positions, pre-LayerNorm blocks, fused c_attn,
// gelu_new MLP, tied LM head. Conv1D weights are stored (in, out), which is already the layout
// x·W wants. Accepts both key layouts seen in the wild: `transformer.h.0...` and bare `h.0...`.
// Incremental decoding reads and extends a KvCache (positions continue from the cached length).
import * as tf from '@tensorflow/tfjs';
import type { ModelSpec } from '../hf/config';
import { keptTensors, LoraLinear, type ForwardContext, type LinearSaved } from '../lora/layer';
import { gpt2Modules } from '../lora/modules';
import type { DecodeState, KvCache } from './kvCache';
import { GraphBuilder, graphsSupported, NativeGraph } from './decodeGraph';
import {
  activationBackward, activationSaved, addLayerNorm, addLayerNormSaved, attention, biasAct, attentionBackward, attentionSaved, geluExact, geluNew, layerNorm, layerNormBackward,
  layerNormSaved, mergeHeads, splitQkvHeads, tuning, type ActivationKind, type AttentionSaved, matMulT,
} from '../backend/tensorOps';
import { CausalLM, collectGrads, type BlockGrads, type BlockSaved } from './causalLm';
import { GPT2_SITES } from './baseDropout';
import type { WeightReader } from './weightReader';
import { gpt2Prefix } from './weightLayout';

interface Block {
  ln1: [tf.Tensor1D, tf.Tensor1D];
  ln2: [tf.Tensor1D, tf.Tensor1D];
  attn: LoraLinear;
  attnProj: LoraLinear;
  fc: LoraLinear;
  mlpProj: LoraLinear;
}

/** What a GPT-2 block keeps for its hand-written backward. */
interface Gpt2Saved {
  /** LayerNorms: each row's mean and rstd (the first norm's input is the block input x, passed to the backward apart). */
  ln1: [tf.Tensor2D, tf.Tensor2D];
  h1: tf.Tensor2D;
  qkv: LinearSaved;
  att: AttentionSaved;
  a: tf.Tensor2D;
  proj: LinearSaved;
  /** The attention residual's output: the second norm's input. */
  x1: tf.Tensor2D;
  ln2: [tf.Tensor2D, tf.Tensor2D];
  h2: tf.Tensor2D;
  fc: LinearSaved;
  act: tf.Tensor2D[];
  g: tf.Tensor2D;
  mlp: LinearSaved;
  /** resid_pdrop's multipliers after the attention's c_proj and the MLP's c_proj (training with the model's dropout). */
  residAttn?: tf.Tensor2D;
  residMlp?: tf.Tensor2D;
}

/**
 * What one-token decoding steps use, built once per KV cache (one generation): the weights with
 * any active adapter merged (LoraLinear.inferenceWeight: x·(W + s·Aᵀ·Bᵀ) instead of three products
 * and two elementwise ops), √d·γ for the LayerNorms below, and constants as tensors (a JS number
 * is uploaded as a new scalar on every op).
 */
interface Gpt2Decode extends DecodeState {
  layers: { attn: tf.Tensor2D; proj: tf.Tensor2D; fc: tf.Tensor2D; mlp: tf.Tensor2D; g1: tf.Tensor1D; g2: tf.Tensor1D; scale: tf.Scalar }[];
  /** 1/d and d·eps. */
  invD: tf.Scalar;
  dEps: tf.Scalar;
  /** gelu_new(x) = x·σ(x·(a + b·x²)), a = 2√(2/π), b = 0.044715·a. */
  geluA: tf.Scalar;
  geluB: tf.Scalar;
}

/** Buffers old GPT-2 checkpoints carry that are not parameters: the causal mask and its fill value. */
const IGNORED = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;

export class Gpt2Model extends CausalLM {
  private constructor(
    spec: ModelSpec,
    private readonly wte: tf.Tensor2D,
    private readonly wpe: tf.Tensor2D,
    private readonly blocks: Block[],
    private readonly lnF: [tf.Tensor1D, tf.Tensor1D],
    lmRows: tf.Tensor2D,
  ) {
    super(spec, lmRows);
    for (const b of blocks) for (const l of [b.attn, b.attnProj, b.fc, b.mlpProj]) this.linears.set(l.module.path, l);
  }

  /** Which key layout a checkpoint uses: 'transformer.' or '' (bare GPT2Model keys). */
  static detectPrefix(names: string[], where: string): string {
    return gpt2Prefix(names, where);
  }

  static load(spec: ModelSpec, reader: WeightReader): Gpt2Model {
    const d = spec.hiddenSize;
    const V = spec.vocabSize;
    for (const n of reader.source.names()) if (IGNORED.test(n)) reader.markIgnored(n);
    const wte = reader.read2d('wte.weight', V, d);
    const wpe = reader.read2d('wpe.weight', spec.maxPositions, d);
    const modules = gpt2Modules(spec);
    const blocks: Block[] = [];
    for (let i = 0; i < spec.numLayers; i++) {
      const p = `h.${i}.`;
      const lin = (k: number, file: string): LoraLinear => {
        const m = modules[4 * i + k];
        return new LoraLinear(m, reader.read2d(`${p}${file}.weight`, m.inFeatures, m.outFeatures), reader.read1d(`${p}${file}.bias`, m.outFeatures));
      };
      blocks.push({
        ln1: [reader.read1d(`${p}ln_1.weight`, d), reader.read1d(`${p}ln_1.bias`, d)],
        attn: lin(0, 'attn.c_attn'),
        attnProj: lin(1, 'attn.c_proj'),
        ln2: [reader.read1d(`${p}ln_2.weight`, d), reader.read1d(`${p}ln_2.bias`, d)],
        fc: lin(2, 'mlp.c_fc'),
        mlpProj: lin(3, 'mlp.c_proj'),
      });
    }
    const lnF: [tf.Tensor1D, tf.Tensor1D] = [reader.read1d('ln_f.weight', d), reader.read1d('ln_f.bias', d)];
    // The LM head key is never prefixed: `lm_head.weight` sits beside `transformer.*`.
    let lmRows = wte;
    const lmKey = 'lm_head.weight';
    if (reader.source.has(lmKey)) {
      if (spec.tieWordEmbeddings) reader.markIgnored(lmKey);
      else {
        const found = reader.source.info(lmKey).shape;
        if (found[0] !== V || found[1] !== d) throw new Error(`${reader.where}: "${lmKey}" has shape [${found}], expected [${V}, ${d}]`);
        reader.markIgnored(lmKey);
        lmRows = tf.tensor2d(reader.source.readFloat32(lmKey), [V, d]);
      }
    } else if (!spec.tieWordEmbeddings) {
      throw new Error(`${reader.where}: tie_word_embeddings is false but "${lmKey}" is missing`);
    }
    return new Gpt2Model(spec, wte, wpe, blocks, lnF, lmRows);
  }

  protected frozenTensors(): tf.Tensor[] {
    return [this.wte, this.wpe, ...this.lnF, ...this.blocks.flatMap((b) => [...b.ln1, ...b.ln2])];
  }

  /** Token + position embeddings of ids [B, T] at positions past… (per row in a left-padded step) → (B·T, d). */
  protected embedTokens(ids: tf.Tensor2D, past: number): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const d = this.spec.hiddenSize;
      // Padding has negative positions: clamped to 0, its embeddings are never attended to.
      const padded = this.padded && tf.tensor2d(this.padded.positions.map((p) => Math.max(0, p)), [B, T], 'int32');
      const pos = padded ? tf.gather(this.wpe, padded) : this.wpe.slice([past, 0], [T, d]); // (B, T, d) or (T, d)
      return tf.gather(this.wte, ids.reshape([B * T])).reshape([B, T, d]).add(pos).reshape([B * T, d]) as tf.Tensor2D;
    });
  }

  /** embd_pdrop after wte + wpe (GPT2Model's `drop`), in training with the model's dropout. */
  protected override embedDropout(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const m = this.dropMask(ctx, GPT2_SITES.embd, x.shape, this.spec.dropout?.embd);
    if (!m) return x;
    const y = x.mul(m) as tf.Tensor2D;
    m.dispose();
    return y;
  }

  /**
   * The block's dropout multipliers in training with the model's dropout (each undefined when its
   * p is 0 or none applies): attn_pdrop on the probabilities [B, H, T, T], resid_pdrop after the
   * attention's c_proj and after the MLP's c_proj (B·T, d) — GPT2Attention.attn_dropout /
   * resid_dropout and GPT2MLP.dropout.
   */
  private blockDropout(i: number, B: number, T: number, ctx: ForwardContext): { attn?: tf.Tensor; residAttn?: tf.Tensor2D; residMlp?: tf.Tensor2D } {
    const p = this.spec.dropout;
    const { numHeads: H, hiddenSize: d } = this.spec;
    return {
      attn: this.dropMask(ctx, GPT2_SITES.attn(i), [B, H, T, T], p?.attn),
      residAttn: this.dropMask(ctx, GPT2_SITES.residAttn(i), [B * T, d], p?.resid) as tf.Tensor2D | undefined,
      residMlp: this.dropMask(ctx, GPT2_SITES.residMlp(i), [B * T, d], p?.resid) as tf.Tensor2D | undefined,
    };
  }

  /** Block i on x (B·T, d); with a cache, attending to cached keys/values too. */
  protected runBlock(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext, cache?: KvCache): tf.Tensor2D {
    if (cache && B === 1 && T === 1 && !this.padded) return this.decodeBlock(i, x, cache);
    if (cache) this.decodeState(cache); // built with the cache's first step (a prompt), so a failed one-token step leaves nothing behind
    return tf.tidy(() => {
      const { numHeads: H, headDim: hd, normEps: eps } = this.spec;
      const blk = this.blocks[i];
      const past = cache?.length ?? 0;
      const mask = cache ? this.decodeMask(T, past) : this.mask(T);
      const act = this.spec.activation === 'gelu_new' ? geluNew : this.spec.activation === 'gelu' ? geluExact : tf.relu;
      const h = layerNorm(x, blk.ln1[0], blk.ln1[1], eps);
      const qkv = blk.attn.apply(h, ctx); // (B·T, 3d)
      const [q, k, v] = splitQkvHeads(qkv, B, T, H, hd); // (B, H, T, hd)
      let kv = { k, v };
      if (cache) {
        // The cache holds [B·H, 1, time, hd] (the layout decodeBlock broadcasts with).
        const c = cache.extend(i, k.reshape([B * H, 1, T, hd]) as tf.Tensor4D, v.reshape([B * H, 1, T, hd]) as tf.Tensor4D);
        const Tk = c.k.shape[2];
        kv = { k: c.k.reshape([B, H, Tk, hd]), v: c.v.reshape([B, H, Tk, hd]) };
      }
      const drop = cache ? {} : this.blockDropout(i, B, T, ctx); // decoding runs in eval mode
      const a = attention(q, kv.k, kv.v, mask, this.attentionScale(i), drop.attn); // (B·T, d)
      // Frozen projections' biases go into the op after them (unbiased: native TensorFlow, no tape).
      const o = drop.residAttn ? { y: blk.attnProj.apply(a, ctx).mul(drop.residAttn) as tf.Tensor2D } : blk.attnProj.applyUnbiased(a, ctx);
      const { sum: x1, y: h2 } = addLayerNorm(x, o.y, blk.ln2[0], blk.ln2[1], eps, o.bias);
      const fc = blk.fc.applyUnbiased(h2, ctx);
      const hidden = this.spec.activation === 'gelu_new' ? biasAct(fc.y, fc.bias, 'gelu_new') : (act(fc.bias ? fc.y.add(fc.bias) : fc.y) as tf.Tensor2D);
      const f = drop.residMlp ? { y: blk.mlpProj.apply(hidden, ctx).mul(drop.residMlp) as tf.Tensor2D } : blk.mlpProj.applyUnbiased(hidden, ctx);
      return biasAct(f.y, f.bias, 'none', x1);
    });
  }

  private decodeState(cache: KvCache): Gpt2Decode {
    return cache.decodeState(this, () => {
      const { keep, weight, dispose } = keptTensors();
      const d = this.spec.hiddenSize;
      const a = 2 * Math.sqrt(2 / Math.PI);
      return {
        layers: this.blocks.map((b, i) => ({
          attn: weight(b.attn), proj: weight(b.attnProj), fc: weight(b.fc), mlp: weight(b.mlpProj),
          g1: keep(b.ln1[0].mul(Math.sqrt(d)) as tf.Tensor1D), g2: keep(b.ln2[0].mul(Math.sqrt(d)) as tf.Tensor1D), scale: keep(tf.scalar(this.attentionScale(i))),
        })),
        invD: keep(tf.scalar(1 / d)), dEps: keep(tf.scalar(d * this.spec.normEps)), geluA: keep(tf.scalar(a)), geluB: keep(tf.scalar(0.044715 * a)),
        dispose: () => dispose(),
      };
    });
  }

  /**
   * One new token (B = T = 1) at position cache.length: the block of runBlock in fewer ops, for
   * native TensorFlow where every op (even a reshape) costs 15–60 µs: merged adapter weights,
   * LayerNorm from two sums, gelu_new as x·σ(·), one reshape + one split for q/k/v, attention by
   * broadcasting over the cache ([H, 1, time, hd]) instead of batched matMuls.
   */
  private decodeBlock(i: number, x: tf.Tensor2D, cache: KvCache): tf.Tensor2D {
    return tf.tidy(() => {
      const { numHeads: H, headDim: hd } = this.spec;
      const st = this.decodeState(cache);
      const L = st.layers[i];
      const blk = this.blocks[i];
      // LayerNorm: xc = x − Σx/d;  xc·rsqrt(Σxc² + d·eps)·(√d·γ) + β  (= xc/√(var + eps)·γ + β)
      const ln = (z: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D): tf.Tensor2D => {
        const zc = z.sub(z.sum(-1, true).mul(st.invD));
        return zc.mul(tf.rsqrt(zc.square().sum(-1, true).add(st.dEps))).mul(g).add(b) as tf.Tensor2D;
      };
      const product = (a: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D => (bias ? matMulT(a, w).add(bias) : matMulT(a, w)) as tf.Tensor2D;
      const qkv = product(ln(x, L.g1, blk.ln1[1]), L.attn, blk.attn.bias).reshape([3 * H, 1, 1, hd]);
      const [q, k, v] = tf.split(qkv, 3, 0) as tf.Tensor4D[]; // (H, 1, 1, hd) each
      const kv = cache.extend(i, k, v); // (H, 1, past + 1, hd)
      // Attention for one query as broadcast products and sums: small batched matMuls cost
      // ~100 µs more each on native TensorFlow with oneDNN than these elementwise ops.
      const Tk = kv.k.shape[2];
      const p = tf.softmax(q.mul(L.scale).mul(kv.k).sum(-1)); // (H, 1, Tk)
      const a = p.reshape([H, 1, Tk, 1]).mul(kv.v).sum(2).reshape([1, H * hd]) as tf.Tensor2D;
      const x1 = x.add(product(a, L.proj, blk.attnProj.bias)) as tf.Tensor2D;
      const f = product(ln(x1, L.g2, blk.ln2[1]), L.fc, blk.fc.bias);
      const act = this.spec.activation === 'gelu_new' ? f.mul(tf.sigmoid(f.mul(f.square().mul(st.geluB).add(st.geluA)))) : this.spec.activation === 'gelu' ? geluExact(f) : tf.relu(f);
      return x1.add(product(act as tf.Tensor2D, L.mlp, blk.mlpProj.bias)) as tf.Tensor2D;
    });
  }

  /**
   * One new token through the decoding graph (native): decodeBlock's ops for every layer, the final
   * LayerNorm and the head in one session call. Inputs: ids, position, wte, wpe, then per layer
   * √d·γ₁, β₁, c_attn (W, b), c_proj (W, b), √d·γ₂, β₂, c_fc (W, b), mlp c_proj (W, b), cached
   * keys, values; then γ_f, β_f and the head (d, V). Outputs: logits, then each layer's keys and
   * values with the new position.
   */
  protected override decodeGraphLogits(ids: tf.Tensor2D, cache: KvCache): tf.Tensor2D | undefined {
    const head = this.wholeHead();
    if (!tuning().decodeGraph || cache.length === 0 || !head || !graphsSupported()) return undefined;
    const graph = this.loadDecodeGraph(() => this.buildDecodeGraph());
    if (!graph) return undefined;
    const st = this.decodeState(cache);
    const inputs: tf.Tensor[] = [ids, tf.tensor1d([cache.length], 'int32'), this.wte, this.wpe];
    this.blocks.forEach((b, i) => {
      const L = st.layers[i];
      const kv = cache.cached(i)!;
      inputs.push(L.g1, b.ln1[1], L.attn, b.attn.bias!, L.proj, b.attnProj.bias!, L.g2, b.ln2[1], L.fc, b.fc.bias!, L.mlp, b.mlpProj.bias!, kv.k, kv.v);
    });
    inputs.push(...this.lnF, head);
    const out = graph.run(inputs);
    for (let i = 0; i < this.spec.numLayers; i++) {
      cache.stage(i, out[1 + 2 * i], out[2 + 2 * i]);
      this.memoryGuard?.(`forward, layer ${i}`);
    }
    return out[0] as tf.Tensor2D;
  }

  private buildDecodeGraph(): NativeGraph {
    const { numHeads: H, headDim: hd, hiddenSize: d, numLayers, normEps } = this.spec;
    const g = new GraphBuilder();
    const inputs: { name: string; dtype: 'float32' | 'int32' }[] = [];
    const input = (name: string, dtype: 'float32' | 'int32' = 'float32') => {
      inputs.push({ name, dtype });
      return g.placeholder(name, dtype);
    };
    const ids = input('ids', 'int32');
    const pos = input('pos', 'int32');
    const wte = input('wte');
    const wpe = input('wpe');
    const invD = g.scalar(1 / d);
    const dEps = g.scalar(d * normEps);
    const ln = (z: string, gamma: string, beta: string) => {
      const zc = g.sub(z, g.mul(g.sum(z, -1, true), invD));
      return g.add(g.mul(g.mul(zc, g.rsqrt(g.add(g.sum(g.square(zc), -1, true), dEps))), gamma), beta);
    };
    const a = 2 * Math.sqrt(2 / Math.PI);
    const act = (f: string) => {
      if (this.spec.activation === 'gelu_new') return g.mul(f, g.sigmoid(g.mul(f, g.add(g.mul(g.square(f), g.scalar(0.044715 * a)), g.scalar(a)))));
      if (this.spec.activation === 'gelu') return g.mul(g.mul(f, g.scalar(0.5)), g.add(g.op('Erf', [g.mul(f, g.scalar(Math.SQRT1_2))], { T: { type: 'float32' } }), g.scalar(1)));
      return g.op('Relu', [f], { T: { type: 'float32' } });
    };
    let x = g.add(g.gather(wte, g.reshape(ids, [1], 'int32')), g.gather(wpe, pos)); // (1, d)
    const outputs: string[] = [];
    for (let i = 0; i < numLayers; i++) {
      const w = (n: string) => input(`l${i}_${n}`);
      const [g1, b1, attnW, attnB, projW, projB, g2, b2, fcW, fcB, mlpW, mlpB, kc, vc] = [
        'g1', 'b1', 'attn_w', 'attn_b', 'proj_w', 'proj_b', 'g2', 'b2', 'fc_w', 'fc_b', 'mlp_w', 'mlp_b', 'k', 'v',
      ].map(w);
      const qkv = g.reshape(g.add(g.matMul(ln(x, g1, b1), attnW), attnB), [3 * H, 1, 1, hd]);
      const [q, k, v] = g.splitV(qkv, [H, H, H], 0); // (H, 1, 1, hd)
      const K = g.concat(kc, k, 2); // (H, 1, past + 1, hd)
      const V = g.concat(vc, v, 2);
      outputs.push(K, V);
      const p = g.softmax(g.sum(g.mul(g.mul(q, g.scalar(this.attentionScale(i))), K), -1, false)); // (H, 1, Tk)
      const att = g.reshape(g.sum(g.mul(g.reshape(p, [H, 1, -1, 1]), V), 2, false), [1, H * hd]);
      const x1 = g.add(x, g.add(g.matMul(att, projW), projB));
      const f = g.add(g.matMul(ln(x1, g2, b2), fcW), fcB);
      x = g.add(x1, g.add(g.matMul(act(f), mlpW), mlpB));
    }
    const gF = input('lnf_g');
    const bF = input('lnf_b');
    const logits = g.matMul(ln(x, g.mul(gF, g.scalar(Math.sqrt(d))), bF), input('head'));
    return NativeGraph.load(g, inputs, [logits, ...outputs]);
  }

  private attentionScale(i: number): number {
    let scale = 1 / Math.sqrt(this.spec.headDim);
    if (this.spec.scaleAttnByInverseLayerIdx) scale /= i + 1;
    return scale;
  }

  protected blockForwardSaved(i: number, x: tf.Tensor2D, B: number, T: number, ctx: ForwardContext): { y: tf.Tensor2D; saved: BlockSaved } {
    return tf.tidy(() => {
      const { numHeads: H, headDim: hd, normEps: eps } = this.spec;
      const blk = this.blocks[i];
      const ln1 = layerNormSaved(x, blk.ln1[0], blk.ln1[1], eps);
      const qkv = blk.attn.forwardSaved(ln1.y, ctx); // (B·T, 3d)
      const [q, k, v] = splitQkvHeads(qkv.y, B, T, H, hd, true);
      const drop = this.blockDropout(i, B, T, ctx);
      const att = attentionSaved(q, k, v, this.mask(T), this.attentionScale(i), drop.attn);
      const proj = blk.attnProj.forwardSaved(att.y, ctx);
      const { sum: x1, ...ln2 } = addLayerNormSaved(x, (drop.residAttn ? proj.y.mul(drop.residAttn) : proj.y) as tf.Tensor2D, blk.ln2[0], blk.ln2[1], eps);
      const fc = blk.fc.forwardSaved(ln2.y, ctx);
      const act = activationSaved(this.activationKind(), fc.y);
      const mlp = blk.mlpProj.forwardSaved(act.y, ctx);
      const saved: Gpt2Saved = {
        ln1: [ln1.mean, ln1.rstd], h1: ln1.y, qkv: qkv.saved, att: att.saved, a: att.y, proj: proj.saved,
        x1, ln2: [ln2.mean, ln2.rstd], h2: ln2.y, fc: fc.saved, act: act.saved, g: act.y, mlp: mlp.saved,
        ...(drop.residAttn ? { residAttn: drop.residAttn } : {}), ...(drop.residMlp ? { residMlp: drop.residMlp } : {}),
      };
      return { y: x1.add(drop.residMlp ? mlp.y.mul(drop.residMlp) : mlp.y) as tf.Tensor2D, saved: saved as unknown as BlockSaved };
    });
  }

  protected blockBackward(i: number, dy: tf.Tensor2D, x: tf.Tensor2D, savedIn: BlockSaved, needDx: boolean): BlockGrads {
    const s = savedIn as unknown as Gpt2Saved;
    const blk = this.blocks[i];
    const grads = new Map<tf.Variable, tf.Tensor>();
    const dx = tf.tidy(() => {
      const dg = collectGrads(blk.mlpProj, blk.mlpProj.backward(s.residMlp ? (dy.mul(s.residMlp) as tf.Tensor2D) : dy, s.g, s.mlp, true), grads)!;
      const df = activationBackward(this.activationKind(), dg, s.act);
      const dh2 = collectGrads(blk.fc, blk.fc.backward(df, s.h2, s.fc, true), grads)!;
      const dx1 = layerNormBackward(dh2, s.x1, s.ln2[0], s.ln2[1], blk.ln2[0], dy);
      const da = collectGrads(blk.attnProj, blk.attnProj.backward(s.residAttn ? (dx1.mul(s.residAttn) as tf.Tensor2D) : dx1, s.a, s.proj, true), grads)!;
      const { dq, dk, dv } = attentionBackward(da, s.att);
      const dqkv = tf.concat([mergeHeads(dq), mergeHeads(dk), mergeHeads(dv)], 1) as tf.Tensor2D;
      const dh1 = collectGrads(blk.attn, blk.attn.backward(dqkv, s.h1, s.qkv, needDx), grads);
      for (const g of grads.values()) tf.keep(g);
      return dh1 ? layerNormBackward(dh1, x, s.ln1[0], s.ln1[1], blk.ln1[0], dx1) : undefined;
    });
    return dx ? { dx, grads } : { grads };
  }

  private activationKind(): ActivationKind {
    return this.spec.activation === 'gelu_new' ? 'gelu_new' : this.spec.activation === 'gelu' ? 'gelu' : 'relu';
  }

  protected finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(x, this.lnF[0], this.lnF[1], this.spec.normEps);
  }
}
