// Loss-curve data for the chart, pure and DOM-free: metric rows → per-run curves on the chosen x
// axis, TensorBoard's debiased EMA, min/max-per-bucket decimation, and several runs' series merged
// onto one sorted x axis (uPlot's "aligned data": [xs, ys1, ys2, ...] with null for gaps).
import type { MetricRow } from '../src/protocol/panel';

export type XAxis = 'step' | 'tokens' | 'epoch';
export type SeriesKind = 'train' | 'smoothed' | 'val';

export interface Curve {
  x: Float64Array;
  y: Float64Array;
}

export interface RunCurves {
  train: Curve;
  /** Validation loss at each evaluation, placed on the same x axis as the training steps. */
  val: Curve;
}

type StepRow = Extract<MetricRow, { type: 'step' }>;
type EvalRow = Extract<MetricRow, { type: 'eval' }>;

/**
 * Step rows ordered by step, one per step. A resumed run can log a step twice (the steps after the
 * last checkpoint are redone): the later row wins. Rows already in order are taken as they are.
 */
function orderedSteps(rows: readonly MetricRow[]): StepRow[] {
  const steps: StepRow[] = [];
  let sorted = true;
  for (const r of rows) {
    if (r.type !== 'step') continue;
    if (steps.length && r.step <= steps[steps.length - 1].step) sorted = false;
    steps.push(r);
  }
  if (sorted) return steps;
  const byStep = new Map<number, StepRow>();
  for (const r of steps) byStep.set(r.step, r);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** Index of the last element of `a` (ascending) that is ≤ v, or -1. */
export function floorIndex(a: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= v) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/**
 * One run's training and validation loss on the chosen axis. `tokens` is cumulative (a step row
 * counts the tokens of that step); an evaluation takes the tokens/epoch of the step it ran at.
 */
export function runCurves(rows: readonly MetricRow[], axis: XAxis): RunCurves {
  const steps = orderedSteps(rows);
  const n = steps.length;
  const stepX = new Float64Array(n);
  const tokens = new Float64Array(n);
  const train: Curve = { x: new Float64Array(n), y: new Float64Array(n) };
  let cum = 0;
  for (let i = 0; i < n; i++) {
    const r = steps[i];
    stepX[i] = r.step;
    cum += Number.isFinite(r.tokens) ? r.tokens : 0;
    tokens[i] = cum;
    train.x[i] = axis === 'step' ? r.step : axis === 'tokens' ? cum : r.epoch;
    train.y[i] = r.loss;
  }
  const evals = rows.filter((r): r is EvalRow => r.type === 'eval').sort((a, b) => a.step - b.step);
  const val: Curve = { x: new Float64Array(evals.length), y: new Float64Array(evals.length) };
  evals.forEach((e, i) => {
    let x = e.step;
    if (axis !== 'step') {
      const k = floorIndex(stepX, e.step);
      x = k < 0 ? 0 : axis === 'tokens' ? tokens[k] : steps[k].epoch;
    }
    val.x[i] = x;
    val.y[i] = e.valLoss;
  });
  return { train, val };
}

/**
 * TensorBoard's smoothing: an exponential moving average debiased by 1 − w^k (so the first
 * points are not pulled towards zero). Non-finite values pass through and are not accumulated.
 * weight 0 returns the input; weight → 1 approaches the running mean.
 */
export function emaDebiased(y: ArrayLike<number>, weight: number): Float64Array {
  const out = new Float64Array(y.length);
  const state = emaStart(weight);
  emaExtend(state, y, out, 0, y.length);
  return out;
}

/** The running state of emaDebiased, so a growing series can be smoothed incrementally. */
export interface EmaState {
  w: number;
  last: number;
  /** w^k for the k finite values seen (kept as a product: no Math.pow per point). */
  wk: number;
}

export function emaStart(weight: number): EmaState {
  return { w: Math.min(Math.max(weight, 0), 0.999999), last: 0, wk: 1 };
}

/** Smooths y[from..to) into out[from..to), advancing `s`. */
export function emaExtend(s: EmaState, y: ArrayLike<number>, out: Float64Array, from: number, to: number): void {
  const w = s.w;
  for (let i = from; i < to; i++) {
    const v = y[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    s.last = s.last * w + (1 - w) * v;
    s.wk *= w;
    out[i] = w === 0 ? v : s.last / (1 - s.wk);
  }
}

/**
 * Indices to draw `x`/`y` (x ascending) on `buckets` pixel columns: in each column the points of
 * minimum and maximum y (in index order), so spikes survive; plus the first and last point, and
 * one neighbour outside `range` on each side so lines run to the plot edges when zoomed.
 * Curves short enough to draw as they are come back whole (within the range).
 */
export function decimateMinMax(x: ArrayLike<number>, y: ArrayLike<number>, buckets: number, range?: readonly [number, number]): Int32Array {
  const n = x.length;
  if (n === 0) return new Int32Array(0);
  const lo = range ? Math.max(0, floorIndex(x, range[0])) : 0; // neighbour left of the range
  let hi = range ? floorIndex(x, range[1]) + 1 : n - 1; // neighbour right of the range
  hi = Math.min(Math.max(hi, lo), n - 1);
  const count = hi - lo + 1;
  const b = Math.max(1, Math.floor(buckets));
  if (count <= 2 * b + 2) return Int32Array.from({ length: count }, (_, i) => lo + i);
  const x0 = x[lo];
  const span = x[hi] - x0 || 1;
  const out: number[] = [lo];
  let bucket = -1;
  let iMin = -1;
  let iMax = -1;
  const flush = () => {
    if (iMin < 0) return;
    const a = Math.min(iMin, iMax);
    const c = Math.max(iMin, iMax);
    if (a !== out[out.length - 1]) out.push(a);
    if (c !== a) out.push(c);
  };
  for (let i = lo + 1; i < hi; i++) {
    const k = Math.min(b - 1, Math.floor(((x[i] - x0) / span) * b));
    if (k !== bucket) {
      flush();
      bucket = k;
      iMin = -1;
      iMax = -1;
    }
    const v = y[i];
    if (!Number.isFinite(v)) continue;
    if (iMin < 0 || v < y[iMin]) iMin = i;
    if (iMax < 0 || v > y[iMax]) iMax = i;
  }
  flush();
  if (hi !== out[out.length - 1]) out.push(hi);
  return Int32Array.from(out);
}

/** The elements of `a` at `idx`. */
export function pick(a: ArrayLike<number>, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = a[idx[i]];
  return out;
}

/**
 * Several (x ascending) series on the union of their x values: [xs, ys...] where a series has
 * null at the x values it lacks. Non-finite values, and values ≤ 0 when `positiveOnly` (log
 * scale), become null too.
 */
export function alignSeries(curves: readonly Curve[], positiveOnly = false): (number | null)[][] {
  let total = 0;
  for (const c of curves) total += c.x.length;
  const all = new Float64Array(total);
  let o = 0;
  for (const c of curves) {
    all.set(c.x, o);
    o += c.x.length;
  }
  all.sort();
  const xs: number[] = [];
  // Typed-array sort is numeric; points without a finite x are not drawn.
  for (let i = 0; i < all.length; i++) {
    if (Number.isFinite(all[i]) && (xs.length === 0 || all[i] !== xs[xs.length - 1])) xs.push(all[i]);
  }
  const out: (number | null)[][] = [xs];
  for (const c of curves) {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    let j = 0;
    for (let i = 0; i < c.x.length; i++) {
      if (!Number.isFinite(c.x[i])) continue;
      while (xs[j] < c.x[i]) j++;
      const v = c.y[i];
      ys[j] = Number.isFinite(v) && (!positiveOnly || v > 0) ? v : null;
    }
    out.push(ys);
  }
  return out;
}

export interface ChartRunInput {
  runId: string;
  rows: readonly MetricRow[];
}

export interface ChartSeries {
  runId: string;
  kind: SeriesKind;
}

export interface ChartData {
  data: (number | null)[][];
  series: ChartSeries[];
  /** Extent of the x values over all runs (before decimation), or undefined when there is no data. */
  xExtent?: [number, number];
  /** Points the runs hold, and points drawn after decimation. */
  points: number;
  drawn: number;
}

export interface ChartOptions {
  axis: XAxis;
  smoothing: number;
  /** Pixel columns of the plot: about two points per column are drawn. */
  buckets: number;
  logScale: boolean;
  /** The visible x range when zoomed. */
  range?: readonly [number, number];
  /** Curves already computed for a run's rows (memoised by the caller), instead of recomputing. */
  curvesOf?: (run: ChartRunInput) => RunCurves;
  smoothedOf?: (run: ChartRunInput, train: Curve) => Float64Array;
}

/** Everything the chart draws for the selected runs: raw training loss of each run, then smoothed, then validation. */
export function buildChartData(runs: readonly ChartRunInput[], opts: ChartOptions): ChartData {
  // Drawn in this order, so every smoothed line lies above every raw one and validation on top.
  const byKind: Record<SeriesKind, { curve: Curve; runId: string }[]> = { train: [], smoothed: [], val: [] };
  let points = 0;
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const run of runs) {
    const c = opts.curvesOf ? opts.curvesOf(run) : runCurves(run.rows, opts.axis);
    const smooth = opts.smoothedOf ? opts.smoothedOf(run, c.train) : emaDebiased(c.train.y, opts.smoothing);
    points += c.train.x.length + c.val.x.length;
    for (const k of [c.train, c.val]) {
      if (k.x.length) {
        xMin = Math.min(xMin, k.x[0]);
        xMax = Math.max(xMax, k.x[k.x.length - 1]);
      }
    }
    const idx = decimateMinMax(c.train.x, c.train.y, opts.buckets, opts.range);
    const x = pick(c.train.x, idx);
    byKind.train.push({ curve: { x, y: pick(c.train.y, idx) }, runId: run.runId });
    byKind.smoothed.push({ curve: { x, y: pick(smooth, idx) }, runId: run.runId });
    byKind.val.push({ curve: c.val, runId: run.runId });
  }
  const ordered = (['train', 'smoothed', 'val'] as const).flatMap((kind) => byKind[kind].map((e) => ({ ...e, kind })));
  const series: ChartSeries[] = ordered.map(({ runId, kind }) => ({ runId, kind }));
  const data = alignSeries(ordered.map((e) => e.curve), opts.logScale);
  return { data, series, xExtent: xMin <= xMax ? [xMin, xMax] : undefined, points, drawn: data[0].length };
}

/**
 * Round tick values between min and max (about `target` of them, steps of 1, 2, 2.5 or 5 × 10^k):
 * for the log-scale loss axis, whose range rarely spans a decade (uPlot's log ticks are decades).
 */
export function niceTicks(min: number, max: number, target = 6): number[] {
  if (!(max > min) || !Number.isFinite(min) || !Number.isFinite(max)) return Number.isFinite(min) ? [min] : [];
  const raw = (max - min) / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
