// The only reader of VS Code settings: `loraLab.*` → a RunConfigInput for a dataset and model.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { fromSettingValue, RUN_FIELDS, setField, settingKey, settingSchema, type RunConfigInput } from '../protocol/runConfig';

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

/**
 * Every run-config field that has a setting (the table in protocol/runConfig.ts), read with the
 * table's default; 0 steps and an empty target list mean "automatic" (unset).
 */
export function runConfigFromSettings(model: string, data: string, workspace: string): RunConfigInput & { model: string; data: string } {
  const c = vscode.workspace.getConfiguration();
  const input: RunConfigInput & { model: string; data: string } = { model, data, workspace, runsDir: runsFolderSetting() };
  for (const f of RUN_FIELDS) {
    if (!f.setting) continue;
    const v = fromSettingValue(f, c.get(settingKey(f), settingSchema(f).default));
    if (v !== undefined) setField(input, f, v);
  }
  const cases = (c.get<string>('loraLab.evalCases', '') ?? '').trim();
  if (cases) input.evals = path.isAbsolute(cases) ? cases : path.join(workspace, cases);
  return input;
}
