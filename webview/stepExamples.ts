// The training curve's steps for picking and marking, pure and DOM-free: each run's step rows (as
// the chart plots them: ordered by step, a redone step replacing the earlier) with their x on
// every axis, the loss spikes among them (protocol/spikes.ts, computed here in the webview from
// the rows the chart holds: for a long run read as a bounded view, the thinned history's rows, so
// a spike inside a thinned stretch is marked only if its row was kept — the highest loss of each
// stretch is), the step nearest a clicked point, and how an example is named in a list. Extended
// in O(new rows) as a live run's rows arrive (the spike rule only looks back SPIKE_WINDOW steps).
import type { MetricRow } from '../src/protocol/panel';
import { findSpikes, SPIKE_WINDOW, type Spike } from '../src/protocol/spikes';
import type { XAxis } from './chartData';

type StepRow = Extract<MetricRow, { type: 'step' }>;

/** One run's plotted steps as columns (index i = the i-th step in step order) and its spikes. */
export class RunSteps {
  step: number[] = [];
  tokens: number[] = [];
  epoch: number[] = [];
  loss: number[] = [];
  /** The spikes, in step order, each with its index into the columns. */
  spikes: (Spike & { index: number })[] = [];
  private consumed = 0;
  private lastRow?: MetricRow;
  private cum = 0;

  /** Takes the run's rows (its full list, as the store holds it); false when nothing changed. */
  update(rows: readonly MetricRow[]): boolean {
    if (rows.length === this.consumed && rows[rows.length - 1] === this.lastRow) return false;
    const extend = rows.length > this.consumed && (this.consumed === 0 || rows[this.consumed - 1] === this.lastRow);
    const from = extend ? this.consumed : 0;
    const fresh: StepRow[] = [];
    let ordered = true;
    let last = extend && this.step.length ? this.step[this.step.length - 1] : -Infinity;
    for (let i = from; i < rows.length; i++) {
      const r = rows[i];
      if (r.type !== 'step') continue;
      if (r.step <= last) ordered = false;
      last = r.step;
      fresh.push(r);
    }
    if (!extend || !ordered) {
      this.reset();
      this.append(ordered ? fresh : orderedSteps(rows));
    } else this.append(fresh);
    this.consumed = rows.length;
    this.lastRow = rows[rows.length - 1];
    return true;
  }

  private reset(): void {
    this.step = [];
    this.tokens = [];
    this.epoch = [];
    this.loss = [];
    this.spikes = [];
    this.cum = 0;
  }

  private append(rows: readonly StepRow[]): void {
    if (rows.length === 0) return;
    const start = this.step.length;
    // The spike rule over the new rows, with the previous SPIKE_WINDOW finite losses as their context.
    const context: { step: number; loss: number }[] = [];
    for (let i = start - 1; i >= 0 && context.length < SPIKE_WINDOW; i--) if (Number.isFinite(this.loss[i])) context.push({ step: this.step[i], loss: this.loss[i] });
    context.reverse();
    for (const r of rows) {
      this.cum += Number.isFinite(r.tokens) ? r.tokens : 0;
      this.step.push(r.step);
      this.tokens.push(this.cum);
      this.epoch.push(r.epoch);
      this.loss.push(r.loss);
    }
    const firstNew = rows[0].step;
    const points = [...context, ...rows.map((r) => ({ step: r.step, loss: r.loss }))];
    for (const s of findSpikes(points)) if (s.step >= firstNew) this.spikes.push({ ...s, index: start + rows.findIndex((r) => r.step === s.step) });
  }

  /** The x of step index i on an axis (tokens: cumulative, as the chart plots them). */
  x(i: number, axis: XAxis): number {
    return axis === 'step' ? this.step[i] : axis === 'tokens' ? this.tokens[i] : this.epoch[i];
  }

  /** The index of the step whose x is nearest `x` (-1 when there are no steps). */
  nearest(x: number, axis: XAxis): number {
    const xs = axis === 'step' ? this.step : axis === 'tokens' ? this.tokens : this.epoch;
    const n = xs.length;
    if (n === 0) return -1;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x) ? lo - 1 : lo;
  }
}

/** Step rows by step, a later row of a step replacing the earlier (as the chart orders them). */
function orderedSteps(rows: readonly MetricRow[]): StepRow[] {
  const byStep = new Map<number, StepRow>();
  for (const r of rows) if (r.type === 'step') byStep.set(r.step, r);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** A candidate of a click: a run's step at a pixel position. */
export interface PickCandidate {
  runId: string;
  step: number;
  /** Distance in CSS pixels from the click. */
  distance: number;
}

/** The candidate nearest the click (the nearest run's step nearest the click's x), or undefined. */
export function nearestPick(candidates: readonly PickCandidate[]): PickCandidate | undefined {
  let best: PickCandidate | undefined;
  for (const c of candidates) if (Number.isFinite(c.distance) && (!best || c.distance < best.distance)) best = c;
  return best;
}

/** How a list names an example: `file-name:line` (the full path is the link's title). */
export function exampleWhere(file: string, line: number): string {
  return `${file.split(/[\\/]/).pop() ?? file}:${line}`;
}

/** The note an exclusion from a step's list carries in the exclusion list. */
export function excludeNote(runLabel: string, step: number): string {
  return `step ${step} of ${runLabel}`;
}

/** What a spike marker's tooltip says. */
export function spikeTitle(s: Spike): string {
  const score = Number.isFinite(s.score) ? `${s.score.toFixed(1)} robust deviations` : 'infinite';
  return `Loss spike at step ${s.step}: ${fmt(s.loss)}, ${score} above the median ${fmt(s.median)} of the previous steps. Click for its examples.`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}
