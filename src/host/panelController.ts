// Connects the results panel with the rest of the host: answers the panel's messages (start,
// cancel, pickers, run details, diffs, evaluate, merge), relays live run events, and keeps the
// form and the runs list current so a reloaded panel shows the same thing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultTargets, moduleNames } from '../core/lora/modules';
import type { ModelSpec } from '../core/hf/config';
import type { FormState, FromPanel } from '../protocol/panel';
import type { SessionEvent } from '../protocol/training';
import { ResultsPanel } from '../panel/resultsPanel';
import { pickDataset, pickModel } from './pickers';
import { runDetail, runSummaries } from './runsModel';
import { runConfigFromSettings, runsFolderSetting, workspaceFolderFor } from './settings';
import type { RunListener, TrainingController } from './trainingController';
import { runsRoot } from '../core/runs';
import { checkDatasetFile } from '../core/data';

export class PanelController implements RunListener {
  private form?: FormState;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly training: TrainingController,
  ) {}

  /** Shows (or creates) the panel; `form` switches it to the configuration form. */
  show(form?: FormState): ResultsPanel {
    if (form) this.form = form;
    const panel = ResultsPanel.show(this.context.extensionUri, (m) => this.onMessage(m));
    if (form) panel.post({ type: 'showForm', form });
    this.postRuns(panel);
    return panel;
  }

  revive(webviewPanel: vscode.WebviewPanel): void {
    ResultsPanel.revive(webviewPanel, this.context.extensionUri, (m) => this.onMessage(m));
  }

  async formFor(dataset: string, model: string, spec: ModelSpec, error?: string): Promise<FormState> {
    const ws = workspaceFolderFor(dataset) ?? path.dirname(dataset);
    return {
      dataset, model, modelSpec: spec, error,
      datasetSummary: await describeDataset(dataset),
      moduleChoices: [...moduleNames(spec), 'all-linear'],
      defaultTargets: defaultTargets(spec),
      initial: runConfigFromSettings(model, dataset, ws),
    };
  }

  onRunEvent(runId: string | undefined, event: SessionEvent): void {
    const panel = ResultsPanel.current;
    if (!panel) return;
    if (event.type === 'run') {
      this.postRuns(panel, event.runId);
      panel.post({ type: 'focusRun', runId: event.runId });
    }
    // Events before the run folder exists (config, data, backend, an early failure) carry ''.
    panel.post({ type: 'runEvent', runId: runId ?? (event.type === 'run' ? event.runId : ''), event });
  }

  onRunEnded(): void {
    const panel = ResultsPanel.current;
    if (panel) this.postRuns(panel);
  }

  private runsRoot(): string | undefined {
    const ws = workspaceFolderFor(this.form?.dataset);
    return ws ? runsRoot(ws, runsFolderSetting()) : undefined;
  }

  private postRuns(panel: ResultsPanel, activeRunId?: string): void {
    const root = this.runsRoot();
    if (!root) return;
    try {
      panel.post({ type: 'runs', runs: runSummaries(root).runs, activeRunId: activeRunId ?? this.training.activeRunId });
    } catch (e) {
      panel.post({ type: 'error', message: `Could not read the runs in ${root}: ${(e as Error).message}` });
    }
  }

  private runDir(runId: string): string | undefined {
    const root = this.runsRoot();
    return root ? path.join(root, runId) : undefined;
  }

  private async onMessage(m: FromPanel): Promise<void> {
    const panel = ResultsPanel.current!;
    switch (m.type) {
      case 'ready':
        if (this.form) panel.post({ type: 'showForm', form: this.form });
        this.postRuns(panel);
        return;
      case 'startTraining':
        if (this.form) this.form = { ...this.form, error: undefined };
        await this.training.start(m.config);
        return;
      case 'cancelTraining':
        this.training.cancel();
        return;
      case 'newRun':
        await vscode.commands.executeCommand('loraLab.startTraining');
        return;
      case 'pickDataset': {
        if (!this.form) return;
        const dataset = await pickDataset(undefined);
        if (dataset) this.show(await this.formFor(dataset, this.form.model, this.form.modelSpec));
        return;
      }
      case 'pickModel': {
        if (!this.form) return;
        const model = await pickModel(this.context.globalState, this.context.extensionPath, workspaceFolderFor(this.form.dataset));
        if (model) this.show(await this.formFor(this.form.dataset, model.dir, model.spec));
        return;
      }
      case 'loadRuns':
        for (const id of m.runIds) {
          const dir = this.runDir(id);
          if (dir) panel.post({ type: 'runDetail', detail: runDetail(dir) });
        }
        return;
      case 'diffConfigs':
        await vscode.commands.executeCommand('loraLab.compareRuns', ...m.runIds.map((id) => this.runDir(id)));
        return;
      case 'openRunFolder':
        await vscode.commands.executeCommand('loraLab.openRunFolder', this.runDir(m.runId));
        return;
      case 'evaluateRun': {
        const dir = this.runDir(m.runId);
        await vscode.commands.executeCommand('loraLab.evaluateRun', dir);
        if (dir) panel.post({ type: 'runDetail', detail: runDetail(dir) }); // carries the new eval.json
        this.postRuns(panel);
        return;
      }
      case 'mergeRun':
        await vscode.commands.executeCommand('loraLab.mergeRun', this.runDir(m.runId));
        this.postRuns(panel);
        return;
    }
  }
}

/** Files up to this size are read through once to show their format and row count in the form. */
const SUMMARY_MAX_BYTES = 50 * 2 ** 20;

async function describeDataset(file: string): Promise<string> {
  try {
    const size = fs.statSync(file).size;
    if (size > SUMMARY_MAX_BYTES) return `${(size / 2 ** 20).toFixed(0)} MiB; the format is detected when training starts`;
    const r = await checkDatasetFile(file);
    return `${r.format}, ${r.rows.toLocaleString('en-US')} rows${r.problems.length ? `; ${r.problems.length} problem(s), first: line ${r.problems[0].line}: ${r.problems[0].reason}` : ''}`;
  } catch (e) {
    return (e as Error).message;
  }
}
