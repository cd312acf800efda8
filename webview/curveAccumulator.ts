// Incremental curves for live runs: when a run's rows grow by appending (the store keeps the old
// rows and adds new ones), only the new rows are converted and smoothed, so a 100k-step run costs
// O(new rows) per update instead of O(all rows). Anything else (another axis, rows out of order,
// a replaced history) recomputes with runCurves. DOM-free, unit-tested against runCurves.
//
// Buffers are shared between an accumulator and the one extended from it: extend only the latest.
import type { MetricRow } from '../src/protocol/panel';
import { emaExtend, emaStart, floorIndex, runCurves, type EmaState, type RunCurves, type XAxis } from './chartData';

interface Columns {
  /** Capacity-doubling buffers; the first n (train) / nv (validation) entries are valid. */
  stepX: Float64Array;
  tokens: Float64Array;
  epochs: Float64Array;
  trainX: Float64Array;
  trainY: Float64Array;
  n: number;
  valX: Float64Array;
  valY: Float64Array;
  nv: number;
  cum: number;
  lastEvalStep: number;
}

export interface CurveAccumulator {
  readonly axis: XAxis;
  /** How many rows were consumed, and the last of them (to recognise an extension of the same rows). */
  readonly consumed: number;
  readonly lastRow?: MetricRow;
  readonly curves: RunCurves;
  /** Identifies one from-scratch computation; smoothing extends only within the same origin. */
  readonly origin: object;
  /** Absent when the rows needed sorting: the next update recomputes. */
  readonly columns?: Columns;
}

function grow(a: Float64Array, need: number): Float64Array {
  if (need <= a.length) return a;
  const b = new Float64Array(Math.max(need, a.length * 2, 1024));
  b.set(a);
  return b;
}

function emptyColumns(capacity: number): Columns {
  const f = () => new Float64Array(capacity);
  return { stepX: f(), tokens: f(), epochs: f(), trainX: f(), trainY: f(), n: 0, valX: new Float64Array(64), valY: new Float64Array(64), nv: 0, cum: 0, lastEvalStep: -Infinity };
}

function recompute(rows: readonly MetricRow[], axis: XAxis): CurveAccumulator {
  return { axis, consumed: rows.length, lastRow: rows[rows.length - 1], curves: runCurves(rows, axis), origin: {} };
}

/** The curves of `rows`, extending `prev` when `rows` is `prev`'s rows plus more. */
export function accumulateCurves(prev: CurveAccumulator | undefined, rows: readonly MetricRow[], axis: XAxis): CurveAccumulator {
  if (prev && prev.consumed === rows.length && prev.lastRow === rows[rows.length - 1] && prev.axis === axis) return prev;
  const extend = !!prev?.columns && prev.axis === axis && rows.length > prev.consumed && (prev.consumed === 0 || rows[prev.consumed - 1] === prev.lastRow);
  const c: Columns = extend ? { ...prev!.columns! } : emptyColumns(Math.max(1024, rows.length));
  for (let i = extend ? prev!.consumed : 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.type === 'step') {
      if (c.n > 0 && r.step <= c.stepX[c.n - 1]) return recompute(rows, axis); // a resumed run's repeated steps
      const need = c.n + 1;
      if (need > c.stepX.length) {
        c.stepX = grow(c.stepX, need);
        c.tokens = grow(c.tokens, need);
        c.epochs = grow(c.epochs, need);
        c.trainX = grow(c.trainX, need);
        c.trainY = grow(c.trainY, need);
      }
      c.cum += Number.isFinite(r.tokens) ? r.tokens : 0;
      c.stepX[c.n] = r.step;
      c.tokens[c.n] = c.cum;
      c.epochs[c.n] = r.epoch;
      c.trainX[c.n] = axis === 'step' ? r.step : axis === 'tokens' ? c.cum : r.epoch;
      c.trainY[c.n] = r.loss;
      c.n++;
    } else if (r.type === 'eval') {
      if (r.step < c.lastEvalStep) return recompute(rows, axis);
      c.lastEvalStep = r.step;
      c.valX = grow(c.valX, c.nv + 1);
      c.valY = grow(c.valY, c.nv + 1);
      let x = r.step;
      if (axis !== 'step') {
        const k = floorIndex(c.stepX.subarray(0, c.n), r.step);
        x = k < 0 ? 0 : axis === 'tokens' ? c.tokens[k] : c.epochs[k];
      }
      c.valX[c.nv] = x;
      c.valY[c.nv] = r.valLoss;
      c.nv++;
    }
  }
  return {
    axis, consumed: rows.length, lastRow: rows[rows.length - 1], origin: extend ? prev!.origin : {}, columns: c,
    curves: { train: { x: c.trainX.subarray(0, c.n), y: c.trainY.subarray(0, c.n) }, val: { x: c.valX.subarray(0, c.nv), y: c.valY.subarray(0, c.nv) } },
  };
}

export interface SmoothAccumulator {
  readonly origin: object;
  readonly weight: number;
  readonly n: number;
  readonly state: EmaState;
  readonly buffer: Float64Array;
  readonly smoothed: Float64Array;
}

/** The debiased EMA of `acc`'s training loss, extending `prev` when only new points were added. */
export function accumulateSmoothing(prev: SmoothAccumulator | undefined, acc: CurveAccumulator, weight: number): SmoothAccumulator {
  const y = acc.curves.train.y;
  const n = y.length;
  if (prev && prev.origin === acc.origin && prev.weight === weight && prev.n === n) return prev;
  const extend = !!prev && prev.origin === acc.origin && prev.weight === weight && n > prev.n;
  const state = extend ? { ...prev!.state } : emaStart(weight);
  const buffer = grow(extend ? prev!.buffer : new Float64Array(Math.max(1024, n)), n);
  emaExtend(state, y, buffer, extend ? prev!.n : 0, n);
  return { origin: acc.origin, weight, n, state, buffer, smoothed: buffer.subarray(0, n) };
}
