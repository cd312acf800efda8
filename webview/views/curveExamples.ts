// The loss chart linked to the data (issue 15): a uPlot plugin that marks the loss spikes of each
// run's training curve (▼ above the point; the rule of protocol/spikes.ts, computed in the webview
// from the rows the chart holds: a thinned history's markers come from the rows shown) and turns
// a click on the plot into "this run's step" (the marker under the pointer, else the nearest run's
// step nearest the click), listed by StepExamplesView; and the Examples section (ExamplesView).
// For tests of the panel in a real VS Code, the plot area (.u-over) carries the CSS-pixel position
// of one training point: data-probe-step / data-probe-x / data-probe-y (the middle step shown of
// the first run drawn), so a test can click a known step.
import type uPlot from 'uplot';
import type { ChartRunInput, XAxis } from '../chartData';
import { h } from '../dom';
import type { HostApi } from '../host';
import { nearestPick, RunSteps, spikeTitle, type PickCandidate } from '../stepExamples';
import { ExamplesView } from './examplesView';
import type { ChartRunSpec, ChartSeriesSpec } from './lossChart';
import { StepExamplesView } from './stepExamplesView';
import '../examples.css';

/** A spike marker within this many CSS pixels of the pointer is the one hovered or clicked. */
const MARKER_HIT_PX = 8;
/** Pointer travel (CSS px) between press and release beyond which the gesture was a drag (zoom), not a click. */
const CLICK_SLOP_PX = 3;

interface ChartRun {
  runId: string;
  label: string;
  steps: RunSteps;
  /** Index in uPlot's series of the run's raw training line (its visibility: the legend hides runs). */
  trainSeries?: number;
}

export class CurveExamples {
  readonly el: HTMLElement;
  readonly plugin: uPlot.Plugin;
  private readonly stepView: StepExamplesView;
  private readonly examplesView: ExamplesView;
  private readonly note: HTMLElement;
  private readonly steps = new Map<string, RunSteps>();
  private runs: ChartRun[] = [];
  private axis: XAxis = 'step';

  constructor(host: Pick<HostApi, 'post' | 'stepExamples' | 'runExamples'>) {
    this.stepView = new StepExamplesView(host);
    this.examplesView = new ExamplesView(host);
    this.note = h('p', { class: 'hint spike-note' });
    this.el = h('div', { class: 'curve-examples' }, this.note, this.stepView.el, this.examplesView.el);
    this.plugin = { hooks: { init: [(u) => this.listen(u)], draw: [(u) => this.draw(u)] } };
  }

  /** What the chart is about to draw: the runs (their rows, labels, series) and the axis. Call before LossChart.setData. */
  setChart(runs: readonly ChartRunInput[], chartRuns: readonly ChartRunSpec[], series: readonly ChartSeriesSpec[], axis: XAxis, thinned: boolean): void {
    this.axis = axis;
    for (const id of this.steps.keys()) if (!runs.some((r) => r.runId === id)) this.steps.delete(id);
    this.runs = runs.map((r, i) => {
      let steps = this.steps.get(r.runId);
      if (!steps) this.steps.set(r.runId, (steps = new RunSteps()));
      steps.update(r.rows);
      const k = series.findIndex((x) => x.run === i && x.kind === 'train');
      return { runId: r.runId, label: chartRuns[i]?.label ?? r.runId, steps, trainSeries: k < 0 ? undefined : k + 1 };
    });
    this.examplesView.setRuns(this.runs.map((r) => ({ id: r.runId, label: r.label })));
    const spikes = this.runs.reduce((n, r) => n + r.steps.spikes.length, 0);
    const text = `Click a point of the training curve for the examples of its step.${spikes ? ` ▼ marks ${spikes} loss spike${spikes === 1 ? '' : 's'} (loss above the median of the previous 50 steps by 6 robust deviations)` : ''}${spikes && thinned ? ', among the steps shown' : ''}${spikes ? '.' : ''}`;
    if (this.note.textContent !== text) this.note.textContent = text;
  }

  private visible(u: uPlot, r: ChartRun): boolean {
    return r.trainSeries === undefined || u.series[r.trainSeries]?.show !== false;
  }

