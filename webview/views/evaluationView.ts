// The Evaluation section: base vs adapter vs merged loss/perplexity/accuracy, the merge and
// effect checks (warning style when flagged), and generations side by side. The report is
// eval.json as the host decoded it (src/protocol/evaluation.ts); an eval.json the host could not
// use shows why.
import { MODEL_ROLES, type EffectCheck, type EvalReport, type MergeCheck, type ModelRole, type ModelScores } from '../../src/protocol/evaluation';
import { h, setChildren } from '../dom';
import { fmtInt, fmtLoss, fmtValue } from '../format';
import type { HostApi } from '../host';
import { labelsOf } from '../runIdentity';
import { evaluationRunId, type Action, type RunData, type State } from '../store';
import { CasesMatrixView } from './casesMatrix';
import { generationsSection } from './generations';

const METRICS: readonly (keyof ModelScores)[] = ['loss', 'perplexity', 'accuracy', 'tokens'];
const METRIC_LABEL: Record<keyof ModelScores, string> = { loss: 'Loss', perplexity: 'Perplexity', accuracy: 'Accuracy', tokens: 'Tokens' };
const CHECK_TEXT: Record<'mergeCheck' | 'effectCheck', { title: string; ok: string; flagged: string }> = {
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

/** The models the report scored, in the order base, adapter, merged. */
export function modelRows(report: EvalReport): [ModelRole, ModelScores][] {
  return MODEL_ROLES.flatMap((role) => {
    const scores = report[role];
    return scores ? [[role, scores] as [ModelRole, ModelScores]] : [];
  });
}

export class EvaluationView {
  readonly el: HTMLElement;
  private readonly content: HTMLElement;
  /** The evaluation cases' matrices (issue 16), below the report: kept across renders (the expanded cell stays). */
  private readonly cases = new CasesMatrixView();
  private last?: { data?: RunData; runId?: string; selected: string[] };

  constructor(
    private readonly host: HostApi,
    private readonly dispatch: (a: Action) => void,
  ) {
    this.content = h('div');
    this.el = h('section', { class: 'evaluation', 'aria-label': 'Evaluation' }, this.content);
  }

  update(s: State): void {
    const runId = evaluationRunId(s);
    const data = runId ? s.runData[runId] : undefined;
    this.cases.update(runId, data?.detail?.summary.dir ?? s.runs.find((r) => r.id === runId)?.dir, data?.detail || data?.cases ? (data.cases ?? []) : undefined);
    const l = this.last;
    if (l && l.data?.evaluation === data?.evaluation && l.data?.evaluationError === data?.evaluationError && l.runId === runId && l.selected === s.selected) return;
    this.last = { data, runId, selected: s.selected };
    setChildren(this.content, this.header(s, runId), runId ? this.body(runId, data?.evaluation, data?.evaluationError) : h('p', { class: 'empty' }, 'Select a run in the Runs section to see its evaluation.'), this.cases.el);
  }

  private header(s: State, runId: string | undefined): HTMLElement | null {
    const choices = [...new Set([...s.selected, ...(runId ? [runId] : [])])];
    if (choices.length < 2) return runId ? h('h2', null, `Evaluation of ${runId}`) : null;
    const labels = labelsOf(s, choices);
    const select = h('vscode-single-select', { id: 'eval-run', label: 'Run to show', onchange: () => this.dispatch({ type: 'ui/focus', runId: (select as HTMLElement & { value: string }).value }) },
      // Each run by what differs among the choices, its id beside.
      choices.map((id) => h('vscode-option', { value: id, selected: id === runId, description: id }, `${labels.get(id) ?? id} — ${id}`)));
    return h('div', { class: 'toolbar' }, h('vscode-label', { for: 'eval-run' }, 'Evaluation of'), select);
  }

  private body(runId: string, report: EvalReport | undefined, error: string | undefined): HTMLElement {
    const banner = error !== undefined ? h('div', { class: 'banner error', role: 'alert' }, error) : null;
    if (!report) {
      const evaluate = h('vscode-button', { onclick: () => this.host.evaluate(runId) }, 'Evaluate');
      return h('div', null, banner, h('p', { class: 'empty' }, 'No evaluation for this run yet. Evaluate compares the base model, the adapter and the merged model on the validation set, checks the merge, and generates from a few prompts.'), evaluate);
    }
    const parts: (HTMLElement | null)[] = [banner, this.metricsTable(modelRows(report), report.examples)];
    if (report.notes.length) parts.push(h('ul', { class: 'notes' }, report.notes.map((n) => h('li', null, n))));
    const checks = [report.mergeCheck && this.mergeCheck(report.mergeCheck), report.effectCheck && this.effectCheck(report.effectCheck)].filter((c): c is HTMLElement => !!c);
    if (checks.length) parts.push(h('div', { class: 'checks' }, checks));
    parts.push(generationsSection(report.generations));
    const rest: [string, unknown][] = [['formatVersion', report.formatVersion], ['createdAt', report.createdAt], ['sources', report.sources], ['generation', report.generation], ['timings', report.timings]];
    parts.push(h('vscode-collapsible', { heading: 'Other details' },
      h('dl', { class: 'details' }, rest.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, fmtValue(v))]))));
    return h('div', null, ...parts, h('div', { class: 'toolbar' }, h('vscode-button', { secondary: true, onclick: () => this.host.evaluate(runId) }, 'Evaluate again')));
  }

  private metricsTable(models: [ModelRole, ModelScores][], examples: number): HTMLElement | null {
    if (!models.length) return null;
    const baseLoss = models.find(([k]) => k === 'base')?.[1].loss;
    const cell = (name: ModelRole, col: keyof ModelScores, v: number) => {
      const text = col === 'accuracy' && v <= 1 ? `${(v * 100).toFixed(2)}%` : fmtValue(v);
      const delta = col === 'loss' && name !== 'base' && baseLoss !== undefined ? v - baseLoss : undefined;
      return h('td', { class: 'num' }, text, delta !== undefined ? h('span', { class: delta <= 0 ? 'delta good' : 'delta bad' }, ` (${delta <= 0 ? '−' : '+'}${fmtLoss(Math.abs(delta))})`) : null);
    };
    return h('table', { class: 'data-table eval-table' },
      h('caption', null, `Validation set (${fmtInt(examples)} examples), per model`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Model'), METRICS.map((c) => h('th', { scope: 'col', class: 'num' }, METRIC_LABEL[c])))),
      h('tbody', null, models.map(([name, m]) => h('tr', null, h('th', { scope: 'row' }, name), METRICS.map((c) => cell(name, c, m[c]))))));
  }

  private mergeCheck(c: MergeCheck): HTMLElement {
    return this.check(CHECK_TEXT.mergeCheck, c.flagged, c.message, [['maxAbsLogitDiff', c.maxAbsLogitDiff], ['threshold', c.threshold], ['mergedDtype', c.mergedDtype]]);
  }

  private effectCheck(c: EffectCheck): HTMLElement {
    return this.check(CHECK_TEXT.effectCheck, c.flagged, c.message, [['meanAbsLogitDiff', c.meanAbsLogitDiff], ['threshold', c.threshold], ['compared', c.compared]]);
  }

  private check(text: { title: string; ok: string; flagged: string }, flagged: boolean, message: string, values: [string, number | string][]): HTMLElement {
    // The report's own message says what was measured; the panel adds what to do when flagged.
    return h('div', { class: flagged ? 'check flagged' : 'check ok', role: flagged ? 'alert' : undefined },
      h('div', { class: 'check-title' }, flagged ? '⚠ ' : '✓ ', text.title, flagged ? ' — flagged' : ' — passed'),
      h('p', null, message),
      flagged ? h('p', { class: 'hint' }, text.flagged) : null,
      h('dl', { class: 'details' }, values.flatMap(([k, x]) => [h('dt', null, k), h('dd', null, fmtValue(x))])));
  }
}
