// Host-side run listing for the panel (no VS Code): summaries from run.json, metric rows for the
// charts (each checked; a malformed one skipped with its line number), the best validation loss
// of a live run taken from its metrics, eval.json when present and valid, and the run ids the
// panel may name (only folders directly under the runs folder).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { runDetail, runDetailAsync, runDirOf, runSummaries } from '../../src/host/runsModel';
import type { EvalReport } from '../../src/protocol/evaluation';
import { LoadRuns } from '../../src/protocol/panel';

const time = '2024-05-01T10:00:00.000Z';
const step = (n: number, loss: number | string = 3) => ({ type: 'step', step: n, totalSteps: 3, epoch: n / 3, loss, lr: 1e-4, gradNorm: 1, tokens: 64 * n, tokensPerSec: 640, stepMs: 100, elapsedMs: 100 * n, time });
const evalRow = (n: number, valLoss: number) => ({ type: 'eval', step: n, valLoss, valPerplexity: Math.exp(valLoss), valTokens: 32, best: true, time });
const preflight = {
  type: 'preflight', counts: { trainable: 1, total: 2, base: 1, percent: 50, adaptedModules: 1, adapterBytes: 4 },
  memory: { weightsBytes: 1, optimizerBytes: 1, gradientBytes: 1, activationBytes: 1, totalBytes: 4 }, warmupMs: 1, stepsPerEpoch: 3, totalSteps: 3, secondsPerEpoch: 1, etaSeconds: 1,
};
const report: EvalReport = {
  formatVersion: 1, createdAt: time, sources: { model: '/m', adapter: '/a' }, examples: 2, adapter: { loss: 2, perplexity: Math.exp(2), tokens: 10, accuracy: 0.4 },
  generation: { maxNewTokens: 4, temperature: 0.8, topP: 0.95, seed: 0, eosIds: [50256] },
  generations: [{ prompt: { ids: [1, 2] }, reference: { ids: [3] }, outputs: { adapter: { greedy: { ids: [4], stop: 'eos', ms: 1 }, sampled: { ids: [5], stop: 'max-new-tokens', ms: 1 } } } }],
  timings: { scoringMs: 1, generationMs: 1 }, notes: [],
};

function makeRun(root: string, name: string): RunDir {
  return RunDir.create(root, { name, config: { model: '/m', data: `/d/${name}.jsonl` }, model: { path: '/m', fingerprint: 'f' }, dataset: { path: `/d/${name}.jsonl`, sha256: '0'.repeat(64) } });
}

