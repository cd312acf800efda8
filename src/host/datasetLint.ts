// Dataset lint in the editor: open dataset files are linted (in the lint process, never in the
// extension host) when opened and on save, with the model of loraLab.modelPath; the problems go to
// the Problems panel with quick fixes where the fix is certain (remove a duplicate row, remove a
// leaked row from the validation file); hovering a row shows how the model sees it (the chat
// template applied, tokens with loss highlighted, those cut by max_seq_len struck through); a
// CodeLens at the top sums the file up. `loraLab.lint.enabled` turns it all off.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isCaseFile } from '../protocol/evalCases';
import { describeFileSummary, type LintDiagnostic, type LintFix, type LintReport, type LintSettings, type RowView } from '../protocol/lint';
import { runField, settingKey } from '../protocol/runConfig';
import type { LintClient } from './lintClient';
import { RECENT_KEY } from './pickers';
import { configuredModel, sampleModelPath, workspaceFolderFor } from './settings';

export const LINT_ENABLED = 'loraLab.lint.enabled';
const DATASET_EXTENSIONS = new Set(['.jsonl', '.ndjson', '.json', '.csv', '.tsv', '.txt']);
const DEBOUNCE_MS = 400;
/** Dataset fields a JSON row or a CSV header names (the defaults; configured columns are added). */
const FIELDS = ['messages', 'prompt', 'completion', 'text', 'input_ids'];

function setting<T>(key: string, fallback: T): T {
  return vscode.workspace.getConfiguration().get<T>(key, fallback);
}

/**
 * Whether a document looks like a dataset: a .jsonl/.json whose first row is an object with a
 * dataset field, a .csv/.tsv whose header names one, a .txt under a data/datasets folder or named
 * train/valid/test. (package.json, a README.txt or a case file `*.evals.jsonl` is not linted.)
 */
export function looksLikeDataset(file: string, head: string, columns: string[] = []): boolean {
  const ext = path.extname(file).toLowerCase();
  if (!DATASET_EXTENSIONS.has(ext)) return false;
  if (isCaseFile(file) || /\.evals\.json$/i.test(file)) return false; // evaluation cases: their own Problems (caseDiagnostics.ts)
  const fields = [...FIELDS, ...columns];
  if (ext === '.txt') return /(^|[\\/])(data|datasets?|corpus)[\\/]/i.test(file) || /^(train|valid|validation|val|test)\b/i.test(path.basename(file));
  if (ext === '.csv' || ext === '.tsv') {
    const header = head.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0];
    const cells = header.split(ext === '.csv' ? ',' : '\t').map((c) => c.trim().replace(/^"|"$/g, ''));
    return cells.some((c) => fields.includes(c));
  }
  const start = head.replace(/^\uFEFF/, '').trimStart();
  if (!start.startsWith('{') && !start.startsWith('[')) return false;
  return fields.some((f) => new RegExp(`^[\\[\\s]*\\{[^\\n]*?"${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\s*:`, 's').test(start.slice(0, 4096)) || new RegExp(`"${f}"\\s*:`).test(start.slice(0, 512)));
}

/** The model the lint uses: loraLab.modelPath, else the most recently used model, else the bundled sample. */
function lintModel(context: vscode.ExtensionContext, file: string): string | undefined {
  const configured = configuredModel(workspaceFolderFor(file));
  if (configured) return configured;
  const recent = context.globalState.get<string[]>(RECENT_KEY, []).find((d) => fs.existsSync(path.join(d, 'config.json')));
  if (recent) return recent;
  const sample = sampleModelPath(context.extensionPath);
  return fs.existsSync(path.join(sample, 'config.json')) ? sample : undefined;
}

export function lintSettings(context: vscode.ExtensionContext, file: string): LintSettings {
  const str = (key: 'textColumn' | 'promptColumn' | 'completionColumn') => setting<string>(settingKey(runField('dataOptions', key)), '').trim() || undefined;
  return {
    model: lintModel(context, file),
    maxSeqLen: setting<number>(settingKey(runField('training', 'maxSeqLen')), runField('training', 'maxSeqLen').default as number),
    maxRowBytes: setting<number>(settingKey(runField('dataOptions', 'maxRowBytes')), runField('dataOptions', 'maxRowBytes').default as number),
    columns: { text: str('textColumn'), prompt: str('promptColumn'), completion: str('completionColumn') },
  };
}

