// The PEFT adapter folder, the input of merge and eval: a written adapter has exactly the keys,
// values, tensor names, shapes, dtype and metadata PEFT 0.21.2 writes (compared with PEFT-written
// fixtures for GPT-2, Llama and Qwen2); it round-trips; adapters written by PEFT, and by a plain
// PyTorch script without peft, load and can be trained further; bad folders fail with errors that
// name the file and the tensor or option.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/core/models/load';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadPeftAdapter, readPeftAdapter, writePeftAdapter } from '../../src/core/peft/adapterFolder';
import { SafetensorsFile, writeSafetensors } from '../../src/core/hf/safetensors';
import { ADAMW_DEFAULTS } from '../../src/core/train/optimizer';
import { trainLoop } from '../../src/core/train/trainer';

const FIX = path.join(__dirname, '..', 'fixtures');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lora-peft-'));
const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

/** Copies a fixture adapter, letting a test change its config and tensors. */
function variant(src: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Map<string, { shape: number[]; data: Float32Array }>) => void }): string {
  const dir = tmp();
  const c = json(path.join(src, ADAPTER_CONFIG));
  edit.config?.(c);
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(c));
  const st = SafetensorsFile.open(path.join(src, ADAPTER_WEIGHTS));
  const t = new Map(st.names().map((n) => [n, { shape: st.info(n).shape, data: st.readFloat32(n) }]));
  st.close();
  edit.tensors?.(t);
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), [...t].map(([name, v]) => ({ name, ...v, dtype: 'F32' as const })), { format: 'pt' });
  return dir;
}

