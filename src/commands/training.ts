// "Start Training…", "Fine-tune with LoRA" (explorer / editor on a dataset file) and "Start
// Training with Defaults": dataset → model → the configuration form (or straight to a run).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { pickDataset, pickModel } from '../host/pickers';
import type { PanelController } from '../host/panelController';
import { runConfigFromSettings, workspaceFolderFor } from '../host/settings';
import type { TrainingController } from '../host/trainingController';

export interface TrainingCommandDeps {
  context: vscode.ExtensionContext;
  panels: PanelController;
  training: TrainingController;
}

export async function startTraining(deps: TrainingCommandDeps, uri?: vscode.Uri, opts: { withDefaults?: boolean } = {}): Promise<void> {
  const dataset = await pickDataset(uri);
  if (!dataset) return;
  const workspace = workspaceFolderFor(dataset) ?? path.dirname(dataset);
  const model = await pickModel(deps.context.globalState, deps.context.extensionPath, workspaceFolderFor(dataset));
  if (!model) return;
  let withDefaults = opts.withDefaults;
  if (withDefaults === undefined) {
    const how = await vscode.window.showQuickPick(
      [
        { label: '$(settings) Configure…', description: 'edit rank, targets and training settings in the results panel', id: 'form' },
        { label: '$(play) Start with defaults', description: 'use the loraLab.* settings as they are', id: 'defaults' },
      ],
      { title: `LoRA Lab: ${path.basename(dataset)} on ${path.basename(model.dir)}` },
    );
    if (!how) return;
    withDefaults = how.id === 'defaults';
  }
  if (withDefaults) {
    if (vscode.workspace.getConfiguration('loraLab').get('openPanelOnStart', true)) deps.panels.show();
    await deps.training.start(runConfigFromSettings(model.dir, dataset, workspace));
    return;
  }
  deps.panels.show(await deps.panels.formFor(dataset, model.dir, model.spec));
}
