// The decoders at the boundaries (src/protocol): a metrics.jsonl row, eval.json, run.json's record
// and every message the panel sends come out typed, or refused with the field and the reason;
// a Start from the panel carries run parameters only and trains on the host's picked files.
import { describe, expect, it } from 'vitest';
import { decodeEvalReport, type EvalReport } from '../../src/protocol/evaluation';
import { decodeMetricsLine, plotted, type StepEvent } from '../../src/protocol/metrics';
import { decodePanelCommand, LoadRuns, startConfig, type FormState } from '../../src/protocol/panel';
import { decodeRunRecord } from '../../src/protocol/runRecord';

const time = '2024-05-01T10:00:00.000Z';
const step: StepEvent = { type: 'step', step: 3, totalSteps: 10, epoch: 0.3, loss: 2.5, lr: 1e-4, gradNorm: 0.9, tokens: 300, tokensPerSec: 1000, stepMs: 100, elapsedMs: 300 };

describe('metrics.jsonl rows', () => {
  it('a step row is the trainer step event plus its time; the panel plots a subset of it', () => {
    expect(decodeMetricsLine({ ...step, time })).toEqual({ ok: true, value: { ...step, time } });
    expect(plotted(step)).toEqual({ type: 'step', step: 3, epoch: 0.3, loss: 2.5, lr: 1e-4, gradNorm: 0.9, tokens: 300, tokensPerSec: 1000, elapsedMs: 300 });
  });
  it('a metrics row with a string loss is refused, naming the field; a NaN loss (a diverged run) is a number', () => {
    expect(decodeMetricsLine({ ...step, loss: 'abc', time })).toEqual({ ok: false, error: '"loss" is "abc", expected a number' });
    expect(decodeMetricsLine({ ...step, loss: Number.NaN, time }).ok).toBe(true);
  });
  it('an eval row, a preflight row; an unknown type or a missing time is refused', () => {
    expect(decodeMetricsLine({ type: 'eval', step: 5, valLoss: 2, valPerplexity: 7.39, valTokens: 40, best: true, time }).ok).toBe(true);
    const preflight = {
      type: 'preflight', counts: { trainable: 1, total: 2, base: 1, percent: 50, adaptedModules: 1, adapterBytes: 4 },
      memory: { weightsBytes: 1, optimizerBytes: 1, gradientBytes: 1, activationBytes: 1, totalBytes: 4 }, warmupMs: 1, stepsPerEpoch: 3, totalSteps: 3, secondsPerEpoch: 1, etaSeconds: 1,
    };
    expect(decodeMetricsLine(preflight)).toEqual({ ok: true, value: preflight });
    expect(decodeMetricsLine({ ...preflight, memory: { ...preflight.memory, totalBytes: null } })).toEqual({ ok: false, error: '"memory.totalBytes" is null, expected a number' });
    expect(decodeMetricsLine({ type: 'checkpoint', step: 1 })).toEqual({ ok: false, error: '"type" is "checkpoint", expected one of step, eval, preflight' });
    expect(decodeMetricsLine(step)).toEqual({ ok: false, error: '"time" is missing, expected a string' });
  });
});

const report: EvalReport = {
  formatVersion: 1, createdAt: time, sources: { model: '/m', adapter: '/a', merged: 'in memory', data: '/d.jsonl' }, examples: 3,
  base: { loss: 3, perplexity: 20.1, tokens: 30, accuracy: 0.2 }, adapter: { loss: 2, perplexity: 7.4, tokens: 30, accuracy: 0.4 }, merged: { loss: 2, perplexity: 7.4, tokens: 30, accuracy: 0.4 },
  mergeCheck: { maxAbsLogitDiff: 1e-6, threshold: 1e-3, flagged: false, mergedDtype: 'F32', message: 'merged model reproduces the adapter' },
  effectCheck: { meanAbsLogitDiff: 0.1, threshold: 1e-5, flagged: false, compared: 'adapter', message: 'adapter changes the model' },
  generation: { maxNewTokens: 4, temperature: 0.8, topP: 0.95, seed: 0, eosIds: [50256] },
  generations: [{ prompt: { ids: [1, 2], text: 'Hi' }, reference: { ids: [3] }, outputs: { base: { greedy: { ids: [4], stop: 'eos', ms: 2 }, sampled: { ids: [5, 6], text: ' there', stop: 'max-new-tokens', ms: 3 } } } }],
  timings: { scoringMs: 10, generationMs: 20 }, notes: ['a note'],
};

describe('eval.json', () => {
  it('a report as evaluate.ts writes it reads back equal (through JSON)', () => {
    expect(decodeEvalReport(JSON.parse(JSON.stringify(report)))).toEqual({ ok: true, value: report });
  });
  it('another format version, a wrong stop reason or a missing generations list is refused with the field', () => {
    expect(decodeEvalReport({ ...report, formatVersion: 2 })).toMatchObject({ ok: false, error: expect.stringMatching(/^"formatVersion" is 2, expected 1/) });
    const bad = structuredClone(report);
    (bad.generations[0].outputs.base!.greedy as { stop: string }).stop = 'tired';
    expect(decodeEvalReport(bad)).toEqual({ ok: false, error: '"generations[0].outputs.base.greedy.stop" is "tired", expected one of eos, max-new-tokens, max-positions' });
    const { generations: _g, ...noGenerations } = report;
    expect(decodeEvalReport(noGenerations)).toEqual({ ok: false, error: '"generations" is missing, expected an array' });
  });
});

