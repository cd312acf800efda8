// DoRA (PEFT's use_dora=True) against PEFT 0.21.2 itself (scripts/gen_dora_golden.py →
// test/fixtures/dora/): one layer's output and gradients with and without lora_dropout (a fixed
// mask), whole GPT-2 (Conv1D, fan_in_fan_out) and Llama models loaded from PEFT-written adapter
// folders (logits, loss, gradients of lora_A, lora_B and the magnitude by both backward paths,
// merge_and_unload logits), the initial magnitude, unmerge, the folder's keys and config as PEFT
// writes them, the merged model folder, and print_trainable_parameters() counts.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/core/hf/config';
import { factsMarkdown } from '../../src/core/hf/modelCard';
import { SafetensorsFile, writeSafetensors } from '../../src/core/hf/safetensors';
import { countParameters, resolveLoraConfig, type LoraConfig } from '../../src/core/lora/config';
import { doraBackward, doraForward, doraLinear, type DoraParams } from '../../src/core/lora/dora';
import { LoraLinear } from '../../src/core/lora/layer';
import { buildModel, loadModel } from '../../src/core/models/load';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, loadPeftAdapter, parseAdapterConfig, readPeftAdapter, writePeftAdapter } from '../../src/core/peft/adapterFolder';
import { mergeModelFolder } from '../../src/core/peft/merge';
import { readCheckpoint, writeCheckpoint, type TrainerCheckpoint } from '../../src/core/train/checkpoint';
import { ADAMW_DEFAULTS } from '../../src/core/train/optimizer';
import { trainLoop, type TrainerConfig, type TrainerEvent } from '../../src/core/train/trainer';
import { randomIds, randomWeights, TINY_GPT2 } from './helpers/randomModel';
import { cli } from './helpers/cli';

