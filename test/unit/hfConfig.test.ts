// config.json parsing: transformers' defaults, and clear errors for what LoRA Lab cannot load.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, readConfig } from '../../src/core/hf/config';
import { loadModel } from '../../src/core/models/load';

const FIX = path.join(__dirname, '..', 'fixtures');

describe('parseConfig', () => {
  it("applies transformers' GPT-2 defaults (n_inner = 4·n_embd, eps 1e-5, gelu_new, tied)", () => {
    const s = parseConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 768, n_head: 12, n_layer: 12, vocab_size: 50257 });
    expect(s).toMatchObject({ family: 'gpt2', intermediateSize: 3072, normEps: 1e-5, activation: 'gelu_new', tieWordEmbeddings: true, headDim: 64, maxPositions: 1024 });
  });

  it('reads Llama GQA, head_dim, rope_theta and Qwen2 biases', () => {
    const llama = parseConfig(JSON.parse(fs.readFileSync(path.join(FIX, 'llama-tiny-gqa-bf16', 'config.json'), 'utf8')));
    expect(llama).toMatchObject({ family: 'llama', numHeads: 4, numKvHeads: 2, headDim: 16, ropeTheta: 500000, tieWordEmbeddings: false, qkvBias: false });
    const qwen = parseConfig(JSON.parse(fs.readFileSync(path.join(FIX, 'qwen2-tiny', 'config.json'), 'utf8')));
    expect(qwen).toMatchObject({ family: 'qwen2', qkvBias: true, oBias: false, tieWordEmbeddings: true });
    const mistral = parseConfig(JSON.parse(fs.readFileSync(path.join(FIX, 'mistral-tiny-f16-sharded', 'config.json'), 'utf8')));
    expect(mistral).toMatchObject({ family: 'mistral', headDim: 24, numKvHeads: 1 });
  });

  it('an unsupported architecture names the one found and the ones supported', () => {
    expect(() => parseConfig({ architectures: ['BertForMaskedLM'], hidden_size: 8 }, 'bert/config.json')).toThrow(
      /bert\/config.json: architecture "BertForMaskedLM" is not supported\. Supported: GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/,
    );
  });

  it('missing or malformed fields are errors naming the key', () => {
    expect(() => parseConfig({ architectures: ['LlamaForCausalLM'], num_attention_heads: 4, intermediate_size: 8, num_hidden_layers: 1, vocab_size: 10 })).toThrow(/missing "hidden_size"/);
    expect(() => parseConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 10, n_head: 3, n_layer: 1, vocab_size: 10 })).toThrow(/not divisible by n_head/);
    expect(() => parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 3, intermediate_size: 8, num_hidden_layers: 1, vocab_size: 10 })).toThrow(/multiple of num_key_value_heads/);
    expect(() => parseConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 16, num_attention_heads: 4, intermediate_size: 8, num_hidden_layers: 1, vocab_size: 10, rope_scaling: { rope_type: 'dynamic', factor: 2 } })).toThrow(/rope_scaling type "dynamic" is not supported/);
    expect(() => parseConfig([1, 2])).toThrow(ConfigError);
  });

  it('readConfig names the file for a missing or invalid config.json', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cfg-'));
    expect(() => readConfig(dir)).toThrow(/config\.json: not found/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{ "architectures": [');
    expect(() => readConfig(dir)).toThrow(new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/config\\.json: is not valid JSON`));
  });
});

describe('loading a checkpoint that does not match its config', () => {
  it('a shape mismatch names the tensor and both shapes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-mismatch-'));
    const cfg = JSON.parse(fs.readFileSync(path.join(FIX, 'gpt2-tiny', 'config.json'), 'utf8'));
    cfg.n_inner = 64; // the checkpoint's MLP is 128 wide
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    fs.copyFileSync(path.join(FIX, 'gpt2-tiny', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => loadModel(dir)).toThrow(/tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[32, 128\], config\.json implies \[32, 64\]/);
  });

  it('a Llama config over a GPT-2 checkpoint names the first missing tensor', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-wrong-'));
    fs.copyFileSync(path.join(FIX, 'llama-tiny-gqa-bf16', 'config.json'), path.join(dir, 'config.json'));
    fs.copyFileSync(path.join(FIX, 'gpt2-tiny', 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => loadModel(dir)).toThrow(/tensor "model\.embed_tokens\.weight" is missing/);
  });
});

describe('transformers 5 rope_parameters', () => {
  it('reads theta and llama3 scaling from rope_parameters when the classic keys are absent (same spec as the classic spelling)', () => {
    const classic = JSON.parse(fs.readFileSync(path.join(FIX, 'llama-tiny-rope-llama3', 'config.json'), 'utf8'));
    const v5 = { ...classic };
    delete v5.rope_scaling;
    delete v5.rope_theta;
    expect(v5.rope_parameters).toBeDefined();
    expect(parseConfig(v5)).toEqual(parseConfig(classic));
    expect(parseConfig(v5).ropeScaling.type).toBe('llama3');
  });
});
