// The Evaluation section: base vs adapter vs merged loss/perplexity/accuracy, the merge and
// effect checks (warning style when flagged), and generations side by side. The report's shape
// is read defensively (it is eval.json as written by the engine): whatever is there is shown.
import type { FromPanel } from '../../src/protocol/panel';
import { h, setChildren } from '../dom';
import { fmtInt, fmtLoss, fmtValue } from '../format';
import { evaluationRunId, type Action, type State } from '../store';
import { generationsSection } from './generations';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const MODEL_ORDER = ['base', 'adapter', 'merged'];
const METRIC_ORDER = ['loss', 'perplexity', 'accuracy', 'tokens'];
const METRIC_LABEL: Record<string, string> = { loss: 'Loss', perplexity: 'Perplexity', accuracy: 'Accuracy', tokens: 'Tokens' };
const CHECK_TEXT: Record<string, { title: string; ok: string; flagged: string }> = {
  mergeCheck: {
    title: 'Merge check',
    ok: 'The merged model reproduces base + adapter.',
    flagged: 'The merged model’s outputs differ from base + adapter by more than the tolerance: do not use this merged model; re-run Merge and report the run.',
  },
  effectCheck: {
    title: 'Effect check',
    ok: 'The adapter changes the model’s outputs.',
    flagged: 'The adapter barely changes the model’s outputs: training may have had no effect (learning rate too low, too few steps, or wrong target modules).',
  },
};

/** Top-level entries that describe one model's metrics: objects with a loss, perplexity or accuracy. */
export function modelRows(report: Obj): [string, Obj][] {
  const rows = Object.entries(report).filter((e): e is [string, Obj] => {
    const v = e[1];
    return isObj(v) && METRIC_ORDER.slice(0, 3).some((k) => typeof v[k] === 'number');
  });
  return rows.sort((a, b) => rank(MODEL_ORDER, a[0]) - rank(MODEL_ORDER, b[0]));
}

function rank(order: string[], k: string): number {
  const i = order.indexOf(k);
  return i < 0 ? order.length : i;
}

export class EvaluationView {
  readonly el: HTMLElement;
  private readonly content: HTMLElement;
  private last?: { report: unknown; runId?: string; selected: string[] };

  constructor(
    private readonly post: (m: FromPanel) => void,
    private readonly dispatch: (a: Action) => void,
  ) {
    this.content = h('div');
    this.el = h('section', { class: 'evaluation', 'aria-label': 'Evaluation' }, this.content);
  }

  update(s: State): void {
    const runId = evaluationRunId(s);
    const report = runId ? s.runData[runId]?.evaluation : undefined;
    const l = this.last;
    if (l && l.report === report && l.runId === runId && l.selected === s.selected) return;
    this.last = { report, runId, selected: s.selected };
    setChildren(this.content, this.header(s, runId), runId ? this.body(runId, report) : h('p', { class: 'empty' }, 'Select a run in the Runs section to see its evaluation.'));
  }

  private header(s: State, runId: string | undefined): HTMLElement | null {
    const choices = [...new Set([...s.selected, ...(runId ? [runId] : [])])];
    if (choices.length < 2) return runId ? h('h2', null, `Evaluation of ${runId}`) : null;
    const select = h('vscode-single-select', { id: 'eval-run', label: 'Run to show', onchange: () => this.dispatch({ type: 'ui/focus', runId: (select as HTMLElement & { value: string }).value }) },
      choices.map((id) => h('vscode-option', { value: id, selected: id === runId }, id)));
    return h('div', { class: 'toolbar' }, h('vscode-label', { for: 'eval-run' }, 'Evaluation of'), select);
  }