const FIX = path.join(__dirname, '..', 'fixtures');
const DORA = path.join(FIX, 'dora');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lora-dora-'));
const json = <T>(file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

type Nested = number | Nested[];
/** max |a − ref| / max(|ref|), the relative error of a whole tensor. */
function relErr(a: tf.Tensor, ref: Nested): number {
  return tf.tidy(() => {
    const r = tf.tensor(ref as number[]);
    return a.sub(r).abs().max().dataSync()[0] / Math.max(1e-12, r.abs().max().dataSync()[0]);
  });
}
function maxAbs(a: tf.Tensor, ref: Nested | tf.Tensor): number {
  return tf.tidy(() => a.sub(ref instanceof tf.Tensor ? ref : tf.tensor(ref as number[])).abs().max().dataSync()[0]);
}

interface ModuleCase {
  name: string;
  kind: 'linear' | 'conv1d';
  fanInFanOut: boolean;
  in: number;
  out: number;
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
  weight: number[][];
  bias: number[];
  lora_A: number[][];
  lora_B: number[][];
  magnitude: number[];
  magnitude_init: number[];
  mask: number[][] | null;
  x: number[][];
  dy: number[][];
  y: number[][];
  dx: number[][];
  grad_A: number[][];
  grad_B: number[][];
  grad_magnitude: number[];
}

const MODULES = json<{ cases: ModuleCase[] }>(path.join(DORA, 'modules.json')).cases;

/** A LoraLinear for one PEFT test layer: W as (in, out) (nn.Linear's (out, in) transposed, Conv1D's as is). */
function layerOf(c: ModuleCase, dropout = 0): LoraLinear {
  const module = { path: 'layer', name: 'layer', layer: 0, inFeatures: c.in, outFeatures: c.out, bias: true, fanInFanOut: c.fanInFanOut };
  const w = tf.tensor2d(c.weight);
  const l = new LoraLinear(module, c.fanInFanOut ? w : (w.transpose() as tf.Tensor2D), tf.tensor1d(c.bias));
  if (!c.fanInFanOut) w.dispose();
  l.loadPeft(tf.tensor2d(c.lora_A), tf.tensor2d(c.lora_B), { r: c.r, loraAlpha: c.alpha, useRslora: false, loraDropout: dropout });
  l.loadMagnitude(tf.tensor1d(c.magnitude));
  return l;
}

/** dora.ts's parameters from a test layer, in LoRA Lab's layouts. */
function paramsOf(c: ModuleCase): DoraParams {
  const w = tf.tensor2d(c.weight);
  return {
    w: c.fanInFanOut ? w : (w.transpose() as tf.Tensor2D), b: tf.tensor1d(c.bias), at: tf.tensor2d(c.lora_A).transpose(), bt: tf.tensor2d(c.lora_B).transpose(),
    m: tf.tensor1d(c.magnitude), s: c.scaling,
  };
}

describe('one DoRA layer against PEFT (modules.json: nn.Linear and Conv1D with bias, train mode)', () => {
  it('covers nn.Linear and Conv1D, each with and without lora_dropout', () => {
    expect(MODULES.map((c) => [c.kind, c.mask !== null])).toEqual([['linear', false], ['linear', true], ['conv1d', false], ['conv1d', true]]);
  });

  describe.each(MODULES.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const mask = () => (c.mask ? tf.tensor2d(c.mask) : undefined);

    it('output and the gradients of x, lora_A, lora_B and the magnitude equal PEFT within 2e-6 relative (the hand-written backward)', () => {
      tf.tidy(() => {
        const p = paramsOf(c);
        const x = tf.tensor2d(c.x);
        const { y, saved } = doraForward(x, mask(), p);
        expect(relErr(y, c.y)).toBeLessThan(2e-6);
        const { dx, grads } = doraBackward(tf.tensor2d(c.dy), x, mask(), saved, p, true);
        expect(relErr(dx!, c.dx), 'dx').toBeLessThan(2e-6);
        expect(relErr(grads[0].transpose(), c.grad_A), 'lora_A').toBeLessThan(2e-6);
        expect(relErr(grads[1].transpose(), c.grad_B), 'lora_B').toBeLessThan(2e-6);
        expect(relErr(grads[2], c.grad_magnitude), 'magnitude').toBeLessThan(2e-6);
      });
    });

    it('the customGrad op (tf.grads, the tape path) gives the same output and gradients within 2e-6 relative', () => {
      tf.tidy(() => {
        const p = paramsOf(c);
        const dy = tf.tensor2d(c.dy);
        const f = (x: tf.Tensor, at: tf.Tensor, bt: tf.Tensor, m: tf.Tensor) =>
          doraLinear(x as tf.Tensor2D, mask(), { ...p, at: at as tf.Tensor2D, bt: bt as tf.Tensor2D, m: m as tf.Tensor1D }).mul(dy).sum();
        const [dx, dat, dbt, dm] = tf.grads(f)([tf.tensor2d(c.x), p.at, p.bt, p.m]);
        expect(relErr(dx, c.dx), 'dx').toBeLessThan(2e-6);
        expect(relErr(dat.transpose(), c.grad_A), 'lora_A').toBeLessThan(2e-6);
        expect(relErr(dbt.transpose(), c.grad_B), 'lora_B').toBeLessThan(2e-6);
        expect(relErr(dm, c.grad_magnitude), 'magnitude').toBeLessThan(2e-6);
      });
    });

    it('a fresh magnitude (B = 0) is PEFT\'s initial one, ‖W‖ per output, within 1e-6 relative; the output is then the base layer\'s', () => {
      const l = layerOf(c);
      l.loadPeft(tf.tensor2d(c.lora_A), tf.zeros([c.out, c.r]), { r: c.r, loraAlpha: c.alpha, useRslora: false, loraDropout: 0 });
      l.initMagnitude();
      expect(l.isDora).toBe(true);
      const m = l.trainableVariables()[2];
      expect(relErr(m, c.magnitude_init)).toBeLessThan(1e-6);
      const x = tf.tensor2d(c.x);
      const y = l.apply(x, { training: false });
      const base = tf.tidy(() => (c.fanInFanOut ? tf.tensor2d(c.weight) : tf.tensor2d(c.weight).transpose()));
      const plain = tf.tidy(() => tf.matMul(x, base).add(tf.tensor1d(c.bias)));
      expect(maxAbs(y, plain)).toBeLessThan(1e-5);
      tf.dispose([x, y, base, plain]);
      l.dispose();
    });

    it('merge: x·W\' + b equals the adapter forward within 1e-5; unmerge restores W bit for bit', () => {
      const l = layerOf(c);
      const x = tf.tensor2d(c.x);
      const w0 = l.fileLayoutWeight();
      const y = l.apply(x, { training: false });
      l.merge();
      expect(l.merged).toBe(true);
      const ym = l.apply(x, { training: false });
      expect(maxAbs(ym, y)).toBeLessThan(1e-5);
      if (!c.mask) expect(relErr(ym, c.y)).toBeLessThan(2e-6); // PEFT's train-mode output is its eval output without dropout
      l.unmerge();
      const w1 = l.fileLayoutWeight();
      expect(Array.from(w1.dataSync())).toEqual(Array.from(w0.dataSync()));
      tf.dispose([x, w0, w1, y, ym]);
      l.dispose();
    });
  });

  it('the layer\'s forwardSaved/backward (the models\' training path) equal PEFT for both layouts (no dropout)', () => {
    for (const c of MODULES.filter((k) => !k.mask)) {
      const l = layerOf(c);
      tf.tidy(() => {
        const x = tf.tensor2d(c.x);
        const { y, saved } = l.forwardSaved(x, { training: true });
        expect(relErr(y, c.y), c.name).toBeLessThan(2e-6);
        const { dx, grads } = l.backward(tf.tensor2d(c.dy), x, saved, true);
        expect(relErr(dx!, c.dx), c.name).toBeLessThan(2e-6);
        expect(relErr(grads[0].transpose(), c.grad_A)).toBeLessThan(2e-6);
        expect(relErr(grads[1].transpose(), c.grad_B)).toBeLessThan(2e-6);
        expect(relErr(grads[2], c.grad_magnitude)).toBeLessThan(2e-6);
      });
      l.dispose();
    }
  });

  it('a magnitude of the wrong length is an error naming the tensor and the expected shape', () => {
    const c = MODULES[0];
    const l = layerOf(c);
    expect(() => l.loadMagnitude(tf.zeros([c.out + 1]))).toThrow(`layer.lora_magnitude_vector has shape [${c.out + 1}], expected [${c.out}] (one magnitude per output)`);
    l.dispose();
  });
});

