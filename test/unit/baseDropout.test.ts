// The base model's own dropout in training (issue 18 item 5): GPT-2's embd/attn/resid_pdrop and
// Llama's attention_dropout, applied as PyTorch applies them in model.train(). Reference: PyTorch
// forward + loss.backward() of a PEFT model with every dropout mask fixed beforehand
// (scripts/gen_dropout_golden.py → test/fixtures/dropout/); the same masks go in through
// ForwardContext.baseDropout. Invariants: probabilities 0 run today's ops; evaluation is unaffected;
// keep and recompute give identical gradients; a seed gives the same masks twice; a mask keeps 1 − p.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, readConfig, type DropoutProbs } from '../../src/core/hf/config';
import { WeightStore } from '../../src/core/hf/weights';
import { resolveLoraConfig } from '../../src/core/lora/config';
import type { BaseDropoutMasks, ForwardContext } from '../../src/core/lora/layer';
import { dropoutMask, seededBaseDropout } from '../../src/core/models/baseDropout';
import type { CausalLM } from '../../src/core/models/causalLm';
import { buildModel, loadModel } from '../../src/core/models/load';
import { ADAMW_DEFAULTS } from '../../src/core/train/optimizer';
import { trainLoop, type TrainerConfig } from '../../src/core/train/trainer';
import { trlPlan } from '../../src/core/export/trlPlan';
import { renderTrainPy } from '../../src/core/export/trainPy';
import { resolveRunConfig } from '../../src/core/runConfig';
import { randomIds, randomWeights, TINY_GPT2 } from './helpers/randomModel';

const FIX = path.join(__dirname, '..', 'fixtures');

interface DropoutGolden {
  fixture: string;
  probs: Record<string, number>;
  lora: { r: number; alpha: number; targets: string[] };
  input_ids: number[][];
  adapter: Record<string, { shape: number[]; data: number[] }>;
  masks: Record<string, { p: number; shape: number[]; data: number[] }>;
  loss: number;
  evalLoss: number;
  grads: Record<string, number[]>;
}

const golden = (name: string): DropoutGolden => JSON.parse(fs.readFileSync(path.join(FIX, 'dropout', `${name}.json`), 'utf8')) as DropoutGolden;

/** The fixture's model with the golden's dropout probabilities (set in the script, not in its config.json) and adapter. */
function goldenModel(g: DropoutGolden): CausalLM {
  const dir = path.join(FIX, g.fixture);
  const { spec } = readConfig(dir);
  const dropout: DropoutProbs = spec.family === 'gpt2'
    ? { embd: g.probs.embd_pdrop, attn: g.probs.attn_pdrop, resid: g.probs.resid_pdrop }
    : { embd: 0, attn: g.probs.attention_dropout, resid: 0 };
  const store = WeightStore.open(dir);
  const { model } = buildModel({ ...spec, dropout }, store, dir);
  store.close();
  const cfg = resolveLoraConfig(model.spec, { r: g.lora.r, loraAlpha: g.lora.alpha, loraDropout: 0, targetModules: g.lora.targets });
  model.loadAdapter(cfg, new Map(Object.entries(g.adapter).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }])));
  return model;
}

/** PyTorch's masks by site; every site must be asked for (once per forward), with its p and a shape holding the same elements. */
function injected(g: DropoutGolden): { masks: BaseDropoutMasks; asked: Map<string, number> } {
  const asked = new Map<string, number>();
  const masks: BaseDropoutMasks = (site, shape, p) => {
    const m = g.masks[site];
    if (!m) throw new Error(`no PyTorch mask for site ${site}`);
    expect(p, site).toBeCloseTo(m.p, 12);
    expect(shape.reduce((a, b) => a * b, 1), site).toBe(m.data.length);
    asked.set(site, (asked.get(site) ?? 0) + 1);
    return tf.tensor(m.data, shape);
  };
  return { masks, asked };
}

function maxRelDiff(ours: tf.Tensor, ref: number[]): number {
  const scale = Math.max(1e-6, ...ref.map(Math.abs));
  return tf.tidy(() => ours.flatten().sub(tf.tensor1d(ref)).abs().max().dataSync()[0]) / scale;
}

