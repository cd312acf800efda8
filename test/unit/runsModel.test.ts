// Host-side run listing for the panel (no VS Code): summaries from run.json, metric rows for the
// charts, the best validation loss of a live run taken from its metrics, eval.json when present.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { runDetail, runSummaries } from '../../src/host/runsModel';

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

  it('detail keeps step and eval rows only, takes the best val loss from metrics while running, and reads eval.json', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-runs-'));
    const run = makeRun(root, 'live');
    run.appendMetric({ type: 'preflight', totalSteps: 3 });
    run.appendMetric({ type: 'step', step: 1, loss: 3 });
    run.appendMetric({ type: 'eval', step: 1, valLoss: 2.5 });
    run.appendMetric({ type: 'eval', step: 2, valLoss: 2.0 });
    fs.writeFileSync(path.join(run.dir, 'eval.json'), JSON.stringify({ adapter: { loss: 2 } }));
    const d = runDetail(run.dir);
    expect(d.metrics.map((m) => m.type)).toEqual(['step', 'eval', 'eval']);
    expect(d.summary.bestValLoss).toBe(2.0);
    expect(d.evaluation).toEqual({ adapter: { loss: 2 } });
  });
});
