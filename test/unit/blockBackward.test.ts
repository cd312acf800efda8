// The hand-written block backward behind CausalLM.lossAndGrads (LoraLinear.backward, attention,
// LayerNorm/RMSNorm, GPT-2 activations, SwiGLU, rotary embeddings) against tfjs's own automatic
// differentiation of model.loss (the reference path; golden.test.ts also checks both against
// PyTorch's loss.backward()). Covers keeping activations and recomputing them, lora_dropout
// (the same masks in both paths), an adapter on some layers only, every GPT-2 activation, and DoRA
// (its magnitude's gradient too, with dropout).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseConfig, type ModelSpec } from '../../src/core/hf/config';
import type { ForwardContext } from '../../src/core/lora/layer';
import type { LoraConfig } from '../../src/core/lora/config';
import { LOSS_CHUNK_TOKENS, VOCAB_BLOCK } from '../../src/core/models/headLoss';
import { buildModel } from '../../src/core/models/load';
import { randomIds, randomWeights, TINY_GPT2, TINY_LLAMA } from './helpers/randomModel';

const gpt2With = (activation: string): ModelSpec =>
  parseConfig({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 3, vocab_size: 40, n_positions: 32, activation_function: activation, scale_attn_by_inverse_layer_idx: true });
const llamaWindow = parseConfig({
  architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8,
  intermediate_size: 24, num_hidden_layers: 3, vocab_size: 40, max_position_embeddings: 64, sliding_window: 4, tie_word_embeddings: true,
});

