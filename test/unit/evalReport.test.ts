// Evaluation: loss, perplexity and accuracy equal independent computations (the trainer's
// evalLoss, argmax of the logits, the hand-made PyTorch script's loss); the merge check passes for
// a correct merge and flags a wrong one; the effect check flags an adapter that changes nothing;
// generations come side by side; `lora-lab eval --json` and `lora-lab merge` work end to end, and
// refuse an adapter made for another base from its header, before any weight or data is read.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { cli } from './helpers/cli';
import { evaluateModels, MERGE_CHECK_THRESHOLD, NO_EFFECT_THRESHOLD, type EvalReport } from '../../src/core/eval/evaluate';
import { evalLoss } from '../../src/core/train/evalLoss';
import { generate } from '../../src/core/eval/generate';
import { buildMergedModel } from '../../src/core/peft/merge';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter } from '../../src/core/peft/adapterFolder';
import { LoraTokenizer } from '../../src/core/hf/tokenizer';
import { SafetensorsFile, writeSafetensors } from '../../src/core/hf/safetensors';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from './helpers/gpt2TokenizerJson';

const FIX = path.join(__dirname, '..', 'fixtures');

function rows(n: number, vocab: number, seed: number): { ids: number[]; weights: number[] }[] {
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % vocab;
  return Array.from({ length: n }, (_, i) => {
    const ids = Array.from({ length: 6 + (i % 7) }, next);
    return { ids, weights: ids.map((_, t) => (t >= 2 ? 1 : 0)) }; // two prompt tokens
  });
}

function setup(base: string, adapterDir: string) {
  const { model } = loadModel(path.join(FIX, base));
  const adapter = loadPeftAdapter(model, path.join(FIX, adapterDir));
  const merged = buildMergedModel(path.join(FIX, base), adapter.config, adapter.tensors);
  return { model, adapter: { config: adapter.config, tensors: adapter.tensors }, merged };
}

