// The loss chart: a uPlot instance fed aligned data, rebuilt only when its series, axis, scale or
// theme change (setData otherwise). Drag to zoom on x, double-click to reset. One colour per run
// for its raw (faint), smoothed (solid) and validation (dashed, with points) lines; a compact legend
// of its own (chartLegend.ts: one entry per run, the line styles said once) shows each run's values
// at the cursor, or at the end of the curves when the cursor is off the chart; clicking an entry
// hides or shows that run's lines. Colours are the theme's, read at build time.
import uPlot from 'uplot';
import { niceTicks, type SeriesKind, type XAxis } from '../chartData';
import { fmtCompact, fmtLoss } from '../format';
import { chartColors, withAlpha } from '../theme';
import { valuesAt } from '../legendValues';
import { ChartLegend } from './chartLegend';

export interface ChartRunSpec {
  runId: string;
  /** What tells the run apart (protocol/runLabels.ts). */
  label: string;
  /** Index into the theme's run colours. */
  colorIndex: number;
}

export interface ChartSeriesSpec {
  /** Index into ChartSpec.runs. */
  run: number;
  kind: SeriesKind;
}

export interface ChartSpec {
  runs: ChartRunSpec[];
  series: ChartSeriesSpec[];
  xAxis: XAxis;
  logScale: boolean;
}

const X_LABEL: Record<XAxis, string> = { step: 'step', tokens: 'tokens', epoch: 'epoch' };
const HEIGHT = 340;

function fmtX(axis: XAxis, v: number | null | undefined, kFrom?: number): string {
  if (v === null || v === undefined) return '–';
  return axis === 'epoch' ? v.toFixed(2) : fmtCompact(v, kFrom);
}

/** Tick labels of the x axis: one style for the whole axis ("5k, 10k", not "5000, 10k"). */
function xTicks(axis: XAxis, splits: (number | null | undefined)[]): string[] {
  const max = Math.max(...splits.map((v) => Math.abs(v ?? 0)));
  return splits.map((v) => (v === null || v === undefined ? '' : fmtX(axis, v, max >= 1e4 ? 1e3 : Infinity)));
}

export class LossChart {
  private plot?: uPlot;
  private key = '';
  private themeVersion = 0;
  private zoomed?: [number, number];
  private readonly resize: ResizeObserver;
  private spec?: ChartSpec;
  /** Runs whose lines are hidden (their legend entry clicked), by id: kept across rebuilds. */
  private readonly hidden = new Set<string>();
  /** The legend: place `legend.el` next to the chart. */
  readonly legend: ChartLegend;

  /**
   * `onView` fires when the drawable width or the zoomed x range changes, so the caller can
   * decimate again for what is on screen.
   */
  constructor(
    private readonly host: HTMLElement,
    private readonly onView: () => void,
    /** uPlot plugins of the caller (the spike markers and step picks of curveExamples.ts). */
    private readonly plugins: uPlot.Plugin[] = [],
  ) {
    let lastWidth = 0;
    this.resize = new ResizeObserver(() => {
      const w = this.width();
      if (w === lastWidth || w === 0) return;
      lastWidth = w;
      this.plot?.setSize({ width: w, height: HEIGHT });
      this.onView();
    });
    this.resize.observe(host);
    this.legend = new ChartLegend((runId) => this.toggleRun(runId));
  }

  private toggleRun(runId: string): void {
    if (this.hidden.has(runId)) this.hidden.delete(runId);
    else this.hidden.add(runId);
    this.applyHidden();
  }

  private applyHidden(): void {
    const plot = this.plot;
    const spec = this.spec;
    if (!plot || !spec) return;
    plot.batch(() => {
      spec.series.forEach((x, i) => {
        const show = !this.hidden.has(spec.runs[x.run].runId);
        if (plot.series[i + 1].show !== show) plot.setSeries(i + 1, { show });
      });
    });
    this.legend.setHidden(this.hidden);
  }

  /** Each run's values at data index `idx` (the cursor), or at the end of its curves. */
  private showValues(u: uPlot): void {
    const spec = this.spec;
    if (!spec) return;
    const idx = u.cursor.idx;
    const at = idx === null || idx === undefined ? undefined : idx;
    const x = at === undefined ? undefined : (u.data[0][at] as number | undefined);
    this.legend.showValues(at === undefined ? undefined : fmtX(spec.xAxis, x), valuesAt(spec, u.data as (number | null)[][], at));
  }

  width(): number {
    return Math.max(0, Math.floor(this.host.clientWidth));
  }