const SEVERITY: Record<LintDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/** The hover: counts, then the text token by token (loss tokens highlighted, cut tokens struck through). */
export function rowHoverMarkdown(view: RowView): string {
  const loss = view.tokens.filter((t) => t.loss && !t.cut).length;
  const cut = Math.max(0, view.total - view.maxSeqLen);
  const head = [`**LoRA Lab** · ${view.format || 'row'} · ${view.total.toLocaleString('en-US')} tokens (max_seq_len ${view.maxSeqLen})`];
  if (view.total > 0) head.push(`${loss.toLocaleString('en-US')} carry loss`);
  if (cut > 0) head.push(`**${cut.toLocaleString('en-US')} cut by truncation**`);
  const lines = [head.join(' · ')];
  for (const p of view.problems) lines.push('', `$(error) ${escapeHtml(p)}`);
  if (view.tokens.length) {
    const spans = view.tokens.map((t) => {
      const text = escapeHtml(t.text).replace(/ /g, '&nbsp;').replace(/\n/g, '↵<br>').replace(/\t/g, '→');
      if (t.cut) return `<span style="color:#888888;"><del>${text}</del></span>`;
      return t.loss ? `<span style="color:#000000;background-color:#9be39b;">${text}</span>` : `<span style="color:#cccccc;background-color:#3a3d41;">${text}</span>`;
    });
    lines.push('', spans.join(''));
    if (view.tokens.length < view.total) lines.push('', `… ${(view.total - view.tokens.length).toLocaleString('en-US')} more tokens`);
    lines.push('', '<span style="color:#000000;background-color:#9be39b;">&nbsp;loss&nbsp;</span> trained on · <span style="color:#cccccc;background-color:#3a3d41;">&nbsp;context&nbsp;</span> no loss · <del>cut</del> by max_seq_len');
  }
  return lines.join('\n');
}

