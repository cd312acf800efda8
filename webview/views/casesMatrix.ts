// The evaluation cases of the Evaluation section (issue 16): one matrix per case report of the run
// (`<run>/evals/*.json`, read by the host and sent again when the folder changes), cases × models,
// each cell a symbol and a word in the theme's test colours, the gate model's failures marked
// more strongly. A cell's tooltip says what happened (output cut short); Enter or a click expands
// it below its matrix: the whole output, every check (expected vs got), the losses. A report that
// could not be used is one line saying which file and why. Cells take the focus (Tab, arrow keys).
// Data from webview/casesMatrix.ts.
import type { CaseOutcome } from '../../src/protocol/evalCases';
import type { RunCaseReport } from '../../src/protocol/panel';
import { casesEmptyHint, casesEntries, cellFacts, STATUS_TEXT, type CasesMatrix, type MatrixCell, type MatrixRow } from '../casesMatrix';
import { h, onActivate, setChildren } from '../dom';

export class CasesMatrixView {
  readonly el: HTMLElement;
  /** The expanded cell of each matrix (by report name): `MatrixCell.key`. */
  private readonly expanded = new Map<string, string>();
  private last?: { runId?: string; cases?: readonly RunCaseReport[] };
  private runDir?: string;

  constructor() {
    this.el = h('div', { class: 'cases', 'aria-label': 'Evaluation cases' });
  }

  /** Shows the case reports of a run (`cases` undefined: the run's detail has not come yet, nothing shown). */
  update(runId: string | undefined, runDir: string | undefined, cases: readonly RunCaseReport[] | undefined): void {
    if (this.last && this.last.runId === runId && this.last.cases === cases && this.runDir === runDir) return;
    if (this.last?.runId !== runId) this.expanded.clear();
    this.last = { runId, cases };
    this.runDir = runDir;
    this.render();
  }

  private render(focusKey?: string): void {
    // A report rewritten while a cell has the focus (a new Test Explorer run): the focus stays on that cell.
    const active = document.activeElement;
    const focus = focusKey ?? (active instanceof HTMLElement && this.el.contains(active) ? active.dataset.cell : undefined);
    const cases = this.last?.cases;
    if (!this.last?.runId || !cases) {
      setChildren(this.el);
      return;
    }
    const entries = casesEntries(cases);
    if (!entries.length) {
      const hint = casesEmptyHint(this.runDir);
      setChildren(this.el, h('p', { class: 'empty cases-empty', title: hint.title }, hint.text));
      return;
    }
    setChildren(this.el, h('h3', null, 'Evaluation cases'), entries.map((e) =>
      'error' in e ? h('div', { class: 'banner error cases-error', role: 'alert' }, e.error) : this.matrix(e.matrix)));
    if (focus) (this.el.querySelector(`[data-cell="${CSS.escape(focus)}"]`) as HTMLElement | null)?.focus();
  }

  private toggle(name: string, key: string): void {
    if (this.expanded.get(name) === key) this.expanded.delete(name);
    else this.expanded.set(name, key);
    this.render(`${name}|${key}`);
  }