describe.each([
  ['gpt2', 'GPT-2 (embd 0.1, attn 0.2, resid 0.15): 7 masks'],
  ['llama', 'Llama GQA 4:2 (attention_dropout 0.3): 2 masks'],
])('%s — %s', (name) => {
  const g = golden(name);

  it.each(['keep', 'recompute'] as const)(
    'lossAndGrads (%s) with PyTorch\'s masks: loss within 1e-5 and every lora_A/lora_B gradient within 1e-4 relative of loss.backward()',
    (mode) => {
      const model = goldenModel(g);
      model.activationMode = mode;
      const { masks, asked } = injected(g);
      const r = model.lossAndGrads(g.input_ids, undefined, { training: true, baseDropout: masks });
      expect(Math.abs(r.loss - g.loss)).toBeLessThan(1e-5);
      expect(Math.abs(r.loss - g.evalLoss)).toBeGreaterThan(1e-3); // the masks change the loss: a dropout that was skipped would show
      const named = model.namedVariables();
      expect(named.map((n) => n.peftName).sort()).toEqual(Object.keys(g.grads).sort());
      named.forEach(({ peftName }, k) => {
        const ours = tf.tidy(() => r.grads[k].transpose()); // variables hold Aᵀ / Bᵀ
        expect(maxRelDiff(ours, g.grads[peftName]), peftName).toBeLessThan(1e-4);
        ours.dispose();
      });
      // Each site once in the forward; recompute mode asks the adapted blocks' sites again in the backward.
      expect([...asked.keys()].sort()).toEqual(Object.keys(g.masks).sort());
      for (const [site, n] of asked) expect(n, site).toBe(mode === 'keep' || site === 'transformer.drop' ? 1 : 2);
      tf.dispose(r.grads);
      model.dispose();
    },
  );

  it('the tape path (autograd of model.loss in training) gives the same loss and gradients within 1e-4 relative', () => {
    const model = goldenModel(g);
    const named = model.namedVariables();
    const { masks } = injected(g);
    const { value, grads } = tf.variableGrads(() => model.loss(g.input_ids, undefined, { training: true, baseDropout: masks }).loss, named.map((n) => n.variable));
    expect(Math.abs(value.dataSync()[0] - g.loss)).toBeLessThan(1e-5);
    for (const { peftName, variable } of named) {
      const ours = grads[variable.name].transpose();
      expect(maxRelDiff(ours, g.grads[peftName]), peftName).toBeLessThan(1e-4);
      ours.dispose();
    }
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
  });

  it('evaluation is unaffected: the eval loss equals PyTorch\'s model.eval() loss within 1e-5, and training without baseDropout equals it too', () => {
    const model = goldenModel(g);
    const evalLoss = model.loss(g.input_ids);
    expect(Math.abs(evalLoss.loss.dataSync()[0] - g.evalLoss)).toBeLessThan(1e-5);
    const off = model.lossAndGrads(g.input_ids, undefined, { training: true }); // training.baseDropout false: no ctx.baseDropout
    expect(Math.abs(off.loss - g.evalLoss)).toBeLessThan(1e-5);
    tf.dispose([evalLoss.loss, ...off.grads]);
    model.dispose();
  });
});

describe('seeded masks (training.baseDropout on)', () => {
  const g = golden('gpt2');
  const grads = (model: CausalLM, ctx: ForwardContext): { loss: number; values: Float32Array[] } => {
    const r = model.lossAndGrads(g.input_ids, undefined, ctx);
    const values = r.grads.map((t) => t.dataSync() as Float32Array);
    tf.dispose(r.grads);
    return { loss: r.loss, values };
  };

  it('keep and recompute give bit-identical loss and gradients (the recomputed forward redraws the same masks)', () => {
    const model = goldenModel(g);
    const ctx = { training: true, baseDropout: seededBaseDropout(1234) };
    model.activationMode = 'keep';
    const keep = grads(model, ctx);
    model.activationMode = 'recompute';
    const recompute = grads(model, ctx);
    expect(recompute.loss).toBe(keep.loss);
    recompute.values.forEach((v, k) => expect(Array.from(v)).toEqual(Array.from(keep.values[k])));
    model.dispose();
  });

  it('the same seed gives the same loss twice; another seed another loss; neither is the eval loss', () => {
    const model = goldenModel(g);
    const a = grads(model, { training: true, baseDropout: seededBaseDropout(7) });
    const b = grads(model, { training: true, baseDropout: seededBaseDropout(7) });
    const c = grads(model, { training: true, baseDropout: seededBaseDropout(8) });
    expect(b.loss).toBe(a.loss);
    expect(c.loss).not.toBe(a.loss);
    expect(Math.abs(a.loss - g.evalLoss)).toBeGreaterThan(1e-4);
    model.dispose();
  });

  it('a mask keeps 1 − p of its elements (within 4σ of the binomial) at 1/(1 − p), the rest 0; sites draw independent masks', () => {
    for (const p of [0.1, 0.5]) {
      const n = 200_000;
      const m = dropoutMask([n], p, 99);
      const data = m.dataSync();
      const kept = data.filter((v) => v !== 0);
      expect(new Set(kept)).toEqual(new Set([Math.fround(1 / (1 - p))]));
      expect(Math.abs(kept.length / n - (1 - p))).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
      m.dispose();
    }
    const draw = seededBaseDropout(3);
    const [x, y] = [draw('transformer.h.0.attn.resid_dropout', [64, 64], 0.5), draw('transformer.h.0.mlp.dropout', [64, 64], 0.5)];
    const same = tf.tidy(() => x.equal(y).cast('float32').mean().dataSync()[0]);
    expect(Math.abs(same - 0.5)).toBeLessThan(0.05); // independent: half agree, not all
    tf.dispose([x, y]);
  });
});

