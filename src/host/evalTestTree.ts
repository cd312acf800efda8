// The Test Explorer's tree of evaluation cases (issue 16): every `*.evals.jsonl` of the workspace
// (found with findFiles, kept current by a FileSystemWatcher and by edits of open documents) is a
// file item; each case of it an item at its line (the gutter's ▷, Go to Test); under each case one
// item per model it runs on: base, adapter, merged, and the checkpoints of one run (setCheckpoints:
// src/host/evalTests.ts keeps them following that run's checkpoints folder as checkpoints are
// written, replaced or removed).
// Parsing is parseCases's, in the host: pure text, cheap. A file with problems shows them as the
// item's error (the Problems panel has them by line: src/host/caseDiagnostics.ts).
import * as vscode from 'vscode';
import { parseCases } from '../core/eval/cases/caseFile';
import { CASES_SUFFIX, isCaseFile, type EvalCase, type ModelKind } from '../protocol/evalCases';

/** The models every case shows (then the checkpoints of the run setCheckpoints was given). */
export const MODEL_CHILDREN: readonly ModelKind[] = ['base', 'adapter', 'merged'];

export type CaseItemData =
  | { kind: 'file'; uri: vscode.Uri }
  | { kind: 'case'; uri: vscode.Uri; case: EvalCase }
  | { kind: 'model'; uri: vscode.Uri; caseName: string; model: string; modelKind: ModelKind };

/** Files and folders never searched for case files. */
const EXCLUDE = '{**/node_modules/**,**/.git/**}';

export class CaseTree implements vscode.Disposable {
  private readonly data = new WeakMap<vscode.TestItem, CaseItemData>();
  private readonly disposables: vscode.Disposable[] = [];
  /** Labels of the checkpoint items every case shows ("checkpoint last (step 80)"), oldest first. */
  private checkpoints: readonly string[] = [];

  constructor(private readonly ctrl: vscode.TestController) {
    const watcher = vscode.workspace.createFileSystemWatcher(`**/*${CASES_SUFFIX}`);
    this.disposables.push(
      watcher,
      watcher.onDidCreate((u) => void this.updateFromDisk(u)),
      watcher.onDidChange((u) => {
        // An open document is followed through its edits (unsaved text included), not the disk.
        if (!openDocument(u)) void this.updateFromDisk(u);
      }),
      watcher.onDidDelete((u) => this.remove(u)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (isCaseFile(e.document.uri.fsPath) && e.document.uri.scheme === 'file' && e.contentChanges.length > 0) this.update(e.document.uri, e.document.getText());
      }),
      vscode.workspace.onDidOpenTextDocument((d) => {
        if (isCaseFile(d.uri.fsPath) && d.uri.scheme === 'file') this.update(d.uri, d.getText());
      }),
      // Closed without saving: back to what the disk holds.
      vscode.workspace.onDidCloseTextDocument((d) => {
        if (isCaseFile(d.uri.fsPath) && d.uri.scheme === 'file') void this.updateFromDisk(d.uri);
      }),
    );
  }

  /** Finds every case file of the workspace (the controller's refresh, and activation). */
  async discover(): Promise<void> {
    const files = await vscode.workspace.findFiles(`**/*${CASES_SUFFIX}`, EXCLUDE);
    const seen = new Set(files.map((f) => f.toString()));
    this.ctrl.items.forEach((item) => {
      if (!seen.has(item.id)) this.ctrl.items.delete(item.id);
    });
    await Promise.all(files.map((f) => this.updateFromDisk(f)));
  }

  dataOf(item: vscode.TestItem): CaseItemData | undefined {
    return this.data.get(item);
  }

  /** The item of a case file, if it is in the tree. */
  fileItem(uri: vscode.Uri): vscode.TestItem | undefined {
    return this.ctrl.items.get(uri.toString());
  }

  /** The case named `name` of a file item. */
  caseItem(file: vscode.TestItem, name: string): vscode.TestItem | undefined {
    return file.children.get(caseId(file.id, name));
  }

  /** The item of one model under a case: one of MODEL_CHILDREN, or made now (a checkpoint a run reported). */
  modelItem(caseItem: vscode.TestItem, model: string, kind: ModelKind): vscode.TestItem {
    const id = `${caseItem.id}/${model}`;
    const found = caseItem.children.get(id);
    if (found) return found;
    const d = this.data.get(caseItem);
    const item = this.ctrl.createTestItem(id, model, caseItem.uri);
    if (d?.kind === 'case') this.data.set(item, { kind: 'model', uri: d.uri, caseName: d.case.name, model, modelKind: kind });
    caseItem.children.add(item);
    return item;
  }

  /**
   * The checkpoint items of every case: one per label (runCaseModels' labels of a run's
   * checkpoints); items of checkpoints no longer there go, with their results.
   */
  setCheckpoints(labels: readonly string[]): void {
    if (labels.length === this.checkpoints.length && labels.every((l, i) => l === this.checkpoints[i])) return;
    this.checkpoints = [...labels];
    this.ctrl.items.forEach((file) => file.children.forEach((c) => this.syncCheckpoints(c)));
  }

  private syncCheckpoints(caseItem: vscode.TestItem): void {
    const stale: string[] = [];
    caseItem.children.forEach((c) => {
      const d = this.data.get(c);
      if (d?.kind === 'model' && d.modelKind === 'checkpoint' && !this.checkpoints.includes(d.model)) stale.push(c.id);
    });
    for (const id of stale) caseItem.children.delete(id);
    this.checkpoints.forEach((label, i) => (this.modelItem(caseItem, label, 'checkpoint').sortText = `${MODEL_CHILDREN.length + i}`.padStart(4, '0')));
  }

  async updateFromDisk(uri: vscode.Uri): Promise<void> {
    const open = openDocument(uri);
    if (open) return this.update(uri, open.getText());
    let text: string;
    try {
      text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    } catch {
      this.remove(uri); // gone between the event and the read
      return;
    }
    this.update(uri, text);
  }

  /** The file's item and its cases, from its text (existing items kept, so their results stay). */
  update(uri: vscode.Uri, text: string): void {
    const { cases, problems } = parseCases(text, uri.fsPath);
    let file = this.ctrl.items.get(uri.toString());
    if (!file) {
      file = this.ctrl.createTestItem(uri.toString(), vscode.workspace.asRelativePath(uri, true), uri);
      this.data.set(file, { kind: 'file', uri });
      this.ctrl.items.add(file);
    }
    file.error = problems.length
      ? new vscode.MarkdownString(problems.slice(0, 5).map((p) => `line ${p.line}: ${p.message}`).join('\n\n') + (problems.length > 5 ? `\n\n… and ${problems.length - 5} more (see the Problems panel)` : ''))
      : undefined;
    const items: vscode.TestItem[] = [];
    for (const c of cases) {
      const id = caseId(file.id, c.name);
      const item = file.children.get(id) ?? this.ctrl.createTestItem(id, c.name, uri);
      item.range = new vscode.Range(c.line - 1, 0, c.line - 1, 0);
      item.description = `line ${c.line}`;
      item.sortText = String(c.line).padStart(8, '0');
      this.data.set(item, { kind: 'case', uri, case: c });
      MODEL_CHILDREN.forEach((m, i) => (this.modelItem(item, m, m).sortText = String(i).padStart(4, '0')));
      this.syncCheckpoints(item);
      items.push(item);
    }
    file.children.replace(items);
  }

  remove(uri: vscode.Uri): void {
    this.ctrl.items.delete(uri.toString());
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

function caseId(fileId: string, name: string): string {
  return `${fileId}#${name}`;
}

function openDocument(uri: vscode.Uri): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
}
