// The model-file checks the hostile suite (test/hostile/modelFiles.test.ts) found missing, at
// their cause: config sizes past any published model are refused naming the field (n_layer 10^6
// used to take 25 s and 2.9 GB before the memory pre-flight), and a model folder's fingerprint
// validates each safetensors header, so a session refuses a corrupt checkpoint before it writes
// a run folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_LAYERS, MAX_WIDTH, parseConfig } from '../../src/core/hf/config';
import { fingerprintModel } from '../../src/core/hf/fingerprint';
import { writeSafetensors } from '../../src/core/hf/safetensors';

const gpt2 = { architectures: ['GPT2LMHeadModel'], n_embd: 8, n_head: 2, n_layer: 2, vocab_size: 16 };
const llama = { architectures: ['LlamaForCausalLM'], hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 2, intermediate_size: 16, vocab_size: 16 };

describe('config sizes past any published model', () => {
  it('the bounds themselves parse (a 1024-layer, 2^20-wide GPT-2 spec is only numbers)', () => {
    const spec = parseConfig({ ...gpt2, n_layer: MAX_LAYERS, n_embd: MAX_WIDTH, n_head: 1, vocab_size: MAX_WIDTH }, 'c.json');
    expect(spec.numLayers).toBe(1024);
    expect(spec.hiddenSize).toBe(2 ** 20);
  });

  for (const [cfg, key, value] of [
    [gpt2, 'n_layer', 1e6], [gpt2, 'n_embd', 1e9], [gpt2, 'vocab_size', 2 ** 20 + 1], [gpt2, 'n_inner', 1e12],
    [llama, 'num_hidden_layers', 1025], [llama, 'hidden_size', 1e9], [llama, 'intermediate_size', 1e10], [llama, 'num_key_value_heads', 1e7],
  ] as const) {
    it(`${key} ${value} is refused naming the file, the field and the bound`, () => {
      const max = key.includes('layers') || key === 'n_layer' ? MAX_LAYERS : MAX_WIDTH;
      expect(() => parseConfig({ ...cfg, [key]: value }, '/m/config.json')).toThrow(`/m/config.json: "${key}" is ${value}, over the ${max} this tool loads`);
    });
  }

  it('checks that held stay as they were: 0, negative, fractional, n_head not dividing n_embd', () => {
    expect(() => parseConfig({ ...gpt2, vocab_size: 0 }, 'c.json')).toThrow('"vocab_size" must be a positive integer, found 0');
    expect(() => parseConfig({ ...gpt2, n_layer: -3 }, 'c.json')).toThrow('"n_layer" must be a positive integer, found -3');
    expect(() => parseConfig({ ...gpt2, n_embd: 8.5 }, 'c.json')).toThrow('"n_embd" must be a positive integer, found 8.5');
    expect(() => parseConfig({ ...gpt2, n_head: 3 }, 'c.json')).toThrow('n_embd (8) is not divisible by n_head (3)');
  });
});

describe('fingerprintModel validates the safetensors headers it hashes', () => {
  function folder(damage: (header: Record<string, { data_offsets: number[] }>) => void): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-fp-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(gpt2));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, [
      { name: 'a', shape: [2, 4], dtype: 'F32', data: new Float32Array(8) },
      { name: 'b', shape: [4], dtype: 'F32', data: new Float32Array(4) },
    ]);
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>;
    damage(header);
    const json = Buffer.from(JSON.stringify(header));
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(file, Buffer.concat([prefix, json, bytes.subarray(8 + n)])); // offsets count from the data's start
    return dir;
  }

  it('a clean file fingerprints as before', () => {
    expect(fingerprintModel(folder(() => {}))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('overlapping tensors are refused naming both (they used to be hashed, and the run folder written, before the load refused them)', () => {
    const dir = folder((h) => (h.b.data_offsets = [16, 32]));
    expect(() => fingerprintModel(dir)).toThrow(/model\.safetensors: not a valid safetensors file: tensors "a" \[0, 32\) and "b" \[16, 32\) overlap/);
  });

  it('a folder with config.json and no weights is refused as loading refuses it (it used to be fingerprinted from config.json alone)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-fp-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(gpt2));
    expect(() => fingerprintModel(dir)).toThrow(/no model\.safetensors or model\.safetensors\.index\.json found/);
  });

  it('offsets past the end of the file are refused naming the tensor', () => {
    const dir = folder((h) => (h.b.data_offsets = [32, 48].map((o) => o + 100)));
    expect(() => fingerprintModel(dir)).toThrow(/tensor "b" ends at byte \d+, past the end of the file/);
  });
});