const cases: [string, ModelSpec, string, Partial<LoraConfig>][] = [
  ['GPT-2 gelu_new, all-linear, dropout 0.3', TINY_GPT2, 'transformer.', { r: 4, loraAlpha: 8, targetModules: 'all-linear', loraDropout: 0.3 }],
  ['GPT-2 gelu (exact), c_attn on layers 1–2', gpt2With('gelu'), 'transformer.', { r: 2, loraAlpha: 4, targetModules: ['c_attn'], layersToTransform: [1, 2] }],
  ['GPT-2 relu, c_fc only', gpt2With('relu'), '', { r: 3, loraAlpha: 3, targetModules: ['c_fc'] }],
  ['Llama GQA, all-linear, dropout 0.2', TINY_LLAMA, '', { r: 4, loraAlpha: 8, targetModules: 'all-linear', loraDropout: 0.2 }],
  ['Mistral 1 KV head, sliding window, q/v on layer 2', llamaWindow, '', { r: 2, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'], layersToTransform: [2] }],
  ['GPT-2 DoRA, all-linear, dropout 0.3', TINY_GPT2, 'transformer.', { r: 4, loraAlpha: 8, targetModules: 'all-linear', loraDropout: 0.3, useDora: true }],
  ['Llama GQA DoRA, all-linear, dropout 0.2', TINY_LLAMA, '', { r: 4, loraAlpha: 8, targetModules: 'all-linear', loraDropout: 0.2, useDora: true }],
];

/**
 * lossAndGrads draws one base seed per block and counts up from it inside the block; model.loss
 * draws one seed per LoRA call in the same order. These give both paths the same dropout masks.
 */
function seedSources(spec: ModelSpec, callsPerBlock: number): { blockwise: ForwardContext; sequential: ForwardContext } {
  let n = 0;
  const order: number[] = [];
  for (let i = 0; i < spec.numLayers; i++) for (let k = 0; k < callsPerBlock; k++) order.push(1000 * (i + 1) + k);
  let m = 0;
  return {
    blockwise: { training: true, dropoutSeed: () => 1000 * ++n },
    sequential: { training: true, dropoutSeed: () => order[m++] },
  };
}

describe.each(cases)('%s', (_name, spec, prefix, lora) => {
  const ids = randomIds(3, 11, spec.vocabSize, 7);
  const weights = ids.map((row) => row.map((_, t) => (t < 3 ? 0 : t % 4 === 0 ? 0.5 : 1))); // a masked prompt and uneven weights

  it.each(['keep', 'recompute'] as const)('lossAndGrads (%s) equals autograd of model.loss within 1e-4 relative, without leaking tensors', (mode) => {
    const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
    model.addAdapter(lora, 11);
    let k = 1;
    for (const v of model.trainableVariables()) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', k++)); // B ≠ 0: every path carries gradient
    model.activationMode = mode;
    const calls = spec.family === 'gpt2' ? 4 : 7; // LoRA-capable linears per block, in forward order
    const ref = seedSources(spec, calls);
    // Block seeds are drawn for every layer, adapted or not; only layers with dropout use them.
    const vars = model.trainableVariables();
    const expected = tf.variableGrads(() => model.loss(ids, weights, lora.loraDropout ? ref.sequential : { training: false }).loss, vars);
    // A first call makes what the model keeps between calls (native: the shared q/k/v weights); the
    // measured call must leave no tensor behind. Its own seed sources: `ref`'s draws stay untouched.
    tf.dispose(model.lossAndGrads(ids, weights, lora.loraDropout ? seedSources(spec, calls).blockwise : { training: false }).grads);
    const before = tf.memory().numTensors;
    const got = model.lossAndGrads(ids, weights, lora.loraDropout ? ref.blockwise : { training: false });
    expect(model.lastActivations?.mode).toBe(mode);
    expect(got.loss).toBeCloseTo(expected.value.dataSync()[0], 5);
    vars.forEach((v, i) => {
      const e = expected.grads[v.name];
      const scale = tf.tidy(() => e.abs().max().dataSync()[0]);
      expect(scale, v.name).toBeGreaterThan(0);
      const diff = tf.tidy(() => got.grads[i].sub(e).abs().max().dataSync()[0]);
      expect(diff / scale, v.name).toBeLessThan(1e-4);
    });
    expect(tf.memory().numTensors - got.grads.length).toBe(before);
    tf.dispose([expected.value, ...Object.values(expected.grads), ...got.grads]);
    model.dispose();
  });
});

describe('activation memory mode', () => {
  it("'auto' keeps activations when memoryFits says they fit and recomputes them when not; it asks for every block plus the LM head and one block's backward", () => {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8 }, 1);
    const ids = randomIds(2, 9, TINY_GPT2.vocabSize, 3);
    const asked: number[] = [];
    let limit = Infinity;
    model.memoryFits = (extra) => {
      asked.push(extra);
      return extra <= limit;
    };
    tf.dispose(model.lossAndGrads(ids, undefined, { training: false }).grads);
    expect(model.lastActivations?.mode).toBe('keep');
    const perBlock = model.lastActivations!.bytesPerBlock;
    expect(perBlock).toBeGreaterThan(0);
    const head = 4 * LOSS_CHUNK_TOKENS * TINY_GPT2.vocabSize * 4;
    expect(asked).toEqual([TINY_GPT2.numLayers * perBlock + head + 2 * perBlock]); // both blocks are adapted
    limit = asked[0] - 1;
    tf.dispose(model.lossAndGrads(ids, undefined, { training: false }).grads);
    expect(model.lastActivations?.mode).toBe('recompute');
    model.dispose();
  });
});