describe('evaluateModels', () => {
  it('scores equal the trainer\'s evalLoss and an independent argmax accuracy; merge check ok; base, adapter and merged all scored', async () => {
    const { model, adapter, merged } = setup('gpt2-tiny', 'gpt2-tiny/lora-r4-c_attn');
    const examples = rows(9, 96, 1);
    const r = await evaluateModels({ model, adapter, merged, examples, padId: 0, options: { batchSize: 4, prompts: 2, maxNewTokens: 6 }, sources: { model: 'gpt2-tiny' } });
    const ref = evalLoss(model, examples, 3, 0);
    expect(r.adapter!.loss).toBeCloseTo(ref.loss, 5);
    expect(r.adapter!.tokens).toBe(ref.tokens);
    expect(r.adapter!.perplexity).toBeCloseTo(Math.exp(ref.loss), 4);
    let correct = 0;
    for (const ex of examples) {
      const l = model.logits([ex.ids]);
      const arg = tf.tidy(() => l.argMax(2).dataSync());
      for (let t = 0; t + 1 < ex.ids.length; t++) if (ex.weights[t + 1] > 0 && arg[t] === ex.ids[t + 1]) correct++;
      l.dispose();
    }
    expect(r.adapter!.accuracy).toBeCloseTo(correct / ref.tokens, 10);
    expect(r.merged!.loss).toBeCloseTo(r.adapter!.loss, 5);
    model.removeAdapter();
    expect(r.base!.loss).toBeCloseTo(evalLoss(model, examples, 4, 0).loss, 5);
    expect(model.loraConfig).toBeUndefined();
    model.loadAdapter(adapter.config, adapter.tensors);
    expect(r.mergeCheck).toMatchObject({ flagged: false, threshold: MERGE_CHECK_THRESHOLD, mergedDtype: 'F32' });
    expect(r.mergeCheck!.maxAbsLogitDiff).toBeLessThan(1e-4);
    expect(r.effectCheck).toMatchObject({ flagged: false, compared: 'adapter', threshold: NO_EFFECT_THRESHOLD });
    expect(r.effectCheck!.meanAbsLogitDiff).toBeGreaterThan(1e-2);
    // Generations: two prompts (the two prompt tokens of rows 0 and 4), base and merged side by side.
    expect(r.generations.map((g) => g.prompt.ids)).toEqual([examples[0].ids.slice(0, 2), examples[4].ids.slice(0, 2)]);
    for (const g of r.generations) {
      expect(Object.keys(g.outputs).sort()).toEqual(['base', 'merged']);
      expect(g.outputs.merged!.greedy.ids).toEqual(generate(model, g.prompt.ids, { maxNewTokens: 6, eosIds: r.generation.eosIds }).ids);
      expect(g.outputs.merged!.sampled.ids.length).toBeGreaterThan(0);
    }
    expect(r.generation).toMatchObject({ maxNewTokens: 6, temperature: 0.8, topP: 0.95, seed: 0, eosIds: [95] });
    [model, merged].forEach((m) => m.dispose());
  });

  it('the merge check flags a merged model that is not this adapter\'s merge; BF16 merges pass with a precision-aware threshold', async () => {
    const { model, adapter, merged } = setup('llama-tiny-gqa-bf16', 'llama-tiny-gqa-bf16/lora-r4-qv');
    const examples = rows(4, 128, 2);
    const good = await evaluateModels({ model, adapter, merged, mergedDtype: 'BF16', examples, padId: 0, options: { prompts: 0 }, sources: { model: 'l' } });
    expect(good.mergeCheck!.flagged).toBe(false);
    expect(good.mergeCheck!.maxAbsLogitDiff).toBeGreaterThan(MERGE_CHECK_THRESHOLD); // BF16 rounding is visible…
    expect(good.mergeCheck!.maxAbsLogitDiff).toBeLessThan(good.mergeCheck!.threshold); // …and allowed for
    const other = setup('llama-tiny-gqa-bf16', 'llama-tiny-gqa-bf16/lora-rslora-r4-a6');
    const bad = await evaluateModels({ model, adapter, merged: other.merged, mergedDtype: 'BF16', examples, padId: 0, options: { prompts: 0 }, sources: { model: 'l' } });
    expect(bad.mergeCheck!.flagged).toBe(true);
    expect(bad.mergeCheck!.message).toMatch(/the merged model does not reproduce the adapter/);
    [model, merged, other.model, other.merged].forEach((m) => m.dispose());
  });

  it('the effect check flags an adapter that changes nothing (a fresh adapter: B = 0)', async () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    const config = model.addAdapter({ r: 4 }, 1);
    const tensors = new Map(model.adapterTensors().map((t) => [t.name, { shape: t.shape, data: t.data }]));
    const r = await evaluateModels({ model, adapter: { config, tensors }, examples: rows(3, 96, 3), padId: 0, options: { prompts: 1, maxNewTokens: 4 }, sources: { model: 'g' } });
    expect(r.effectCheck).toMatchObject({ meanAbsLogitDiff: 0, flagged: true });
    expect(r.effectCheck!.message).toMatch(/^adapter has no effect/);
    expect(r.mergeCheck).toBeUndefined();
    expect(r.adapter!.loss).toBe(r.base!.loss);
    expect(Object.keys(r.generations[0].outputs).sort()).toEqual(['adapter', 'base']);
    model.dispose();
  });

  it('with a tokenizer, prompts, references and generations come with their text, and its EOS stops generation', async () => {
    const { model, adapter, merged } = setup('gpt2-tiny', 'gpt2-tiny/lora-r4-c_attn');
    const tokenizer = LoraTokenizer.fromObjects(gpt2TokenizerJson(), gpt2TokenizerConfig());
    const r = await evaluateModels({ model, adapter, merged, tokenizer, examples: rows(2, 96, 5), padId: 0, options: { prompts: 1, maxNewTokens: 5 }, sources: { model: 'g' } });
    const g = r.generations[0];
    expect(g.prompt.text).toBe(tokenizer.decode(g.prompt.ids));
    expect(g.reference.text).toBe(tokenizer.decode(g.reference.ids));
    expect(g.outputs.base!.sampled.text).toBe(tokenizer.decode(g.outputs.base!.sampled.ids, { skipSpecialTokens: true }));
    expect(r.generation.eosIds).toEqual([95, 50256]);
    [model, merged].forEach((m) => m.dispose());
  });

  it('the hand-made PyTorch adapter (BF16 tensors, rsLoRA, layer 1 only) scores the script\'s loss', async () => {
    const dir = path.join(FIX, 'handmade-lora', 'llama-tiny-gqa-bf16-k-o-down-layer1-rslora-bf16');
    const g = JSON.parse(fs.readFileSync(path.join(dir, 'golden.json'), 'utf8')) as { input_ids: number[][]; weights: number[][]; loss: number };
    const { model } = loadModel(path.join(FIX, 'llama-tiny-gqa-bf16'));
    const a = loadPeftAdapter(model, dir);
    const r = await evaluateModels({ model, adapter: { config: a.config, tensors: a.tensors }, examples: g.input_ids.map((ids, i) => ({ ids, weights: g.weights[i] })), padId: 0, options: { prompts: 0 }, sources: { model: 'l' } });
    expect(Math.abs(r.adapter!.loss - g.loss)).toBeLessThan(1e-5);
    model.dispose();
  });
});

