// The webview's steps for picking and marking (webview/stepExamples.ts): RunSteps' columns equal
// the chart's (runCurves: same order, cumulative tokens), its spikes equal findSpikes over the
// whole curve also when a live run's rows arrive a few at a time, a resumed run's redone steps
// replace the earlier, and a click picks the nearest step.
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../../src/protocol/panel';
import { findSpikes } from '../../src/protocol/spikes';
import { runCurves } from '../../webview/chartData';
import { exampleWhere, excludeNote, nearestPick, RunSteps } from '../../webview/stepExamples';

/** A falling noisy curve with spikes at steps 40, 120 and 121, an eval every 25 steps. */
function rows(n: number): MetricRow[] {
  const out: MetricRow[] = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let s = 1; s <= n; s++) {
    const loss = 3 / Math.sqrt(s) + 0.05 * rnd() + (s === 40 || s === 120 || s === 121 ? 2 : 0);
    out.push({ type: 'step', step: s, epoch: s / 50, loss, lr: 1e-3, gradNorm: 1, tokens: 100 + (s % 7), tokensPerSec: 1, elapsedMs: s });
    if (s % 25 === 0) out.push({ type: 'eval', step: s, valLoss: loss, valPerplexity: Math.exp(loss), best: false });
  }
  return out;
}

describe('RunSteps', () => {
  it('columns equal the chart’s curves on every axis', () => {
    const r = rows(200);
    const steps = new RunSteps();
    steps.update(r);
    for (const axis of ['step', 'tokens', 'epoch'] as const) {
      const c = runCurves(r, axis);
      expect(steps.step.map((_, i) => steps.x(i, axis))).toEqual([...c.train.x]);
      expect(steps.loss).toEqual([...c.train.y]);
    }
  });

  it('spikes equal findSpikes over the whole curve, whole or fed a few rows at a time (a live run)', () => {
    const r = rows(300);
    const expected = findSpikes(r.filter((x) => x.type === 'step') as { step: number; loss: number }[]).map((s) => s.step);
    expect(expected).toEqual(expect.arrayContaining([40, 120]));
    const whole = new RunSteps();
    whole.update(r);
    expect(whole.spikes.map((s) => s.step)).toEqual(expected);
    const live = new RunSteps();
    const grown: MetricRow[] = [];
    for (let i = 0; i < r.length; i += 7) {
      grown.push(...r.slice(i, i + 7));
      live.update([...grown]);
    }
    expect(live.spikes.map((s) => s.step)).toEqual(expected);
    for (const s of live.spikes) expect(live.step[s.index]).toBe(s.step);
  });

  it('unchanged rows: no work; a resumed run’s redone steps replace the earlier ones', () => {
    const r = rows(30);
    const steps = new RunSteps();
    expect(steps.update(r)).toBe(true);
    expect(steps.update(r)).toBe(false);
    const redone = [...r, { ...(r[r.length - 1] as Extract<MetricRow, { type: 'step' }>), step: 29, loss: 9 }];
    steps.update(redone);
    expect(steps.step.slice(-2)).toEqual([29, 30]);
    expect(steps.loss[steps.step.indexOf(29)]).toBe(9);
  });

  it('nearest: the step whose x is closest to a clicked x', () => {
    const steps = new RunSteps();
    steps.update(rows(10));
    expect(steps.step[steps.nearest(4.4, 'step')]).toBe(4);
    expect(steps.step[steps.nearest(4.6, 'step')]).toBe(5);
    expect(steps.step[steps.nearest(-3, 'step')]).toBe(1);
    expect(steps.step[steps.nearest(99, 'step')]).toBe(10);
    expect(steps.step[steps.nearest(0.1, 'epoch')]).toBe(5); // epoch = step / 50
    expect(new RunSteps().nearest(1, 'step')).toBe(-1);
  });
});

describe('picks and names', () => {
  it('nearestPick takes the candidate closest to the click, ignoring non-finite distances', () => {
    expect(nearestPick([{ runId: 'a', step: 3, distance: 12 }, { runId: 'b', step: 4, distance: 2 }, { runId: 'c', step: 5, distance: NaN }])).toEqual({ runId: 'b', step: 4, distance: 2 });
    expect(nearestPick([])).toBeUndefined();
  });

  it('an example is named file-name:line; an exclusion note names the step and run', () => {
    expect(exampleWhere('/w/data/devil.jsonl', 12)).toBe('devil.jsonl:12');
    expect(exampleWhere('C:\\w\\devil.jsonl', 3)).toBe('devil.jsonl:3');
    expect(excludeNote('r=8', 7)).toBe('step 7 of r=8');
  });
});
