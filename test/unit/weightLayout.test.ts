// The header-level check of a model folder (src/core/models/weightLayout.ts): the tensors it lists
// are exactly those Gpt2Model.load / LlamaModel.load read, with the shapes they check, on every
// fixture architecture (GPT-2 prefixed and bare, Llama with attention bias and GQA in BF16, Qwen2,
// Mistral sharded in F16); a copy of test/fixtures/gpt2-tiny whose safetensors header is patched
// (a tensor I32, a shape off config.json, a tensor renamed) fails naming the file and the tensor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/core/hf/config';
import { SafetensorsError } from '../../src/core/hf/safetensors';
import { WeightStore } from '../../src/core/hf/weights';
import { buildModel } from '../../src/core/models/load';
import { checkModelWeights, expectedWeights } from '../../src/core/models/weightLayout';
import { patchedGpt2Tiny } from './helpers/patchedModel';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const MODELS = ['gpt2-tiny', 'gpt2-tiny-bare', 'llama-tiny-attn-bias', 'llama-tiny-gqa-bf16', 'qwen2-tiny', 'mistral-tiny-f16-sharded'];

const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const patched = (patch: Parameters<typeof patchedGpt2Tiny>[0]) => {
  const dir = patchedGpt2Tiny(patch);
  made.push(dir);
  return dir;
};

function thrown(f: () => void): SafetensorsError {
  try {
    f();
  } catch (e) {
    return e as SafetensorsError;
  }
  throw new Error('expected a throw');
}

describe('expectedWeights', () => {
  it.each(MODELS)('%s: lists exactly the tensors load reads, with the shapes it reads them in', (name) => {
    const dir = path.join(FIXTURES, name);
    const { spec } = readConfig(dir);
    const store = WeightStore.open(dir);
    const read = new Map<string, number[]>();
    try {
      const recording = {
        names: () => store.names(),
        has: (k: string) => store.has(k),
        info: (k: string) => store.info(k),
        readFloat32: (k: string) => {
          read.set(k, store.info(k).shape);
          return store.readFloat32(k);
        },
      };
      buildModel(spec, recording, dir).model.dispose();
      const expected = expectedWeights(spec, store.names(), dir);
      expect(new Map(expected.map((w) => [w.key, w.shape]))).toEqual(read);
      expect(() => checkModelWeights(dir, spec)).not.toThrow();
    } finally {
      store.close();
    }
  });
});

describe('checkModelWeights on a patched gpt2-tiny header', () => {
  const spec = () => readConfig(path.join(FIXTURES, 'gpt2-tiny')).spec;

  it('a tensor stored as I32 (same bytes as F32): the file, the tensor and the dtypes it trains on', () => {
    const dir = patched((h) => (h['transformer.h.1.ln_2.weight'].dtype = 'I32'));
    const e = thrown(() => checkModelWeights(dir, spec()));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe(`${path.join(dir, 'model.safetensors')}: tensor "transformer.h.1.ln_2.weight" is I32; LoRA Lab trains on F32, F16, BF16, F64 weights (quantized or integer weights are not supported): use the float16, bfloat16 or float32 release of the model.`);
    expect([e.file, e.tensor]).toEqual([path.join(dir, 'model.safetensors'), 'transformer.h.1.ln_2.weight']);
  });

  it('a shape that is not config.json\'s (same element count): both shapes, the file and the tensor', () => {
    const dir = patched((h) => (h['transformer.h.0.mlp.c_fc.weight'].shape = [128, 32]));
    const e = thrown(() => checkModelWeights(dir, spec()));
    expect(e.message).toMatch(/model\.safetensors: tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[128, 32\], but .*config\.json implies \[32, 128\]\./);
    expect(e.tensor).toBe('transformer.h.0.mlp.c_fc.weight');
  });

  it('a tensor missing (renamed): the file, the tensor and the close name', () => {
    const dir = patched((h) => {
      h['transformer.ln_f.bias_'] = h['transformer.ln_f.bias'];
      delete h['transformer.ln_f.bias'];
    });
    const e = thrown(() => checkModelWeights(dir, spec()));
    expect(e.message).toMatch(/model\.safetensors: tensor "transformer\.ln_f\.bias" is missing; close names: "transformer\.ln_f\.bias_"/);
    expect(e.tensor).toBe('transformer.ln_f.bias');
  });
});