  /** The spike markers on screen, in CSS pixels of the plot area. */
  private markers(u: uPlot): { run: ChartRun; step: number; x: number; y: number; title: string }[] {
    const out: { run: ChartRun; step: number; x: number; y: number; title: string }[] = [];
    const { min, max } = u.scales.x;
    for (const r of this.runs) {
      if (!this.visible(u, r)) continue;
      for (const s of r.steps.spikes) {
        const xv = r.steps.x(s.index, this.axis);
        if ((min !== undefined && xv < min) || (max !== undefined && xv > max)) continue;
        const y = Number.isFinite(s.loss) ? u.valToPos(s.loss, 'y') : 0; // an infinite loss: at the top
        out.push({ run: r, step: s.step, x: u.valToPos(xv, 'x'), y: Math.max(0, y), title: spikeTitle(s) });
      }
    }
    return out;
  }

  private draw(u: uPlot): void {
    const ctx = u.ctx;
    const dpr = window.devicePixelRatio || 1;
    const color = getComputedStyle(document.body).getPropertyValue('--vscode-errorForeground').trim() || '#f14c4c';
    ctx.save();
    ctx.fillStyle = color;
    for (const m of this.markers(u)) {
      // ▼ just above the point, in canvas pixels.
      const x = u.bbox.left + m.x * dpr;
      const y = u.bbox.top + m.y * dpr - 4 * dpr;
      ctx.beginPath();
      ctx.moveTo(x - 5 * dpr, y - 8 * dpr);
      ctx.lineTo(x + 5 * dpr, y - 8 * dpr);
      ctx.lineTo(x, y);
      ctx.closePath();
      ctx.fill();
    }
    ctx.restore();
    this.probe(u);
  }

  /** The test hook: the position of the middle training point shown of the first run drawn. */
  private probe(u: uPlot): void {
    const over = u.over;
    const run = this.runs.find((r) => this.visible(u, r) && r.steps.step.length > 0);
    const { min, max } = u.scales.x;
    if (!run || min === undefined || max === undefined) {
      for (const k of ['probeStep', 'probeX', 'probeY']) delete over.dataset[k];
      return;
    }
    let i = run.steps.nearest((min + max) / 2, this.axis);
    if (!Number.isFinite(run.steps.loss[i])) i = run.steps.loss.findIndex((l) => Number.isFinite(l));
    if (i < 0) return;
    over.dataset.probeStep = String(run.steps.step[i]);
    over.dataset.probeX = u.valToPos(run.steps.x(i, this.axis), 'x').toFixed(1);
    over.dataset.probeY = u.valToPos(run.steps.loss[i], 'y').toFixed(1);
  }

  /** Click (not drag) on the plot area: the step under the pointer; hover over a marker: its tooltip. */
  private listen(u: uPlot): void {
    const over = u.over;
    let down: { x: number; y: number } | undefined;
    const markerAt = (x: number, y: number) => this.markers(u).find((m) => Math.hypot(m.x - x, m.y - 6 - y) <= MARKER_HIT_PX);
    over.addEventListener('mousedown', (e) => (down = { x: e.offsetX, y: e.offsetY }));
    over.addEventListener('mousemove', (e) => {
      const m = markerAt(e.offsetX, e.offsetY);
      over.title = m ? m.title : '';
      over.style.cursor = m ? 'pointer' : '';
    });
    over.addEventListener('click', (e) => {
      if (down && Math.hypot(e.offsetX - down.x, e.offsetY - down.y) > CLICK_SLOP_PX) return; // a drag to zoom
      const m = markerAt(e.offsetX, e.offsetY);
      if (m) {
        this.stepView.show(m.run.runId, m.step, m.run.label);
        return;
      }
      const xv = u.posToVal(e.offsetX, 'x');
      const candidates: (PickCandidate & { label: string })[] = [];
      for (const r of this.runs) {
        if (!this.visible(u, r)) continue;
        const i = r.steps.nearest(xv, this.axis);
        if (i < 0) continue;
        const px = u.valToPos(r.steps.x(i, this.axis), 'x');
        const loss = r.steps.loss[i];
        const py = Number.isFinite(loss) ? u.valToPos(loss, 'y') : 0;
        candidates.push({ runId: r.runId, step: r.steps.step[i], distance: Math.hypot(px - e.offsetX, py - e.offsetY), label: r.label });
      }
      const pick = nearestPick(candidates) as (PickCandidate & { label: string }) | undefined;
      if (pick) this.stepView.show(pick.runId, pick.step, pick.label);
    });
  }
}