interface ModelGolden {
  input_ids: number[][];
  logits_adapter: number[][][];
  logits_merged: number[][][];
  loss: number;
  grads: Record<string, Nested>;
  magnitude_init: Record<string, number[]>;
  trainable_params: number;
  total_params: number;
}

const MODELS: [string, string][] = [
  ['gpt2-tiny', 'gpt2-tiny-r4-c_attn-c_proj'],
  ['llama-tiny-gqa-bf16', 'llama-tiny-gqa-bf16-r4-q-v-down'],
];

describe.each(MODELS)('%s with PEFT\'s DoRA adapter %s', (base, fixture) => {
  const dir = path.join(DORA, fixture);
  const g = json<ModelGolden>(path.join(dir, 'golden.json'));

  it('loads PEFT\'s folder: logits within 1e-4 and loss within 1e-5 of PEFT\'s; merge gives merge_and_unload\'s logits within 1e-4; unmerge restores the base bit for bit', () => {
    const { model } = loadModel(path.join(FIX, base));
    const baseLogits = model.logits(g.input_ids);
    loadPeftAdapter(model, dir);
    expect(model.loraConfig!.useDora).toBe(true);
    const logits = model.logits(g.input_ids);
    expect(maxAbs(logits, g.logits_adapter)).toBeLessThan(1e-4);
    const { loss } = model.loss(g.input_ids);
    expect(Math.abs(loss.dataSync()[0] - g.loss)).toBeLessThan(1e-5);
    const weights = () => [...model.adapters.linears.values()].filter((l) => l.hasAdapter).map((l) => l.fileLayoutWeight());
    const before = weights();
    model.merge();
    const merged = model.logits(g.input_ids);
    expect(maxAbs(merged, g.logits_merged)).toBeLessThan(1e-4);
    model.unmerge();
    const after = weights();
    before.forEach((w, i) => expect(Array.from(after[i].dataSync())).toEqual(Array.from(w.dataSync())));
    model.removeAdapter();
    const again = model.logits(g.input_ids);
    expect(maxAbs(again, baseLogits)).toBe(0);
    tf.dispose([baseLogits, logits, loss, merged, again, ...before, ...after]);
    model.dispose();
  });

  it('gradients of lora_A, lora_B and lora_magnitude_vector equal loss.backward()\'s within 1e-4 relative, by autograd and by lossAndGrads (keep and recompute)', () => {
    const { model } = loadModel(path.join(FIX, base));
    loadPeftAdapter(model, dir);
    const named = model.namedVariables();
    expect(named.map((n) => n.peftName).sort()).toEqual(Object.keys(g.grads).sort());
    expect(named.filter((n) => n.peftName.endsWith('.lora_magnitude_vector')).length).toBe(6);
    const tape = tf.variableGrads(() => model.loss(g.input_ids).loss, named.map((n) => n.variable));
    expect(tape.value.dataSync()[0]).toBeCloseTo(g.loss, 5);
    for (const { peftName, variable } of named) {
      const ours = tape.grads[variable.name].transpose(); // Aᵀ / Bᵀ back to PEFT's layout; 1-D m as is
      expect(relErr(ours, g.grads[peftName]), peftName).toBeLessThan(1e-4);
      ours.dispose();
    }
    tf.dispose([tape.value, ...Object.values(tape.grads)]);
    for (const mode of ['keep', 'recompute'] as const) {
      model.activationMode = mode;
      const before = tf.memory().numTensors;
      const r = model.lossAndGrads(g.input_ids, undefined, { training: false });
      expect(r.loss).toBeCloseTo(g.loss, 5);
      named.forEach(({ peftName }, k) => {
        const ours = r.grads[k].transpose();
        expect(relErr(ours, g.grads[peftName]), `${mode} ${peftName}`).toBeLessThan(1e-4);
        ours.dispose();
      });
      expect(tf.memory().numTensors - r.grads.length).toBe(before);
      tf.dispose(r.grads);
    }
    model.dispose();
  });

  it('a fresh DoRA adapter starts at PEFT\'s magnitudes (‖W‖ per output, 1e-6 relative) and leaves the logits unchanged', () => {
    const { model } = loadModel(path.join(FIX, base));
    const cfg = readPeftAdapter(dir).config;
    const plain = model.logits(g.input_ids);
    model.addAdapter({ ...cfg }, 3);
    const named = model.namedVariables().filter((n) => n.peftName.endsWith('.lora_magnitude_vector'));
    expect(named.map((n) => n.peftName).sort()).toEqual(Object.keys(g.magnitude_init).sort());
    for (const { peftName, variable } of named) expect(relErr(variable, g.magnitude_init[peftName]), peftName).toBeLessThan(1e-6);
    const fresh = model.logits(g.input_ids);
    expect(maxAbs(fresh, plain)).toBeLessThan(1e-5);
    tf.dispose([plain, fresh]);
    model.dispose();
  });

  it('written back, the folder has PEFT\'s adapter_config.json (use_dora true) and tensor names and shapes, and reads back bit for bit', () => {
    const { model } = loadModel(path.join(FIX, base));
    const read = loadPeftAdapter(model, dir);
    const out = tmp();
    writePeftAdapter(out, model.loraConfig!, model.spec, base, model.adapterTensors());
    const sorted = (c: Record<string, unknown>) => ({ ...c, target_modules: [...(c.target_modules as string[])].sort() });
    expect(sorted(json(path.join(out, ADAPTER_CONFIG)))).toEqual(sorted(json(path.join(dir, ADAPTER_CONFIG))));
    const [a, b] = [SafetensorsFile.open(path.join(out, ADAPTER_WEIGHTS)), SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS))];
    expect(a.names().sort()).toEqual(b.names().sort());
    for (const n of b.names()) expect(a.info(n).shape, n).toEqual(b.info(n).shape);
    expect(b.names().filter((n) => n.endsWith('.lora_magnitude_vector')).length).toBe(6);
    a.close();
    b.close();
    const again = readPeftAdapter(out);
    expect(again.config.useDora).toBe(true);
    for (const [name, t] of read.tensors) expect(Array.from(again.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
    fs.rmSync(out, { recursive: true });
    model.dispose();
  });

  it('lora-lab merge writes each adapted weight as the in-memory merge (F32: within 1e-6; BF16: rounded, within one BF16 step); F32 logits equal PEFT\'s merge_and_unload within 1e-4', () => {
    const out = path.join(tmp(), 'merged');
    mergeModelFolder({ model: path.join(FIX, base), adapter: dir, out });
    const { model } = loadModel(path.join(FIX, base));
    loadPeftAdapter(model, dir);
    model.merge();
    const st = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    const adapted = [...model.adapters.linears.values()].filter((l) => l.hasAdapter);
    expect(adapted.length).toBe(6);
    const bf16 = st.info(`${adapted[0].module.path}.weight`).dtype === 'BF16';
    expect(bf16).toBe(base.includes('bf16'));
    for (const l of adapted) {
      const ours = l.fileLayoutWeight().dataSync() as Float32Array;
      const file = st.readFloat32(`${l.module.path}.weight`);
      // BF16 keeps 8 significant bits: one step is at most 2⁻⁷ relative (float32 sums in another order may round the other way).
      const worst = Math.max(...Array.from(file, (v, k) => Math.abs(v - ours[k]) - (bf16 ? 2 ** -7 * Math.abs(ours[k]) : 1e-6)));
      expect(worst, l.module.path).toBeLessThanOrEqual(0);
    }
    st.close();
    model.dispose();
    if (!bf16) {
      const merged = loadModel(out).model;
      const logits = merged.logits(g.input_ids);
      expect(maxAbs(logits, g.logits_merged)).toBeLessThan(1e-4);
      logits.dispose();
      merged.dispose();
    }
    fs.rmSync(path.dirname(out), { recursive: true });
  });

  it('lora-lab params --dora (with --alpha-pattern, which does not change the count) prints PEFT\'s trainable count', async () => {
    const cfg = readPeftAdapter(dir).config;
    const targets = (cfg.targetModules as string[]).join(',');
    const args = ['params', '--model', path.join(FIX, base), '--rank', String(cfg.r), '--targets', targets, '--dora', '--alpha-pattern', `${(cfg.targetModules as string[])[0]}=32`, '--json'];
    const { code, out } = await cli(args);
    expect(code).toBe(0);
    const j = JSON.parse(out) as { trainable: number; total: number; useDora: boolean; alphaPattern: Record<string, number> };
    expect([j.trainable, j.total, j.useDora]).toEqual([g.trainable_params, g.total_params, true]);
    expect(j.alphaPattern).toEqual({ [(cfg.targetModules as string[])[0]]: 32 });
    const text = await cli(args.slice(0, -1));
    expect(text.out).toMatch(/^DoRA r=4 \(alpha_pattern \w+=32\) on /m);
    expect(text.out).toMatch(/DoRA magnitudes\)$/m);
  });

  it('trainable parameters equal PEFT\'s get_nb_trainable_parameters()', () => {
    const { model } = loadModel(path.join(FIX, base));
    const cfg = readPeftAdapter(dir).config;
    const c = countParameters(model.spec, resolveLoraConfig(model.spec, cfg));
    expect([c.trainable, c.total]).toEqual([g.trainable_params, g.total_params]);
    model.addAdapter(cfg, 0);
    expect(model.trainableVariables().reduce((s, v) => s + v.size, 0)).toBe(g.trainable_params);
    model.dispose();
  });
});