export class DatasetLint implements vscode.Disposable, vscode.HoverProvider, vscode.CodeLensProvider, vscode.CodeActionProvider {
  readonly collection = vscode.languages.createDiagnosticCollection('lora-lab');
  /** The latest report of each linted file (by the training file's path). */
  private readonly reports = new Map<string, LintReport>();
  /** Files whose diagnostics a lint set (a validation file's come from its training file's lint). */
  private readonly owners = new Map<string, Set<string>>();
  private readonly fixes = new WeakMap<vscode.Diagnostic, LintFix>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  /** Fires with the training file whenever its report changes (the panel's Configure section listens). */
  private readonly reported = new vscode.EventEmitter<{ file: string; report: LintReport }>();
  readonly onDidReport = this.reported.event;
  private readonly disposables: vscode.Disposable[] = [];
  /** The results panel's form: its dataset is linted (on save too, and hovered) with its model and max_seq_len. */
  private panelForm?: { file: string; settings: Partial<LintSettings> };

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly client: LintClient,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const selector: vscode.DocumentSelector = [...DATASET_EXTENSIONS].map((ext) => ({ scheme: 'file', pattern: `**/*${ext}` }));
    this.disposables.push(
      this.collection,
      this.changed,
      this.reported,
      vscode.languages.registerHoverProvider(selector, this),
      vscode.languages.registerCodeLensProvider(selector, this),
      vscode.languages.registerCodeActionsProvider(selector, this, { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)),
      vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d, DEBOUNCE_MS)),
      vscode.workspace.onDidCloseTextDocument((d) => this.forget(d.uri.fsPath)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('loraLab')) this.relintAll();
      }),
    );
    this.relintAll();
  }

  /** Whether loraLab.lint.enabled is on (the panel shows the lint only then). */
  enabled(): boolean {
    return setting<boolean>(LINT_ENABLED, true);
  }

  private isDataset(doc: vscode.TextDocument): boolean {
    if (doc.uri.scheme !== 'file') return false;
    const cols = ['textColumn', 'promptColumn', 'completionColumn'].map((k) => setting<string>(settingKey(runField('dataOptions', k as 'textColumn')), '').trim()).filter(Boolean);
    return looksLikeDataset(doc.uri.fsPath, doc.getText(new vscode.Range(0, 0, 40, 0)), cols);
  }

  private relintAll(): void {
    if (!this.enabled()) {
      this.collection.clear();
      this.reports.clear();
      this.owners.clear();
      this.changed.fire();
      return;
    }
    for (const doc of vscode.workspace.textDocuments) this.schedule(doc, 0);
  }

  private schedule(doc: vscode.TextDocument, delay: number): void {
    if (!this.enabled() || !this.isDataset(doc)) return;
    const file = doc.uri.fsPath;
    clearTimeout(this.timers.get(file));
    this.timers.set(file, setTimeout(() => {
      this.timers.delete(file);
      void this.lint(file);
    }, delay));
  }

  /** The settings a file is linted with: the loraLab.* settings, where the panel's form has the file its model and max_seq_len win. */
  settingsFor(file: string): LintSettings {
    const base = lintSettings(this.context, file);
    return this.panelForm?.file === file ? { ...base, ...this.panelForm.settings } : base;
  }

  /**
   * Lints a file now (and its validation file); resolves with the report (undefined if superseded,
   * failed or turned off). `form`: the panel's model and max_seq_len for this file, kept for later
   * lints of it (on save) until the panel's form names another file.
   */
  async lint(file: string, form?: Partial<LintSettings>): Promise<LintReport | undefined> {
    if (form) this.panelForm = { file, settings: form };
    let report: LintReport | undefined;
    try {
      report = await this.client.lint(file, this.settingsFor(file));
    } catch (e) {
      this.log.warn(`lint of ${file} failed: ${(e as Error).message}`);
      return undefined;
    }
    if (!report || !this.enabled()) return undefined;
    this.apply(file, report);
    return report;
  }

  /** The latest report of a training file, if it was linted. */
  reportOf(file: string): LintReport | undefined {
    return this.reports.get(file);
  }

  private apply(file: string, report: LintReport): void {
    this.reports.set(file, report);
    const byFile = new Map<string, vscode.Diagnostic[]>();
    for (const f of report.summary.files) byFile.set(f.file, []);
    for (const d of report.diagnostics) {
      const diag = new vscode.Diagnostic(new vscode.Range(d.line - 1, d.column ? d.column - 1 : 0, (d.endLine ?? d.line) - 1, Number.MAX_SAFE_INTEGER), d.message, SEVERITY[d.severity]);
      diag.source = 'LoRA Lab';
      diag.code = d.code;
      if (d.related?.length) diag.relatedInformation = d.related.map((r) => new vscode.DiagnosticRelatedInformation(new vscode.Location(vscode.Uri.file(r.file), new vscode.Position(r.line - 1, 0)), r.message));
      if (d.fix) this.fixes.set(diag, d.fix);
      if (!byFile.has(d.file)) byFile.set(d.file, []);
      byFile.get(d.file)!.push(diag);
    }
    // A file's diagnostics come from one lint: its own, or the training file's that names it as validation file.
    for (const [f, diags] of byFile) {
      for (const [owner, files] of this.owners) if (owner !== file && files.has(f)) files.delete(f);
      this.collection.set(vscode.Uri.file(f), diags);
    }
    const previous = this.owners.get(file);
    for (const f of previous ?? []) if (!byFile.has(f)) this.collection.delete(vscode.Uri.file(f));
    this.owners.set(file, new Set(byFile.keys()));
    this.changed.fire();
    this.reported.fire({ file, report });
  }

  private forget(file: string): void {
    clearTimeout(this.timers.get(file));
    this.timers.delete(file);
    const files = this.owners.get(file);
    if (!files) return;
    const stillOpen = new Set(vscode.workspace.textDocuments.map((d) => d.uri.fsPath));
    for (const f of files) if (!stillOpen.has(f) || f === file) this.collection.delete(vscode.Uri.file(f));
    this.owners.delete(file);
    this.reports.delete(file);
    this.changed.fire();
  }

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    if (!this.enabled() || !this.isDataset(doc)) return undefined;
    const file = doc.uri.fsPath;
    const jsonLines = /\.(jsonl|ndjson)$/i.test(file);
    // Other formats are read from disk: a row with unsaved edits would show its saved version.
    if (!jsonLines && doc.isDirty) return new vscode.Hover(new vscode.MarkdownString('**LoRA Lab**: save the file to see how the model reads this row'));
    let view: RowView | null;
    try {
      view = await this.client.row(file, pos.line + 1, this.settingsFor(file), jsonLines ? doc.lineAt(pos.line).text : undefined);
    } catch (e) {
      this.log.warn(`hover of ${file}:${pos.line + 1} failed: ${(e as Error).message}`);
      return undefined;
    }
    if (!view || token.isCancellationRequested) return undefined;
    const md = new vscode.MarkdownString(rowHoverMarkdown(view), true);
    md.supportHtml = true;
    return new vscode.Hover(md, new vscode.Range(view.line - 1, 0, view.endLine - 1, Number.MAX_SAFE_INTEGER));
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!this.enabled()) return [];
    const report = this.reports.get(doc.uri.fsPath);
    if (!report) return [];
    const summary = report.summary.files.find((f) => f.file === doc.uri.fsPath);
    if (!summary) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    const lenses = [
      new vscode.CodeLens(top, { title: `$(database) ${describeFileSummary(summary, report.summary.maxSeqLen)}`, command: 'workbench.actions.view.problems', tooltip: 'LoRA Lab: dataset lint (open the Problems panel)' }),
      new vscode.CodeLens(top, { title: '$(play) Fine-tune with LoRA', command: 'loraLab.fineTuneFile', arguments: [doc.uri] }),
    ];
    if (report.summary.skipped) lenses.push(new vscode.CodeLens(top, { title: '$(info) token checks skipped', command: 'loraLab.showLog', tooltip: report.summary.skipped }));
    return lenses;
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    // Line numbers are those of the saved file the lint read: no fix on a file edited since.
    if (doc.isDirty) return [];
    const out: vscode.CodeAction[] = [];
    for (const diag of context.diagnostics) {
      const fix = this.fixes.get(diag);
      if (!fix) continue;
      const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
      action.diagnostics = [diag];
      action.isPreferred = true;
      const edit = new vscode.WorkspaceEdit();
      edit.delete(vscode.Uri.file(fix.file), new vscode.Range(fix.deleteLines.from - 1, 0, fix.deleteLines.to, 0));
      action.edit = edit;
      out.push(action);
    }
    return out;
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const d of this.disposables) d.dispose();
  }
}
