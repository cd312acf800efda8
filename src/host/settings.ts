// The only reader of VS Code settings: `loraLab.*` → a RunConfigInput for a dataset and model.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendChoice } from '../core/backend';
import type { RunConfigInput } from '../core/runConfig';
import type { ScheduleKind } from '../core/train/schedule';

/** The bundled sample model, used when loraLab.modelPath is empty. */
export function sampleModelPath(extensionPath: string): string {
  return path.join(extensionPath, 'samples', 'model');
}

export function workspaceFolderFor(file?: string): string | undefined {
  const uri = file ? vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file))?.uri : undefined;
  return (uri ?? vscode.workspace.workspaceFolders?.[0]?.uri)?.fsPath;
}

/** The configured model folder (absolute), or undefined when the setting is empty. */
export function configuredModel(workspace: string | undefined): string | undefined {
  const p = vscode.workspace.getConfiguration('loraLab').get<string>('modelPath', '').trim();
  if (!p) return undefined;
  return path.isAbsolute(p) || !workspace ? p : path.join(workspace, p);
}

export function runsFolderSetting(): string {
  return vscode.workspace.getConfiguration('loraLab').get<string>('runsFolder', '.lora-lab/runs');
}

/** Every training default from the settings; 0 means "automatic" for the cadence and step settings. */
export function runConfigFromSettings(model: string, data: string, workspace: string): RunConfigInput & { model: string; data: string } {
  const c = vscode.workspace.getConfiguration('loraLab');
  const zeroIsUnset = (v: number) => (v > 0 ? v : undefined);
  const targets = c.get<string[]>('lora.targetModules', []);
  return {
    model,
    data,
    workspace,
    runsDir: runsFolderSetting(),
    backend: c.get<BackendChoice>('backend', 'auto'),
    lora: {
      r: c.get('lora.r', 8),
      alpha: c.get('lora.alpha', 16),
      dropout: c.get('lora.dropout', 0.05),
      targets: targets.length === 0 ? undefined : targets.includes('all-linear') ? 'all-linear' : targets,
      useRslora: c.get('lora.useRslora', false),
    },
    training: {
      lr: c.get('training.learningRate', 2e-4),
      schedule: c.get<ScheduleKind>('training.schedule', 'cosine'),
      warmupRatio: c.get('training.warmupRatio', 0.05),
      epochs: c.get('training.epochs', 3),
      maxSteps: zeroIsUnset(c.get('training.maxSteps', 0)),
      batchSize: c.get('training.batchSize', 4),
      gradAccum: c.get('training.gradientAccumulation', 1),
      maxSeqLen: c.get('training.maxSeqLen', 256),
      maxGradNorm: c.get('training.maxGradNorm', 1),
      weightDecay: c.get('training.weightDecay', 0),
      seed: c.get('training.seed', 42),
      evalEvery: zeroIsUnset(c.get('training.evalEvery', 0)),
      checkpointEvery: zeroIsUnset(c.get('training.checkpointEvery', 0)),
      patience: c.get('training.earlyStoppingPatience', 0),
      groupByLength: c.get('training.groupByLength', false),
    },
    dataOptions: {
      validFraction: c.get('data.validationFraction', 0.1),
      policy: c.get<'fail' | 'skip'>('data.badRows', 'fail'),
    },
  };
}