  private body(runId: string, report: unknown): HTMLElement {
    const evaluate = h('vscode-button', { onclick: () => this.post({ type: 'evaluateRun', runId }) }, 'Evaluate');
    if (!isObj(report)) {
      return h('div', null, h('p', { class: 'empty' }, 'No evaluation for this run yet. Evaluate compares the base model, the adapter and the merged model on the validation set, checks the merge, and generates from a few prompts.'), evaluate);
    }
    const shown = new Set<string>();
    const parts: (HTMLElement | null)[] = [];
    if (typeof report.error === 'string') {
      shown.add('error');
      parts.push(h('div', { class: 'banner error', role: 'alert' }, report.error));
    }
    const models = modelRows(report);
    models.forEach(([k]) => shown.add(k));
    if (typeof report.examples === 'number') shown.add('examples');
    parts.push(this.metricsTable(models, typeof report.examples === 'number' ? report.examples : undefined));
    if (Array.isArray(report.notes) && report.notes.every((n) => typeof n === 'string')) {
      shown.add('notes');
      if (report.notes.length) parts.push(h('ul', { class: 'notes' }, report.notes.map((n) => h('li', null, n))));
    }
    const checks = Object.entries(report).filter(([k, v]) => isObj(v) && (k in CHECK_TEXT || /check$/i.test(k)));
    checks.forEach(([k]) => shown.add(k));
    if (checks.length) parts.push(h('div', { class: 'checks' }, checks.map(([k, v]) => this.check(k, v as Obj))));
    if (Array.isArray(report.generations)) {
      shown.add('generations');
      parts.push(generationsSection(report.generations));
    }
    const rest = Object.entries(report).filter(([k]) => !shown.has(k));
    if (rest.length) {
      parts.push(h('vscode-collapsible', { heading: 'Other details' },
        h('dl', { class: 'details' }, rest.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, fmtValue(v))]))));
    }
    return h('div', null, ...parts, h('div', { class: 'toolbar' }, h('vscode-button', { secondary: true, onclick: () => this.post({ type: 'evaluateRun', runId }) }, 'Evaluate again')));
  }

  private metricsTable(models: [string, Obj][], examples?: number): HTMLElement | null {
    if (!models.length) return null;
    const keys = new Set<string>();
    for (const [, m] of models) for (const [k, v] of Object.entries(m)) if (typeof v === 'number') keys.add(k);
    const cols = [...keys].sort((a, b) => rank(METRIC_ORDER, a) - rank(METRIC_ORDER, b));
    const baseLoss = models.find(([k]) => k === 'base')?.[1].loss;
    const cell = (name: string, col: string, v: unknown) => {
      const text = col === 'accuracy' && typeof v === 'number' && v <= 1 ? `${(v * 100).toFixed(2)}%` : fmtValue(v);
      const delta = col === 'loss' && name !== 'base' && typeof v === 'number' && typeof baseLoss === 'number' ? v - baseLoss : undefined;
      return h('td', { class: 'num' }, text, delta !== undefined ? h('span', { class: delta <= 0 ? 'delta good' : 'delta bad' }, ` (${delta <= 0 ? '−' : '+'}${fmtLoss(Math.abs(delta))})`) : null);
    };
    return h('table', { class: 'data-table eval-table' },
      h('caption', null, `Validation set${examples !== undefined ? ` (${fmtInt(examples)} examples)` : ''}, per model`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Model'), cols.map((c) => h('th', { scope: 'col', class: 'num' }, METRIC_LABEL[c] ?? c)))),
      h('tbody', null, models.map(([name, m]) => h('tr', null, h('th', { scope: 'row' }, name), cols.map((c) => cell(name, c, m[c]))))));
  }

  private check(key: string, v: Obj): HTMLElement {
    const text = CHECK_TEXT[key] ?? { title: key, ok: 'Passed.', flagged: 'Flagged.' };
    const flagged = v.flagged === true;
    // The report's own message says what was measured; the panel adds what to do when flagged.
    const message = typeof v.message === 'string' ? v.message : undefined;
    const values = Object.entries(v).filter(([k]) => k !== 'flagged' && k !== 'message');
    return h('div', { class: flagged ? 'check flagged' : 'check ok', role: flagged ? 'alert' : undefined },
      h('div', { class: 'check-title' }, flagged ? '⚠ ' : '✓ ', text.title, flagged ? ' — flagged' : ' — passed'),
      message ? h('p', null, message) : null,
      !message || flagged ? h('p', { class: message ? 'hint' : undefined }, flagged ? text.flagged : text.ok) : null,
      values.length ? h('dl', { class: 'details' }, values.flatMap(([k, x]) => [h('dt', null, k), h('dd', null, fmtValue(x))])) : null);
  }
}
