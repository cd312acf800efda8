// Provenance of every training step (issue 15): a step row's `examples` are the lines of the
// examples the sampler chose for it (epochOrder / lengthGroupedOrder mapped through
// Example.line, across gradient-accumulation micro-batches), each line once per epoch, also
// across a resume; `exampleLosses` come from the same forward and their token-weighted mean
// equals the step's loss within 1e-5 relative. The per-row sums equal separate forwards of each
// example alone (the reference: CausalLM.loss of one row).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/core/models/load';
import { ADAMW_DEFAULTS } from '../../src/core/train/optimizer';
import { epochOrder, lengthGroupedOrder, makeBatch } from '../../src/core/data';
import { trainLoop, type TrainerConfig, type TrainerEvent, type TrainExample } from '../../src/core/train/trainer';
import type { TrainerCheckpoint } from '../../src/core/train/checkpoint';
import { evalLoss } from '../../src/core/train/evalLoss';
import { decodeEvalExampleRow, decodeMetricsLine } from '../../src/protocol/metrics';
import { randomIds, randomWeights, TINY_GPT2 } from './helpers/randomModel';

/** Variable lengths and a 3-token prompt; line i·3 + 2 (as if rows were separated by blank lines and a header). */
function examples(n: number, seed: number): TrainExample[] {
  return randomIds(n, 12, TINY_GPT2.vocabSize, seed).map((ids, i) => {
    const len = 6 + (i % 6);
    return { ids: ids.slice(0, len), weights: ids.slice(0, len).map((_, t) => (t >= 3 ? 1 : 0)), line: i * 3 + 2 };
  });
}

const lossTokens = (e: TrainExample) => e.weights.filter((w, t) => t > 0 && w > 0).length;

const CFG: TrainerConfig = {
  lr: 5e-3, schedule: 'cosine', warmupSteps: 2, epochs: 1, batchSize: 4, gradAccum: 1, maxGradNorm: 1.0,
  adamw: { ...ADAMW_DEFAULTS, weightDecay: 0.01 }, seed: 3, reportEvery: 1, evalEvery: 100, checkpointEvery: 100, patience: 0,
};

function freshModel(dropout = 0) {
  const { model } = buildModel(TINY_GPT2, randomWeights(TINY_GPT2, 3), 'mem');
  model.addAdapter({ r: 4, loraAlpha: 8, loraDropout: dropout, targetModules: 'all-linear' }, 1);
  return model;
}

type Step = Extract<TrainerEvent, { type: 'step' }>;

async function run(train: TrainExample[], cfg: TrainerConfig, opts: { resume?: TrainerCheckpoint; signal?: AbortSignal; onStep?: (s: Step) => void; dropout?: number } = {}) {
  const model = freshModel(opts.dropout);
  if (opts.resume) model.loadAdapter(opts.resume.lora, new Map(opts.resume.adapter.map((t) => [t.name, { shape: t.shape, data: t.data }])));
  const saved: Record<string, TrainerCheckpoint> = {};
  const steps: Step[] = [];
  for await (const e of trainLoop({
    model, train, valid: [], padId: 0, config: cfg, resume: opts.resume, signal: opts.signal,
    saveCheckpoint: (name, ck) => {
      saved[name] = ck;
      return `mem:${name}`;
    },
  })) {
    if (e.type === 'step') {
      steps.push(e);
      opts.onStep?.(e);
    }
  }
  model.dispose();
  return { steps, saved };
}

/** The token-weighted mean of a step's example losses, weights = each example's loss tokens. */
function weightedMean(step: Step, byLine: Map<number, TrainExample>): number {
  let sum = 0;
  let w = 0;
  step.examples!.forEach((line, k) => {
    const n = lossTokens(byLine.get(line)!);
    sum += step.exampleLosses![k]! * n;
    w += n;
  });
  return sum / w;
}

