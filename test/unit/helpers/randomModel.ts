// Tiny random models held in memory (no files), for invariants that need no external reference.
import { parseConfig, type ModelSpec } from '../../../src/core/hf/config';
import { linearModules } from '../../../src/core/lora/modules';
import { Rng } from '../../../src/core/util/rng';
import type { TensorSource } from '../../../src/core/models/weightReader';

export class MapSource implements TensorSource {
  constructor(readonly tensors: Map<string, { shape: number[]; data: Float32Array }>) {}
  names(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  info(name: string): { shape: number[] } {
    return { shape: this.tensors.get(name)!.shape };
  }
  readFloat32(name: string): Float32Array {
    return this.tensors.get(name)!.data;
  }
}

export const TINY_GPT2 = parseConfig({
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 16, n_head: 2, n_layer: 2, vocab_size: 40, n_positions: 32,
});

export const TINY_LLAMA = parseConfig({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 2,
  intermediate_size: 24, num_hidden_layers: 2, vocab_size: 40, max_position_embeddings: 64, tie_word_embeddings: false,
});

/** Random weights for every tensor the spec needs, in the checkpoint's own key layout and shapes. */
export function randomWeights(spec: ModelSpec, seed = 1, prefix = 'transformer.'): MapSource {
  const rng = new Rng(seed);
  const m = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (name: string, shape: number[], mean = 0, std = 0.2) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = rng.normal(mean, std);
    m.set(name, { shape, data });
  };
  const d = spec.hiddenSize;
  if (spec.family === 'gpt2') {
    put(`${prefix}wte.weight`, [spec.vocabSize, d]);
    put(`${prefix}wpe.weight`, [spec.maxPositions, d]);
    for (let i = 0; i < spec.numLayers; i++) {
      for (const ln of ['ln_1', 'ln_2']) {
        put(`${prefix}h.${i}.${ln}.weight`, [d], 1, 0.1);
        put(`${prefix}h.${i}.${ln}.bias`, [d], 0, 0.1);
      }
    }
    for (const mod of linearModules(spec)) {
      const local = mod.path.replace('transformer.', prefix);
      put(`${local}.weight`, [mod.inFeatures, mod.outFeatures]);
      put(`${local}.bias`, [mod.outFeatures], 0, 0.05);
    }
    put(`${prefix}ln_f.weight`, [d], 1, 0.1);
    put(`${prefix}ln_f.bias`, [d], 0, 0.1);
  } else {
    put('model.embed_tokens.weight', [spec.vocabSize, d]);
    for (let i = 0; i < spec.numLayers; i++) {
      put(`model.layers.${i}.input_layernorm.weight`, [d], 1, 0.1);
      put(`model.layers.${i}.post_attention_layernorm.weight`, [d], 1, 0.1);
    }
    for (const mod of linearModules(spec)) {
      put(`${mod.path}.weight`, [mod.outFeatures, mod.inFeatures]);
      if (mod.bias) put(`${mod.path}.bias`, [mod.outFeatures], 0, 0.05);
    }
    put('model.norm.weight', [d], 1, 0.1);
    if (!spec.tieWordEmbeddings) put('lm_head.weight', [spec.vocabSize, d]);
  }
  return new MapSource(m);
}

export function randomIds(batch: number, length: number, vocab: number, seed = 7): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length }, () => rng.nextUint32() % vocab));
}