describe('runs model', () => {
  it('lists runs newest first with status and best validation loss; a missing root is an empty list', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    expect(runSummaries(path.join(root, 'nope')).runs).toEqual([]);
    const a = makeRun(root, 'alpha');
    a.finish('completed', { summary: { bestValLoss: 1.25, finalStep: 10 } });
    const b = makeRun(root, 'beta');
    const { runs } = runSummaries(root);
    expect(runs.map((r) => r.id)).toEqual([b.id, a.id].sort().reverse());
    const alpha = runs.find((r) => r.id === a.id)!;
    expect(alpha).toMatchObject({ status: 'completed', bestValLoss: 1.25, finalStep: 10, dataset: '/d/alpha.jsonl' });
  });

  it("carries run.json's source: an imported TRL run's summary (list and detail, through LoadRuns' decoder) says trl; a local run's has none", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const local = makeRun(root, 'local');
    const trl = RunDir.create(root, {
      name: 'local (TRL)', config: { model: '/m', data: '/d/local.jsonl', name: 'local (TRL)' }, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d/local.jsonl', sha256: '0'.repeat(64) },
      source: 'trl', imported: { from: '/b/output', cluster: { worldSize: 2 }, sourceRunId: local.id },
    });
    const { runs } = runSummaries(root);
    expect(runs.find((r) => r.id === trl.id)!.source).toBe('trl');
    expect(runs.find((r) => r.id === local.id)).not.toHaveProperty('source');
    const d = runDetail(trl.dir);
    expect(d.summary.source).toBe('trl');
    expect(LoadRuns.reply(JSON.parse(JSON.stringify([d, runDetail(local.dir)])))).toMatchObject({ ok: true, value: [{ summary: { source: 'trl' } }, { summary: { id: local.id } }] });
    const bad = JSON.parse(JSON.stringify(d));
    bad.summary.source = 'axolotl';
    expect(LoadRuns.reply([bad])).toMatchObject({ ok: false, error: expect.stringMatching(/summary\.source/) });
  });

  it('detail keeps step and eval rows only, takes the best val loss from metrics while running, and reads eval.json', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'live');
    run.appendMetric(preflight);
    run.appendMetric(step(1));
    run.appendMetric(evalRow(1, 2.5));
    run.appendMetric(evalRow(2, 2.0));
    fs.writeFileSync(path.join(run.dir, 'eval.json'), JSON.stringify(report));
    const d = runDetail(run.dir);
    expect(d.metrics.map((m) => m.type)).toEqual(['step', 'eval', 'eval']);
    expect(d.metrics[0]).toEqual({ type: 'step', step: 1, epoch: 1 / 3, loss: 3, lr: 1e-4, gradNorm: 1, tokens: 64, tokensPerSec: 640, elapsedMs: 100 });
    expect(d.summary.bestValLoss).toBe(2.0);
    expect(d.evaluation).toEqual(report);
    expect(d.evaluationError).toBeUndefined();
  });

  it('a metrics row with a string loss is skipped with its line number; the rows around it are kept', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'bad-row');
    run.appendMetric(step(1));
    run.appendMetric(step(2, 'abc'));
    run.appendMetric(step(3, Number.NaN)); // a diverged loss is a number (NaN), kept
    const problems: string[] = [];
    const d = runDetail(run.dir, (p) => problems.push(p));
    expect(d.metrics.map((m) => m.step)).toEqual([1, 3]);
    expect(problems).toEqual([`${path.join(run.dir, 'metrics.jsonl')}:2: row skipped: "loss" is "abc", expected a number`]);
  });

  it('a long run’s detail is a bounded view that says so (steps in the file, steps shown); `full` reads every row', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'long');
    const lines: string[] = [];
    for (let n = 1; n <= 3_000; n++) {
      lines.push(JSON.stringify({ ...step(n, 2 + (n % 13) / 10), totalSteps: 3_000 }));
      if (n % 500 === 0) lines.push(JSON.stringify(evalRow(n, 3 - n / 3_000)));
    }
    fs.writeFileSync(path.join(run.dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
    const d = runDetail(run.dir, () => {}, { view: { maxStepRows: 200, tailRows: 50 } });
    expect(d.metricsCoverage).toMatchObject({ stepRows: 3_000, downsampled: true, tailFromStep: 2_951 });
    expect(d.metricsCoverage!.shownStepRows).toBe(d.metrics.filter((m) => m.type === 'step').length);
    expect(d.metricsCoverage!.shownStepRows).toBeLessThanOrEqual(200);
    expect(d.metrics.filter((m) => m.type === 'eval')).toHaveLength(6);
    expect(d.summary.bestValLoss).toBe(2);
    // The coverage crosses to the panel (the reply decoder keeps it), and Load all asks with `full`.
    expect(LoadRuns.reply(JSON.parse(JSON.stringify([d])))).toEqual({ ok: true, value: [d] });
    expect(LoadRuns.params({ runIds: [run.id], full: true })).toEqual({ ok: true, value: { runIds: [run.id], full: true } });
    const all = runDetail(run.dir, () => {}, { full: true });
    expect(all.metricsCoverage).toBeUndefined();
    expect(all.metrics).toHaveLength(3_006);
    // The host answers LoadRuns with the async read (the event loop runs between chunks): the same details.
    expect(await runDetailAsync(run.dir, () => {}, { view: { maxStepRows: 200, tailRows: 50 } })).toEqual(d);
    expect(await runDetailAsync(run.dir, () => {}, { full: true })).toEqual(all);
    // A short run: every row, and the coverage says nothing was thinned.
    expect(runDetail(makeRun(root, 'short').dir).metricsCoverage).toEqual({ stepRows: 0, shownStepRows: 0, downsampled: false, bytes: 0 });
  });

  it('an eval.json that is not a report is shown as why, not as a report', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'bad-eval');
    fs.writeFileSync(path.join(run.dir, 'eval.json'), JSON.stringify({ ...report, adapter: { loss: '2' } }));
    const problems: string[] = [];
    const d = runDetail(run.dir, (p) => problems.push(p));
    expect(d.evaluation).toBeUndefined();
    expect(d.evaluationError).toMatch(/eval\.json: "adapter\.loss" is "2", expected a number$/);
    expect(problems).toEqual([d.evaluationError]);
    fs.writeFileSync(path.join(run.dir, 'eval.json'), '{"formatVersion": 1,');
    expect(runDetail(run.dir).evaluationError).toMatch(/eval\.json is not valid JSON/);
  });

  describe('run ids from the panel (runDirOf)', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'known');
    fs.mkdirSync(path.join(root, 'not-a-run'));

    it('a run id naming a run under the runs folder is its folder', () => {
      expect(runDirOf(root, run.id)).toEqual({ dir: run.dir });
    });
    it('a `../x` run id is refused', () => {
      expect(runDirOf(path.join(root, 'sub'), `../${run.id}`)).toMatchObject({ error: expect.stringMatching(/not a run id/) });
      expect(runDirOf(root, '..')).toMatchObject({ error: expect.stringMatching(/not a run id/) });
    });
    it('an absolute path as run id is refused', () => {
      expect(runDirOf(root, run.dir)).toMatchObject({ error: expect.stringMatching(/not a run id/) });
      expect(runDirOf(root, 'C:\\Users\\x')).toMatchObject({ error: expect.stringMatching(/not a run id/) });
    });
    it('an unknown run id, or a folder without run.json, is refused', () => {
      expect(runDirOf(root, 'nope')).toEqual({ error: `no run "nope" under ${path.resolve(root)}` });
      expect(runDirOf(root, 'not-a-run')).toMatchObject({ error: expect.stringMatching(/no run "not-a-run"/) });
      expect(runDirOf(root, 42)).toMatchObject({ error: expect.stringMatching(/non-empty string/) });
    });
  });
});
