// Chart data of the results panel: per-run curves on each x axis, TensorBoard's debiased EMA,
// min/max decimation, and several runs aligned on one x axis.
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../../src/protocol/panel';
import { alignSeries, buildChartData, decimateMinMax, emaDebiased, niceTicks, runCurves } from '../../webview/chartData';

const step = (s: number, loss: number, tokens = 100, epoch = s / 10): MetricRow => ({
  type: 'step', step: s, epoch, loss, lr: 1e-4, gradNorm: 1, tokens, tokensPerSec: 1000, elapsedMs: s * 10,
});
const evalRow = (s: number, valLoss: number): MetricRow => ({ type: 'eval', step: s, valLoss, valPerplexity: Math.exp(valLoss), best: false });

/** TensorBoard's smoothing, written as its source does (tensorboard/.../line_chart: resmoothDataset). */
function tensorboardSmooth(ys: number[], w: number): number[] {
  let last = 0;
  let numAccum = 0;
  return ys.map((y) => {
    last = last * w + (1 - w) * y;
    numAccum++;
    const debias = w === 1 ? 1 : 1 - Math.pow(w, numAccum);
    return last / debias;
  });
}

describe('runCurves', () => {
  const rows = [step(1, 3, 50, 0.1), step(2, 2.5, 70, 0.2), evalRow(2, 2.7), step(3, 2, 30, 0.3), step(4, 1.5, 40, 0.4), evalRow(4, 2.1)];

  it('step axis: training loss by step and validation loss at its step', () => {
    const c = runCurves(rows, 'step');
    expect([...c.train.x]).toEqual([1, 2, 3, 4]);
    expect([...c.train.y]).toEqual([3, 2.5, 2, 1.5]);
    expect([...c.val.x]).toEqual([2, 4]);
    expect([...c.val.y]).toEqual([2.7, 2.1]);
  });

  it('tokens axis is cumulative; an evaluation takes the tokens seen at its step', () => {
    const c = runCurves(rows, 'tokens');
    expect([...c.train.x]).toEqual([50, 120, 150, 190]);
    expect([...c.val.x]).toEqual([120, 190]);
  });

  it('epoch axis uses the fractional epoch of the rows', () => {
    const c = runCurves(rows, 'epoch');
    expect([...c.train.x]).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect([...c.val.x]).toEqual([0.2, 0.4]);
  });

  it('a resumed run that logged steps twice keeps the later row, in step order', () => {
    const c = runCurves([step(1, 3), step(2, 2.9), step(3, 2.8), step(2, 2.5), step(3, 2.4), step(4, 2.3)], 'step');
    expect([...c.train.x]).toEqual([1, 2, 3, 4]);
    expect([...c.train.y]).toEqual([3, 2.5, 2.4, 2.3]);
  });

  it('an evaluation before the first step sits at 0 tokens', () => {
    const c = runCurves([evalRow(0, 4), step(1, 3, 10)], 'tokens');
    expect([...c.val.x]).toEqual([0]);
  });
});

describe('emaDebiased', () => {
  it("equals TensorBoard's debiased EMA", () => {
    const ys = [3, 2.8, 3.1, 2.2, 2.5, 1.9, 2.0, 1.7];
    for (const w of [0.3, 0.6, 0.9, 0.99]) {
      const got = [...emaDebiased(ys, w)];
      tensorboardSmooth(ys, w).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
    }
  });

  it('first point is unbiased, constant stays constant, weight 0 is the raw series', () => {
    expect(emaDebiased([5, 1], 0.9)[0]).toBeCloseTo(5, 12);
    expect([...emaDebiased([2, 2, 2, 2], 0.95)].every((v) => Math.abs(v - 2) < 1e-12)).toBe(true);
    expect([...emaDebiased([1, 4, 2], 0)]).toEqual([1, 4, 2]);
  });

  it('passes NaN through without poisoning later points', () => {
    const out = emaDebiased([1, NaN, 1], 0.5);
    expect(Number.isNaN(out[1])).toBe(true);
    expect(out[2]).toBeCloseTo(1, 12);
  });
});

