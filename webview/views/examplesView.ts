// The Examples section under the loss curves: for one run (picked among the selected ones), its
// hardest training examples (highest loss in their last epoch), hardest validation examples (the
// last evaluation's, eval-examples.jsonl) and the training examples whose loss went up from the
// first epoch to the last, each opening its line in the editor. Asked of the host (RunExamples,
// computed from the run folder) when the section is opened, for another run, or with Refresh (a
// live run's lists grow as it trains).
import type { ExampleItem, RunExamplesReply } from '../../src/protocol/examples';
import { h, setChildren } from '../dom';
import type { HostApi } from '../host';
import { exampleList } from './exampleList';

export class ExamplesView {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly picker: HTMLElement;
  private runs: { id: string; label: string }[] = [];
  private runId?: string;
  /** The run whose lists are shown (or asked for). */
  private loadedFor?: string;

  constructor(private readonly host: Pick<HostApi, 'post' | 'runExamples'>) {
    this.picker = h('span', { class: 'examples-run' });
    this.body = h('div', { class: 'examples-body' });
    const refresh = h('vscode-button', { secondary: true, id: 'examples-refresh', title: 'Read the run folder again (a live run’s lists grow as it trains)', onclick: () => this.load(true) }, 'Refresh');
    const details = h('details', { class: 'examples-view', ontoggle: () => {
      if ((details as HTMLDetailsElement).open) this.load(false);
    } },
    h('summary', null, 'Examples: hardest training and validation examples, and those whose loss went up'),
    h('div', { class: 'toolbar' }, this.picker, refresh),
    this.body);
    this.el = details;
  }

  /** The selected runs (id and label); the first is shown unless the one shown is still among them. */
  setRuns(runs: { id: string; label: string }[]): void {
    const key = (r: { id: string; label: string }[]) => r.map((x) => `${x.id}\t${x.label}`).join('\n');
    if (key(runs) === key(this.runs)) return;
    this.runs = runs;
    if (!this.runId || !runs.some((r) => r.id === this.runId)) this.runId = runs[0]?.id;
    this.renderPicker();
    if ((this.el as HTMLDetailsElement).open) this.load(false);
  }

  private renderPicker(): void {
    if (this.runs.length < 2) {
      setChildren(this.picker, this.runs[0] ? h('span', { class: 'hint' }, `Run: ${this.runs[0].label}`) : null);
      return;
    }
    const select = h('vscode-single-select', {
      id: 'examples-run', label: 'Run',
      onchange: () => {
        this.runId = (select as HTMLElement & { value: string }).value;
        this.load(false);
      },
    }, this.runs.map((r) => h('vscode-option', { value: r.id, selected: r.id === this.runId, description: r.id }, r.label)));
    setChildren(this.picker, h('vscode-label', { for: 'examples-run' }, 'Run'), select);
  }

  private load(force: boolean): void {
    const runId = this.runId;
    if (!runId) {
      setChildren(this.body, h('p', { class: 'empty' }, 'Select a run to list its examples.'));
      return;
    }
    if (!force && this.loadedFor === runId) return;
    this.loadedFor = runId;
    delete this.el.dataset.ready;
    setChildren(this.body, h('p', { class: 'hint' }, 'Reading the run’s examples…'));
    this.host.runExamples(runId).then(
      (r) => {
        if (this.loadedFor === runId) this.render(r);
      },
      (e: Error) => {
        if (this.loadedFor !== runId) return;
        this.loadedFor = undefined;
        setChildren(this.body, h('p', { class: 'warning-text' }, e.message));
      },
    );
  }

  private render(r: RunExamplesReply): void {
    const open = (e: ExampleItem) => this.host.post({ type: 'openExample', runId: r.runId, file: e.file, line: e.line });
    const validStep = r.hardestValid[0]?.step;
    setChildren(this.body,
      r.notes.map((n) => h('p', { class: 'hint' }, n)),
      h('div', { class: 'examples-train' }, exampleList({ caption: 'Hardest training examples (loss in their last epoch)', items: r.hardestTrain, open, showStep: true, empty: 'No training example has a loss yet.' })),
      h('div', { class: 'examples-valid' }, exampleList({ caption: `Hardest validation examples (${validStep === undefined ? 'last evaluation' : `evaluation at step ${validStep}`})`, items: r.hardestValid, open, empty: 'No per-example validation losses.' })),
      h('div', { class: 'examples-went-up' }, exampleList({ caption: `Loss went up from the first epoch to the last (${r.epochs} epoch${r.epochs === 1 ? '' : 's'} seen)`, items: r.wentUp, open, showStep: true, empty: 'No example’s loss went up.' })));
    this.el.dataset.ready = 'true';
  }
}
