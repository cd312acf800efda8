// LoRA+ (issue 18, --loraplus-lr-ratio): against PyTorch + PEFT (scripts/gen_loraplus_golden.py:
// create_loraplus_optimizer over torch.optim.AdamW, LambdaLR of LoRA Lab's schedule, clipping), the
// same parameter groups as PEFT, ratio 1 and unset train bit-identically, the run config / CLI flag,
// and the TRL export's train.py building PEFT's LoRA+ optimizer.
import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdamW, ADAMW_DEFAULTS, clipByGlobalNorm, loraplusLrScales } from '../../src/core/train/optimizer';
import { learningRate } from '../../src/core/train/schedule';
import { trainLoop, type TrainerConfig, type TrainExample } from '../../src/core/train/trainer';
import { buildModel } from '../../src/core/models/load';
import { resolveRunConfig } from '../../src/core/runConfig';
import { configFromFlags } from '../../src/cli/train';
import { renderTrainPy } from '../../src/core/export/trainPy';
import { trlPlan } from '../../src/core/export/trlPlan';
import { factsMarkdown } from '../../src/core/hf/modelCard';
import { randomIds, randomWeights, TINY_GPT2 } from './helpers/randomModel';

interface Golden {
  lr: number; ratio: number; weightDecay: number; beta1: number; beta2: number; eps: number; warmupSteps: number; totalSteps: number; maxGradNorm: number;
  groups: { names: string[]; lr: number; weight_decay: number }[];
  params: { name: string; shape: number[]; init: number[] }[];
  grads: Record<string, number[]>[];
  steps: { groupLrs: number[]; norm: number; after: Record<string, number[]> }[];
}
const G: Golden = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'optim', 'loraplus.json'), 'utf8'));

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((d, x, k) => Math.max(d, Math.abs(x - b[k])), 0);

