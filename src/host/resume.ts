// Runs to resume: a run whose worker died with its window (reload, crash, kill) is `interrupted`;
// on activation LoRA Lab looks for such runs in the workspace's runs folders and offers Resume
// (a notification). The same runs — and failed or cancelled ones — can be resumed from the Runs
// list's Resume button and the command *LoRA Lab: Resume Run…*. A run resumes from its
// checkpoints/last (the engine's `lora-lab train --resume <dir>`).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listRuns, RunDir, runsRoot, type RunRecord } from '../core/runs';
import { runLabels } from '../protocol/runLabels';
import type { RunConfigInput } from '../protocol/worker';
import { resolveRunConfigOf, type SpecCache } from './resolvedRunConfig';
import { runsFolderSetting } from './settings';
import type { TrainingController } from './trainingController';

/** Statuses a run can be resumed from (with a checkpoints/last). */
const RESUMABLE: ReadonlySet<string> = new Set(['interrupted', 'failed', 'cancelled']);

export interface ResumableRun {
  record: RunRecord;
  /** The run's checkpoints/last, the one a resume starts from. */
  checkpoint: string;
}

/** The folder of checkpoint `last` of a run, or undefined (none, or the run is unreadable). */
export function lastCheckpoint(dir: string): string | undefined {
  try {
    return RunDir.open(dir).checkpointDir('last');
  } catch {
    return undefined;
  }
}

/**
 * The runs under `root` that can be resumed: interrupted (or, with `all`, failed or cancelled) and
 * holding a checkpoints/last. Orphaned `running` runs are found and written `interrupted` here.
 */
export function resumableRuns(root: string, opts: { all?: boolean } = {}): ResumableRun[] {
  const out: ResumableRun[] = [];
  for (const record of listRuns(root, { markInterrupted: true }).runs) {
    if (!(opts.all ? RESUMABLE.has(record.status) : record.status === 'interrupted')) continue;
    const checkpoint = lastCheckpoint(record.dir);
    if (checkpoint) out.push({ record, checkpoint });
  }
  return out;
}

function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).map((f) => runsRoot(f.uri.fsPath, runsFolderSetting()));
}

/** "interrupted, step 18, stopped …" (without the status where the sentence already says it). */
function describe(r: RunRecord, withStatus = true): string {
  const parts: string[] = withStatus ? [r.status] : [];
  if (typeof r.summary?.finalStep === 'number') parts.push(`step ${r.summary.finalStep}`);
  if (r.endedAt) parts.push(`stopped ${new Date(r.endedAt).toLocaleString()}`);
  return parts.join(', ');
}

/** Resumes a run folder from its checkpoints/last; resolves when the run has ended. */
export async function resumeRunDir(training: TrainingController, dir: string): Promise<void> {
  let config: RunConfigInput;
  try {
    const rec = RunDir.open(dir).record();
    if (!lastCheckpoint(dir)) throw new Error(`${dir} has no checkpoints/last to resume from`);
    config = (rec.config ?? {}) as RunConfigInput;
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: cannot resume: ${(e as Error).message}`);
    return;
  }
  training.log.info(`resuming ${dir} from its last checkpoint`);
  await training.start(config, dir);
}

/** *LoRA Lab: Resume Run…*: the given run folder, or one picked among the workspace's resumable runs. */
export async function resumeRunCommand(training: TrainingController, dir?: string): Promise<void> {
  if (dir) return resumeRunDir(training, dir);
  const runs = workspaceRoots().flatMap((root) => resumableRuns(root, { all: true }));
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('LoRA Lab: no run to resume in this workspace (an interrupted, failed or cancelled run with a last checkpoint).');
    return;
  }
  // Labelled by what differs among them (r, α, lr, dataset, …), the id beside.
  const specs: SpecCache = new Map();
  const labels = runLabels(runs.map(({ record: r }) => ({ id: r.id, name: r.name, config: resolveRunConfigOf(r.config, specs).config, dataset: r.dataset.path, model: r.model.path })));
  const picked = await vscode.window.showQuickPick(
    runs.map((r, i) => ({ label: labels[i], description: `${r.record.id} · ${describe(r.record)}`, detail: r.checkpoint, dir: r.record.dir })),
    { title: 'LoRA Lab: resume which run? (from its last checkpoint)' },
  );
  if (picked) await resumeRunDir(training, picked.dir);
}

/** workspaceState key: the interrupted runs already offered (not offered again). */
export const OFFERED_KEY = 'loraLab.resumeOffered';

/**
 * On activation: interrupted runs in the workspace (found and marked here) are offered for
 * resuming, newest first, once each. Resolves when the notification is answered.
 */
export async function offerInterruptedRuns(context: Pick<vscode.ExtensionContext, 'workspaceState'>, training: TrainingController, showResults: () => void): Promise<void> {
  let runs: ResumableRun[];
  try {
    runs = workspaceRoots().flatMap((root) => resumableRuns(root));
  } catch (e) {
    training.log.warn(`could not look for interrupted runs: ${(e as Error).message}`);
    return;
  }
  const offered = new Set(context.workspaceState.get<string[]>(OFFERED_KEY, []));
  const fresh = runs.filter((r) => !offered.has(r.record.dir));
  if (fresh.length === 0) return;
  for (const r of fresh) training.log.info(`interrupted run ${r.record.dir} (${describe(r.record)}): resume it with "LoRA Lab: Resume Run…"`);
  await context.workspaceState.update(OFFERED_KEY, [...offered, ...fresh.map((r) => r.record.dir)]);
  const newest = fresh[0];
  const others = fresh.length > 1 ? ` (and ${fresh.length - 1} other interrupted run${fresh.length > 2 ? 's' : ''}: LoRA Lab: Resume Run…)` : '';
  const pick = await vscode.window.showWarningMessage(
    `LoRA Lab: run ${path.basename(newest.record.dir)} was interrupted (${describe(newest.record, false)}); it can resume from its last checkpoint.${others}`,
    'Resume',
    'Show Runs',
  );
  if (pick === 'Resume') await resumeRunDir(training, newest.record.dir);
  if (pick === 'Show Runs') showResults();
}
