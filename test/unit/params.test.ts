// Parameter arithmetic from config.json alone must equal PEFT's print_trainable_parameters().
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/core/hf/config';
import { countParameters, resolveLoraConfig, LoraConfigError, loraScale, rankProblem } from '../../src/core/lora/config';

const GPT2_124M = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257,
};

describe('PEFT parameter counts', () => {
  it('GPT-2 (124M), r=8, c_attn: trainable 294,912 of 124,734,720 (0.2364%) — the figure PEFT prints', () => {
    const c = countParameters(parseConfig(GPT2_124M), { r: 8, targetModules: ['c_attn'] });
    expect(c.trainable).toBe(294_912);
    expect(c.total).toBe(124_734_720);
    expect(c.base).toBe(124_439_808); // GPT2LMHeadModel.num_parameters()
    expect(c.percent.toFixed(4)).toBe('0.2364');
  });

  it('the seed worked example: a 512×64 weight at r=8 trains 4,608 parameters instead of 32,768', () => {
    // One Llama-style q_proj 64→512 in a one-layer model: r·(in + out) = 8·(64 + 512).
    const spec = parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 8, head_dim: 64, intermediate_size: 128, num_hidden_layers: 1, vocab_size: 10 });
    const c = countParameters(spec, { r: 8, targetModules: ['q_proj'] });
    expect(c.trainable).toBe(4_608);
    expect(spec.numHeads * spec.headDim * spec.hiddenSize).toBe(32_768);
  });

  const fixture = path.join(__dirname, '..', 'fixtures', 'peft-param-counts.json');
  const cases: { name: string; config: object; lora: { r: number; target_modules: string[] | string; layers_to_transform?: number[] }; trainable: number; total: number }[] =
    fs.existsSync(fixture) ? JSON.parse(fs.readFileSync(fixture, 'utf8')) : [];

  it('the PEFT fixture exists and covers GPT-2 and Llama-family configs', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s equals peft get_nb_trainable_parameters() (scripts/gen_golden.py)', (_n, c) => {
    const spec = parseConfig(c.config);
    const targets = c.lora.target_modules === 'all-linear' ? 'all-linear' : (c.lora.target_modules as string[]);
    const counts = countParameters(spec, { r: c.lora.r, targetModules: targets, layersToTransform: c.lora.layers_to_transform });
    expect(counts.trainable).toBe(c.trainable);
    expect(counts.total).toBe(c.total);
  });
});

describe('LoRA config validation (PEFT semantics)', () => {
  const spec = parseConfig(GPT2_124M);
  it('defaults to PEFT per-architecture targets', () => {
    expect(resolveLoraConfig(spec).targetModules).toEqual(['c_attn']);
    const llama = parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 4, intermediate_size: 128, num_hidden_layers: 2, vocab_size: 10 });
    expect(resolveLoraConfig(llama).targetModules).toEqual(['q_proj', 'v_proj']);
  });
  it('rank 0, unknown targets and out-of-range layers are errors naming the valid choices', () => {
    expect(() => resolveLoraConfig(spec, { r: 0 })).toThrow(LoraConfigError);
    expect(() => resolveLoraConfig(spec, { targetModules: ['q_proj'] })).toThrow(/Choose from: c_attn, c_proj, c_fc/);
    expect(() => resolveLoraConfig(spec, { layersToTransform: [12] })).toThrow(/layers 0\.\.11/);
  });
  it('scale is alpha/r, or alpha/√r with use_rslora (Kalajdzievski 2023, PEFT use_rslora)', () => {
    expect(loraScale({ r: 16, loraAlpha: 32, useRslora: false })).toBe(2);
    expect(loraScale({ r: 16, loraAlpha: 32, useRslora: true })).toBe(8);
  });
});

describe('the rank bound for training: r ≤ min(in, out) of every targeted module', () => {
  // Llama GQA: hidden 64, 4 heads of 16, 2 KV heads → k_proj/v_proj 64 → 32, q_proj 64 → 64, MLP 64 ↔ 96.
  const llama = parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 96, num_hidden_layers: 2, vocab_size: 10 });

  it('the bound itself is fine; one past it names the module with the smallest bound and its shape', () => {
    expect(rankProblem(llama, { r: 64, targetModules: ['q_proj'] })).toBeUndefined();
    expect(rankProblem(llama, { r: 32, targetModules: ['q_proj', 'k_proj'] })).toBeUndefined();
    expect(rankProblem(llama, { r: 33, targetModules: ['q_proj', 'k_proj'] })).toMatch(/^LoRA rank r=33 exceeds min\(in, out\)=32 of model\.layers\.0\.self_attn\.k_proj \(in 64, out 32\): .*Choose r ≤ 32/);
    expect(rankProblem(parseConfig(GPT2_124M), { r: 100_000_000, targetModules: ['c_attn'] })).toMatch(/^LoRA rank r=100000000 exceeds min\(in, out\)=768 of transformer\.h\.0\.attn\.c_attn/);
  });

  it('only the targeted modules and layers count', () => {
    expect(rankProblem(llama, { r: 40, targetModules: ['q_proj', 'up_proj'] })).toBeUndefined();
    expect(rankProblem(llama, { r: 40, targetModules: 'all-linear' })).toMatch(/min\(in, out\)=32 of model\.layers\.0\.self_attn\.k_proj/);
    expect(rankProblem(llama, { r: 40, targetModules: ['k_proj'], layersToTransform: [1] })).toMatch(/of model\.layers\.1\.self_attn\.k_proj/);
  });

  it('reading a config does not apply it (an existing adapter is what it is): resolveLoraConfig accepts the rank', () => {
    expect(resolveLoraConfig(llama, { r: 1000, targetModules: ['q_proj'] }).r).toBe(1000);
  });
});
