// Sample data for the dev harness (not shipped): a GPT-2 (124M) FormState, a few runs with
// synthetic but plausible loss curves, and evaluation reports (one with both checks flagged).
import type { ModelSpec } from '../../src/core/hf/config';
import type { EvalReport, StopReason } from '../../src/protocol/evaluation';
import type { FormState, MetricRow, RunDetail, RunSummary } from '../../src/protocol/panel';
import { decodeRunConfig, type RunConfigInput } from '../../src/protocol/runConfig';

export const gpt2Spec: ModelSpec = {
  family: 'gpt2', architecture: 'GPT2LMHeadModel', vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, numKvHeads: 12, headDim: 64,
  intermediateSize: 3072, maxPositions: 1024, normEps: 1e-5, tieWordEmbeddings: true, qkvBias: true, oBias: true, mlpBias: true,
  activation: 'gelu_new', ropeTheta: 10000, ropeScaling: { type: 'none' }, scaleAttnByInverseLayerIdx: false, bosTokenId: 50256, eosTokenId: 50256,
};

export const gpt2Form: FormState = {
  dataset: '/home/me/project/data/shakespeare.jsonl',
  datasetSummary: 'prompt/completion JSONL, 4,812 rows (loss on completions); validation: seeded 10% split',
  model: '/home/me/models/gpt2',
  modelSpec: gpt2Spec,
  moduleChoices: ['c_attn', 'c_proj', 'c_fc', 'all-linear'],
  defaultTargets: ['c_attn'],
  initial: { model: '/home/me/models/gpt2', data: '/home/me/project/data/shakespeare.jsonl', workspace: '/home/me/project', lora: { r: 8, alpha: 16, dropout: 0.05 }, training: { learningRate: 2e-4, epochs: 3, batchSize: 8, maxSeqLen: 256 } },
};

/** Deterministic noise (mulberry32), so screenshots are comparable run to run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CurveShape {
  steps: number;
  floor: number;
  start: number;
  tau: number;
  noise: number;
  evalEvery: number;
  seed: number;
  stepsPerEpoch?: number;
}

/** Step rows (and an eval row every evalEvery steps) of a loss decaying towards `floor`. */
export function syntheticMetrics(c: CurveShape): MetricRow[] {
  const r = rng(c.seed);
  const perEpoch = c.stepsPerEpoch ?? Math.ceil(c.steps / 3);
  const rows: MetricRow[] = [];
  for (let s = 1; s <= c.steps; s++) {
    const mean = c.floor + (c.start - c.floor) * Math.exp(-s / c.tau);
    const loss = mean * (1 + c.noise * (r() - 0.5) * 2) + (r() < 0.002 ? 1.5 : 0);
    rows.push({ type: 'step', step: s, epoch: s / perEpoch, loss, lr: 2e-4, gradNorm: 0.5 + r(), tokens: 1800 + Math.floor(r() * 400), tokensPerSec: 5200 + r() * 300, elapsedMs: s * 350 });
    if (s % c.evalEvery === 0 || s === c.steps) {
      const v = c.floor * 1.08 + (c.start - c.floor) * Math.exp(-s / (c.tau * 1.15)) + 0.01 * r();
      rows.push({ type: 'eval', step: s, valLoss: v, valPerplexity: Math.exp(v), best: false });
    }
  }
  let best = Infinity;
  for (const m of rows) if (m.type === 'eval' && m.valLoss < best) {
    best = m.valLoss;
    m.best = true;
  }
  return rows;
}

const t = (text: string) => ({ text, ids: Array.from({ length: Math.ceil(text.length / 4) }, (_, i) => 100 + i) });
const out = (text: string, stop: StopReason, ms: number) => ({ ...t(text), stop, ms });
const scores = (loss: number, accuracy: number) => ({ loss, perplexity: Math.exp(loss), tokens: 52480, accuracy });
const common = {
  formatVersion: 1 as const, createdAt: '2025-03-01T10:27:00Z', examples: 481,
  sources: { model: '/home/me/models/gpt2', adapter: 'adapter', merged: 'merged', data: 'valid split' },
  generation: { maxNewTokens: 32, temperature: 0.8, topP: 0.95, seed: 42, eosIds: [50256] },
  timings: { scoringMs: 38_200, generationMs: 3_500 },
};

/** eval.json as src/core/evaluate.ts writes it (EvalReport). */
const good: EvalReport = {
  ...common,
  base: scores(3.412, 0.3821), adapter: scores(2.187, 0.5214), merged: scores(2.187, 0.5214),
  mergeCheck: { maxAbsLogitDiff: 3.1e-6, threshold: 1e-3, flagged: false, mergedDtype: 'F32', message: 'merged model reproduces the adapter' },
  effectCheck: { meanAbsLogitDiff: 0.842, threshold: 1e-5, flagged: false, compared: 'merged', message: 'adapter changes the model' },
  generations: [
    {
      prompt: t('ROMEO: But soft, what light'), reference: t(' through yonder window breaks?'),
      outputs: {
        base: { greedy: out(' is this? I am not sure what it is, but I am sure it is not the sun.', 'max-new-tokens', 412), sampled: out(' shines on the water tonight, said the man to his dog.', 'eos', 380) },
        merged: { greedy: out(' through yonder window breaks?\nIt is the east, and Juliet is the sun.', 'max-new-tokens', 405), sampled: out(' doth break upon mine eyes,\nAs if the morn were come to chide the night.', 'max-new-tokens', 399) },
      },
    },
    {
      prompt: t('JULIET: O Romeo, Romeo,'), reference: t(' wherefore art thou Romeo?'),
      outputs: {
        base: { greedy: out(' Romeo, Romeo, Romeo, Romeo, Romeo, Romeo.', 'max-new-tokens', 390), sampled: out(' where are you going with that car?', 'eos', 220) },
        merged: { greedy: out(' wherefore art thou Romeo?\nDeny thy father and refuse thy name;', 'max-new-tokens', 401), sampled: out(' what sweet cruelty is this,\nThat thou shouldst name thyself mine enemy?', 'max-new-tokens', 398) },
      },
    },
  ],
  notes: [],
};

