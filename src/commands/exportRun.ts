// "LoRA Lab: Export Run to Cluster…": pick a run and a folder, write the run's TRL + Accelerate
// bundle there (<folder>/<run id>-trl) with core/exportRun.ts (files only, no tensors, so in the
// extension host), then show the bundle's README, which says how to launch it on 8 GPUs or on
// two nodes. An earlier bundle at that place is replaced only after a modal "Replace".
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BUNDLE_MANIFEST } from '../core/export';
import { exportRunToTrl } from '../core/exportRun';
import { pickRun } from './runs';

export const EXPORT_RUN_COMMAND = 'loraLab.exportRun';

/** The folder the bundle goes to, once the user confirmed replacing an earlier one; undefined when they did not. */
async function bundleTarget(parent: string, runId: string): Promise<{ out: string; force: boolean } | undefined> {
  const out = path.join(parent, `${runId}-trl`);
  if (!fs.existsSync(out) || fs.readdirSync(out).length === 0) return { out, force: false };
  if (!fs.existsSync(path.join(out, BUNDLE_MANIFEST))) {
    void vscode.window.showErrorMessage(`LoRA Lab: ${out} exists and is not a LoRA Lab bundle (no ${BUNDLE_MANIFEST}); it is left alone. Choose another folder.`);
    return undefined;
  }
  const replace = await vscode.window.showWarningMessage(`LoRA Lab: ${out} holds an earlier bundle of this run. Replace it?`, { modal: true }, 'Replace');
  return replace === 'Replace' ? { out, force: true } : undefined;
}

/** Returns the bundle folder written, or undefined (cancelled or failed: said in a message). */
export async function exportRunCommand(dir?: string): Promise<string | undefined> {
  const runDir = await pickRun(dir, 'LoRA Lab: export which run to a cluster (TRL + Accelerate)?');
  if (!runDir) return undefined;
  const picked = await vscode.window.showOpenDialog({
    canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Export Here',
    title: `LoRA Lab: folder for the bundle (${path.basename(runDir)}-trl is created in it)`,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
  });
  if (!picked?.[0]) return undefined;
  const target = await bundleTarget(picked[0].fsPath, path.basename(runDir));
  if (!target) return undefined;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `LoRA Lab: exporting ${path.basename(runDir)} to TRL…` },
      () => exportRunToTrl({ runDir, out: target.out, force: target.force }),
    );
    await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(path.join(result.dir, 'README.md')));
    const notes = result.notes.length ? ` Notes: ${result.notes.join(' ')}` : '';
    void vscode.window.showInformationMessage(
      `LoRA Lab: bundle written to ${result.dir}: ${result.train} training and ${result.valid} validation examples, ${result.plan.totalSteps} steps, effective batch ${result.plan.effectiveBatch}.${notes}`,
    );
    return result.dir;
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: the export of ${runDir} failed: ${(e as Error).message}`);
    return undefined;
  }
}
