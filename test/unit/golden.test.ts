// Golden values from the reference implementation: tiny random models built and run with
// PyTorch + transformers, LoRA adapters created, saved and differentiated with PEFT
// (scripts/gen_golden.py; versions in scripts/requirements-ref.txt). LoRA Lab must load the
// same files and reproduce logits, loss and gradients.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/core/models/load';
import { readPeftAdapter } from '../../src/core/peft/adapterFolder';

const FIX = path.join(__dirname, '..', 'fixtures');

interface Golden {
  input_ids: number[][];
  logits: number[][][];
}
interface LoraGolden {
  input_ids: number[][];
  logits_adapter: number[][][];
  logits_merged: number[][][];
  loss: number;
  grads: Record<string, number[][]>;
}

function readJson<T>(p: string): T {
  return JSON.parse(fs.readFileSync(p, 'utf8')) as T;
}

function maxAbsDiff(actual: tf.Tensor, expected: number[] | number[][] | number[][][]): number {
  return tf.tidy(() => actual.sub(tf.tensor(expected)).abs().max().dataSync()[0]);
}

const MODELS: [string, string][] = [
  ['gpt2-tiny', 'GPT-2, transformer.* keys'],
  ['gpt2-tiny-bare', 'GPT-2, bare h.* keys with legacy attn.bias / attn.masked_bias buffers'],
  ['llama-tiny-gqa-bf16', 'Llama, GQA 4:2, BF16 file, rope_theta 5e5, separate lm_head'],
  ['qwen2-tiny', 'Qwen2, q/k/v biases, tied head'],
  ['mistral-tiny-f16-sharded', 'Mistral, head_dim ≠ hidden/heads, F16, 3 shards + index'],
];

describe.each(MODELS)('%s (%s)', (name) => {
  it('logits equal PyTorch/transformers within 1e-4', () => {
    const dir = path.join(FIX, name);
    const g = readJson<Golden>(path.join(dir, 'golden.json'));
    const { model, unusedTensors } = loadModel(dir);
    expect(unusedTensors).toEqual([]);
    const logits = model.logits(g.input_ids);
    expect(logits.shape).toEqual([g.input_ids.length, g.input_ids[0].length, model.spec.vocabSize]);
    expect(maxAbsDiff(logits, g.logits)).toBeLessThan(1e-4);
    logits.dispose();
    model.dispose();
  });
});

const ADAPTERS = fs
  .readdirSync(FIX)
  .flatMap((m) => (fs.statSync(path.join(FIX, m)).isDirectory() ? fs.readdirSync(path.join(FIX, m)).filter((a) => a.startsWith('lora-')).map((a) => [m, a] as [string, string]) : []));

describe('PEFT adapters', () => {
  it('fixtures cover GPT-2 (fan_in_fan_out), Llama (q,v; rsLoRA) and Qwen2 (all-linear)', () => {
    expect(ADAPTERS.length).toBeGreaterThanOrEqual(4);
  });

  describe.each(ADAPTERS)('%s/%s', (modelName, adapterName) => {
    const dir = path.join(FIX, modelName, adapterName);
    const g = readJson<LoraGolden>(path.join(dir, 'golden.json'));

    it('logits with the adapter equal PEFT within 1e-4; merged logits equal PEFT merge_and_unload within 1e-4', () => {
      const { model } = loadModel(path.join(FIX, modelName));
      const adapter = readPeftAdapter(dir);
      model.loadAdapter(adapter.config, adapter.tensors);
      const withAdapter = model.logits(g.input_ids);
      expect(maxAbsDiff(withAdapter, g.logits_adapter)).toBeLessThan(1e-4);
      model.merge();
      const merged = model.logits(g.input_ids);
      expect(maxAbsDiff(merged, g.logits_merged)).toBeLessThan(1e-4);
      tf.dispose([withAdapter, merged]);
      model.dispose();
    });

    it('loss equals PyTorch cross-entropy and lora_A/lora_B gradients equal loss.backward() within 1e-4 relative', () => {
      const { model } = loadModel(path.join(FIX, modelName));
      const adapter = readPeftAdapter(dir);
      model.loadAdapter(adapter.config, adapter.tensors);
      const named = model.namedVariables();
      expect(named.map((n) => n.peftName).sort()).toEqual(Object.keys(g.grads).sort());
      const { value, grads } = tf.variableGrads(() => model.loss(g.input_ids).loss, named.map((n) => n.variable));
      expect(value.dataSync()[0]).toBeCloseTo(g.loss, 5);
      for (const { peftName, variable } of named) {
        const ours = grads[variable.name].transpose(); // variables hold Aᵀ / Bᵀ
        const ref = g.grads[peftName];
        const scale = Math.max(1e-6, ...ref.flat().map(Math.abs));
        expect(maxAbsDiff(ours, ref) / scale, peftName).toBeLessThan(1e-4);
        ours.dispose();
      }
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
    });

    it('layer-wise recomputation (lossAndGrads) gives the same loss and gradients as loss.backward() within 1e-4 relative, without leaking tensors', () => {
      const { model } = loadModel(path.join(FIX, modelName));
      const adapter = readPeftAdapter(dir);
      model.loadAdapter(adapter.config, adapter.tensors);
      const named = model.namedVariables();
      tf.dispose(model.lossAndGrads(g.input_ids, undefined, { training: false }).grads); // first call builds the cached mask and rotary tables
      const before = tf.memory().numTensors;
      const { loss, grads } = model.lossAndGrads(g.input_ids, undefined, { training: false }, 0.5);
      expect(loss).toBeCloseTo(g.loss, 5);
      named.forEach(({ peftName }, k) => {
        const ours = tf.tidy(() => grads[k].transpose().mul(2)); // gradients of 0.5·loss
        const ref = g.grads[peftName];
        const scale = Math.max(1e-6, ...ref.flat().map(Math.abs));
        expect(maxAbsDiff(ours, ref) / scale, peftName).toBeLessThan(1e-4);
        ours.dispose();
      });
      tf.dispose(grads);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  });
});
