// The results panel's store: host messages and UI actions folded into state purely; the live run
// identified once (runStarted) with its rows from disk, live steps appended (one copy per batch),
// a reloaded panel's runDetail merged with live rows, selection, persistence, status.
import { describe, expect, it } from 'vitest';
import type { EvalReport } from '../../src/protocol/evaluation';
import type { FormState, HostNotification, MetricRow, RunDetail, RunSummary } from '../../src/protocol/panel';
import type { SessionEvent } from '../../src/protocol/worker';
import { etaSeconds } from '../../webview/liveRun';
import { evaluationRunId, initialState, persisted, reduce, runsToLoad, type Action, type State } from '../../webview/store';

const summary = (id: string, status: RunSummary['status'] = 'completed'): RunSummary => ({
  id, dir: `/ws/.lora-lab/runs/${id}`, name: 'train.jsonl', status, createdAt: '2024-05-01T10:00:00Z', model: '/m', dataset: '/d/train.jsonl',
});
const stepEv = (step: number, loss = 2, totalSteps = 100): Extract<SessionEvent, { type: 'step' }> => ({
  type: 'step', step, totalSteps, epoch: step / 50, loss, lr: 1e-4, gradNorm: 1, tokens: 512, tokensPerSec: 5000, stepMs: 100, elapsedMs: step * 100,
});
type LiveEvent = Exclude<SessionEvent, { type: 'run' }>;
/** A live event (the runId argument documents which run the test means; the event itself names none). */
const ev = (_runId: string, event: LiveEvent): HostNotification => ({ type: 'runEvent', event });
const started = (runId: string, d?: RunDetail): HostNotification => ({ type: 'runStarted', event: { type: 'run', runId, dir: `/ws/${runId}` }, detail: d });
const row = (step: number): MetricRow => ({ type: 'step', step, epoch: 0, loss: 1, lr: 1e-4, gradNorm: 1, tokens: 10, tokensPerSec: 1, elapsedMs: 1 });
const record = (id: string): RunDetail['record'] => ({ id, dir: `/ws/${id}`, name: id, status: 'completed', createdAt: '2024-05-01T10:00:00Z', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d', sha256: '0' } });
const report = (loss: number): EvalReport => ({
  formatVersion: 1, createdAt: '2024-05-01T11:00:00Z', sources: { model: '/m' }, examples: 4, base: { loss, perplexity: Math.exp(loss), tokens: 10, accuracy: 0.5 },
  generation: { maxNewTokens: 8, temperature: 0.8, topP: 0.95, seed: 0, eosIds: [0] }, generations: [], timings: { scoringMs: 1, generationMs: 1 }, notes: [],
});
const detail = (id: string, metrics: MetricRow[], evaluation?: EvalReport): RunDetail => ({ summary: summary(id), record: record(id), metrics, evaluation });
const run = (actions: Action[], s: State = initialState) => actions.reduce(reduce, s);

describe('which section opens', () => {
  const form = { dataset: '/d/train.jsonl', model: '/m', initial: { model: '/m', data: '/d/train.jsonl' }, moduleChoices: ['c_attn'], defaultTargets: ['c_attn'] } as unknown as FormState;
  it('"Show Results" (no form) opens on the Runs list when runs exist, once; an empty workspace keeps the pickers', () => {
    const s = run([{ type: 'runs', runs: [summary('a')] }]);
    expect(s.tab).toBe('runs');
    expect(run([{ type: 'runs', runs: [] }]).tab).toBe('configure');
    // The user goes back to Configure: a later list (after a run ends) does not move them.
    expect(run([{ type: 'ui/tab', tab: 'configure' }, { type: 'runs', runs: [summary('a'), summary('b')] }], s).tab).toBe('configure');
  });

  it('a panel opened with a form (Configure…) stays on Configure when the run list arrives', () => {
    const s = run([{ type: 'showForm', form }, { type: 'runs', runs: [summary('a')] }]);
    expect(s.tab).toBe('configure');
    expect(s.form).toBe(form);
  });
});

describe('live run', () => {
  it('runStarted selects, focuses and opens the new run, and its steps become metric rows', () => {
    const s = run([
      { type: 'ui/starting' },
      ev('', { type: 'config', config: {} as never }),
      started('r1'),
      ev('r1', stepEv(1, 3)),
      ev('r1', stepEv(2, 2.5)),
      ev('r1', { type: 'eval', step: 2, valLoss: 2.7, valPerplexity: Math.exp(2.7), valTokens: 100, best: true }),
    ]);
    expect(s.activeRunId).toBe('r1');
    expect(s.selected).toEqual(['r1']);
    expect(s.focusedRunId).toBe('r1');
    expect(s.tab).toBe('curves');
    expect(s.runData.r1.metrics.map((m) => `${m.type}@${m.step}`)).toEqual(['step@1', 'step@2', 'eval@2']);
    expect(s.live).toMatchObject({ runId: 'r1', phase: 'training', step: 2, totalSteps: 100, loss: 2.5, lastValLoss: 2.7, bestValLoss: 2.7 });
  });

  it('a batch equals the same actions one by one, and copies the rows once', () => {
    const actions: Action[] = [started('r1'), ...Array.from({ length: 50 }, (_, i) => ev('r1', stepEv(i + 1)))];
    actions.push(ev('r1', { type: 'eval', step: 50, valLoss: 1.5, valPerplexity: 4.5, valTokens: 10, best: true }), ev('r1', stepEv(51)));
    const one = run(actions);
    const batched = reduce(initialState, { type: 'ui/batch', actions });
    expect(batched.runData).toEqual(one.runData);
    expect(batched.live).toEqual(one.live);
    expect(batched.runData.r1.metrics.map((m) => m.step).slice(-3)).toEqual([50, 50, 51]);
  });

  it('ETA: mean step time since the first step seen, times the steps left', () => {
    expect(etaSeconds({ step: 10, elapsedMs: 1000 }, 20, 3000, 120)).toBeCloseTo(20, 9); // 200 ms/step × 100 steps
    expect(etaSeconds(undefined, 1, 100, 11, 250)).toBeCloseTo(2.5, 9);
    expect(etaSeconds(undefined, 5, 0, 5)).toBe(0);
  });

  it('finished marks the outcome and the run list; a later run starts a fresh status', () => {
    let s = run([{ type: 'runs', runs: [summary('r1', 'running')] }, started('r1'), ev('r1', stepEv(5))]);
    s = reduce(s, ev('r1', { type: 'finished', status: 'cancelled', runDir: '/r1' }));
    expect(s.live).toMatchObject({ phase: 'finished', outcome: { status: 'cancelled' }, step: 5 });
    expect(s.runs[0].status).toBe('cancelled');
    s = reduce(s, started('r2'));
    expect(s.live).toMatchObject({ runId: 'r2', phase: 'preparing', step: 0 });
  });

  it('a form or error back from the host ends a start that never began', () => {
    const s = run([{ type: 'ui/starting' }, { type: 'error', message: 'no dataset' }]);
    expect(s.live).toBeUndefined();
    expect(s.error).toBe('no dataset');
  });

  it('an evaluation or log line with no run in progress changes nothing (Evaluate on an old run answers with its detail)', () => {
    const s = run([ev('old', { type: 'log', level: 'warn', message: 'slow' }), ev('old', { type: 'evaluation', path: '/old/eval.json', report: report(1) })]);
    expect(s).toEqual(initialState);
  });

  it("the live run's evaluation event stores its report under the live run", () => {
    const s = run([started('r1'), ev('r1', { type: 'evaluation', path: '/ws/r1/eval.json', report: report(3) })]);
    expect(s.runData.r1.evaluation?.base?.loss).toBe(3);
    expect(s.live?.detail).toMatch(/Evaluation written/);
  });

  it('events before runStarted (no folder yet) belong to no run; the run id comes only from runStarted', () => {
    let s = run([{ type: 'ui/starting' }, ev('', { type: 'config', config: {} as never }), ev('', { type: 'log', level: 'warn', message: 'no pad token' })]);
    expect(s.live?.runId).toBeUndefined();
    expect(s.runData).toEqual({});
    s = reduce(s, started('r9'));
    expect(s.live).toMatchObject({ runId: 'r9', warnings: ['no pad token'] });
  });

  it("runStarted brings the run as on disk (a resumed run's earlier rows): live steps append to it, nothing is asked again", () => {
    const s = run([started('r1', detail('r1', [row(1), row(2)])), ev('r1', stepEv(3)), ev('r1', stepEv(4))]);
    expect(s.runData.r1.metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(runsToLoad(s)).toEqual([]);
  });

  it('a panel reopened during a run rejoins it (runStarted, rejoined): its view stays, the live steps land on the run', () => {
    const restored = run([{ type: 'ui/restore', saved: { tab: 'runs', selectedRunIds: ['old'] } }]);
    const s = run([{ type: 'runStarted', event: { type: 'run', runId: 'r1', dir: '/ws/r1' }, detail: detail('r1', [row(1), row(2)]), rejoined: true }, ev('r1', stepEv(3))], restored);
    expect(s.tab).toBe('runs');
    expect(s.selected).toEqual(['old']);
    expect(s.activeRunId).toBe('r1');
    expect(s.live).toMatchObject({ runId: 'r1', phase: 'training', step: 3 });
    expect(s.runData.r1.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
  });
});

describe('runs and details', () => {
  it('runDetail keeps live rows newer than the file it was read from', () => {
    // A panel reloaded during a run asks for it (LoadRuns) while live steps keep coming.
    const s = run([started('r1'), ev('r1', stepEv(1)), ev('r1', stepEv(2)), ev('r1', stepEv(3)),
      { type: 'runDetail', detail: detail('r1', [row(1), row(2)]) }]);
    expect(s.runData.r1.metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(s.runData.r1.metrics[0]).toEqual(row(1));
  });

  it('asks for details of selected and focused runs it lacks', () => {
    let s = run([{ type: 'runs', runs: [summary('a'), summary('b'), summary('c')] }, { type: 'ui/toggleRun', runId: 'a' }, { type: 'ui/toggleRun', runId: 'b' }, { type: 'ui/focus', runId: 'c' }]);
    expect(runsToLoad(s)).toEqual(['a', 'b', 'c']);
    s = reduce(s, { type: 'runDetail', detail: detail('a', [row(1)], report(2)) });
    expect(runsToLoad(s)).toEqual(['b', 'c']);
    expect(s.runData.a.evaluation).toEqual(report(2));
  });

  it('asks for nothing before the runs list, and never for a run the list does not name (a restored selection of a deleted run)', () => {
    const restored = run([{ type: 'ui/restore', saved: { selectedRunIds: ['a', 'deleted'] } }]);
    expect(runsToLoad(restored)).toEqual([]);
    expect(runsToLoad(run([{ type: 'runs', runs: [summary('a')] }], restored))).toEqual(['a']);
  });

  it('a runs list drops selections of runs that no longer exist', () => {
    const s = run([{ type: 'ui/select', runIds: ['a', 'gone', 'a'] }, { type: 'runs', runs: [summary('a')] }]);
    expect(s.selected).toEqual(['a']);
  });

  it('toggling selects and deselects; the evaluation shows the focused, else the single selected run', () => {
    let s = run([{ type: 'ui/toggleRun', runId: 'a' }, { type: 'ui/toggleRun', runId: 'b' }, { type: 'ui/toggleRun', runId: 'a' }]);
    expect(s.selected).toEqual(['b']);
    expect(evaluationRunId(s)).toBe('b');
    s = reduce(s, started('c'));
    expect(s.selected).toEqual(['b', 'c']);
    expect(evaluationRunId(s)).toBe('c');
  });
});

describe('persistence', () => {
  it('restores selection, axis, scale, smoothing and tab; ignores junk', () => {
    const s = reduce(initialState, { type: 'ui/restore', saved: { selectedRunIds: ['a', 7 as unknown as string], xAxis: 'tokens', logScale: true, smoothing: 5, tab: 'runs' } });
    expect(persisted(s)).toEqual({ selectedRunIds: ['a'], xAxis: 'tokens', logScale: true, smoothing: 0.999, tab: 'runs' });
    const junk = reduce(initialState, { type: 'ui/restore', saved: { xAxis: 'time' as never, tab: 'nope' as never } });
    expect(persisted(junk)).toEqual(persisted(initialState));
  });

  it('the form sent on ready keeps the restored tab; a later form (another model picked) opens Configure', () => {
    const form = { initial: { model: 'm', data: 'd' }, moduleChoices: ['c_attn'], defaultTargets: ['c_attn'] } as unknown as FormState;
    let s = run([{ type: 'ui/restore', saved: { tab: 'curves' } }, { type: 'showForm', form }]);
    expect(s.tab).toBe('curves');
    s = reduce(s, { type: 'showForm', form });
    expect(s.tab).toBe('configure');
  });

  it('the reducer never mutates its input', () => {
    const s0 = run([{ type: 'ui/select', runIds: ['a'] }, { type: 'runDetail', detail: detail('a', [row(1)]) }]);
    const frozen = JSON.stringify(s0);
    run([{ type: 'ui/toggleRun', runId: 'b' }, ev('a', stepEv(2)), { type: 'ui/batch', actions: [ev('a', stepEv(3))] }], s0);
    expect(JSON.stringify(s0)).toBe(frozen);
  });
});
