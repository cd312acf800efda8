// The Loss curves section: x axis, log scale and smoothing controls, the chart of every selected
// run (raw and smoothed training loss, validation loss; one colour per run, labelled by what
// differs among the selected runs, a compact legend with values at the cursor) and a text summary
// per run, and for a long run read as a bounded view, how many of its steps the chart holds with
// "Load all" (every row, on demand). Data is rebuilt (memoised per run) only when what it depends
// on changes.
import { buildChartData, type ChartRunInput, type RunCurves, type XAxis } from '../chartData';
import { accumulateCurves, accumulateSmoothing, type CurveAccumulator, type SmoothAccumulator } from '../curveAccumulator';
import { h, setChildren, setText, toggleAttr } from '../dom';
import { formatBytes } from '../../src/protocol/progress';
import { fmtInt, fmtLoss } from '../format';
import type { HostApi } from '../host';
import { coverageNote } from '../metricsCoverage';
import { runColorIndices } from '../runColors';
import { labelsOf } from '../runIdentity';
import { onThemeChange, RUN_VARS } from '../theme';
import type { Action, State } from '../store';
import { CurveExamples } from './curveExamples';
import { LossChart, type ChartRunSpec, type ChartSeriesSpec } from './lossChart';

const AXES: { value: XAxis; label: string }[] = [
  { value: 'step', label: 'Step' },
  { value: 'tokens', label: 'Tokens' },
  { value: 'epoch', label: 'Epoch' },
];

export class CurvesView {
  readonly el: HTMLElement;
  private readonly chartHost: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly info: HTMLElement;
  /** One line per selected run whose older steps were thinned, with its "Load all" button. */
  private readonly coverage: HTMLElement;
  private readonly coverageLines = new Map<string, { el: HTMLElement; text: HTMLElement; button: HTMLElement }>();
  /** Runs whose every row was asked for and has not come back yet. */
  private readonly loadingAll = new Set<string>();
  private readonly axisSelect: HTMLElement & { value: string };
  private readonly logBox: HTMLElement & { checked: boolean };
  private readonly slider: HTMLInputElement;
  private readonly sliderValue: HTMLElement;
  private readonly chart: LossChart;
  /** Spike markers, a clicked step's examples, the Examples section (curveExamples.ts). */
  private readonly examples: CurveExamples;
  /** Per run: its curves and smoothing, extended as live rows arrive (see curveAccumulator). */
  private readonly cache = new Map<string, { acc?: CurveAccumulator; smooth?: SmoothAccumulator }>();
  private lastKey: unknown[] = [];
  private lastAxis?: XAxis;
  private state?: State;
  private visible = false;
  /** Milliseconds the last chart update took (data build + uPlot), for the status of the harness and profiling. */
  lastUpdateMs = 0;

  constructor(
    dispatch: (a: Action) => void,
    private readonly host: Pick<HostApi, 'loadAllMetrics' | 'post' | 'stepExamples' | 'runExamples'>,
  ) {
    this.axisSelect = h('vscode-single-select', { id: 'x-axis', label: 'X axis', onchange: () => dispatch({ type: 'ui/xAxis', xAxis: this.axisSelect.value as XAxis }) },
      AXES.map((a) => h('vscode-option', { value: a.value }, a.label))) as HTMLElement & { value: string };
    this.logBox = h('vscode-checkbox', { label: 'Log scale', onchange: () => dispatch({ type: 'ui/logScale', logScale: this.logBox.checked }) }) as HTMLElement & { checked: boolean };
    this.slider = h('input', {
      type: 'range', id: 'smoothing', min: '0', max: '0.99', step: '0.01', 'aria-label': 'Smoothing of the training loss (exponential moving average weight)',
      oninput: () => dispatch({ type: 'ui/smoothing', smoothing: Number(this.slider.value) }),
    });
    this.sliderValue = h('span', { class: 'slider-value', 'aria-hidden': 'true' });
    const reset = h('vscode-button', { secondary: true, title: 'Show the whole x range (or double-click the chart)', onclick: () => {
      this.chart.resetZoom();
      this.refresh(true);
    } }, 'Reset zoom');
    this.chartHost = h('div', { class: 'chart', role: 'img', 'aria-label': 'Loss curves of the selected runs' });
    this.examples = new CurveExamples(host);
    this.chart = new LossChart(this.chartHost, () => this.refresh(true), [this.examples.plugin]);
    this.empty = h('p', { class: 'empty' });
    this.summary = h('table', { class: 'data-table curve-summary' });
    this.info = h('p', { class: 'hint' });
    this.coverage = h('div', { class: 'coverage', 'aria-live': 'polite' });
    this.el = h('section', { class: 'curves', 'aria-label': 'Loss curves' },
      h('div', { class: 'toolbar' },
        h('vscode-label', { for: 'x-axis' }, 'X axis'), this.axisSelect,
        this.logBox,
        h('label', { class: 'slider', for: 'smoothing' }, 'Smoothing', this.slider, this.sliderValue),
        reset),
      this.empty, this.chartHost, this.chart.legend.el, this.coverage, this.examples.el, this.summary, this.info);
    onThemeChange(() => {
      this.chart.themeChanged();
      this.refresh(true);
    });
  }