describe('decimateMinMax', () => {
  const n = 100_000;
  const x = Float64Array.from({ length: n }, (_, i) => i);
  const y = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 300) + (i === 54_321 ? 10 : 0) - (i === 77_777 ? 10 : 0));

  it('keeps the extremes of every bucket, first and last, in index order, about 2 points per bucket', () => {
    const idx = decimateMinMax(x, y, 500);
    expect(idx.length).toBeLessThanOrEqual(2 * 500 + 2);
    expect(idx[0]).toBe(0);
    expect(idx[idx.length - 1]).toBe(n - 1);
    for (let i = 1; i < idx.length; i++) expect(idx[i]).toBeGreaterThan(idx[i - 1]);
    expect([...idx]).toContain(54_321); // the spike survives
    expect([...idx]).toContain(77_777); // and the dip
    // In each bucket, the min and max of the drawn points equal those of the data.
    const bucket = (i: number) => Math.min(499, Math.floor((i / (n - 1)) * 500));
    const kept = new Map<number, number[]>();
    for (const i of idx) if (i > 0 && i < n - 1) kept.set(bucket(i), [...(kept.get(bucket(i)) ?? []), y[i]]);
    for (let b = 0; b < 500; b += 37) {
      const all = [...y].filter((_, i) => bucket(i) === b && i > 0 && i < n - 1);
      expect(Math.max(...kept.get(b)!)).toBe(Math.max(...all));
      expect(Math.min(...kept.get(b)!)).toBe(Math.min(...all));
    }
  });

  it('short series come back whole', () => {
    expect([...decimateMinMax([1, 2, 3], [3, 2, 1], 100)]).toEqual([0, 1, 2]);
  });

  it('a zoomed range keeps one neighbour on each side', () => {
    const idx = decimateMinMax(x, y, 10, [1000.5, 1010.5]);
    expect(idx[0]).toBe(1000);
    expect(idx[idx.length - 1]).toBe(1011);
  });

  it('decimating 100k points takes well under a frame', () => {
    const t0 = performance.now();
    decimateMinMax(x, y, 1000);
    expect(performance.now() - t0).toBeLessThan(50);
  });
});

describe('alignSeries', () => {
  it('puts series on the union of their x values with null for gaps', () => {
    const a = { x: Float64Array.from([1, 2, 3]), y: Float64Array.from([10, 20, 30]) };
    const b = { x: Float64Array.from([2, 4]), y: Float64Array.from([5, 6]) };
    expect(alignSeries([a, b])).toEqual([[1, 2, 3, 4], [10, 20, 30, null], [null, 5, null, 6]]);
  });

  it('non-finite values, and values ≤ 0 on a log scale, become gaps; non-finite x is dropped', () => {
    const a = { x: Float64Array.from([1, 2, 3, NaN]), y: Float64Array.from([NaN, 0, 2, 1]) };
    expect(alignSeries([a])).toEqual([[1, 2, 3], [null, 0, 2]]);
    expect(alignSeries([a], true)).toEqual([[1, 2, 3], [null, null, 2]]);
  });
});

describe('buildChartData', () => {
  it('three series per run (train, smoothed, validation), runs merged on one axis, smoothed drawn above raw', () => {
    const r1 = { runId: 'a', rows: [step(1, 3), step(2, 2), evalRow(2, 2.5)] };
    const r2 = { runId: 'b', rows: [step(1, 4), step(3, 1)] };
    const d = buildChartData([r1, r2], { axis: 'step', smoothing: 0, buckets: 100, logScale: false });
    expect(d.series.map((s) => `${s.runId}:${s.kind}`)).toEqual(['a:train', 'b:train', 'a:smoothed', 'b:smoothed', 'a:val', 'b:val']);
    expect(d.data[0]).toEqual([1, 2, 3]);
    expect(d.data[1]).toEqual([3, 2, null]);
    expect(d.data[2]).toEqual([4, null, 1]);
    expect(d.data[3]).toEqual([3, 2, null]); // smoothing 0 = raw
    expect(d.data[5]).toEqual([null, 2.5, null]);
    expect(d.data[6]).toEqual([null, null, null]);
    expect(d.xExtent).toEqual([1, 3]);
    expect(d.points).toBe(5);
  });

  it('100k steps are drawn with about two points per pixel column', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => step(i + 1, 3 * Math.exp(-i / 30_000) + 0.1 * Math.sin(i)));
    const d = buildChartData([{ runId: 'big', rows }], { axis: 'tokens', smoothing: 0.9, buckets: 800, logScale: true });
    expect(d.points).toBe(100_000);
    expect(d.drawn).toBeLessThanOrEqual(2 * 800 + 2);
  });
});

describe('niceTicks', () => {
  it('round steps inside the range', () => {
    expect(niceTicks(1.19, 3.9)).toEqual([1.5, 2, 2.5, 3, 3.5]);
    expect(niceTicks(0.02, 0.1, 4)).toEqual([0.02, 0.04, 0.06, 0.08, 0.1]);
    expect(niceTicks(2, 2)).toEqual([2]);
  });
});