const flagged: EvalReport = {
  ...common,
  base: scores(3.412, 0.3821), adapter: scores(3.40998, 0.3825), merged: scores(3.98, 0.3102),
  mergeCheck: { maxAbsLogitDiff: 0.71, threshold: 1e-3, flagged: true, mergedDtype: 'F32', message: "merged logits differ from the adapter's by up to 7.10e-1: the merged model does not reproduce the adapter" },
  effectCheck: { meanAbsLogitDiff: 4e-6, threshold: 1e-5, flagged: true, compared: 'adapter', message: "adapter has no effect: its logits equal the base model's (B is still ~0: train longer or raise the learning rate)" },
  generations: [{ prompt: t('ROMEO: But soft, what light'), reference: t(' through yonder'), outputs: { base: { greedy: out(' is this?', 'eos', 80), sampled: out(' shines.', 'eos', 70) }, merged: { greedy: out(' is this?', 'eos', 81), sampled: out(' shines here.', 'eos', 90) } } }],
  notes: ['merged model weights saved as F32'],
};

export const goodEvaluation = good;
export const flaggedEvaluation = flagged;

/** A run's summary with its resolved config (GPT-2's default targets spelled out, as the host sends them). */
const base = (id: string, status: RunSummary['status'], createdAt: string, durationMs: number, finalStep: number, bestValLoss: number | null, over: RunConfigInput = {}): RunSummary => {
  const dataset = `/home/me/project/data/${id.split('-')[2]}.jsonl`;
  const c = decodeRunConfig({
    model: '/home/me/models/gpt2', data: dataset, workspace: '/home/me/project', runsDir: '.lora-lab/runs', ...over,
    lora: { targetModules: ['c_attn'], ...over.lora }, training: { batchSize: 8, ...over.training },
  });
  return {
    id, dir: `/home/me/project/.lora-lab/runs/${id}`, name: `${id.split('-')[2]}.jsonl`, status, createdAt, durationMs, finalStep, bestValLoss,
    model: '/home/me/models/gpt2', dataset, ...(c.ok && { config: c.value }),
  };
};

export interface SampleRun {
  summary: RunSummary;
  shape: CurveShape;
  evaluation?: EvalReport;
}

export const sampleRuns: SampleRun[] = [
  { summary: base('20250301-101500-shakespeare', 'completed', '2025-03-01T10:15:00Z', 712_000, 2000, 1.702), shape: { steps: 2000, floor: 1.55, start: 3.4, tau: 380, noise: 0.09, evalEvery: 200, seed: 1 }, evaluation: goodEvaluation },
  { summary: base('20250302-093000-shakespeare', 'completed', '2025-03-02T09:30:00Z', 745_000, 2000, 1.631, { lora: { r: 16, alpha: 32 }, training: { learningRate: 5e-4 } }), shape: { steps: 2000, floor: 1.45, start: 3.4, tau: 300, noise: 0.1, evalEvery: 200, seed: 2 }, evaluation: flaggedEvaluation },
  { summary: base('20250303-120000-alpaca', 'failed', '2025-03-03T12:00:00Z', 98_000, 340, null, { lora: { targetModules: 'all-linear' }, training: { learningRate: 5e-3 } }), shape: { steps: 340, floor: 1.9, start: 2.9, tau: 200, noise: 0.15, evalEvery: 1000, seed: 3 } },
  { summary: base('20250304-080000-alpaca', 'cancelled', '2025-03-04T08:00:00Z', 301_000, 820, 2.104, { lora: { targetModules: 'all-linear' }, training: { learningRate: 1e-3 } }), shape: { steps: 820, floor: 1.8, start: 2.9, tau: 250, noise: 0.12, evalEvery: 200, seed: 4 } },
  { summary: base('20250305-070000-bigcorpus', 'completed', '2025-03-05T07:00:00Z', 36_000_000, 100_000, 1.21, { name: 'bigcorpus-long', training: { epochs: 4 } }), shape: { steps: 100_000, floor: 1.15, start: 3.6, tau: 9000, noise: 0.08, evalEvery: 5000, seed: 5, stepsPerEpoch: 25_000 } },
];

export function detailOf(run: SampleRun): RunDetail {
  return {
    summary: run.summary,
    record: { id: run.summary.id, dir: run.summary.dir, name: run.summary.name, status: run.summary.status, createdAt: run.summary.createdAt, config: {}, model: { path: run.summary.model, fingerprint: 'x' }, dataset: { path: run.summary.dataset, sha256: 'y' } },
    metrics: syntheticMetrics(run.shape),
    evaluation: run.evaluation,
  };
}
