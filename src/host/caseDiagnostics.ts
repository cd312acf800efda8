// Problems of evaluation-case files (issue 16): each open `*.evals.jsonl` is parsed with parseCases
// (pure text, cheap, in the host) when it opens, changes or is saved, and its problems go to the
// Problems panel at their line and column (a JSON schema cannot check a .jsonl file line by line:
// these diagnostics are the reliable path). Cleared when the document closes or the file is deleted.
import * as vscode from 'vscode';
import { parseCases } from '../core/eval/cases/caseFile';
import { CASES_SUFFIX, isCaseFile } from '../protocol/evalCases';

export const CASE_DIAGNOSTICS = 'loraLab.evals';

/** parseCases's problems as diagnostics: the line (1-based) from the column (1-based) to the end of the line. */
export function caseDiagnostics(text: string, file: string): vscode.Diagnostic[] {
  const lines = text.split(/\r?\n/);
  return parseCases(text, file).problems.map((p) => {
    const line = Math.max(0, Math.min(p.line - 1, lines.length - 1));
    const length = lines[line]?.length ?? 0;
    const start = p.column !== undefined ? Math.max(0, Math.min(p.column - 1, length)) : 0;
    const d = new vscode.Diagnostic(new vscode.Range(line, start, line, Math.max(start, length)), p.message, vscode.DiagnosticSeverity.Error);
    d.source = 'LoRA Lab evaluation cases';
    return d;
  });
}

export class CaseDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection(CASE_DIAGNOSTICS);
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    const watcher = vscode.workspace.createFileSystemWatcher(`**/*${CASES_SUFFIX}`, true, true, false);
    this.disposables.push(
      this.collection,
      watcher,
      watcher.onDidDelete((u) => this.collection.delete(u)),
      vscode.workspace.onDidOpenTextDocument((d) => this.check(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.check(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.check(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.collection.delete(d.uri)),
    );
    for (const d of vscode.workspace.textDocuments) this.check(d);
  }

  check(doc: vscode.TextDocument): void {
    // The file on disk or a new one; not the other side of a diff (git:, …).
    if (!isCaseFile(doc.uri.fsPath) || (doc.uri.scheme !== 'file' && doc.uri.scheme !== 'untitled')) return;
    this.collection.set(doc.uri, caseDiagnostics(doc.getText(), doc.uri.fsPath));
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
