// *LoRA Lab: Exclude Rows from Training* / *Include Rows in Training Again*: the rows of the
// selected lines of a dataset editor (or the lines the results panel names) go on, or come off,
// the dataset's exclusion list `<file>.lora-lab-exclude.json` (src/core/data/exclusions.ts), which
// the next run, the lint and the Problems panel honour.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { exclusionFileOf, updateExclusions } from '../core/data/exclusions';

/** The 1-based lines covered by the editor's selections. */
export function selectedLines(selections: readonly { start: { line: number }; end: { line: number; character: number } }[]): number[] {
  const out = new Set<number>();
  for (const s of selections) {
    // A selection that ends at the start of a line does not take that line.
    const end = s.end.line > s.start.line && s.end.character === 0 ? s.end.line - 1 : s.end.line;
    for (let l = s.start.line; l <= end; l++) out.add(l + 1);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Adds (or removes) lines of `file` to its exclusion list; with no file, the active editor's
 * file and selected lines. `afterChange` re-lints the file. Returns the lines changed.
 */
export async function excludeRows(opts: { file?: string; lines?: number[]; note?: string; remove?: boolean; afterChange?: (file: string) => unknown } = {}): Promise<number[] | undefined> {
  const editor = vscode.window.activeTextEditor;
  const file = opts.file ?? editor?.document.uri.fsPath;
  const verb = opts.remove ? 'include' : 'exclude';
  if (!file) {
    void vscode.window.showInformationMessage(`LoRA Lab: open a dataset file and select the rows to ${verb}.`);
    return undefined;
  }
  let lines = opts.lines;
  if (!lines) {
    if (!editor || editor.document.uri.fsPath !== file) return undefined;
    // Line numbers name the rows of the file on disk: an edited, unsaved file would shift them.
    if (editor.document.isDirty) {
      void vscode.window.showWarningMessage(`LoRA Lab: save ${path.basename(file)} first: the exclusion list names rows by their line in the saved file.`);
      return undefined;
    }
    lines = selectedLines(editor.selections);
  }
  if (lines.length === 0) return undefined;
  try {
    const list = updateExclusions(file, lines, { remove: opts.remove, note: opts.note });
    await opts.afterChange?.(file);
    const what = `${lines.length} row${lines.length === 1 ? '' : 's'} (line${lines.length === 1 ? '' : 's'} ${lines.slice(0, 8).join(', ')}${lines.length > 8 ? ', …' : ''})`;
    const pick = await vscode.window.showInformationMessage(
      `LoRA Lab: ${opts.remove ? 'included again' : 'excluded from training'}: ${what} of ${path.basename(file)}; ${list.lines.length} excluded in all. The next run honours it.`,
      'Open List',
      'Undo',
    );
    if (pick === 'Open List') await vscode.window.showTextDocument(vscode.Uri.file(exclusionFileOf(file)));
    if (pick === 'Undo') {
      updateExclusions(file, lines, { remove: !opts.remove });
      await opts.afterChange?.(file);
    }
    return lines;
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: cannot ${verb} rows of ${file}: ${(e as Error).message}`);
    return undefined;
  }
}
