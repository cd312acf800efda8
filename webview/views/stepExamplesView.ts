// The examples of one step of the training curve (a point clicked, or a spike marker): asked of
// the host (StepExamples: it reads that step's row of metrics.jsonl and the start of each example's
// row), listed highest loss first, each opening its line in the editor; the checked lines go to the
// training file's exclusion list with "Exclude these rows…" (loraLab.excludeRows, note "step N of …").
import type { ExampleItem, StepExamplesReply } from '../../src/protocol/examples';
import { h, setChildren } from '../dom';
import { fmtInt, fmtLoss } from '../format';
import type { HostApi } from '../host';
import { excludeNote } from '../stepExamples';
import { exampleList } from './exampleList';

export class StepExamplesView {
  readonly el: HTMLElement;
  /** The step shown (or asked for). */
  private shown?: { runId: string; step: number; label: string };
  private readonly checked = new Set<number>();
  private reply?: StepExamplesReply;

  constructor(private readonly host: Pick<HostApi, 'post' | 'stepExamples'>) {
    this.el = h('section', { class: 'step-examples', 'aria-label': 'Examples of a step', 'aria-live': 'polite', hidden: true });
  }

  /** Asks for and lists the examples of `step` of run `runId` (`label`: the run as the chart names it). */
  show(runId: string, step: number, label: string): void {
    this.shown = { runId, step, label };
    this.reply = undefined;
    this.checked.clear();
    this.el.hidden = false;
    this.el.dataset.step = String(step);
    delete this.el.dataset.ready;
    setChildren(this.el, this.header(`Step ${fmtInt(step)} of ${label}: reading its examples…`));
    const asked = this.shown;
    this.host.stepExamples(runId, step).then(
      (r) => {
        if (this.shown !== asked) return; // another point was clicked meanwhile
        this.reply = r;
        this.render();
      },
      (e: Error) => {
        if (this.shown !== asked) return;
        setChildren(this.el, this.header(`Step ${fmtInt(step)} of ${label}`), h('p', { class: 'warning-text' }, e.message));
        this.el.dataset.ready = 'error';
      },
    );
  }

  hide(): void {
    this.shown = undefined;
    this.el.hidden = true;
  }

  private header(text: string): HTMLElement {
    return h('div', { class: 'toolbar step-examples-head' },
      h('h3', null, text),
      h('vscode-button', { secondary: true, title: 'Close this list', onclick: () => this.hide() }, 'Close'));
  }

  private open(e: ExampleItem): void {
    if (this.shown) this.host.post({ type: 'openExample', runId: this.shown.runId, file: e.file, line: e.line });
  }

  private render(): void {
    const r = this.reply;
    const shown = this.shown;
    if (!r || !shown) return;
    const loss = r.loss === undefined ? '' : `: loss ${fmtLoss(r.loss)}`;
    const n = r.examples.length;
    const exclude = h('vscode-button', {
      id: 'exclude-step-rows', secondary: true, disabled: this.checked.size === 0,
      title: `Add the checked lines of ${r.file} to its exclusion list (the next run skips them)`,
      onclick: () => {
        if (this.checked.size === 0) return;
        this.host.post({ type: 'excludeExamples', runId: shown.runId, lines: [...this.checked].sort((a, b) => a - b), note: excludeNote(shown.label, shown.step) });
      },
    }, 'Exclude these rows…');
    const update = () => exclude.toggleAttribute('disabled', this.checked.size === 0);
    setChildren(this.el,
      this.header(`Step ${fmtInt(r.step)} of ${shown.label}${loss}${n ? ` — ${n} example${n === 1 ? '' : 's'}, highest loss first` : ''}`),
      r.note ? h('p', { class: 'hint' }, r.note) : null,
      n ? exampleList({ caption: 'Each example’s mean loss per loss token in this step; click a line to open it.', items: r.examples, open: (e) => this.open(e), checked: this.checked, onCheck: update, empty: '' }) : null,
      n ? h('div', { class: 'toolbar' }, exclude, h('span', { class: 'hint' }, 'Check rows to leave out of the next run.')) : null);
    this.el.dataset.ready = 'true';
  }
}