describe('LM head in vocabulary blocks', () => {
  it.each([[TINY_GPT2, 'transformer.'], [TINY_LLAMA, '']] as const)('blocks of 16 give the logits, loss and gradients of the whole head (vocab 40 = 16 + 16 + 8)', (spec, prefix) => {
    const ids = randomIds(2, 9, spec.vocabSize, 5);
    const build = (block: number) => {
      const saved = VOCAB_BLOCK[tf.getBackend()];
      VOCAB_BLOCK[tf.getBackend()] = block;
      try {
        const { model } = buildModel(spec, randomWeights(spec, 3, prefix), 'mem');
        model.addAdapter({ r: 4, loraAlpha: 8, targetModules: 'all-linear' }, 2);
        let k = 1;
        for (const v of model.trainableVariables()) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', k++));
        return model;
      } finally {
        if (saved === undefined) delete VOCAB_BLOCK[tf.getBackend()];
        else VOCAB_BLOCK[tf.getBackend()] = saved;
      }
    };
    const whole = build(1000);
    const blocked = build(16);
    const [lw, lb] = [whole.logits(ids), blocked.logits(ids)];
    expect(tf.tidy(() => lw.sub(lb).abs().max().dataSync()[0])).toBeLessThan(1e-5);
    const gw = whole.lossAndGrads(ids, undefined, { training: false });
    const gb = blocked.lossAndGrads(ids, undefined, { training: false });
    expect(gb.loss).toBeCloseTo(gw.loss, 5);
    gw.grads.forEach((g, i) => {
      const scale = tf.tidy(() => g.abs().max().dataSync()[0]);
      expect(tf.tidy(() => g.sub(gb.grads[i]).abs().max().dataSync()[0]) / scale).toBeLessThan(1e-5);
    });
    tf.dispose([lw, lb, ...gw.grads, ...gb.grads]);
    whole.dispose();
    blocked.dispose();
  });
});

describe('a failed step frees what it allocated', () => {
  it.each(['forward, layer 1', 'loss, LM head', 'backward, layer 1'])('a memory guard stopping at "%s" leaves the tensor count where it was', (stopAt) => {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, targetModules: 'all-linear' }, 1);
    const ids = randomIds(2, 9, TINY_GPT2.vocabSize, 3);
    tf.dispose(model.lossAndGrads(ids, undefined, { training: false }).grads); // caches the mask
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    model.memoryGuard = (where) => {
      seen.push(where);
      if (where === stopAt) throw new Error(`stop at ${where}`);
    };
    expect(() => model.lossAndGrads(ids, undefined, { training: false })).toThrow(`stop at ${stopAt}`);
    expect(seen).toContain(stopAt);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('a backward that throws frees the block state it was given', () => {
  it.each(['keep', 'recompute'] as const)('%s: the tensor count is unchanged after a throw inside a block backward', (mode) => {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, targetModules: 'all-linear' }, 1);
    model.activationMode = mode;
    const ids = randomIds(2, 9, TINY_GPT2.vocabSize, 3);
    tf.dispose(model.lossAndGrads(ids, undefined, { training: false }).grads);
    const before = tf.memory().numTensors;
    const layer = model.linears.get('transformer.h.1.attn.c_attn')!;
    layer.backward = () => {
      throw new Error('backend failure inside a backward');
    };
    expect(() => model.lossAndGrads(ids, undefined, { training: false })).toThrow('backend failure');
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('LM-head loss memory does not grow with the number of loss spans', () => {
  it("peak bytes of a step with 64 separate loss spans stay within 2 × (rows × d) floats of a step with one span per row (tfjs's taped slices would add one full (rows, d) gradient per span)", async () => {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8 }, 1);
    const B = 2;
    const T = 32;
    const ids = randomIds(B, T, TINY_GPT2.vocabSize, 9);
    const dense = ids.map((row) => row.map(() => 1)); // one span per row (the last position never carries loss)
    const sparse = ids.map((row) => row.map((_, t) => (t % 2 === 1 ? 1 : 0))); // every other token: 2 × 16 spans
    const peak = async (w: number[][]) => {
      tf.dispose(model.lossAndGrads(ids, w, { training: false }).grads); // caches
      const base = tf.memory().numBytes;
      const info = await tf.profile(() => model.lossAndGrads(ids, w, { training: false }).grads);
      tf.dispose(info.result as tf.Tensor[]);
      return info.peakBytes - base;
    };
    const rowsTimesD = B * T * TINY_GPT2.hiddenSize * 4;
    const [p1, p2] = [await peak(dense), await peak(sparse)];
    expect(p2 - p1).toBeLessThan(2 * rowsTimesD);
    model.dispose();
  });
});