describe('DoRA adapter folders: what is read and what is refused', () => {
  const src = path.join(DORA, 'gpt2-tiny-r4-c_attn-c_proj');
  const copy = (edit: (c: Record<string, unknown>) => void, drop?: string): string => {
    const dir = tmp();
    const c = json<Record<string, unknown>>(path.join(src, ADAPTER_CONFIG));
    edit(c);
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG), JSON.stringify(c));
    const st = SafetensorsFile.open(path.join(src, ADAPTER_WEIGHTS));
    const names = st.names().filter((n) => n !== drop);
    writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), names.map((n) => ({ name: n, shape: st.info(n).shape, data: st.readFloat32(n), dtype: 'F32' as const })), { format: 'pt' });
    st.close();
    return dir;
  };

  it('use_dora is honoured: adapter_config.json\'s flag becomes LoraConfig.useDora', () => {
    const base = json<Record<string, unknown>>(path.join(src, ADAPTER_CONFIG));
    expect(parseAdapterConfig(base, 'a').config.useDora).toBe(true);
    expect(parseAdapterConfig({ ...base, use_dora: false }, 'a').config.useDora).toBe(false);
  });

  it('magnitudes with use_dora false, and use_dora true without a magnitude, are errors naming the file and tensor', () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    expect(() => loadPeftAdapter(model, copy((c) => (c.use_dora = false)))).toThrow(
      /adapter_model\.safetensors: tensor "base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_magnitude_vector" is a DoRA magnitude, but adapter_config\.json has use_dora false/,
    );
    expect(() => loadPeftAdapter(model, copy(() => undefined, 'base_model.model.transformer.h.1.mlp.c_proj.lora_magnitude_vector'))).toThrow(
      /adapter_model\.safetensors: has no lora_magnitude_vector for module transformer\.h\.1\.mlp\.c_proj, but adapter_config\.json has use_dora true/,
    );
    model.dispose();
  });

  it('model cards (adapter, merged, export bundle) say DoRA when the adapter is one', () => {
    const lora = { r: 4, alpha: 8, dropout: 0, targets: ['c_attn'], rslora: false };
    const line = "DoRA (PEFT's `use_dora`): each adapted module also trains a magnitude per output (`lora_magnitude_vector`).";
    expect(factsMarkdown({ baseModel: 'b', version: '0', lora: { ...lora, dora: true } })).toContain(line);
    expect(factsMarkdown({ baseModel: 'b', version: '0', lora })).not.toContain('DoRA');
  });

  it('DoRA with a PiSSA/OLoRA initialisation is refused by name', () => {
    const { model } = loadModel(path.join(FIX, 'llama-tiny-gqa-bf16'));
    expect(() => resolveLoraConfig(model.spec, { useDora: true, initLoraWeights: 'olora' as LoraConfig['initLoraWeights'] })).toThrow(/use_dora with init_lora_weights "olora" is not supported by LoRA Lab yet/);
    model.dispose();
  });
});

