// Commands on finished runs: compare two runs' configurations in the diff editor (resolved as
// training resolves them, the older run on the left), evaluate a run, merge and export it, open
// its folder. Quick picks name runs by what differs among them (protocol/runLabels.ts), the id beside. Tensor work runs in the worker (TrainingController.runJob),
// with typed events and Cancel. The panel calls these functions directly too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ADAPTER_DIR, isOrphaned, RunDir, runsRoot } from '../core/runs';
import { lastCheckpoint, resumeRunDir } from '../host/resume';
import { configDocument } from '../host/resolvedRunConfig';
import { runSummaries, summarize } from '../host/runsModel';
import { runsFolderSetting } from '../host/settings';
import type { RunSummary } from '../protocol/panel';
import { runLabels } from '../protocol/runLabels';
import type { JobResult, TrainingController } from '../host/trainingController';

export const CONFIG_SCHEME = 'lora-lab-config';

/**
 * Read-only documents with a run's configuration resolved as training resolves it (defaults
 * filled, the LoRA targets spelled out; host/resolvedRunConfig.ts), for the diff editor. What
 * could not be resolved (the model folder is gone) is said in a comment at the top.
 */
export class RunConfigDocuments implements vscode.TextDocumentContentProvider {
  provideTextDocumentContent(uri: vscode.Uri): string {
    // run.json read through its decoder (an old file's keys come back under today's names).
    const rec = RunDir.open(uri.query).record();
    return configDocument(rec.config, undefined, rec.dataset);
  }
}

interface RunItem extends vscode.QuickPickItem {
  id: string;
  dir: string;
  createdAt: string;
}

/** Quick-pick items of runs: the label says what differs among them, the id and status beside it. */
export function runItems(runs: readonly RunSummary[]): RunItem[] {
  const labels = runLabels(runs); // a RunSummary is a LabelledRun (id, name, config, files, source)
  return runs.map((r, i) => {
    const best = r.bestValLoss != null ? `best val loss ${r.bestValLoss.toFixed(4)}` : 'no evaluation';
    return { id: r.id, dir: r.dir, createdAt: r.createdAt, label: labels[i], description: `${r.id} · ${r.status} · ${best}` };
  });
}

function allRunSummaries(): RunSummary[] {
  return (vscode.workspace.workspaceFolders ?? []).flatMap((f) => runSummaries(runsRoot(f.uri.fsPath, runsFolderSetting())).runs);
}

function allRuns(): RunItem[] {
  return runItems(allRunSummaries());
}

export async function pickRun(given: string | undefined, title: string): Promise<string | undefined> {
  if (given) return given;
  const runs = allRuns();
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('LoRA Lab: no runs yet in this workspace. Start one with "LoRA Lab: Start Training…".');
    return undefined;
  }
  return (await vscode.window.showQuickPick(runs, { title }))?.dir;
}

/**
 * The two runs of a Compare, older first (by creation time, then id), whatever order they were
 * picked in, with their labels between the two of them ("r8 lr2e-4" vs "r16 lr5e-3").
 */
export function compareOrder(runs: readonly [RunSummary, RunSummary]): { older: RunSummary; newer: RunSummary; olderLabel: string; newerLabel: string } {
  const [older, newer] = [...runs].sort((x, y) => x.createdAt.localeCompare(y.createdAt) || x.id.localeCompare(y.id));
  const [olderLabel, newerLabel] = runLabels([older, newer]);
  return { older, newer, olderLabel, newerLabel };
}