  private matrix(m: CasesMatrix): HTMLElement {
    const open = this.expanded.get(m.name);
    let openCell: { row: MatrixRow; cell: MatrixCell } | undefined;
    const head = h('div', { class: 'cases-head' },
      h('span', { class: 'cases-file', title: m.file }, m.fileName),
      h('span', { class: 'hint' }, ` · run ${m.ranAt} (${m.took})`),
      m.columns.map((c) => h('span', { class: `cases-tally${c.gate ? ' gate' : ''}${c.gate && c.fail + c.error > 0 ? ' gate-failed' : ''}`, title: c.title }, c.tally)));
    const table = h('table', { class: 'data-table cases-matrix' },
      h('caption', { class: 'visually-hidden' }, `${m.fileName}: cases by model`),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Case'),
        m.columns.map((c) => h('th', { scope: 'col', class: `case-col${c.gate ? ' gate' : ''}`, title: c.title },
          c.label, c.gate ? h('span', { class: 'gate-tag', title: 'Failures on this model fail the case file (lora-lab test exits 1)' }, 'gate') : null)))),
      h('tbody', null, m.rows.map((row, i) => h('tr', null,
        h('th', { scope: 'row', class: 'case-name' }, row.name, h('span', { class: 'case-line' }, ` line ${row.line}`)),
        row.cells.map((cell, j) => {
          const isOpen = open === cell.key;
          if (isOpen) openCell = { row, cell };
          return this.cell(m.name, row, cell, isOpen, i, j);
        })))));
    table.addEventListener('keydown', (ev) => moveFocus(table, ev));
    const notes = m.notes.length ? h('ul', { class: 'notes' }, m.notes.map((n) => h('li', null, n))) : null;
    return h('div', { class: 'cases-report' }, head, h('div', { class: 'cases-scroll' }, table), openCell ? this.detail(m.name, openCell.row, openCell.cell) : null, notes);
  }

  private cell(name: string, row: MatrixRow, cell: MatrixCell, isOpen: boolean, i: number, j: number): HTMLElement {
    const td = h('td', {
      'data-row': i, 'data-col': j,
      class: `case-cell ${cell.status}${cell.gateFail ? ' gate-fail' : ''}${isOpen ? ' open' : ''}`,
      tabindex: 0, role: 'button', 'aria-expanded': String(isOpen), 'data-cell': `${name}|${cell.key}`, title: cell.tooltip,
      'aria-label': `${row.name}, line ${row.line}, on ${cell.model}: ${cell.text}${cell.gateFail ? ' (gate model)' : ''}`,
    }, h('span', { class: 'case-symbol', 'aria-hidden': 'true' }, cell.symbol), h('span', { class: 'case-word', 'aria-hidden': 'true' }, cell.text));
    onActivate(td, () => this.toggle(name, cell.key));
    td.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && isOpen) {
        ev.preventDefault();
        this.toggle(name, cell.key);
      }
    });
    return td;
  }

  private detail(name: string, row: MatrixRow, cell: MatrixCell): HTMLElement {
    const o = cell.outcome;
    const close = h('vscode-button', { secondary: true, onclick: () => this.toggle(name, cell.key) }, 'Close');
    const title = h('div', { class: 'case-detail-title' }, `${row.name} (line ${row.line}) on ${cell.model}: `,
      h('span', { class: `case-status ${cell.status}` }, `${cell.symbol} ${STATUS_TEXT[cell.status]}`),
      cell.gateFail ? h('span', { class: 'gate-tag' }, 'gate model') : null);
    return h('div', { class: `case-detail${cell.gateFail ? ' gate-fail' : ''}`, role: 'region', 'aria-label': `${row.name} on ${cell.model}` },
      title,
      o ? this.outcome(o) : h('p', { class: 'empty' }, 'The report has no outcome for this case on this model (the run of the cases stopped early).'),
      h('div', { class: 'toolbar' }, close));
  }

  private outcome(o: CaseOutcome): HTMLElement {
    const checks = o.checks.length
      ? h('table', { class: 'data-table case-checks' },
        h('thead', null, h('tr', null, ['Check', 'Result', 'Expected', 'Got', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, o.checks.map((c) => h('tr', null,
          h('td', null, c.kind),
          h('td', { class: `case-status ${c.status}` }, `${c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '–'} ${STATUS_TEXT[c.status]}`),
          h('td', null, c.expected), h('td', null, c.actual), h('td', { class: 'hint' }, c.message ?? '')))))
      : null;
    const facts = cellFacts(o);
    return h('div', null,
      o.error ? h('p', { class: 'case-error' }, `Error: ${o.error}`) : null,
      checks,
      o.output ? h('div', { class: 'case-output' }, h('div', { class: 'hint' }, 'Output'), h('pre', null, o.output.text === '' ? '(empty)' : o.output.text)) : null,
      facts.length ? h('dl', { class: 'details' }, facts.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])) : null);
  }
}

const STEPS: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

/** Arrow keys move the focus from cell to cell of a matrix (Tab still goes through them in order). */
function moveFocus(table: HTMLElement, ev: KeyboardEvent): void {
  const step = STEPS[ev.key];
  const from = ev.target instanceof HTMLElement ? ev.target : undefined;
  if (!step || !from?.dataset.cell) return;
  const next = table.querySelector(`td[data-row="${Number(from.dataset.row) + step[0]}"][data-col="${Number(from.dataset.col) + step[1]}"]`);
  if (next instanceof HTMLElement) {
    ev.preventDefault();
    next.focus();
  }
}