describe('LoRA+ against PEFT create_loraplus_optimizer + torch.optim.AdamW', () => {
  it("puts each tensor in PEFT's group: lora_A at lr (groupA), lora_B at lr × ratio (groupB); groupB_no_decay and embedding stay empty", () => {
    const [groupA, embedding, groupB, groupBNoDecay] = G.groups;
    expect([groupA.lr, groupB.lr, groupBNoDecay.lr]).toEqual([G.lr, G.lr * G.ratio, G.lr * G.ratio]);
    expect([groupA.weight_decay, groupB.weight_decay, groupBNoDecay.weight_decay]).toEqual([G.weightDecay, G.weightDecay, 0]);
    expect(embedding.names).toEqual([]);
    expect(groupBNoDecay.names).toEqual([]);
    const vars = G.params.map((p) => ({ peftName: p.name, variable: { rank: p.shape.length } }));
    const scales = loraplusLrScales(vars, G.ratio)!;
    G.params.forEach((p, i) => expect(scales[i], p.name).toBe(groupB.names.includes(p.name) ? G.ratio : groupA.names.includes(p.name) ? 1 : NaN));
    // LoRA Lab's own names (base_model.model.<path>.lora_B.weight) and a 1-D tensor (a DoRA magnitude would be one: PEFT's groupB).
    expect(loraplusLrScales([{ peftName: 'base_model.model.h.0.attn.c_attn.lora_A.weight', variable: { rank: 2 } }, { peftName: 'base_model.model.h.0.attn.c_attn.lora_B.weight', variable: { rank: 2 } }, { peftName: 'x.lora_magnitude_vector', variable: { rank: 1 } }], 4)).toEqual([1, 4, 4]);
    expect(loraplusLrScales(vars, undefined)).toBeUndefined();
    expect(() => loraplusLrScales([{ peftName: 'base_model.model.wte.lora_embedding_A', variable: { rank: 2 } }], 16)).toThrow(/loraplus_lr_embedding/);
  });

  it(`${G.steps.length} clipped steps under the warm-up + cosine schedule equal torch's parameters within 1e-6`, () => {
    const vars = G.params.map((p) => tf.variable(tf.tensor(p.init, p.shape)));
    const named = G.params.map((p, i) => ({ peftName: p.name, variable: vars[i] }));
    const opt = new AdamW(vars, { beta1: G.beta1, beta2: G.beta2, eps: G.eps, weightDecay: G.weightDecay }, loraplusLrScales(named, G.ratio));
    G.steps.forEach((s, step) => {
      const lr = learningRate({ kind: 'cosine', baseLr: G.lr, warmupSteps: G.warmupSteps, totalSteps: G.totalSteps }, step);
      // LambdaLR scales each group's own base rate by the schedule's factor: A at lr, B at lr × ratio.
      expect(lr).toBeCloseTo(s.groupLrs[0], 15);
      expect(lr * G.ratio).toBeCloseTo(s.groupLrs[2], 14);
      const { grads, norm } = clipByGlobalNorm(G.params.map((p) => tf.tensor(G.grads[step][p.name], p.shape)), G.maxGradNorm);
      expect(norm).toBeCloseTo(s.norm, 5);
      opt.apply(grads, lr);
      tf.dispose(grads);
      G.params.forEach((p, i) => expect(maxAbs(vars[i].dataSync(), s.after[p.name]), `${p.name} after step ${step + 1}`).toBeLessThan(1e-6));
    });
    // Without the multipliers B would be far off: the golden values do test the ratio.
    const plain = G.params.map((p) => tf.variable(tf.tensor(p.init, p.shape)));
    const po = new AdamW(plain, { beta1: G.beta1, beta2: G.beta2, eps: G.eps, weightDecay: G.weightDecay });
    const grads = G.params.map((p) => tf.tensor(G.grads[0][p.name], p.shape));
    po.apply(clipByGlobalNorm(grads, G.maxGradNorm).grads, G.lr / G.warmupSteps);
    const b = G.params.findIndex((p) => p.name.includes('lora_B'));
    expect(maxAbs(plain[b].dataSync(), G.steps[0].after[G.params[b].name])).toBeGreaterThan(1e-3);
    opt.dispose();
    po.dispose();
    tf.dispose([...vars, ...plain]);
  });

  it('refuses scales that do not match the variables', () => {
    const v = tf.variable(tf.zeros([2]));
    expect(() => new AdamW([v], ADAMW_DEFAULTS, [1, 2])).toThrow('2 learning-rate scales for 1 variables');
    v.dispose();
  });
});

describe('LoRA+ in the training loop', () => {
  const examples = (n: number, seed: number): TrainExample[] =>
    randomIds(n, 10, TINY_GPT2.vocabSize, seed).map((ids, i) => ({ ids: ids.slice(0, 5 + (i % 5)), weights: ids.slice(0, 5 + (i % 5)).map((_, t) => (t >= 2 ? 1 : 0)) }));
  const CFG: TrainerConfig = {
    lr: 5e-3, schedule: 'cosine', warmupSteps: 1, epochs: 1, maxSteps: 4, batchSize: 4, gradAccum: 1, maxGradNorm: 1.0,
    adamw: { ...ADAMW_DEFAULTS, weightDecay: 0.01 }, seed: 3, reportEvery: 1, evalEvery: 100, checkpointEvery: 100, patience: 0,
  };
  async function train(cfg: TrainerConfig) {
    const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
    model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' }, 1);
    const losses: number[] = [];
    for await (const e of trainLoop({ model, train: examples(12, 1), valid: [], padId: 0, config: cfg, saveCheckpoint: (n) => n })) if (e.type === 'step') losses.push(e.loss);
    const tensors = model.adapterTensors();
    model.dispose();
    return { losses, tensors };
  }

  it('ratio 1 trains bit-identically to no ratio; ratio 16 moves B further and trains differently', async () => {
    const plain = await train(CFG);
    const one = await train({ ...CFG, loraplusLrRatio: 1 });
    expect(one.losses).toEqual(plain.losses);
    expect(one.tensors.map((t) => Array.from(t.data))).toEqual(plain.tensors.map((t) => Array.from(t.data)));
    const plus = await train({ ...CFG, loraplusLrRatio: 16 });
    expect(plus.losses[0]).toBe(plain.losses[0]); // the first step's loss is before any update
    expect(plus.losses.slice(1)).not.toEqual(plain.losses.slice(1));
    const norm = (ts: typeof plain.tensors, which: string) => Math.sqrt(ts.filter((t) => t.name.includes(which)).reduce((s, t) => s + t.data.reduce((a, x) => a + x * x, 0), 0));
    expect(norm(plus.tensors, 'lora_B')).toBeGreaterThan(4 * norm(plain.tensors, 'lora_B'));
  });
});