/** A run folder's summary for Compare (from run.json), or undefined with the error shown. */
function summaryOf(dir: string, listed: readonly RunSummary[]): RunSummary | undefined {
  const hit = listed.find((r) => path.resolve(r.dir) === path.resolve(dir));
  if (hit) return hit;
  try {
    return summarize(RunDir.open(dir).record());
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: cannot compare: ${(e as Error).message}`);
    return undefined;
  }
}

export async function compareRuns(a?: string, b?: string): Promise<void> {
  let dirs = [a, b].filter((d): d is string => !!d);
  const listed = allRunSummaries();
  if (dirs.length < 2) {
    const picked = await vscode.window.showQuickPick(runItems(listed).map((r) => ({ ...r, picked: dirs.includes(r.dir) })), { canPickMany: true, title: 'LoRA Lab: pick two runs to compare' });
    if (!picked) return;
    dirs = picked.map((p) => p.dir);
  }
  if (dirs.length !== 2) {
    void vscode.window.showWarningMessage(`LoRA Lab: pick exactly two runs to compare (${dirs.length} picked).`);
    return;
  }
  const x = summaryOf(dirs[0], listed);
  const y = x && summaryOf(dirs[1], listed);
  if (!x || !y) return;
  const { older, newer, olderLabel, newerLabel } = compareOrder([x, y]);
  // .jsonc: the document may start with comments saying what could not be resolved.
  const uri = (r: RunSummary) => vscode.Uri.from({ scheme: CONFIG_SCHEME, path: `/${r.id}.jsonc`, query: r.dir });
  await vscode.commands.executeCommand('vscode.diff', uri(older), uri(newer), `${olderLabel} ↔ ${newerLabel} (config, older left)`);
}

export async function openRunFolder(dir?: string): Promise<void> {
  const d = await pickRun(dir, 'LoRA Lab: open which run folder?');
  if (!d) return;
  const runJson = vscode.Uri.file(path.join(d, 'run.json'));
  if (vscode.workspace.getWorkspaceFolder(runJson)) {
    await vscode.commands.executeCommand('revealInExplorer', runJson);
    await vscode.window.showTextDocument(runJson, { preview: true });
  } else {
    await vscode.commands.executeCommand('revealFileInOS', runJson);
  }
}

/** How a job ended, for a message: undefined when it completed. */
function failureOf(r: JobResult): { cancelled: boolean; message: string } | undefined {
  const fin = r.outcome.finished;
  if (fin?.status === 'completed') return undefined;
  if (fin?.status === 'cancelled') return { cancelled: true, message: fin.message ?? 'cancelled' };
  return { cancelled: false, message: fin?.message ?? r.outcome.failure?.message ?? `the worker exited with code ${r.outcome.exitCode}` };
}

async function reportFailure(jobs: TrainingController, what: string, f: { cancelled: boolean; message: string }): Promise<void> {
  if (f.cancelled) {
    void vscode.window.showInformationMessage(`LoRA Lab: ${what} cancelled.`);
    return;
  }
  const pick = await vscode.window.showErrorMessage(`LoRA Lab: ${what} failed: ${f.message}`, 'Show Log');
  if (pick) jobs.log.show(true);
}

/**
 * Which adapter an evaluate or merge uses: the run's adapter/ when it has one; otherwise (a run
 * interrupted, cancelled or failed before it wrote one) one of its checkpoints, picked in a
 * QuickPick, or Resume instead. Undefined when the user chose neither (or there is nothing).
 */
export async function adapterChoice(jobs: TrainingController, dir: string, what: 'evaluate' | 'merge'): Promise<{ adapter: string; own: boolean } | undefined> {
  const own = path.join(dir, ADAPTER_DIR);
  if (fs.existsSync(path.join(own, 'adapter_config.json'))) return { adapter: own, own: true };
  let status = 'unreadable';
  let checkpoints: { name: string; dir: string; mtime: string }[] = [];
  try {
    const run = RunDir.open(dir);
    const rec = run.record();
    status = isOrphaned(rec) ? 'interrupted' : rec.status;
    checkpoints = run.listCheckpoints().reverse(); // newest first
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: ${(e as Error).message}`);
    return undefined;
  }
  const id = path.basename(dir);
  if (checkpoints.length === 0) {
    void vscode.window.showErrorMessage(`LoRA Lab: run ${id} (${status}) has no adapter and no checkpoint to ${what}: its training ended before the first one was saved.`);
    return undefined;
  }
  checkpoints.sort((a, b) => (a.name === 'last' ? -1 : b.name === 'last' ? 1 : 0));
  type Item = vscode.QuickPickItem & { adapter?: string; resume?: boolean };
  const items: Item[] = checkpoints.map((c) => ({
    label: `$(history) ${what === 'evaluate' ? 'Evaluate' : 'Merge'} checkpoint "${c.name}"`,
    description: `saved ${new Date(c.mtime).toLocaleString()}`,
    detail: c.dir,
    adapter: c.dir,
  }));
  if (lastCheckpoint(dir)) items.push({ label: '$(debug-continue) Resume training instead', description: 'from checkpoints/last; the adapter is written when it ends', resume: true });
  const picked = await vscode.window.showQuickPick(items, {
    title: `LoRA Lab: run ${id} is ${status} and has no final adapter yet: ${what} one of its checkpoints?`,
  });
  if (!picked) return undefined;
  if (picked.resume) {
    void resumeRunDir(jobs, dir);
    return undefined;
  }
  return picked.adapter ? { adapter: picked.adapter, own: false } : undefined;
}

/**
 * "Evaluate Run…": base, adapter and merged model scored again on the run's held-out validation
 * examples (rebuilt as training built them), in the worker; eval.json is rewritten. Resolves when
 * done; true when eval.json was written.
 */
export async function evaluateRun(jobs: TrainingController, dir?: string): Promise<boolean> {
  const d = await pickRun(dir, 'LoRA Lab: evaluate which run?');
  if (!d) return false;
  const choice = await adapterChoice(jobs, d, 'evaluate');
  if (!choice) return false;
  const job = { type: 'evaluate' as const, runDir: d, ...(!choice.own && { adapter: choice.adapter }) };
  const r = await jobs.runJob(job, `LoRA Lab: evaluating ${path.basename(d)}${choice.own ? '' : ` (checkpoint ${path.basename(choice.adapter)})`}`);
  const failed = failureOf(r);
  if (failed) {
    await reportFailure(jobs, 'evaluation', failed);
    return false;
  }
  jobs.showResults();
  return true;
}

/** "Merge and Export Run…": the run's adapter merged into its base model, written as a model folder, in the worker. */
export async function mergeRun(jobs: TrainingController, dir?: string): Promise<boolean> {
  const d = await pickRun(dir, 'LoRA Lab: merge which run?');
  if (!d) return false;
  let model: string;
  try {
    model = RunDir.open(d).record().model.path;
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: ${(e as Error).message}`);
    return false;
  }
  const choice = await adapterChoice(jobs, d, 'merge');
  if (!choice) return false;
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(path.join(d, 'merged')), saveLabel: 'Write merged model here', title: 'LoRA Lab: folder for the merged model' });
  if (!target) return false;
  const r = await jobs.runJob({ type: 'merge', model, adapter: choice.adapter, out: target.fsPath }, `LoRA Lab: merging ${path.basename(d)}${choice.own ? '' : ` (checkpoint ${path.basename(choice.adapter)})`}`);
  const failed = failureOf(r);
  if (failed) {
    await reportFailure(jobs, 'merge', failed);
    return false;
  }
  const pick = await vscode.window.showInformationMessage(`LoRA Lab: merged model written to ${r.merged?.out ?? target.fsPath}`, 'Reveal');
  if (pick) void vscode.commands.executeCommand('revealFileInOS', target);
  return true;
}