  setVisible(v: boolean): void {
    this.visible = v;
    if (v) this.refresh(false);
  }

  update(s: State): void {
    this.state = s;
    if (this.axisSelect.value !== s.xAxis) this.axisSelect.value = s.xAxis;
    if (this.logBox.checked !== s.logScale) this.logBox.checked = s.logScale;
    if (document.activeElement !== this.slider) this.slider.value = String(s.smoothing);
    setText(this.sliderValue, s.smoothing.toFixed(2));
    this.renderCoverage(s);
    if (this.visible) this.refresh(false);
  }

  /**
   * "run: showing 3,953 of 1,000,000 steps …  [Load all]" for each selected run read as a bounded
   * view. Lines are kept and their text updated in place: a live run changes the figures every
   * frame, and a button rebuilt under the pointer would lose the click.
   */
  private renderCoverage(s: State): void {
    const named = s.selected.length > 1;
    const labels = named ? labelsOf(s, s.selected) : undefined;
    const lines: HTMLElement[] = [];
    const shown = new Set<string>();
    for (const id of s.selected) {
      const n = coverageNote(id, s.runData[id]);
      if (!n) {
        this.loadingAll.delete(id); // every row is there now (or the run is gone)
        continue;
      }
      shown.add(id);
      let line = this.coverageLines.get(id);
      if (!line) this.coverageLines.set(id, (line = this.coverageLine(id)));
      const loading = this.loadingAll.has(id);
      const from = n.wholeFrom !== undefined ? `; every step from ${fmtInt(n.wholeFrom)} on` : '';
      setText(line.text, `${labels ? `${labels.get(id) ?? id}: ` : ''}showing ${fmtInt(n.shown)} of ${fmtInt(n.total)} steps (older steps by the lowest and highest loss of each stretch${from}). `);
      setText(line.button, loading ? 'Loading all steps…' : 'Load all');
      toggleAttr(line.button, 'disabled', loading);
      const title = `Read every row of ${id}'s metrics.jsonl (${fmtInt(n.total)} steps, ${formatBytes(n.bytes)}): seconds to a minute for millions of steps`;
      if (line.button.title !== title) line.button.title = title;
      lines.push(line.el);
    }
    for (const id of this.coverageLines.keys()) if (!shown.has(id)) this.coverageLines.delete(id);
    const current = Array.from(this.coverage.children);
    if (current.length !== lines.length || current.some((el, i) => el !== lines[i])) setChildren(this.coverage, lines);
  }

  private coverageLine(runId: string): { el: HTMLElement; text: HTMLElement; button: HTMLElement } {
    const text = h('span');
    const button = h('vscode-button', {
      secondary: true,
      onclick: () => {
        if (this.loadingAll.has(runId)) return;
        this.loadingAll.add(runId);
        if (this.state) this.renderCoverage(this.state);
        void this.host.loadAllMetrics(runId).then(() => {
          this.loadingAll.delete(runId);
          if (this.state) this.renderCoverage(this.state);
        });
      },
    });
    return { el: h('p', { class: 'hint coverage-note' }, text, button), text, button };
  }

  private runsOf(s: State): ChartRunInput[] {
    return s.selected.map((id) => ({ runId: id, rows: s.runData[id]?.metrics ?? [] }));
  }

  private entry(runId: string) {
    let e = this.cache.get(runId);
    if (!e) this.cache.set(runId, (e = {}));
    return e;
  }

  private curvesOf(run: ChartRunInput, axis: XAxis): RunCurves {
    const e = this.entry(run.runId);
    e.acc = accumulateCurves(e.acc, run.rows, axis);
    return e.acc.curves;
  }

  private smoothedOf(run: ChartRunInput, axis: XAxis, w: number): Float64Array {
    this.curvesOf(run, axis);
    const e = this.entry(run.runId);
    e.smooth = accumulateSmoothing(e.smooth, e.acc!, w);
    return e.smooth.smoothed;
  }

