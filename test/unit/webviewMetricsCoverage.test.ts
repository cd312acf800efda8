// A long run in the panel (webview/metricsCoverage.ts, store, host.ts): a detail read as a bounded
// view says how many steps it holds of how many; live steps appended after the thinned history
// count in both; "Load all" asks the host for every row (LoadRuns { full: true }) and the reply,
// every row, ends the note while keeping live steps newer than the file; the chart's curves of a
// bounded view keep its spike and end at its last step.
import { describe, expect, it } from 'vitest';
import type { HostNotification, MetricRow, MetricsCoverage, RunDetail } from '../../src/protocol/panel';
import type { RpcMessage } from '../../src/protocol/rpc';
import type { SessionEvent } from '../../src/protocol/worker';
import { runCurves } from '../../webview/chartData';
import { PanelChannel } from '../../webview/host';
import { coverageNote } from '../../webview/metricsCoverage';
import { initialState, reduce, type Action } from '../../webview/store';

const row = (step: number, loss = 2): MetricRow => ({ type: 'step', step, epoch: step / 1000, loss, lr: 1e-4, gradNorm: 1, tokens: 10, tokensPerSec: 1, elapsedMs: step });
const stepEv = (step: number): Extract<SessionEvent, { type: 'step' }> => ({
  type: 'step', step, totalSteps: 2_000_000, epoch: step / 1000, loss: 1.5, lr: 1e-4, gradNorm: 1, tokens: 10, tokensPerSec: 1, stepMs: 1, elapsedMs: step,
});
const detail = (id: string, metrics: MetricRow[], metricsCoverage?: MetricsCoverage): RunDetail => ({
  summary: { id, dir: `/ws/${id}`, name: id, status: 'running', createdAt: '2024-05-01T10:00:00Z', model: '/m', dataset: '/d' },
  record: { id, dir: `/ws/${id}`, name: id, status: 'running', createdAt: '2024-05-01T10:00:00Z', config: {}, model: { path: '/m', fingerprint: 'f' }, dataset: { path: '/d', sha256: '0' } },
  metrics, ...(metricsCoverage && { metricsCoverage }),
});
const started = (runId: string, d?: RunDetail): HostNotification => ({ type: 'runStarted', event: { type: 'run', runId, dir: `/ws/${runId}` }, detail: d });
const live = (step: number): HostNotification => ({ type: 'runEvent', event: stepEv(step) });
const run = (actions: Action[]) => actions.reduce(reduce, initialState);

/** A thinned history of 1,000,000 steps: the first, a spike, then the tail from 999,001. */
const thinned = [row(1, 3), row(500_000, 40), ...Array.from({ length: 1000 }, (_, i) => row(999_001 + i))];
const coverage: MetricsCoverage = { stepRows: 1_000_000, shownStepRows: thinned.length, downsampled: true, tailFromStep: 999_001, bytes: 250e6 };

describe('a long run in the panel', () => {
  it('a bounded view says how many steps it holds of how many', () => {
    const s = run([{ type: 'runDetail', detail: detail('r1', thinned, coverage) }]);
    expect(coverageNote('r1', s.runData.r1)).toEqual({ runId: 'r1', shown: 1002, total: 1_000_000, wholeFrom: 999_001, bytes: 250e6 });
    expect(coverageNote('r1', run([{ type: 'runDetail', detail: detail('r1', [row(1)]) }]).runData.r1)).toBeUndefined();
    expect(coverageNote('r1', run([{ type: 'runDetail', detail: detail('r1', [row(1)], { ...coverage, downsampled: false }) }]).runData.r1)).toBeUndefined();
    expect(coverageNote('nope', undefined)).toBeUndefined();
  });

  it('live steps of a resumed long run are appended after the thinned history and counted', () => {
    const s = run([started('r1', detail('r1', thinned, coverage)), live(1_000_001), live(1_000_002), { type: 'ui/batch', actions: [live(1_000_003), live(1_000_004)] }]);
    const rows = s.runData.r1.metrics;
    expect(rows.slice(-5).map((m) => m.step)).toEqual([1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004]);
    expect(coverageNote('r1', s.runData.r1)).toEqual({ runId: 'r1', shown: 1006, total: 1_000_004, wholeFrom: 999_001, bytes: 250e6 });
    // The chart's curve of the bounded view: first step, spike and last step are there, in order.
    const c = runCurves(rows, 'step');
    expect([c.train.x[0], c.train.x[c.train.x.length - 1]]).toEqual([1, 1_000_004]);
    expect(Math.max(...c.train.y)).toBe(40);
  });

  it('"Load all" asks for every row; its reply ends the note and keeps live steps newer than the file', async () => {
    const sent: unknown[] = [];
    const delivered: Action[] = [];
    const ch = new PanelChannel({ send: (m) => sent.push(m), deliver: (m) => delivered.push(m), warn: () => {} });
    const done = ch.loadAllMetrics('r1');
    expect(sent.at(-1)).toEqual({ type: 'request', id: 1, method: 'loadRuns', params: { runIds: ['r1'], full: true } });
    const all = Array.from({ length: 1_000 }, (_, i) => row(i + 1));
    ch.receive(JSON.parse(JSON.stringify({ type: 'reply', inReplyTo: 1, result: [detail('r1', all)] })) as RpcMessage);
    expect(await done).toBe(true);
    const view = [row(1), row(600, 40), ...Array.from({ length: 100 }, (_, i) => row(901 + i))];
    const s = run([started('r1', detail('r1', view, { stepRows: 1_000, shownStepRows: 102, downsampled: true, tailFromStep: 901, bytes: 250e3 })), live(1_001), live(1_002), ...delivered]);
    expect(coverageNote('r1', s.runData.r1)).toBeUndefined();
    expect(s.runData.r1.metrics.map((m) => m.step)).toEqual([...all.map((m) => m.step), 1_001, 1_002]);
    // A bounded LoadRuns stays as it was on the wire.
    void ch.loadRuns(['r2']);
    expect(sent.at(-1)).toEqual({ type: 'request', id: 2, method: 'loadRuns', params: { runIds: ['r2'] } });
  });
});

describe('a bounded view after every row was loaded', () => {
  it('an Evaluate’s reply (a bounded view) keeps the rows loaded and takes its evaluation', () => {
    const all = Array.from({ length: 1_000 }, (_, i) => row(i + 1));
    const view = { ...detail('r1', [row(1), row(600, 40), row(999), row(1_000), row(1_001)], { stepRows: 1_001, shownStepRows: 5, downsampled: true, tailFromStep: 999, bytes: 250e3 }) };
    const s = run([{ type: 'runDetail', detail: detail('r1', all) }, { type: 'runDetail', detail: view }]);
    expect(s.runData.r1.metrics.map((m) => m.step)).toEqual([...all.map((m) => m.step), 1_001]);
    expect(coverageNote('r1', s.runData.r1)).toBeUndefined();
    // A first bounded view is taken as it is.
    expect(run([{ type: 'runDetail', detail: view }]).runData.r1.metrics).toHaveLength(5);
  });
});