  /** The zoomed x range, or undefined for the whole data. */
  range(): [number, number] | undefined {
    return this.zoomed;
  }

  resetZoom(): void {
    this.zoomed = undefined;
  }

  /** Forces a rebuild at the next setData (theme colours changed). */
  themeChanged(): void {
    this.themeVersion++;
  }

  setData(spec: ChartSpec, data: (number | null)[][]): void {
    const key = JSON.stringify([spec, this.themeVersion]);
    this.spec = spec;
    if (!this.plot || key !== this.key || this.plot.series.length !== data.length) {
      this.plot?.destroy();
      this.key = key;
      for (const id of [...this.hidden]) if (!spec.runs.some((r) => r.runId === id)) this.hidden.delete(id);
      this.legend.build(spec, chartColors().runs);
      this.plot = new uPlot(this.options(spec), data as uPlot.AlignedData, this.host);
      this.applyHidden();
    } else {
      const plot = this.plot;
      plot.batch(() => {
        plot.setData(data as uPlot.AlignedData, true);
        if (this.zoomed) plot.setScale('x', { min: this.zoomed[0], max: this.zoomed[1] });
      });
    }
    this.showValues(this.plot);
  }

  dispose(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private options(spec: ChartSpec): uPlot.Options {
    const c = chartColors();
    const font = `${getComputedStyle(document.body).getPropertyValue('--vscode-font-size').trim() || '12px'} ${
      getComputedStyle(document.body).getPropertyValue('--vscode-font-family').trim() || 'sans-serif'
    }`;
    const grid = { stroke: withAlpha(c.grid, 0.5), width: 1 };
    const axis = (label: string, values: uPlot.Axis['values']): uPlot.Axis => ({
      stroke: c.foreground, label, labelFont: font, font, values, grid, ticks: { stroke: grid.stroke, width: 1 },
    });
    const series: uPlot.Series[] = [{ label: X_LABEL[spec.xAxis], value: (_u, v) => fmtX(spec.xAxis, v) }];
    for (const s of spec.series) {
      const run = spec.runs[s.run];
      const color = c.runs[run.colorIndex % c.runs.length];
      const base: uPlot.Series = { label: `${run.label} ${s.kind}`, stroke: color, spanGaps: true, value: (_u, v) => fmtLoss(v) };
      // Raw loss faint (rgba where the theme gives #rrggbb, else canvas alpha), smoothed bold.
      const faint = withAlpha(color, 0.3);
      if (s.kind === 'train') series.push({ ...base, stroke: faint, alpha: faint !== color ? 1 : 0.3, width: 1, points: { show: false } });
      else if (s.kind === 'smoothed') series.push({ ...base, width: 2, points: { show: false } });
      else series.push({ ...base, width: 2, dash: [6, 4], points: { show: true, size: 6, fill: color, stroke: color } });
    }
    return {
      width: this.width(),
      height: HEIGHT,
      series,
      // uPlot's log range snaps to whole decades (1–10 for a loss of 1.3–3.6): pad the data instead.
      scales: { x: { time: false }, y: spec.logScale ? { distr: 3, log: 10, range: (_u, min, max) => (min > 0 && max > 0 ? [min / 1.1, max * 1.1] : [0.1, 10]) } : {} },
      axes: [
        axis(X_LABEL[spec.xAxis], (_u, splits) => xTicks(spec.xAxis, splits)),
        {
          ...axis(spec.logScale ? 'loss (log)' : 'loss', (_u, splits) => splits.map((v) => (v === null || v === undefined ? '' : fmtLoss(v)))),
          // Log scale: round values inside the range (uPlot's own log ticks are whole decades).
          // (and uPlot's default log filter, which hides non-decade ticks, is replaced by keeping them all).
          ...(spec.logScale ? { splits: (_u: uPlot, _i: number, min: number, max: number) => niceTicks(min, max, 8), filter: (_u: uPlot, splits: number[]) => splits } : {}),
        },
      ],
      // uPlot's own legend listed three entries per run; ChartLegend shows one.
      legend: { show: false },
      plugins: this.plugins,
      cursor: {
        drag: { x: true, y: false, setScale: false },
        hover: { skip: [null, undefined] },
        bind: {
          dblclick: (_u, _t, handler) => (e) => {
            this.zoomed = undefined;
            this.onView();
            return handler(e);
          },
        },
      },
      hooks: {
        setCursor: [(u) => this.showValues(u)],
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, 'x');
            const max = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.zoomed = [min, max];
            u.setScale('x', { min, max });
            this.onView();
          },
        ],
      },
    };
  }
}