  /** Rebuilds the chart when its inputs changed (or `force`: width, zoom, theme). */
  private refresh(force: boolean): void {
    const s = this.state;
    if (!s || !this.visible) return;
    const runs = this.runsOf(s);
    for (const id of this.cache.keys()) if (!s.selected.includes(id)) this.cache.delete(id);
    const hasData = runs.some((r) => r.rows.length > 0);
    this.empty.hidden = hasData;
    this.chartHost.hidden = !hasData;
    this.chart.legend.el.hidden = !hasData;
    if (!hasData) {
      this.lastKey = [];
      setChildren(this.summary);
      setText(this.empty, runs.length ? 'The selected runs have no metrics yet.' : 'Select runs in the Runs section (or start one) to plot their loss curves.');
      setText(this.info, '');
      return;
    }
    const width = this.chart.width(); // measured once the chart is shown
    if (width === 0) return; // not laid out yet: the chart's ResizeObserver calls back
    const labels = labelsOf(s, s.selected);
    const colors = runColorIndices(s.selected, RUN_VARS.length);
    const labelKey = s.selected.map((id) => labels.get(id)).join('\n');
    const key = [s.xAxis, s.logScale, s.smoothing, width, labelKey, ...runs.map((r) => r.rows)];
    if (!force && key.length === this.lastKey.length && key.every((k, i) => k === this.lastKey[i])) return;
    this.lastKey = key;
    if (this.lastAxis !== s.xAxis) {
      this.chart.resetZoom(); // a zoomed range in steps means nothing in tokens
      this.lastAxis = s.xAxis;
    }
    const t0 = performance.now();
    const data = buildChartData(runs, {
      axis: s.xAxis, smoothing: s.smoothing, logScale: s.logScale, buckets: Math.max(50, width - 60), range: this.chart.range(),
      curvesOf: (r) => this.curvesOf(r, s.xAxis),
      smoothedOf: (r) => this.smoothedOf(r, s.xAxis, s.smoothing),
    });
    const chartRuns: ChartRunSpec[] = runs.map((r) => ({ runId: r.runId, label: labels.get(r.runId) ?? r.runId, colorIndex: colors.get(r.runId) ?? 0 }));
    const series: ChartSeriesSpec[] = data.series.map((x) => ({ run: runs.findIndex((r) => r.runId === x.runId), kind: x.kind }));
    this.examples.setChart(runs, chartRuns, series, s.xAxis, runs.some((r) => s.runData[r.runId]?.detail?.metricsCoverage?.downsampled));
    this.chart.setData({ runs: chartRuns, series, xAxis: s.xAxis, logScale: s.logScale }, data.data);
    this.lastUpdateMs = performance.now() - t0;
    this.chartHost.dataset.updateMs = this.lastUpdateMs.toFixed(2);
    setText(this.info, `${fmtInt(data.points)} points, ${fmtInt(data.drawn)} drawn. Drag across the chart to zoom, double-click to reset.`);
    this.renderSummary(s, runs, chartRuns);
  }

  private renderSummary(s: State, runs: ChartRunInput[], shown: ChartRunSpec[]): void {
    const rows = runs.map((r, i) => {
      const c = this.curvesOf(r, s.xAxis);
      const n = c.train.y.length;
      let best = Infinity;
      for (const v of c.val.y) if (v < best) best = v;
      let lastStep: number | undefined;
      for (let k = r.rows.length - 1; k >= 0 && lastStep === undefined; k--) if (r.rows[k].type === 'step') lastStep = r.rows[k].step;
      return h('tr', null,
        h('td', { title: r.runId }, h('span', { class: 'swatch', style: `background: var(${RUN_VARS[shown[i].colorIndex % RUN_VARS.length]})` }), shown[i].label),
        h('td', { class: 'num' }, fmtInt(lastStep)),
        h('td', { class: 'num' }, n ? fmtLoss(c.train.y[n - 1]) : '–'),
        h('td', { class: 'num' }, n ? fmtLoss(this.smoothedOf(r, s.xAxis, s.smoothing)[n - 1]) : '–'),
        h('td', { class: 'num' }, c.val.y.length ? fmtLoss(c.val.y[c.val.y.length - 1]) : '–'),
        h('td', { class: 'num' }, Number.isFinite(best) ? fmtLoss(best) : '–'));
    });
    setChildren(this.summary,
      h('caption', { class: 'visually-hidden' }, 'Latest values per run'),
      h('thead', null, h('tr', null, ...['Run', 'Step', 'Train loss', 'Smoothed', 'Val loss', 'Best val'].map((t, i) => h('th', { class: i ? 'num' : undefined, scope: 'col' }, t)))),
      h('tbody', null, rows));
  }
}
