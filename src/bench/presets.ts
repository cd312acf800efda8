// Benchmark presets: the embedded sample model and random-weight models with the shapes of
// distilgpt2, GPT-2 (124M), SmolLM-135M, SmolLM-360M and Qwen2.5-0.5B (q/k/v biases, vocab 151936). Random weights are generated in memory (no files)
// from a seeded xorshift stream: their values do not matter for speed, only their shapes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig, readConfig, type ModelSpec } from '../core/hf/config';
import { linearModules } from '../core/lora/modules';
import type { TensorSource } from '../core/models/weightReader';
import { WeightStore } from '../core/hf/weights';

export const PRESETS: Record<string, () => { spec: ModelSpec; source: TensorSource; where: string }> = {
  sample: () => {
    const dir = path.join(__dirname, '..', 'samples', 'model');
    if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`the sample model is missing (${dir})`);
    return { spec: readConfig(dir).spec, source: WeightStore.open(dir), where: dir };
  },
  distilgpt2: () => random(parseConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 768, n_head: 12, n_layer: 6, vocab_size: 50257, n_positions: 1024 })),
  gpt2: () => random(parseConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 768, n_head: 12, n_layer: 12, vocab_size: 50257, n_positions: 1024 })),
  'smollm-135m': () =>
    random(parseConfig({
      architectures: ['LlamaForCausalLM'], hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
      num_key_value_heads: 3, vocab_size: 49152, tie_word_embeddings: true, max_position_embeddings: 2048, rope_theta: 10000,
    })),
  'smollm-360m': () =>
    random(parseConfig({
      architectures: ['LlamaForCausalLM'], hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15,
      num_key_value_heads: 5, vocab_size: 49152, tie_word_embeddings: true, max_position_embeddings: 2048, rope_theta: 10000,
    })),
  'qwen2.5-0.5b': () =>
    random(parseConfig({
      architectures: ['Qwen2ForCausalLM'], hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14,
      num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true, max_position_embeddings: 32768, rope_theta: 1000000,
    })),
};

/** Tensors generated on demand (read once by the model loader), uniform with std 0.02 like GPT-2's init. */
class RandomSource implements TensorSource {
  private state = 0x9e3779b9;
  constructor(private readonly shapes: Map<string, number[]>, private readonly ones: Set<string>) {}
  names(): string[] {
    return [...this.shapes.keys()];
  }
  has(name: string): boolean {
    return this.shapes.has(name);
  }
  info(name: string): { shape: number[] } {
    return { shape: this.shapes.get(name)! };
  }
  readFloat32(name: string): Float32Array {
    const n = this.shapes.get(name)!.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (this.ones.has(name)) return out.fill(1);
    const scale = (0.02 * Math.sqrt(3)) / 2 ** 31; // uniform(−a, a) has std a/√3
    let s = this.state;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = s * scale; // s is a signed 32-bit integer here
    }
    this.state = s;
    return out;
  }
}

function random(spec: ModelSpec): { spec: ModelSpec; source: TensorSource; where: string } {
  const shapes = new Map<string, number[]>();
  const ones = new Set<string>();
  const d = spec.hiddenSize;
  const norm = (name: string, bias: boolean) => {
    shapes.set(`${name}.weight`, [d]);
    ones.add(`${name}.weight`);
    if (bias) shapes.set(`${name}.bias`, [d]);
  };
  if (spec.family === 'gpt2') {
    shapes.set('transformer.wte.weight', [spec.vocabSize, d]);
    shapes.set('transformer.wpe.weight', [spec.maxPositions, d]);
    for (let i = 0; i < spec.numLayers; i++) {
      norm(`transformer.h.${i}.ln_1`, true);
      norm(`transformer.h.${i}.ln_2`, true);
    }
    norm('transformer.ln_f', true);
    for (const m of linearModules(spec)) {
      shapes.set(`${m.path}.weight`, [m.inFeatures, m.outFeatures]);
      shapes.set(`${m.path}.bias`, [m.outFeatures]);
    }
  } else {
    shapes.set('model.embed_tokens.weight', [spec.vocabSize, d]);
    for (let i = 0; i < spec.numLayers; i++) {
      norm(`model.layers.${i}.input_layernorm`, false);
      norm(`model.layers.${i}.post_attention_layernorm`, false);
    }
    norm('model.norm', false);
    for (const m of linearModules(spec)) {
      shapes.set(`${m.path}.weight`, [m.outFeatures, m.inFeatures]);
      if (m.bias) shapes.set(`${m.path}.bias`, [m.outFeatures]);
    }
    if (!spec.tieWordEmbeddings) shapes.set('lm_head.weight', [spec.vocabSize, d]);
  }
  return { spec, source: new RandomSource(shapes, ones), where: `random ${spec.architecture}` };
}
