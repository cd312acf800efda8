// Incremental curves for live runs equal the from-scratch computation (runCurves, emaDebiased)
// at every stage of a growing run, on every axis; histories that are not extensions recompute.
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../../src/protocol/panel';
import { emaDebiased, runCurves, type RunCurves, type XAxis } from '../../webview/chartData';
import { accumulateCurves, accumulateSmoothing, type CurveAccumulator, type SmoothAccumulator } from '../../webview/curveAccumulator';

const step = (s: number): MetricRow => ({ type: 'step', step: s, epoch: s / 700, loss: 2 + Math.sin(s / 10), lr: 1e-4, gradNorm: 1, tokens: 100 + (s % 7), tokensPerSec: 1, elapsedMs: s });
const evalRow = (s: number): MetricRow => ({ type: 'eval', step: s, valLoss: 2 + Math.cos(s), valPerplexity: 1, best: false });
const same = (a: RunCurves, b: RunCurves) => {
  expect([...a.train.x]).toEqual([...b.train.x]);
  expect([...a.train.y]).toEqual([...b.train.y]);
  expect([...a.val.x]).toEqual([...b.val.x]);
  expect([...a.val.y]).toEqual([...b.val.y]);
};

describe('accumulateCurves', () => {
  for (const axis of ['step', 'tokens', 'epoch'] as XAxis[]) {
    it(`grown row by row (buffers reallocating), equals runCurves on the ${axis} axis`, () => {
      let rows: MetricRow[] = [];
      let acc: CurveAccumulator | undefined;
      let origin: object | undefined;
      for (let s = 1; s <= 3000; s++) {
        rows = [...rows, step(s), ...(s % 250 === 0 ? [evalRow(s)] : [])];
        acc = accumulateCurves(acc, rows, axis);
        origin ??= acc.origin;
        if (s % 997 === 0) same(acc.curves, runCurves(rows, axis));
      }
      expect(acc!.origin).toBe(origin); // never recomputed from scratch
      same(acc!.curves, runCurves(rows, axis));
    });
  }

  it('earlier results stay valid after extending', () => {
    const rows = [step(1), step(2)];
    const a = accumulateCurves(undefined, rows, 'step');
    const b = accumulateCurves(a, [...rows, step(3)], 'step');
    expect([...a.curves.train.x]).toEqual([1, 2]);
    expect([...b.curves.train.x]).toEqual([1, 2, 3]);
  });

  it('recomputes for a new axis, a replaced history, or repeated steps of a resumed run', () => {
    const rows = [step(1), step(2), step(3)];
    const a = accumulateCurves(undefined, rows, 'step');
    expect(accumulateCurves(a, rows, 'step')).toBe(a);
    expect(accumulateCurves(a, rows, 'tokens').origin).not.toBe(a.origin);
    const replaced = [step(1), step(2), step(3), step(4)];
    expect(accumulateCurves(a, replaced, 'step').origin).not.toBe(a.origin);
    const resumed = [...rows, step(2), step(3), step(4)];
    const r = accumulateCurves(a, resumed, 'step');
    same(r.curves, runCurves(resumed, 'step'));
    expect([...r.curves.train.x]).toEqual([1, 2, 3, 4]);
  });
});

describe('accumulateSmoothing', () => {
  it('extended point by point equals emaDebiased over the whole series', () => {
    let rows: MetricRow[] = [];
    let acc: CurveAccumulator | undefined;
    let sm: SmoothAccumulator | undefined;
    for (let s = 1; s <= 2500; s++) {
      rows = [...rows, step(s)];
      acc = accumulateCurves(acc, rows, 'step');
      sm = accumulateSmoothing(sm, acc, 0.9);
    }
    const full = emaDebiased(acc!.curves.train.y, 0.9);
    sm!.smoothed.forEach((v, i) => expect(v).toBeCloseTo(full[i], 10));
  });

  it('a new weight recomputes', () => {
    const acc = accumulateCurves(undefined, [step(1), step(2), step(3)], 'step');
    const a = accumulateSmoothing(undefined, acc, 0.5);
    const b = accumulateSmoothing(a, acc, 0.8);
    expect([...b.smoothed]).toEqual([...emaDebiased(acc.curves.train.y, 0.8)]);
    expect(accumulateSmoothing(b, acc, 0.8)).toBe(b);
  });
});