describe('provenance of training steps', () => {
  const train = examples(18, 1); // 18 examples: the last batch of an epoch is short
  const byLine = new Map(train.map((e) => [e.line!, e]));

  for (const gradAccum of [1, 3]) {
    it(`gradient accumulation ${gradAccum}: each step's examples are epochOrder's slice mapped to lines; token-weighted mean of exampleLosses = loss within 1e-5`, async () => {
      const cfg = { ...CFG, batchSize: 2, gradAccum, epochs: 2 };
      const { steps } = await run(train, cfg, { dropout: 0.1 });
      const perEpoch = Math.ceil(Math.ceil(18 / 2) / gradAccum);
      expect(steps).toHaveLength(2 * perEpoch);
      for (let epoch = 0; epoch < 2; epoch++) {
        const order = epochOrder(18, CFG.seed, epoch).map((i) => train[i].line);
        const lines = steps.slice(epoch * perEpoch, (epoch + 1) * perEpoch).flatMap((s) => s.examples!);
        expect(lines).toEqual(order); // batch order, across micro-batches: each line exactly once
      }
      for (const s of steps) {
        expect(s.exampleLosses).toHaveLength(s.examples!.length);
        expect(Math.abs(weightedMean(s, byLine) - s.loss) / s.loss).toBeLessThan(1e-5);
      }
    });
  }

  it('--group-by-length: the steps follow lengthGroupedOrder, each line once per epoch', async () => {
    const cfg = { ...CFG, batchSize: 4, gradAccum: 2, groupByLength: true };
    const { steps } = await run(train, cfg);
    const order = lengthGroupedOrder(train.map((e) => e.ids.length), 4, CFG.seed, 0).map((i) => train[i].line);
    expect(steps.flatMap((s) => s.examples!)).toEqual(order);
    for (const s of steps) expect(Math.abs(weightedMean(s, byLine) - s.loss) / s.loss).toBeLessThan(1e-5);
  });

  it('resume mid-epoch: the steps before the checkpoint and those after it cover the epoch once each, in the uninterrupted order', async () => {
    for (const groupByLength of [false, true]) {
      const cfg = { ...CFG, batchSize: 2, gradAccum: 2, groupByLength, checkpointEvery: 2 };
      const straight = await run(train, cfg);
      const ac = new AbortController();
      const first = await run(train, cfg, { signal: ac.signal, onStep: (s) => s.step === 3 && ac.abort() });
      const ck = first.saved.last;
      expect(ck.progress.step).toBe(3);
      const second = await run(train, cfg, { resume: ck });
      const union = [...first.steps.filter((s) => s.step <= ck.progress.step), ...second.steps].flatMap((s) => s.examples!);
      expect(union).toEqual(straight.steps.flatMap((s) => s.examples!));
      expect([...union].sort((a, b) => a - b)).toEqual(train.map((e) => e.line!).sort((a, b) => a - b));
    }
  });

  it('per-example losses equal each example run alone through CausalLM.loss (within 1e-5)', () => {
    const model = freshModel();
    const idx = [3, 7, 0, 11];
    const b = makeBatch(train, idx, 0);
    const r = model.lossAndGrads(b.ids, b.weights, { training: false });
    tf.dispose(r.grads);
    idx.forEach((i, k) => {
      const alone = model.loss([train[i].ids], [train[i].weights]);
      const ref = alone.loss.dataSync()[0];
      alone.loss.dispose();
      expect(Math.abs(r.examples.nll[k] / r.examples.weight[k] - ref) / ref).toBeLessThan(1e-5);
      expect(r.examples.tokens[k]).toBe(lossTokens(train[i]));
    });
    const withExamples = model.loss(b.ids, b.weights, undefined, true);
    const total = withExamples.loss.dataSync()[0];
    withExamples.loss.dispose();
    const ex = withExamples.examples!;
    const mean = ex.nll.reduce((s, x) => s + x, 0) / ex.weight.reduce((s, x) => s + x, 0);
    expect(Math.abs(mean - total) / total).toBeLessThan(1e-5);
    model.dispose();
  });

  it('no tensor is left behind by the per-example losses (lossAndGrads, loss, evalLoss)', () => {
    const model = freshModel();
    const b = makeBatch(train, [1, 2, 3], 0);
    const all = () => {
      tf.dispose(model.lossAndGrads(b.ids, b.weights, { training: false }).grads);
      tf.dispose(model.loss(b.ids, b.weights, undefined, true).loss);
      evalLoss(model, train.slice(0, 5), 2, 0);
    };
    all(); // the model caches a causal mask per sequence length
    const before = tf.memory().numTensors;
    all();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('evalLoss: one loss per validation example; tokens sum to the loss tokens; their token-weighted mean is the loss', () => {
    const model = freshModel();
    const valid = train.slice(0, 7);
    const ev = evalLoss(model, valid, 3, 0);
    expect(ev.examples).toHaveLength(7);
    expect(ev.examples.map((e) => e.tokens)).toEqual(valid.map(lossTokens));
    expect(ev.examples.reduce((s, e) => s + e.tokens, 0)).toBe(ev.tokens);
    const mean = ev.examples.reduce((s, e) => s + e.loss! * e.tokens, 0) / ev.tokens;
    expect(Math.abs(mean - ev.loss) / ev.loss).toBeLessThan(1e-5);
    model.dispose();
  });

  it('the step row decoder: provenance is optional (older rows read), checked when present', () => {
    const row = { type: 'step', step: 3, totalSteps: 9, epoch: 0.5, loss: 2.5, lr: 1e-3, gradNorm: 1, tokens: 40, tokensPerSec: 100, stepMs: 5, elapsedMs: 50, time: 't' };
    expect(decodeMetricsLine(row)).toEqual({ ok: true, value: row });
    const withProv = { ...row, examples: [4, 9], exampleLosses: [2.1, null] };
    expect(decodeMetricsLine(withProv)).toEqual({ ok: true, value: withProv });
    expect(decodeMetricsLine({ ...row, examples: [0] })).toEqual({ ok: false, error: '"examples[0]" is 0, expected a line number (a whole number ≥ 1)' });
    expect(decodeMetricsLine({ ...row, exampleLosses: ['x'] })).toMatchObject({ ok: false });
    const ev = { step: 4, tag: 'best', file: '/d/t.jsonl', line: 7, loss: 1.25, tokens: 12 };
    expect(decodeEvalExampleRow(ev)).toEqual({ ok: true, value: ev });
    expect(decodeEvalExampleRow({ ...ev, tag: 'first' })).toMatchObject({ ok: false });
  });
});