describe('CLI', () => {
  it('merge, then eval --json with --adapter and --merged: one object with {loss, perplexity, tokens, accuracy} per model; eval.json written', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-cli-'));
    const data = path.join(dir, 'valid.jsonl');
    fs.writeFileSync(data, rows(6, 100, 4).map((r) => JSON.stringify({ input_ids: r.ids })).join('\n'));
    const model = path.join(FIX, 'mistral-tiny-f16-sharded');
    const adapter = path.join(FIX, 'handmade-lora', 'mistral-tiny-f16-sharded-regex-r4');
    const m = await cli(['merge', '--model', model, '--adapter', adapter, '--out', path.join(dir, 'merged')]);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/merged {3}6 module\(s\)/);
    const e = await cli(['eval', '--model', model, '--adapter', adapter, '--merged', path.join(dir, 'merged'), '--data', data, '--json', '--backend', 'wasm', '--out', path.join(dir, 'eval.json'), '--prompts', '1', '--max-new-tokens', '4']);
    expect(e.code, e.err).toBe(0);
    const r = JSON.parse(e.out) as EvalReport;
    for (const k of ['base', 'adapter', 'merged'] as const) expect(Object.keys(r[k]!).sort()).toEqual(['accuracy', 'loss', 'perplexity', 'tokens']);
    expect(r.mergeCheck).toMatchObject({ flagged: false, mergedDtype: 'F16' });
    expect(r.generations[0].outputs.merged!.greedy.ids).toHaveLength(4);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8'))).toEqual(r);
    const human = await cli(['eval', '--model', model, '--data', data, '--backend', 'wasm', '--prompts', '1', '--max-new-tokens', '3']);
    expect(human.out).toMatch(/^base {5}/m);
    expect(human.out).not.toMatch(/^adapter/m);
  });

  it('bad usage and bad adapters: exit codes 2 and 1 with the reason', async () => {
    expect((await cli(['merge', '--model', 'x'])).err).toMatch(/--adapter is required/);
    const bad = await cli(['merge', '--model', path.join(FIX, 'gpt2-tiny'), '--adapter', path.join(FIX, 'qwen2-tiny', 'lora-r4-all-linear'), '--out', path.join(os.tmpdir(), 'never')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/is for module "model\.layers\.0\.mlp\.down_proj", which GPT2LMHeadModel with 2 layers does not have/);
  });

  it('an adapter for a base of other dimensions: eval and merge refuse it from adapter_config.json and its header, naming the file and tensor, before a weight or the data is read', async () => {
    // gpt2-tiny's r=4 c_attn adapter with lora_A (4, 48): a base whose hidden size is 48, not 32.
    const src = path.join(FIX, 'gpt2-tiny', 'lora-r4-c_attn');
    const adapter = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-eval-adapter-'));
    fs.copyFileSync(path.join(src, 'adapter_config.json'), path.join(adapter, 'adapter_config.json'));
    const t = (name: string, shape: number[]) => ({ name, shape, dtype: 'F32' as const, data: new Float32Array(shape[0] * shape[1]) });
    writeSafetensors(path.join(adapter, 'adapter_model.safetensors'), [0, 1].flatMap((l) => [
      t(`base_model.model.transformer.h.${l}.attn.c_attn.lora_A.weight`, [4, 48]),
      t(`base_model.model.transformer.h.${l}.attn.c_attn.lora_B.weight`, [96, 4]),
    ]));
    const why = new RegExp(`^lora-lab (eval|merge): ${adapter}/adapter_model\\.safetensors: tensor "base_model\\.model\\.transformer\\.h\\.0\\.attn\\.c_attn\\.lora_A\\.weight" has shape \\[4, 48\\], but transformer\\.h\\.0\\.attn\\.c_attn of this base \\(in 32, out 96\\) needs \\[4, 32\\]`, 'm');
    const reads = vi.spyOn(SafetensorsFile.prototype, 'readFloat32');
    const out = path.join(os.tmpdir(), `lora-never-${process.pid}`);
    try {
      const e = await cli(['eval', '--model', path.join(FIX, 'gpt2-tiny'), '--adapter', adapter, '--data', path.join(adapter, 'no-such-data.jsonl'), '--backend', 'wasm']);
      expect(e.code).toBe(1);
      expect(e.err).toMatch(why);
      const m = await cli(['merge', '--model', path.join(FIX, 'gpt2-tiny'), '--adapter', adapter, '--out', out]);
      expect(m.code).toBe(1);
      expect(m.err).toMatch(why);
      expect(reads).not.toHaveBeenCalled();
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      reads.mockRestore();
      fs.rmSync(adapter, { recursive: true, force: true });
    }
  });
});
