// Evaluation cases in VS Code's Test Explorer (issue 16): the test controller 'loraLab.evals', its
// tree of case files (src/host/evalTestTree.ts) and its run profiles, one per run folder with an
// adapter ("<run label>", the newest the default) plus a "+ checkpoints" variant that also runs
// every saved checkpoint; they follow the runs folder as runs come and go. Each case shows one
// item per checkpoint of one run, the newest run's, or the run last run + checkpoints; those items
// follow its checkpoints folder as training writes, replaces (checkpoints/last, with its step in
// the label) or a rewind removes checkpoints. Running is
// src/host/evalTestRun.ts: a worker job per case file, never the engine in the extension host.
// The command *Run Evaluation Cases…* (loraLab.runEvalCases) runs a case file on a picked run
// without opening the Test Explorer (the results land there all the same).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ADAPTER_DIR, CHECKPOINTS_DIR, RunDir, runsRoot } from '../core/runs';
import { caseCheckpoints } from '../core/runs/caseCheckpoints';
import { CASES_SUFFIX, isCaseFile } from '../protocol/evalCases';
import { runLabels } from '../protocol/runLabels';
import type { RunSummary } from '../protocol/panel';
import { runCaseFiles } from './evalTestRun';
import { CaseTree } from './evalTestTree';
import { runSummaries } from './runsModel';
import { runsFolderSetting } from './settings';

export const EVAL_TEST_CONTROLLER_ID = 'loraLab.evals';

/** A run the cases can run on: a run folder that has its adapter. */
export interface CaseRun {
  dir: string;
  label: string;
}

/** Runs with an adapter, newest first, labelled as the other run pickers label them. */
export function caseRuns(runs: readonly RunSummary[], hasAdapter: (dir: string) => boolean = (d) => fs.existsSync(path.join(d, ADAPTER_DIR, 'adapter_config.json'))): CaseRun[] {
  const usable = runs.filter((r) => hasAdapter(r.dir));
  const labels = runLabels(usable.map((r) => ({ id: r.id, name: r.name, config: r.config, dataset: r.dataset, model: r.model })));
  return usable.map((r, i) => ({ dir: r.dir, label: labels[i] }));
}

export interface EvalTestsDeps {
  /** The bundled worker (dist/worker.js). */
  workerScript: string;
  /** The environment to fork it with (native installs). */
  env: () => NodeJS.ProcessEnv;
  log: vscode.LogOutputChannel;
}

export class EvalTests implements vscode.Disposable {
  readonly ctrl: vscode.TestController;
  readonly tree: CaseTree;
  private readonly profiles = new Map<string, vscode.TestRunProfile>();
  /** What each profile runs on, by profile key (kept current as runs are relabelled). */
  private targets = new Map<string, { label: string; run?: CaseRun; checkpoints: boolean; isDefault: boolean }>();
  private readonly disposables: vscode.Disposable[] = [];
  private refreshTimer?: NodeJS.Timeout;
  /** The run whose checkpoints the cases show, once one was run + checkpoints (else the newest run's). */
  private checkpointRun?: string;

  constructor(private readonly deps: EvalTestsDeps) {
    this.ctrl = vscode.tests.createTestController(EVAL_TEST_CONTROLLER_ID, 'LoRA Lab Evaluations');
    this.tree = new CaseTree(this.ctrl);
    this.ctrl.refreshHandler = async () => {
      this.refreshProfiles();
      await this.tree.discover();
    };
    this.disposables.push(this.ctrl, this.tree, ...this.watchRuns());
    this.refreshProfiles();
    void this.tree.discover().catch((e: Error) => deps.log.warn(`evaluation cases: could not search the workspace: ${e.message}`));
  }

  /** The runs of every workspace folder's runs folder. */
  private runs(): CaseRun[] {
    const summaries = (vscode.workspace.workspaceFolders ?? []).flatMap((f) => {
      try {
        return runSummaries(runsRoot(f.uri.fsPath, runsFolderSetting())).runs;
      } catch (e) {
        this.deps.log.warn(`evaluation cases: could not list the runs of ${f.uri.fsPath}: ${(e as Error).message}`);
        return [];
      }
    });
    summaries.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return caseRuns(summaries);
  }

  /** One profile per run with an adapter (and its checkpoints variant); the newest is the default. */
  refreshProfiles(): void {
    const runs = this.runs();
    const wanted = new Map<string, { label: string; run?: CaseRun; checkpoints: boolean; isDefault: boolean }>();
    runs.forEach((run, i) => {
      wanted.set(run.dir, { label: `Run: ${run.label}`, run, checkpoints: false, isDefault: i === 0 });
      wanted.set(`${run.dir}#checkpoints`, { label: `Run: ${run.label} + checkpoints`, run, checkpoints: true, isDefault: false });
    });
    // No trained run yet: one profile that says so when used, rather than no Run button at all.
    if (runs.length === 0) wanted.set('#none', { label: 'No run with an adapter yet', checkpoints: false, isDefault: true });
    this.targets = wanted;
    this.showCheckpoints(runs);
    for (const [key, p] of this.profiles) {
      if (!wanted.has(key)) {
        p.dispose();
        this.profiles.delete(key);
      }
    }
    for (const [key, w] of wanted) {
      const existing = this.profiles.get(key);
      if (existing) {
        existing.label = w.label;
        existing.isDefault = w.isDefault;
        continue;
      }
      const handler = (request: vscode.TestRunRequest, token: vscode.CancellationToken) => {
        // The runs folder may have changed since the profiles were made (the watcher is debounced,
        // and some file systems report late): a profile without a run looks again, now.
        const t = this.targets.get(key);
        const run = t?.run ?? this.runs()[0];
        if (!t?.run && run) this.refreshProfiles();
        // Run with its checkpoints: the cases show this run's checkpoints from now on.
        const checkpointItem = (i: vscode.TestItem) => {
          const d = this.tree.dataOf(i);
          return d?.kind === 'model' && d.modelKind === 'checkpoint';
        };
        if (run && (t?.checkpoints || request.include?.some(checkpointItem)) && this.checkpointRun !== run.dir) {
          this.checkpointRun = run.dir;
          this.showCheckpoints(this.runs());
        }
        return run ? runCaseFiles({ ctrl: this.ctrl, tree: this.tree, ...this.deps }, request, token, { runDir: run.dir, runLabel: run.label, checkpoints: t?.checkpoints ?? false }) : this.noRun();
      };
      this.profiles.set(key, this.ctrl.createRunProfile(w.label, vscode.TestRunProfileKind.Run, handler, w.isDefault));
    }
  }

