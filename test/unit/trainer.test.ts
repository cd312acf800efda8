// The training loop's contracts: gradient accumulation equals the larger batch, resume equals
// an uninterrupted run, cancel takes effect within one step and saves, the loss falls, and a
// NaN stops the run keeping the last good state.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { TrainerCheckpoint } from '../../src/core/train/checkpoint';
import { buildModel } from '../../src/core/models/load';
import { ADAMW_DEFAULTS } from '../../src/core/train/optimizer';
import { lengthGroupedOrder } from '../../src/core/data';
import { dropoutSeeds, trainLoop, type TrainerConfig, type TrainerEvent } from '../../src/core/train/trainer';
import type { TrainExample } from '../../src/core/train/trainer';
import { randomIds, randomWeights, TINY_GPT2 } from './helpers/randomModel';

function examples(n: number, seed: number): TrainExample[] {
  // Variable lengths so padding and token weighting matter; the first 3 tokens are "prompt".
  return randomIds(n, 12, TINY_GPT2.vocabSize, seed).map((ids, i) => {
    const len = 6 + (i % 6);
    return { ids: ids.slice(0, len), weights: ids.slice(0, len).map((_, t) => (t >= 3 ? 1 : 0)) };
  });
}

const CFG: TrainerConfig = {
  lr: 5e-3, schedule: 'cosine', warmupSteps: 2, epochs: 3, batchSize: 4, gradAccum: 1, maxGradNorm: 1.0,
  adamw: { ...ADAMW_DEFAULTS, weightDecay: 0.01 }, seed: 3, reportEvery: 1, evalEvery: 5, checkpointEvery: 5, patience: 0,
};

function freshModel() {
  const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
  model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: 0, targetModules: 'all-linear' }, 1);
  return model;
}

async function run(cfg: TrainerConfig, opts: { resume?: TrainerCheckpoint; signal?: AbortSignal; onEvent?: (e: TrainerEvent, model: ReturnType<typeof freshModel>) => void; model?: ReturnType<typeof freshModel> } = {}) {
  const model = opts.model ?? freshModel();
  const saved: Record<string, TrainerCheckpoint> = {};
  const events: TrainerEvent[] = [];
  for await (const e of trainLoop({
    model, train: examples(16, 1), valid: examples(4, 2), padId: 0, config: cfg, resume: opts.resume, signal: opts.signal,
    saveCheckpoint: (name, ckpt) => {
      saved[name] = ckpt;
      return `mem:${name}`;
    },
  })) {
    events.push(e);
    opts.onEvent?.(e, model);
  }
  return { model, events, saved, steps: events.filter((e) => e.type === 'step') as Extract<TrainerEvent, { type: 'step' }>[] };
}

function adapterValues(m: ReturnType<typeof freshModel>): Float32Array[] {
  return m.adapterTensors().map((t) => t.data);
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, k) => (d = Math.max(d, Math.abs(v - b[i][k])))));
  return d;
}