const PEFT_FIXTURES: [string, string, Record<string, unknown>][] = [
  ['gpt2-tiny', 'lora-r4-c_attn', { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: ['c_attn'] }],
  ['gpt2-tiny', 'lora-r4-c_attn-layer1', { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: ['c_attn'], layersToTransform: [1] }],
  ['llama-tiny-gqa-bf16', 'lora-r4-qv', { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: ['q_proj', 'v_proj'] }],
  ['llama-tiny-gqa-bf16', 'lora-rslora-r4-a6', { r: 4, loraAlpha: 6, loraDropout: 0, targetModules: ['q_proj', 'v_proj'], useRslora: true }],
  ['qwen2-tiny', 'lora-r4-all-linear', { r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' }],
];

describe.each(PEFT_FIXTURES)('an adapter LoRA Lab writes for %s matches PEFT\'s %s', (base, fixture, cfg) => {
  it('adapter_config.json: every key and value PEFT wrote; tensors: same names, shapes, F32, {"format": "pt"}', () => {
    const { model } = loadModel(path.join(FIX, base));
    model.addAdapter(cfg, 0);
    const dir = tmp();
    writePeftAdapter(dir, model.loraConfig!, model.spec, base, model.adapterTensors());
    const ours = json(path.join(dir, ADAPTER_CONFIG));
    const peft = json(path.join(FIX, base, fixture, ADAPTER_CONFIG));
    const sorted = (c: Record<string, unknown>) => ({ ...c, target_modules: [...(c.target_modules as string[])].sort() });
    expect(sorted(ours)).toEqual(sorted(peft));
    const [a, b] = [SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS)), SafetensorsFile.open(path.join(FIX, base, fixture, ADAPTER_WEIGHTS))];
    expect(a.names().sort()).toEqual(b.names().sort());
    for (const n of a.names()) {
      expect(a.info(n).shape, n).toEqual(b.info(n).shape);
      expect(a.info(n).dtype).toBe('F32');
    }
    expect(a.metadata).toEqual({ format: 'pt' });
    expect(b.metadata).toEqual({ format: 'pt' });
    a.close();
    b.close();
    model.dispose();
  });

  it('PEFT\'s folder loads, and writing it back and reading it again gives the same config and tensors', () => {
    const { model } = loadModel(path.join(FIX, base));
    const read = loadPeftAdapter(model, path.join(FIX, base, fixture));
    const ids = [[1, 5, 9, 2, 7, 3]];
    const before = model.logits(ids);
    const dir = tmp();
    writePeftAdapter(dir, model.loraConfig!, model.spec, base, model.adapterTensors());
    const again = readPeftAdapter(dir);
    expect(again.config).toMatchObject({ r: read.config.r, loraAlpha: read.config.loraAlpha, useRslora: read.config.useRslora });
    for (const [name, t] of read.tensors) expect(Array.from(again.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
    model.removeAdapter();
    loadPeftAdapter(model, dir);
    const after = model.logits(ids);
    expect(tf.tidy(() => after.sub(before).abs().max().dataSync()[0])).toBe(0);
    tf.dispose([before, after]);
    model.dispose();
  });
});

describe('adapters made elsewhere', () => {
  const HANDMADE = fs.readdirSync(path.join(FIX, 'handmade-lora'));

  it.each(HANDMADE)('%s (plain PyTorch, no peft): same loss (1e-5) and logits (1e-4) as the script', (name) => {
    const dir = path.join(FIX, 'handmade-lora', name);
    const g = json(path.join(dir, 'golden.json')) as { base: string; input_ids: number[][]; weights: number[][]; loss: number; logits: number[][][]; modules: string[] };
    const { model } = loadModel(path.join(dir, g.base));
    loadPeftAdapter(model, dir);
    expect(model.namedVariables().filter((v) => v.peftName.endsWith('lora_A.weight')).map((v) => v.peftName.slice(17, -14)).sort()).toEqual(g.modules);
    const { loss } = model.loss(g.input_ids, g.weights);
    expect(Math.abs(loss.dataSync()[0] - g.loss)).toBeLessThan(1e-5);
    const logits = model.logits(g.input_ids);
    expect(tf.tidy(() => logits.sub(tf.tensor(g.logits)).abs().max().dataSync()[0])).toBeLessThan(1e-4);
    tf.dispose([loss, logits]);
    model.dispose();
  });

  it('a PEFT-written adapter can be trained further, and the result is written in PEFT\'s layout', async () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    const start = loadPeftAdapter(model, path.join(FIX, 'gpt2-tiny', 'lora-r4-c_attn'));
    const train = Array.from({ length: 8 }, (_, i) => ({ ids: [1, 2, 3, 4, 5, 6].map((x) => (x * (i + 3)) % 96), weights: [0, 1, 1, 1, 1, 1] }));
    const cfg = { lr: 1e-2, schedule: 'constant' as const, warmupSteps: 0, epochs: 1, maxSteps: 2, batchSize: 4, gradAccum: 1, maxGradNorm: 1, adamw: ADAMW_DEFAULTS, seed: 1, reportEvery: 1, evalEvery: 10, checkpointEvery: 10, patience: 0 };
    for await (const e of trainLoop({ model, train, valid: [], padId: 0, config: cfg, saveCheckpoint: () => 'mem' })) void e;
    const dir = tmp();
    writePeftAdapter(dir, model.loraConfig!, model.spec, 'gpt2-tiny', model.adapterTensors());
    const after = readPeftAdapter(dir);
    expect([...after.tensors.keys()].sort()).toEqual([...start.tensors.keys()].sort());
    const name = 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight';
    expect(Array.from(after.tensors.get(name)!.data)).not.toEqual(Array.from(start.tensors.get(name)!.data));
    model.dispose();
  });
});

describe('bad adapter folders: errors name the file and what is wrong', () => {
  const GPT2 = path.join(FIX, 'gpt2-tiny', 'lora-r4-c_attn');
  const A0 = 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight';
  const load = (dir: string, base = 'gpt2-tiny') => {
    const { model } = loadModel(path.join(FIX, base));
    try {
      loadPeftAdapter(model, dir);
    } finally {
      model.dispose();
    }
  };

  it('missing files', () => {
    const empty = tmp();
    expect(() => load(empty)).toThrow(`${path.join(empty, ADAPTER_CONFIG)}: not found: a PEFT adapter folder needs adapter_config.json and adapter_model.safetensors`);
    fs.copyFileSync(path.join(GPT2, ADAPTER_CONFIG), path.join(empty, ADAPTER_CONFIG));
    expect(() => load(empty)).toThrow(`${path.join(empty, ADAPTER_WEIGHTS)}: not found`);
    fs.writeFileSync(path.join(empty, 'adapter_model.bin'), 'pickle');
    expect(() => load(empty)).toThrow(/only adapter_model\.bin \(a pickle\) is present: re-save it with safe_serialization=True/);
  });

  it('wrong r, wrong shape, a factor missing', () => {
    expect(() => load(variant(GPT2, { config: (c) => (c.r = 8) }))).toThrow(/adapter_model\.safetensors: tensor "base_model\.model\.transformer\.h\.\d\.attn\.c_attn\.lora_[AB]\.weight" has rank 4 but adapter_config\.json says r=8/);
    const wide = variant(GPT2, { tensors: (t) => t.set(A0, { shape: [4, 40], data: new Float32Array(160) }) });
    expect(() => load(wide)).toThrow(`tensor "${A0}" has shape [4, 40], but transformer.h.0.attn.c_attn of this base (in 32, out 96) needs [4, 32]`);
    expect(() => load(path.join(FIX, 'llama-tiny-gqa-bf16', 'lora-r4-qv'), 'mistral-tiny-f16-sharded')).toThrow(/has shape \[64, 4\], but model\.layers\.0\.self_attn\.q_proj of this base \(in 64, out 96\) needs \[96, 4\]/);
    const half = variant(GPT2, { tensors: (t) => t.delete(A0) });
    expect(() => load(half)).toThrow(`has lora_B but no lora_A for module transformer.h.0.attn.c_attn`);
  });

  it('unknown modules, and tensors that do not match target_modules', () => {
    const far = variant(GPT2, { tensors: (t) => {
      for (const k of [...t.keys()]) if (k.includes('.h.1.')) t.set(k.replace('.h.1.', '.h.7.'), t.get(k)!);
    } });
    expect(() => load(far)).toThrow(/tensor "base_model\.model\.transformer\.h\.7\.attn\.c_attn\.lora_[AB]\.weight" is for module "transformer\.h\.7\.attn\.c_attn", which GPT2LMHeadModel with 2 layers does not have/);
    const partial = variant(GPT2, { tensors: (t) => {
      for (const k of [...t.keys()]) if (k.includes('.h.1.')) t.delete(k);
    } });
    expect(() => load(partial)).toThrow(/adapter_config\.json: target_modules selects transformer\.h\.1\.attn\.c_attn, but adapter_model\.safetensors has no lora_A\/lora_B for it/);
    const extra = variant(GPT2, { config: (c) => (c.layers_to_transform = [0]) });
    expect(() => load(extra)).toThrow(/has LoRA weights for transformer\.h\.1\.attn\.c_attn, which target_modules \["c_attn"\] in adapter_config\.json does not select/);
    expect(() => load(variant(GPT2, { config: (c) => (c.target_modules = ['q_proj']) }))).toThrow(/target_modules selects no|does not select/);
  });

  it('a DoRA flag without magnitudes, magnitudes without the flag, and other variants are refused by name', () => {
    // DoRA itself loads (dora.test.ts); a config and weights that disagree about it do not.
    expect(() => load(variant(GPT2, { config: (c) => (c.use_dora = true) }))).toThrow(/has no lora_magnitude_vector for module transformer\.h\.0\.attn\.c_attn, but adapter_config\.json has use_dora true/);
    const magnitudes = variant(GPT2, { tensors: (t) => t.set('base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector', { shape: [96], data: new Float32Array(96) }) });
    expect(() => load(magnitudes)).toThrow(/tensor "base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_magnitude_vector" is a DoRA magnitude, but adapter_config\.json has use_dora false/);
    const embedding = variant(GPT2, { tensors: (t) => t.set('base_model.model.transformer.wte.lora_embedding_A', { shape: [4, 96], data: new Float32Array(384) }) });
    expect(() => load(embedding)).toThrow(/tensor "base_model\.model\.transformer\.wte\.lora_embedding_A" is not a LoRA A\/B weight or DoRA magnitude \(embedding LoRA/);
    expect(() => load(variant(GPT2, { config: (c) => (c.init_lora_weights = 'pissa_niter_4') }))).toThrow(/init_lora_weights="pissa_niter_4" is not supported.*path_initial_model_for_weight_conversion/);
    expect(() => load(variant(GPT2, { config: (c) => (c.use_bdlora = { lora_a_is_blockdiagonal: true }) }))).toThrow(/use_bdlora=.* use_bdlora \(BD-LoRA/);
    expect(() => load(variant(GPT2, { config: (c) => (c.modules_to_save = ['lm_head']) }))).toThrow(/modules_to_save=\["lm_head"\] is not supported/);
    expect(() => load(variant(GPT2, { config: (c) => (c.peft_type = 'IA3') }))).toThrow(/peft_type="IA3" is not supported/);
  });
});