  /**
   * *Run Evaluation Cases…*: the case file given (explorer menu), or the active editor's, or one
   * picked; the run picked (the newest first); then the same test run as the Test Explorer's, with
   * a Cancel button, and a summary. Resolves when it has ended.
   */
  async runCasesCommand(given?: vscode.Uri): Promise<void> {
    const file = await this.pickCaseFile(given);
    if (!file) return;
    const item = this.tree.fileItem(file);
    if (!item) return;
    const runs = this.runs();
    if (runs.length === 0) return this.noRun();
    const picked = runs.length === 1 ? runs[0] : (await vscode.window.showQuickPick(runs.map((r) => ({ label: r.label, description: path.basename(r.dir), run: r })), { title: `LoRA Lab: run ${path.basename(file.fsPath)} on which run?` }))?.run;
    if (!picked) return;
    const profile = this.profiles.get(picked.dir);
    const request = new vscode.TestRunRequest([item], undefined, profile);
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `LoRA Lab: evaluation cases of ${path.basename(file.fsPath)} on ${picked.label}`, cancellable: true }, (_p, token) =>
      runCaseFiles({ ctrl: this.ctrl, tree: this.tree, ...this.deps }, request, token, { runDir: picked.dir, runLabel: picked.label, checkpoints: false }));
    const pick = await vscode.window.showInformationMessage(`LoRA Lab: evaluation cases of ${path.basename(file.fsPath)} ran on ${picked.label}; the results are in the Test Explorer and the results panel.`, 'Show Test Results', 'Show Results Panel');
    if (pick === 'Show Test Results') void vscode.commands.executeCommand('workbench.view.testing.focus');
    if (pick === 'Show Results Panel') void vscode.commands.executeCommand('loraLab.showResults');
  }

  private async pickCaseFile(given?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const active = vscode.window.activeTextEditor?.document.uri;
    const uri = given ?? (active && isCaseFile(active.fsPath) ? active : undefined);
    if (uri) {
      await this.tree.updateFromDisk(uri);
      return uri;
    }
    await this.tree.discover();
    const files: vscode.Uri[] = [];
    this.ctrl.items.forEach((i) => i.uri && files.push(i.uri));
    if (files.length === 0) {
      void vscode.window.showInformationMessage(`LoRA Lab: no case file (*${CASES_SUFFIX}) in this workspace. Write one case per line: {"name": "…", "prompt": "…", "expect": {"contains": ["…"]}}.`);
      return undefined;
    }
    if (files.length === 1) return files[0];
    const picked = await vscode.window.showQuickPick(files.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })), { title: 'LoRA Lab: run which case file?' });
    return picked?.uri;
  }

  /** The checkpoint items of every case: the checkpoints of checkpointRun while it exists, else the newest run's. */
  private showCheckpoints(runs: readonly CaseRun[]): void {
    const run = runs.find((r) => r.dir === this.checkpointRun) ?? runs[0];
    let labels: string[] = [];
    if (run) {
      try {
        labels = caseCheckpoints(RunDir.open(run.dir)).map((c) => c.label);
      } catch (e) {
        this.deps.log.warn(`evaluation cases: could not list the checkpoints of ${run.dir}: ${(e as Error).message}`);
      }
    }
    this.tree.setCheckpoints(labels);
  }

  /** Says why nothing runs, without holding the test run open until the notification is answered. */
  private noRun(): Promise<void> {
    void vscode.window.showInformationMessage('LoRA Lab: evaluation cases run on a trained run\'s base, adapter and merged model, and no run in this workspace has an adapter yet. Train one first.', 'Start Training…').then((pick) => {
      if (pick) void vscode.commands.executeCommand('loraLab.startTraining');
    });
    return Promise.resolve();
  }

  /**
   * Profiles and checkpoint items follow the runs folder: a run created, finished (its adapter
   * written) or deleted; a checkpoint written, replaced or removed (the whole folder, or a file of it).
   */
  private watchRuns(): vscode.Disposable[] {
    const out: vscode.Disposable[] = [];
    const later = () => {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => this.refreshProfiles(), 500);
    };
    for (const f of vscode.workspace.workspaceFolders ?? []) {
      const rel = path.relative(f.uri.fsPath, runsRoot(f.uri.fsPath, runsFolderSetting())).split(path.sep).join('/');
      if (rel.startsWith('..') || path.isAbsolute(rel)) continue; // a runs folder outside the workspace: refresh by hand
      for (const pattern of [`${rel}/*/{run.json,${ADAPTER_DIR}/adapter_config.json}`, `${rel}/*/${CHECKPOINTS_DIR}/**`]) {
        const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(f, pattern));
        out.push(w, w.onDidCreate(later), w.onDidChange(later), w.onDidDelete(later));
      }
    }
    out.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('loraLab.runsFolder')) later();
    }));
    return out;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const p of this.profiles.values()) p.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
