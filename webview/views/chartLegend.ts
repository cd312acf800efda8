// The loss chart's legend: one entry per run (its colour, its label, its values at the cursor) and,
// once, what the line styles mean: faint raw training loss, solid smoothed, dashed with points
// validation. Values update in place as the cursor moves (text only, no rebuild); clicking an
// entry (or Enter/Space on it) hides or shows that run's lines.
import { h, onActivate, setChildren, setText } from '../dom';
import { fmtLoss } from '../format';
import type { RunValues } from '../legendValues';
import type { ChartSpec } from './lossChart';

interface Entry {
  runId: string;
  el: HTMLElement;
  values: HTMLElement;
}

export class ChartLegend {
  readonly el: HTMLElement;
  private readonly where: HTMLElement;
  private readonly list: HTMLElement;
  private entries: Entry[] = [];
  private xName = 'step';

  constructor(private readonly onToggle: (runId: string) => void) {
    this.where = h('span', { class: 'legend-where' });
    const style = (cls: string, text: string) => h('span', { class: 'legend-style' }, h('span', { class: `line-sample ${cls}`, 'aria-hidden': 'true' }), text);
    this.list = h('ul', { class: 'legend-runs', 'aria-label': 'Runs in the chart (Enter hides or shows a run)' });
    this.el = h('div', { class: 'chart-legend' },
      h('div', { class: 'legend-key' }, this.where, style('raw', 'train loss'), style('smoothed', 'smoothed'), style('val', 'validation')),
      this.list);
  }

  /** One entry per run, in the spec's order; `colors` are the theme's run colours the lines use. */
  build(spec: ChartSpec, colors: readonly string[]): void {
    this.xName = spec.xAxis;
    this.entries = spec.runs.map((r) => {
      const values = h('span', { class: 'legend-values' });
      const el = h('li', { class: 'legend-run', tabindex: '0', role: 'button', 'aria-pressed': 'true', title: `${r.runId}: click to hide or show its lines` },
        h('span', { class: 'swatch', style: `background: ${colors[r.colorIndex % colors.length]}` }),
        h('span', { class: 'legend-label' }, r.label),
        values);
      onActivate(el, () => this.onToggle(r.runId));
      return { runId: r.runId, el, values };
    });
    setChildren(this.list, this.entries.map((e) => e.el));
  }

  setHidden(hidden: ReadonlySet<string>): void {
    for (const e of this.entries) {
      const off = hidden.has(e.runId);
      e.el.classList.toggle('off', off);
      e.el.setAttribute('aria-pressed', String(!off));
    }
  }

  /** `x`: the cursor's x, formatted (undefined: off the chart, the values are the curves' last). */
  showValues(x: string | undefined, values: readonly RunValues[]): void {
    setText(this.where, x === undefined ? 'latest:' : `${this.xName} ${x}:`);
    this.entries.forEach((e, i) => {
      const v = values[i] ?? {};
      const parts = [
        v.smoothed !== undefined ? `smoothed ${fmtLoss(v.smoothed)}` : '',
        v.train !== undefined ? `raw ${fmtLoss(v.train)}` : '',
        v.val !== undefined ? `val ${fmtLoss(v.val)}` : '',
      ].filter(Boolean);
      setText(e.values, parts.length ? parts.join(' · ') : '–');
    });
  }
}
