// Commands on finished runs: compare two runs' configurations in the diff editor, evaluate a
// run, merge and export it, open its folder. Tensor work runs in a child process (the CLI).
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runsRoot } from '../core/runs';
import { runSummaries } from '../host/runsModel';
import { runsFolderSetting } from '../host/settings';

export const CONFIG_SCHEME = 'lora-lab-config';

/** Read-only documents with a run's resolved configuration, for the diff editor. */
export class RunConfigDocuments implements vscode.TextDocumentContentProvider {
  provideTextDocumentContent(uri: vscode.Uri): string {
    const runJson = path.join(uri.query, 'run.json');
    const rec = JSON.parse(fs.readFileSync(runJson, 'utf8')) as { config?: unknown };
    return JSON.stringify(rec.config ?? {}, null, 2) + '\n';
  }
}

function allRuns(): { id: string; dir: string; label: string; description: string }[] {
  const out: { id: string; dir: string; label: string; description: string }[] = [];
  for (const f of vscode.workspace.workspaceFolders ?? []) {
    const root = runsRoot(f.uri.fsPath, runsFolderSetting());
    for (const r of runSummaries(root).runs) {
      const best = r.bestValLoss != null ? `best val loss ${r.bestValLoss.toFixed(4)}` : 'no evaluation';
      out.push({ id: r.id, dir: r.dir, label: r.id, description: `${r.status} · ${best}` });
    }
  }
  return out;
}

async function pickRun(given: string | undefined, title: string): Promise<string | undefined> {
  if (given) return given;
  const runs = allRuns();
  if (runs.length === 0) {
    void vscode.window.showInformationMessage('LoRA Lab: no runs yet in this workspace. Start one with "LoRA Lab: Start Training…".');
    return undefined;
  }
  return (await vscode.window.showQuickPick(runs, { title }))?.dir;
}

export async function compareRuns(a?: string, b?: string): Promise<void> {
  let dirs = [a, b].filter((d): d is string => !!d);
  if (dirs.length < 2) {
    const picked = await vscode.window.showQuickPick(allRuns().map((r) => ({ ...r, picked: dirs.includes(r.dir) })), { canPickMany: true, title: 'LoRA Lab: pick two runs to compare' });
    if (!picked) return;
    dirs = picked.map((p) => p.dir);
  }
  if (dirs.length !== 2) {
    void vscode.window.showWarningMessage(`LoRA Lab: pick exactly two runs to compare (${dirs.length} picked).`);
    return;
  }
  const uri = (d: string) => vscode.Uri.from({ scheme: CONFIG_SCHEME, path: `/${path.basename(d)}.json`, query: d });
  await vscode.commands.executeCommand('vscode.diff', uri(dirs[0]), uri(dirs[1]), `${path.basename(dirs[0])} ↔ ${path.basename(dirs[1])} (config)`);
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

/** Runs `lora-lab <args>` in a child process with progress; resolves with its stdout. */
export function runCli(cliScript: string, args: string[], title: string, log: vscode.LogOutputChannel): Thenable<string> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_p, token) =>
    new Promise<string>((resolve, reject) => {
      log.info(`lora-lab ${args.join(' ')}`);
      const child = fork(cliScript, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        log.info(d.toString().trimEnd());
      });
      token.onCancellationRequested(() => child.kill());
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(err.trim().split('\n').slice(-3).join(' ') || `exit code ${code}`))));
    }),
  );
}

export async function evaluateRun(cliScript: string, log: vscode.LogOutputChannel, dir?: string): Promise<void> {
  const d = await pickRun(dir, 'LoRA Lab: evaluate which run?');
  if (!d) return;
  try {
    // The CLI rebuilds the run's validation examples as training did (file, sibling file or held-out split).
    await runCli(cliScript, ['eval', '--run', d, '--out', path.join(d, 'eval.json'), '--json'], `LoRA Lab: evaluating ${path.basename(d)}`, log);
    void vscode.commands.executeCommand('loraLab.showResults');
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: evaluation failed: ${(e as Error).message}`, 'Show Log').then((p) => p && log.show(true));
  }
}

export async function mergeRun(cliScript: string, log: vscode.LogOutputChannel, dir?: string): Promise<void> {
  const d = await pickRun(dir, 'LoRA Lab: merge which run?');
  if (!d) return;
  const rec = JSON.parse(fs.readFileSync(path.join(d, 'run.json'), 'utf8')) as { model: { path: string } };
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(path.join(d, 'merged')), saveLabel: 'Write merged model here', title: 'LoRA Lab: folder for the merged model' });
  if (!target) return;
  try {
    await runCli(cliScript, ['merge', '--model', rec.model.path, '--adapter', path.join(d, 'adapter'), '--out', target.fsPath], `LoRA Lab: merging ${path.basename(d)}`, log);
    const pick = await vscode.window.showInformationMessage(`LoRA Lab: merged model written to ${target.fsPath}`, 'Reveal');
    if (pick) void vscode.commands.executeCommand('revealFileInOS', target);
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: merge failed: ${(e as Error).message}`, 'Show Log').then((p) => p && log.show(true));
  }
}