describe('print_trainable_parameters() with use_dora on real configs (param-counts.json)', () => {
  const cases = json<{ name: string; config: object; lora: { r: number; target_modules: string[] | string; rank_pattern?: Record<string, number> }; trainable: number; total: number }[]>(path.join(DORA, 'param-counts.json'));

  it('covers GPT-2 (Conv1D), Llama-family and a rank_pattern', () => {
    expect(cases.length).toBeGreaterThanOrEqual(5);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: r·(in + out) + out per module, PEFT\'s figures', (_n, c) => {
    const spec = parseConfig(c.config);
    const counts = countParameters(spec, { r: c.lora.r, targetModules: c.lora.target_modules, rankPattern: c.lora.rank_pattern, useDora: true });
    expect([counts.trainable, counts.total]).toEqual([c.trainable, c.total]);
  });
});

describe('training a DoRA adapter', () => {
  const data = (n: number, seed: number) => randomIds(n, 10, TINY_GPT2.vocabSize, seed).map((ids) => ({ ids, weights: ids.map((_, t) => (t >= 2 ? 1 : 0)) }));
  const cfg: TrainerConfig = {
    lr: 1e-2, schedule: 'cosine', warmupSteps: 1, epochs: 3, maxSteps: 8, batchSize: 4, gradAccum: 1, maxGradNorm: 1, adamw: { ...ADAMW_DEFAULTS, weightDecay: 0.01 },
    seed: 5, reportEvery: 1, evalEvery: 4, checkpointEvery: 4, patience: 0, baseDropout: false,
  };
  const fresh = () => {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0.1, targetModules: 'all-linear', useDora: true }, 1);
    return model;
  };
  async function run(model: ReturnType<typeof fresh>, opts: { resume?: TrainerCheckpoint; stopAt?: number; dir?: string } = {}) {
    const steps: number[] = [];
    const ac = new AbortController();
    for await (const e of trainLoop({
      model, train: data(16, 1), valid: data(4, 2), padId: 0, config: cfg, resume: opts.resume, signal: ac.signal,
      saveCheckpoint: (name, ck) => {
        if (opts.dir) writeCheckpoint(path.join(opts.dir, name), ck, model.spec, 'tiny');
        return name;
      },
    }) as AsyncIterable<TrainerEvent>) {
      if (e.type !== 'step') continue;
      steps.push(e.loss);
      if (e.step === opts.stopAt) ac.abort();
    }
    return steps;
  }

  it('trains the magnitudes with A and B, and resuming from a checkpoint on disk (magnitudes and their AdamW moments) equals the straight run within 1e-6', async () => {
    const straight = fresh();
    const m0 = straight.namedVariables().filter((n) => n.peftName.endsWith('lora_magnitude_vector')).map((n) => n.variable.dataSync().slice());
    const losses = await run(straight);
    const m1 = straight.namedVariables().filter((n) => n.peftName.endsWith('lora_magnitude_vector')).map((n) => n.variable.dataSync());
    expect(m1.length).toBe(8); // 2 layers × c_attn, attn.c_proj, c_fc, mlp.c_proj
    expect(Math.max(...m1.map((m, i) => Math.max(...Array.from(m, (v, k) => Math.abs(v - m0[i][k])))))).toBeGreaterThan(1e-3);
    const dir = tmp();
    const first = fresh();
    const head = await run(first, { stopAt: 4, dir });
    first.dispose();
    const ck = readCheckpoint(path.join(dir, 'last'));
    expect(ck.lora.useDora).toBe(true);
    expect(ck.adapter.filter((t) => t.name.endsWith('.lora_magnitude_vector')).length).toBe(8);
    const second = fresh();
    second.loadAdapter(ck.lora, new Map(ck.adapter.map((t) => [t.name, { shape: t.shape, data: t.data }])));
    const tail = await run(second, { resume: ck });
    [...head, ...tail].forEach((l, i) => expect(l).toBeCloseTo(losses[i], 6));
    const [a, b] = [second.adapterTensors(), straight.adapterTensors()];
    expect(a.map((t) => t.name)).toEqual(b.map((t) => t.name));
    a.forEach((t, i) => expect(Math.max(...Array.from(t.data, (v, k) => Math.abs(v - b[i].data[k]))), t.name).toBeLessThan(1e-6));
    straight.dispose();
    second.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});