describe("run.json's record", () => {
  const stored = { formatVersion: 1, id: 'forged', dir: '/elsewhere', name: 'n', status: 'completed', createdAt: time, config: { r: 8 }, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d', sha256: 's' } };
  it('id and dir come from the folder it was read from, never from the file', () => {
    const d = decodeRunRecord({ id: 'run-1', dir: '/runs/run-1' })(stored);
    expect(d).toMatchObject({ ok: true, value: { id: 'run-1', dir: '/runs/run-1', status: 'completed', config: { r: 8 } } });
  });
  it('a resumedFrom without its step is refused, naming the field', () => {
    expect(decodeRunRecord({ id: 'r', dir: '/r' })({ ...stored, resumedFrom: { runId: 'a', checkpoint: 'last' } })).toEqual({ ok: false, error: '"resumedFrom.step" is missing, expected a number' });
  });
});

describe('messages from the panel', () => {
  const form = {
    dataset: '/ws/data/train.jsonl', model: '/models/gpt2', datasetSummary: '', modelSpec: {} as FormState['modelSpec'], moduleChoices: [], defaultTargets: [],
    initial: { model: '/models/gpt2', data: '/ws/data/train.jsonl', workspace: '/ws', runsDir: '.lora-lab/runs', lora: { r: 8 }, training: { learningRate: 2e-4, maxSteps: 50 } },
  } satisfies FormState;

  it('startTraining carries run parameters only: paths it sends are not taken; the run uses the dataset and model the host picked', () => {
    const d = decodePanelCommand({
      type: 'startTraining',
      config: { model: '/etc', data: '/etc/passwd', workspace: '/', runsDir: '../../x', initAdapter: '/tmp/a', lora: { r: 16 }, training: { learningRate: 1e-3, epochs: 2 }, backend: 'wasm' },
    });
    expect(d).toEqual({ ok: true, value: { type: 'startTraining', config: { lora: { r: 16 }, training: { learningRate: 1e-3, epochs: 2 }, backend: 'wasm' } } });
    if (!d.ok || d.value.type !== 'startTraining') throw new Error('unreachable');
    const cfg = startConfig(form, d.value.config);
    expect(cfg).toMatchObject({ model: '/models/gpt2', data: '/ws/data/train.jsonl', workspace: '/ws', runsDir: '.lora-lab/runs', lora: { r: 16 }, training: { learningRate: 1e-3, epochs: 2 }, backend: 'wasm' });
    expect(cfg.initAdapter).toBeUndefined();
    // The panel sends whole groups: a maxSteps it left out (epochs chosen) is not brought back from the settings.
    expect(cfg.training?.maxSteps).toBeUndefined();
  });

  it('a run parameter that fails its run-config check is refused with the rule', () => {
    const d = decodePanelCommand({ type: 'startTraining', config: { training: { learningRate: 5 } } });
    expect(d).toMatchObject({ ok: false, error: expect.stringMatching(/training\.learningRate must be .*got 5/) });
    expect(decodePanelCommand({ type: 'startTraining', config: { lora: 5 } })).toEqual({ ok: false, error: '"config.lora" is 5, expected an object' });
  });

  it('a `../x` run id is refused, in a command and in a LoadRuns request', () => {
    expect(decodePanelCommand({ type: 'openRunFolder', runId: '../x' })).toMatchObject({ ok: false, error: expect.stringMatching(/^"runId" is "\.\.\/x", expected a run id/) });
    expect(decodePanelCommand({ type: 'mergeRun', runId: '/abs/run' }).ok).toBe(false);
    expect(LoadRuns.params({ runIds: ['ok-run', '..\\x'] })).toMatchObject({ ok: false, error: expect.stringMatching(/^"params\.runIds\[1\]"/) });
    expect(LoadRuns.params({ runIds: ['20240501-100000-train'] })).toEqual({ ok: true, value: { runIds: ['20240501-100000-train'] } });
  });

  it('an unknown message type, a diff of three runs, or a non-object is refused', () => {
    expect(decodePanelCommand({ type: 'deleteEverything' })).toMatchObject({ ok: false, error: expect.stringMatching(/^"type" is "deleteEverything", expected one of ready, /) });
    expect(decodePanelCommand({ type: 'diffConfigs', runIds: ['a', 'b', 'c'] })).toMatchObject({ ok: false, error: expect.stringMatching(/expected two run ids/) });
    expect(decodePanelCommand('ready')).toEqual({ ok: false, error: 'the top level is "ready", expected an object' });
    expect(decodePanelCommand({ type: 'ready', extra: 1 })).toEqual({ ok: true, value: { type: 'ready' } });
  });
});
