// The dataset lint of the results panel's form (issue 14, the Configure section): the form's
// dataset is linted in the lint process, through DatasetLint (so the Problems panel holds the same
// diagnostics), with the form's model and max_seq_len: when the form is shown, when its max_seq_len
// changes (debounced) and when the editor lints the file again (on save). The panel gets a
// DatasetLintState each time. A Start is refused while the latest lint of the dataset has errors,
// and the panel's links open only the files that lint read.
import * as vscode from 'vscode';
import type { LintReport, LintSettings } from '../protocol/lint';
import { messageBesideLink, shownPath, type DatasetLintState, type FormState } from '../protocol/panel';
import { workspaceFolderFor } from './settings';

/** What the form's lint needs of the editor's dataset lint (src/host/datasetLint.ts; a fake in tests). */
export interface PanelLint {
  enabled(): boolean;
  /** Lints a file with the form's settings (kept for its later lints); undefined when superseded, failed or off. */
  lint(file: string, form?: Partial<LintSettings>): Promise<LintReport | undefined>;
  /** The latest report the editor holds for a file (its diagnostics are in the Problems panel). */
  reportOf(file: string): LintReport | undefined;
}

/** Typing a max_seq_len of 2048 is four changes: lint once, after the last. */
export const FORM_LINT_DEBOUNCE_MS = 300;
/** Errors listed in the panel; the Problems panel has them all. */
const SHOWN_ERRORS = 5;

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

export class FormLint implements vscode.Disposable {
  private form?: FormState;
  /** The form's max_seq_len as the panel last sent it (undefined: the settings' value the form was prefilled with). */
  private maxSeqLen?: number;
  private state?: DatasetLintState;
  /** The latest report of the form's dataset. */
  private latest?: { dataset: string; report: LintReport };
  private timer?: ReturnType<typeof setTimeout>;
  private seq = 0;

  constructor(
    private readonly lint: PanelLint | undefined,
    private readonly post: (state: DatasetLintState) => void,
  ) {}

  /** A form was shown (another dataset or model, or the same again): lint its dataset now. */
  setForm(form: FormState): void {
    if (form.dataset !== this.form?.dataset) {
      this.latest = undefined;
      this.state = undefined;
    }
    this.form = form;
    this.schedule(0);
  }

  /** The panel's max_seq_len changed: lint again, once the typing stops. */
  setMaxSeqLen(maxSeqLen: number | undefined): void {
    if (maxSeqLen !== undefined) this.maxSeqLen = maxSeqLen;
    if (this.form) this.schedule(FORM_LINT_DEBOUNCE_MS);
  }

  /** What a (re)opened panel is told: the latest state of the form's dataset. */
  current(): DatasetLintState | undefined {
    return this.form && this.state?.dataset === this.form.dataset ? this.state : undefined;
  }

  private settings(): Partial<LintSettings> {
    const maxSeqLen = this.maxSeqLen ?? this.form?.initial.training?.maxSeqLen;
    return { model: this.form?.model, ...(maxSeqLen !== undefined && { maxSeqLen }) };
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delay);
  }

  private publish(state: DatasetLintState): void {
    this.state = state;
    this.post(state);
  }

  /** Lints the form's dataset now; the report, or undefined (no form, off, failed, superseded). */
  private async run(): Promise<LintReport | undefined> {
    const form = this.form;
    if (!form || !this.lint) return undefined;
    const dataset = form.dataset;
    const workspace = workspaceFolderFor(dataset);
    if (!this.lint.enabled()) {
      this.publish({ dataset, workspace, status: 'off', note: 'The dataset lint is off (loraLab.lint.enabled): training checks the dataset when it starts.' });
      return undefined;
    }
    const seq = ++this.seq;
    // The previous result stays on screen (and keeps Start disabled) until this one is in.
    const prev = this.current();
    this.publish({ dataset, workspace, status: 'checking', ...(prev?.summary && { summary: prev.summary, errors: prev.errors }) });
    const report = await this.lint.lint(dataset, this.settings());
    if (seq !== this.seq || this.form?.dataset !== dataset) return report; // a newer lint or another dataset: that one reports
    if (report) this.onReport(dataset, report);
    // Superseded by the editor's own lint of the file (it reports through onReport), or failed (the log says why).
    else if (this.state?.status === 'checking') this.publish({ ...this.state, status: 'failed', note: 'The dataset could not be linted: the LoRA Lab output (LoRA Lab: Show Log) says why. Training checks it when it starts.' });
    return report;
  }

  /** A report of a training file (the panel's own lint, or the editor's on save): shown when it is the form's dataset. */
  onReport(file: string, report: LintReport): void {
    if (file !== this.form?.dataset || this.latest?.report === report) return;
    this.latest = { dataset: file, report };
    const errors = report.diagnostics.filter((d) => d.severity === 'error').slice(0, SHOWN_ERRORS).map(({ file: f, line, code, message }) => ({ file: f, line, code, message }));
    this.publish({ dataset: file, workspace: workspaceFolderFor(file), status: 'done', summary: report.summary, errors });
  }

  /**
   * Why a Start must not go ahead: the latest lint of the dataset has errors (linted again first,
   * the file may have been fixed since). Undefined: start (no lint, or none found: the run's
   * pre-flight checks the dataset again).
   */
  async refusal(maxSeqLen: number | undefined): Promise<string | undefined> {
    const form = this.form;
    if (!form || !this.lint?.enabled()) return undefined;
    let report = this.latest?.dataset === form.dataset ? this.latest.report : undefined;
    if (!report || report.summary.errors === 0) return undefined;
    if (maxSeqLen !== undefined) this.maxSeqLen = maxSeqLen;
    clearTimeout(this.timer);
    report = (await this.run()) ?? report;
    const n = report.summary.errors;
    if (n === 0) return undefined;
    const first = report.diagnostics.find((d) => d.severity === 'error');
    const workspace = workspaceFolderFor(form.dataset);
    const where = first ? ` (first: ${shownPath(first.file, workspace)}:${first.line}: ${messageBesideLink(first.message, first.file, workspace)})` : '';
    return `Not started: ${shownPath(form.dataset, workspace)} has ${plural(n, 'error')} that training would refuse${where}. Fix ${n === 1 ? 'it' : 'them'} (Show in Problems panel lists ${n === 1 ? 'it' : 'them all'}) and save the file, then start again.`;
  }

  /** The Problems panel, with the dataset's diagnostics in it (linted again if the editor let them go, e.g. the file was closed). */
  async showProblems(): Promise<void> {
    const dataset = this.form?.dataset;
    if (dataset && this.lint?.enabled() && !this.lint.reportOf(dataset)) await this.run();
    await vscode.commands.executeCommand('workbench.actions.view.problems');
  }

  /** Opens a file the latest lint read (the dataset or its validation file) at a 1-based line; any other path is refused. */
  async open(file: string, line: number): Promise<void> {
    const files = this.latest?.report.summary.files.map((f) => f.file) ?? [];
    if (!files.includes(file)) throw new Error(`Not opened: ${file} is not a file of the dataset lint (${files.join(', ') || 'none yet'}).`);
    const at = new vscode.Position(Math.max(0, line - 1), 0);
    await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(at, at), viewColumn: vscode.ViewColumn.One, preview: false });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
