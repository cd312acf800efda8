// The panel's run colours (webview/runColors.ts), legend values at the cursor (webview/legendValues.ts)
// and labels from the state (webview/runIdentity.ts).
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/protocol/panel';
import { decodeRunConfig, type RunConfigInput } from '../../src/protocol/runConfig';
import { valuesAt } from '../../webview/legendValues';
import { idHash, runColorIndices } from '../../webview/runColors';
import { labelsOf, labelsOfSummaries, sourceBadge } from '../../webview/runIdentity';

describe('run colours', () => {
  it('each run keeps the slot its id hashes to while it is free; a clash takes the next free slot; all distinct up to the palette size', () => {
    const ids = Array.from({ length: 6 }, (_, i) => `2025030${i}-101500-run`);
    const m = runColorIndices(ids, 6);
    expect(new Set(m.values()).size).toBe(6);
    expect(m.get(ids[0])).toBe(idHash(ids[0]) % 6);
    // Selecting other runs around a run does not change its colour when its slot is free.
    for (const id of ids) expect(runColorIndices([id], 6).get(id)).toBe(idHash(id) % 6);
    // More runs than colours: they cycle (no endless search).
    expect(runColorIndices([...ids, 'seventh'], 6).size).toBe(7);
  });
});

describe('legend values at the cursor', () => {
  // Two runs on one x axis: series order raw(a), raw(b), smoothed(a), smoothed(b), val(a), val(b).
  const spec = { runs: ['a', 'b'], series: (['train', 'smoothed', 'val'] as const).flatMap((kind) => [0, 1].map((run) => ({ run, kind }))) };
  const data = [
    [1, 2, 3, 4, 5],
    [3.0, null, 2.5, null, 2.0], // a raw: steps 1, 3, 5
    [null, 2.8, null, 2.6, null], // b raw: steps 2, 4 (b ends at 4)
    [3.0, null, 2.7, null, 2.3],
    [null, 2.8, null, 2.7, null],
    [null, null, 2.9, null, 2.4], // a val at 3 and 5
    [null, 2.9, null, null, null], // b val at 2
  ];
  it('gives each run its point at or just before the cursor, the latest evaluation, and nothing past a run’s end', () => {
    expect(valuesAt(spec, data, 3)).toEqual([{ train: 2.5, smoothed: 2.7, val: 2.9 }, { train: 2.6, smoothed: 2.7, val: 2.9 }]);
    expect(valuesAt(spec, data, 1)).toEqual([{ train: 3.0, smoothed: 3.0 }, { train: 2.8, smoothed: 2.8, val: 2.9 }]);
    expect(valuesAt(spec, data, 4)).toEqual([{ train: 2.0, smoothed: 2.3, val: 2.4 }, {}]);
  });
  it('without a cursor: each run’s last values', () => {
    expect(valuesAt(spec, data)).toEqual([{ train: 2.0, smoothed: 2.3, val: 2.4 }, { train: 2.6, smoothed: 2.7, val: 2.9 }]);
    expect(valuesAt(spec, [[]])).toEqual([{}, {}]);
  });
});

describe('labels from the panel state', () => {
  const summary = (id: string, lora: RunConfigInput['lora']): RunSummary => {
    const c = decodeRunConfig({ model: '/m', data: '/w/d.jsonl', workspace: '/w', runsDir: 'r', lora });
    return { id, dir: `/w/r/${id}`, name: 'd.jsonl', status: 'completed', createdAt: '', model: '/m', dataset: '/w/d.jsonl', ...(c.ok && { config: c.value }) };
  };
  it('the Runs table labels by what differs among all runs; the chart among the selected ones (a run not yet listed by its detail)', () => {
    const a = summary('20250301-101500-d', { r: 8 });
    const b = summary('20250302-101500-d', { r: 16 });
    const c = summary('20250303-101500-d', { r: 16, alpha: 8 });
    expect([...labelsOfSummaries([a, b, c]).values()]).toEqual(['r8 α16', 'r16 α16', 'r16 α8']);
    const detail = { summary: c, record: {} as never, metrics: [] };
    expect([...labelsOf({ runs: [a, b], runData: { [c.id]: { metrics: [], detail } } }, [b.id, c.id]).values()]).toEqual(['α16', 'α8']);
  });
  it('an imported TRL run (summary source "trl") is labelled and badged as such in the Runs table and the chart; a local run is not', () => {
    const local = summary('20250301-101500-d', { r: 8 });
    const trl: RunSummary = { ...summary('20250302-101500-d', { r: 8 }), source: 'trl' };
    expect([...labelsOfSummaries([local, trl]).values()]).toEqual(['2025-03-01 10:15', '2025-03-02 10:15 (TRL)']);
    // The chart's legend over the selected runs: the imported run's detail only (not listed yet).
    const detail = { summary: trl, record: {} as never, metrics: [] };
    expect([...labelsOf({ runs: [local], runData: { [trl.id]: { metrics: [], detail } } }, [local.id, trl.id]).values()]).toEqual(['2025-03-01 10:15', '2025-03-02 10:15 (TRL)']);
    expect(sourceBadge(trl)).toEqual({ text: 'TRL', title: expect.stringMatching(/^Trained with TRL .*lora-lab import; not a LoRA Lab run$/) });
    expect(sourceBadge(local)).toBeUndefined();
  });
});