describe('trainLoop', () => {
  it('gradient accumulation 2 × batch 2 equals batch 4 (same examples, token-weighted mean): weights within 1e-5 after 4 steps', async () => {
    // Without random masks: dropout draws its masks per forward (as PyTorch does), so two micro-batches of 2
    // see other masks than one batch of 4. TINY_GPT2's pdrop are GPT2Config's 0.1 (its config names none).
    const a = await run({ ...CFG, maxSteps: 4, batchSize: 4, gradAccum: 1, baseDropout: false });
    const b = await run({ ...CFG, maxSteps: 4, batchSize: 2, gradAccum: 2, baseDropout: false });
    a.steps.forEach((s, i) => expect(b.steps[i].loss).toBeCloseTo(s.loss, 5));
    expect(maxDiff(adapterValues(a.model), adapterValues(b.model))).toBeLessThan(1e-5);
    a.model.dispose();
    b.model.dispose();
  });

  it('resume: 20 steps straight equal 10 steps + resume from the checkpoint + 10 steps (losses and weights)', async () => {
    const cfg = { ...CFG, maxSteps: 20, checkpointEvery: 10, evalEvery: 4, patience: 0 };
    const straight = await run(cfg);
    // First half: stop after step 10 by cancelling, as a user would.
    const ac = new AbortController();
    const first = await run(cfg, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.step === 10 && ac.abort() });
    expect(first.saved.last.progress.step).toBe(10);
    first.model.dispose();
    // Second half in a fresh model restored from the checkpoint alone.
    const model = freshModel();
    const ck = first.saved.last;
    model.loadAdapter(ck.lora, new Map(ck.adapter.map((t) => [t.name, { shape: t.shape, data: t.data }])));
    const second = await run(cfg, { resume: ck, model });
    const losses = [...first.steps, ...second.steps].map((s) => s.loss);
    expect(losses).toHaveLength(20);
    losses.forEach((l, i) => expect(l).toBeCloseTo(straight.steps[i].loss, 6));
    expect(maxDiff(adapterValues(second.model), adapterValues(straight.model))).toBeLessThan(1e-6);
    const lastDone = second.events.at(-1) as Extract<TrainerEvent, { type: 'done' }>;
    expect(lastDone.bestValLoss).toBeCloseTo((straight.events.at(-1) as typeof lastDone).bestValLoss!, 6);
    straight.model.dispose();
    second.model.dispose();
  });

  it('groupByLength: steps take the length-grouped order (their token counts), and resume still equals the straight run', async () => {
    const cfg = { ...CFG, maxSteps: 8, batchSize: 2, checkpointEvery: 4, evalEvery: 4, groupByLength: true };
    const straight = await run(cfg);
    const lengths = examples(16, 1).map((e) => e.ids.length);
    const order = lengthGroupedOrder(lengths, 2, CFG.seed, 0);
    const expected = Array.from({ length: 8 }, (_, k) => lengths[order[2 * k]] + lengths[order[2 * k + 1]]);
    expect(straight.steps.map((s) => s.tokens)).toEqual(expected);
    expect(lengths[order[0]]).toBe(Math.max(...lengths)); // the batch with the longest example first
    const shuffled = await run({ ...cfg, groupByLength: false });
    expect(shuffled.steps.map((s) => s.tokens)).not.toEqual(expected);
    shuffled.model.dispose();
    const ac = new AbortController();
    const first = await run(cfg, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.step === 4 && ac.abort() });
    first.model.dispose();
    const model = freshModel();
    const ck = first.saved.last;
    model.loadAdapter(ck.lora, new Map(ck.adapter.map((t) => [t.name, { shape: t.shape, data: t.data }])));
    const second = await run(cfg, { resume: ck, model });
    [...first.steps, ...second.steps].forEach((st, i) => expect(st.loss).toBeCloseTo(straight.steps[i].loss, 6));
    expect(maxDiff(adapterValues(second.model), adapterValues(straight.model))).toBeLessThan(1e-6);
    straight.model.dispose();
    second.model.dispose();
  });

  it('cancel: aborting during step 3 ends the run within that step, saves a "last" checkpoint and reports cancelled', async () => {
    const ac = new AbortController();
    const r = await run({ ...CFG, batchSize: 2, gradAccum: 4 }, { signal: ac.signal, onEvent: (e) => e.type === 'step' && e.step === 2 && setImmediate(() => ac.abort()) });
    const done = r.events.at(-1) as Extract<TrainerEvent, { type: 'done' }>;
    expect(done.status).toBe('cancelled');
    expect(done.step).toBeLessThanOrEqual(3);
    expect(r.saved.last.progress.step).toBe(done.step);
    r.model.dispose();
  });

  it('the training loss falls on a tiny dataset (mean of the last 3 steps < 80% of the first)', async () => {
    // The model's own dropout off: TINY_GPT2's pdrop 0.1 (GPT2Config's default) on a 16-wide model make the
    // train-mode loss too noisy for this threshold (with it on: 3.35 against 0.8 × 4.07); baseDropout.test.ts trains with it.
    const r = await run({ ...CFG, lr: 2e-2, epochs: 6, schedule: 'constant', baseDropout: false });
    const first = r.steps[0].loss;
    const tail = r.steps.slice(-3).reduce((s, x) => s + x.loss, 0) / 3;
    expect(tail).toBeLessThan(0.8 * first);
    expect(r.events.some((e) => e.type === 'eval')).toBe(true);
    r.model.dispose();
  });

  it('a NaN loss stops the run ("diverged"), names the remedy, and keeps the last good checkpoint', async () => {
    const r = await run({ ...CFG, maxSteps: 10 }, {
      onEvent: (e, model) => {
        if (e.type === 'step' && e.step === 3) model.trainableVariables()[0].assign(tf.fill(model.trainableVariables()[0].shape, NaN));
      },
    });
    const done = r.events.at(-1) as Extract<TrainerEvent, { type: 'done' }>;
    expect(done.status).toBe('diverged');
    expect(done.message).toMatch(/lower the learning rate/);
    expect(r.saved.last.progress.step).toBe(3);
    expect(r.saved.last.adapter.every((t) => t.data.every(Number.isFinite))).toBe(true);
    r.model.dispose();
  });

  it('early stopping: with patience 1 and a rate that overshoots, stops at the first evaluation without improvement', async () => {
    const r = await run({ ...CFG, lr: 0.5, schedule: 'constant', warmupSteps: 0, evalEvery: 1, patience: 1, epochs: 10 });
    const done = r.events.at(-1) as Extract<TrainerEvent, { type: 'done' }>;
    const evals = r.events.filter((e) => e.type === 'eval') as Extract<TrainerEvent, { type: 'eval' }>[];
    expect(done.status).toBe('early-stopped');
    expect(evals.at(-1)!.best).toBe(false);
    expect(r.saved.best.progress.step).toBe(done.bestStep);
    r.model.dispose();
  });
});

describe('LoRA-dropout seeds', () => {
  it('one per adapted block, each block counting its modules up from it: no two blocks of a step share a seed (the old `>>> 1` gave calls 2j and 2j+1 one seed)', () => {
    for (const [seed, step] of [[42, 0], [42, 1], [0, 7], [123_456, 999]]) {
      const next = dropoutSeeds(seed, step);
      const bases = Array.from({ length: 48 }, () => next());
      // The seeds CausalLM hands a block's modules: base, base+1, … (7 linear modules per Llama block).
      const used = bases.flatMap((b) => Array.from({ length: 7 }, (_, k) => (b + k) >>> 0));
      expect(new Set(used).size).toBe(used.length);
    }
  });

  it('the same (seed, step) gives the same sequence (a resumed run draws the masks of the uninterrupted one); another step another one', () => {
    const take = (seed: number, step: number) => { const n = dropoutSeeds(seed, step); return [n(), n(), n()]; };
    expect(take(42, 5)).toEqual(take(42, 5));
    expect(take(42, 6)).not.toEqual(take(42, 5));
    expect(take(43, 5)).not.toEqual(take(42, 5));
  });
});