describe('LoRA+ in the run config and the TRL export', () => {
  it('is training.loraplusLrRatio: unset by default, --loraplus-lr-ratio on the CLI, > 0', () => {
    expect(resolveRunConfig({ model: 'm', data: 'd' }).training.loraplusLrRatio).toBeUndefined();
    expect(resolveRunConfig({ model: 'm', data: 'd', training: { loraplusLrRatio: 16 } }).training.loraplusLrRatio).toBe(16);
    expect(configFromFlags({ 'loraplus-lr-ratio': '16' }).training).toMatchObject({ loraplusLrRatio: 16 });
    expect(() => configFromFlags({ 'loraplus-lr-ratio': '0' })).toThrow('--loraplus-lr-ratio must be a number > 0, got "0"');
  });

  it("train.py builds PEFT's create_loraplus_optimizer with the ratio and the run's weight decay; without a ratio, the Trainer's AdamW", () => {
    const c = resolveRunConfig({ model: '/m', data: '/d/train.jsonl', training: { loraplusLrRatio: 16, weightDecay: 0.01 } });
    const plan = trlPlan(c, 20);
    expect(plan.loraplusLrRatio).toBe(16);
    expect(plan.sft).not.toHaveProperty('loraplus_lr_ratio');
    expect(plan.mapping.find((m) => m.field === 'training.loraplusLrRatio')).toMatchObject({ to: 'create_loraplus_optimizer(loraplus_lr_ratio)', value: 16 });
    const py = renderTrainPy({ plan, runId: 'r', baseModel: '/m', padId: 0, validLossTokens: 1 });
    expect(py).toContain('LORAPLUS_LR_RATIO = 16  #');
    expect(py).toContain('create_loraplus_optimizer(\n                    opt_model, optimizer_cls, loraplus_lr_ratio=LORAPLUS_LR_RATIO, loraplus_weight_decay=self.args.weight_decay, **optimizer_kwargs');
    const off = trlPlan(resolveRunConfig({ model: '/m', data: '/d/train.jsonl' }), 20);
    expect(off.loraplusLrRatio).toBeUndefined();
    expect(renderTrainPy({ plan: off, runId: 'r', baseModel: '/m', padId: 0, validLossTokens: 1 })).toContain('LORAPLUS_LR_RATIO = None  #');
  });

  it("the model card's training line names the ratio when set, and stays as before without it", () => {
    const training = { learningRate: 2e-4, schedule: 'cosine', warmup: '0 steps', steps: '2 steps', batchSize: 4, gradientAccumulation: 1, maxSeqLen: 256, seed: 42, weightDecay: 0 };
    expect(factsMarkdown({ baseModel: 'm', version: '0', training: { ...training, loraplusLrRatio: 16 } })).toContain("weight decay 0; LoRA+: B's learning rate × 16 (PEFT's create_loraplus_optimizer)\n");
    expect(factsMarkdown({ baseModel: 'm', version: '0', training })).toContain('weight decay 0\n');
  });
});