describe('probabilities 0 (samples/model, the fixtures) take exactly the path without dropout', () => {
  it('gpt2-tiny: no mask is asked for, the same kernels run and the loss and gradients are bit-identical', async () => {
    const { model } = loadModel(path.join(FIX, 'gpt2-tiny'));
    expect(model.spec.dropout).toEqual({ embd: 0, attn: 0, resid: 0 });
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' }, 3);
    for (const v of model.trainableVariables()) v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', 5));
    const ids = [[1, 5, 9, 13, 17, 21, 25, 29]];
    const never: BaseDropoutMasks = (site) => {
      throw new Error(`asked for ${site}`);
    };
    tf.dispose(model.lossAndGrads(ids, undefined, { training: false }).grads); // caches the causal mask
    const run = async (ctx: ForwardContext) => {
      let r: ReturnType<CausalLM['lossAndGrads']> | undefined;
      const info = await tf.profile(() => {
        r = model.lossAndGrads(ids, undefined, ctx);
        return r.grads;
      });
      const out = { loss: r!.loss, grads: r!.grads.map((t) => Array.from(t.dataSync())), kernels: info.kernels.map((k) => k.name) };
      tf.dispose(r!.grads);
      return out;
    };
    const without = await run({ training: true });
    const withHook = await run({ training: true, baseDropout: never });
    expect(withHook.kernels).toEqual(without.kernels);
    expect(withHook.loss).toBe(without.loss);
    expect(withHook.grads).toEqual(without.grads);
    model.dispose();
  });

  it("Llama-family configs read attention_dropout (0 when absent); GPT-2's absent pdrop keys are GPT2Config's 0.1", () => {
    const { spec: llama } = readConfig(path.join(FIX, 'llama-tiny-gqa-bf16'));
    expect(llama.dropout).toEqual({ embd: 0, attn: 0, resid: 0 });
    const { spec: sample } = readConfig(path.join(FIX, '..', '..', 'samples', 'model'));
    expect(sample.dropout).toEqual({ embd: 0, attn: 0, resid: 0 });
    const gpt2 = { architectures: ['GPT2LMHeadModel'], n_embd: 16, n_head: 2, n_layer: 2, vocab_size: 40 };
    expect(parseConfig(gpt2).dropout).toEqual({ embd: 0.1, attn: 0.1, resid: 0.1 });
    expect(() => parseConfig({ ...gpt2, attn_pdrop: 1.5 }, 'm/config.json')).toThrow('m/config.json: "attn_pdrop" must be a dropout probability in [0, 1), found 1.5');
  });
});

describe('the trainer (training.baseDropout)', () => {
  const CFG: TrainerConfig = {
    lr: 5e-3, schedule: 'constant', warmupSteps: 0, epochs: 1, maxSteps: 3, batchSize: 2, gradAccum: 2, maxGradNorm: 1,
    adamw: ADAMW_DEFAULTS, seed: 5, reportEvery: 1, evalEvery: 100, checkpointEvery: 100, patience: 0,
  };
  const train = randomIds(8, 10, TINY_GPT2.vocabSize, 4).map((ids) => ({ ids, weights: ids.map(() => 1) }));
  const losses = async (dropout: DropoutProbs, baseDropout: boolean | undefined): Promise<number[]> => {
    const spec = { ...TINY_GPT2, dropout };
    const { model } = buildModel(spec, randomWeights(spec, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' }, 1);
    const out: number[] = [];
    for await (const e of trainLoop({ model, train, valid: [], padId: 0, config: { ...CFG, baseDropout }, saveCheckpoint: () => 'mem' })) {
      if (e.type === 'step') out.push(e.loss);
    }
    model.dispose();
    return out;
  };
  const on: DropoutProbs = { embd: 0.1, attn: 0.1, resid: 0.1 };
  const zero: DropoutProbs = { embd: 0, attn: 0, resid: 0 };

  it('on by default: other losses than off, the same twice; off equals a model whose probabilities are 0, bit for bit', async () => {
    const byDefault = await losses(on, undefined);
    const again = await losses(on, true);
    const off = await losses(on, false);
    const none = await losses(zero, undefined);
    expect(again).toEqual(byDefault);
    byDefault.forEach((l, i) => expect(l).not.toBe(off[i]));
    expect(off).toEqual(none);
  });
});

describe("the TRL export's train.py", () => {
  it("keeps the Trainer's model.train() dropout when on; when off, loads the model with its dropout probabilities at 0", () => {
    for (const baseDropout of [true, false]) {
      const plan = trlPlan(resolveRunConfig({ model: 'm', data: 'd', training: { baseDropout, maxSteps: 2 } }), 10);
      expect(plan.baseDropout).toBe(baseDropout);
      expect(plan.mapping.find((m) => m.field === 'training.baseDropout')?.value).toBe(baseDropout);
      const py = renderTrainPy({ plan, runId: 'r', baseModel: '/m', padId: 0, validLossTokens: 1 });
      expect(py).toContain(`BASE_DROPOUT = ${baseDropout ? 'True' : 'False'}  #`);
      // Only the keys the model's config has (GPT-2: *_pdrop; Llama family: attention_dropout), passed to from_pretrained.
      expect(py).toContain('off = {k: 0.0 for k in ("attn_pdrop", "embd_pdrop", "resid_pdrop", "attention_dropout") if hasattr(cfg, k)}');
      expect(py).toContain('model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, **off)');
    }
  });
});
