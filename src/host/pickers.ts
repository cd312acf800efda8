// Choosing the dataset and the model for a run: from the explorer selection, the active editor,
// the settings, recently used models, the bundled sample, or a file/folder picker. Each choice
// is validated before the flow continues; problems are shown as messages, never stack traces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { inspectFile } from '../core/data/files';
import { readConfig, type ModelSpec } from '../core/hf/config';
import { WeightStore } from '../core/hf/weights';
import { configuredModel, sampleModelPath } from './settings';

export const DATASET_EXTENSIONS = ['jsonl', 'json', 'csv', 'tsv', 'txt'];
export const RECENT_KEY = 'loraLab.recentModels';
const RECENT_MAX = 5;

export function isDatasetFile(p: string): boolean {
  return DATASET_EXTENSIONS.includes(path.extname(p).slice(1).toLowerCase());
}

/** The dataset: the given file, else the active editor's file if it is a dataset, else a file picker. */
export async function pickDataset(given?: vscode.Uri): Promise<string | undefined> {
  let file = given?.fsPath;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (!file && active?.scheme === 'file' && isDatasetFile(active.fsPath)) file = active.fsPath;
  if (!file) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Fine-tune on this file',
      title: 'LoRA Lab: training data',
      filters: { 'Datasets (JSONL, JSON, CSV, TSV, TXT)': DATASET_EXTENSIONS },
    });
    file = picked?.[0]?.fsPath;
  }
  if (!file) return undefined;
  try {
    await inspectFile(file);
    return file;
  } catch (e) {
    void vscode.window.showErrorMessage(`LoRA Lab: ${(e as Error).message}`);
    return undefined;
  }
}

/** Validates a model folder: a supported config.json and readable safetensors headers. */
export function checkModelFolder(dir: string): { spec: ModelSpec } | { error: string } {
  try {
    const { spec } = readConfig(dir);
    WeightStore.open(dir).close();
    return { spec };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export function rememberModel(state: vscode.Memento, dir: string): void {
  const recent = state.get<string[]>(RECENT_KEY, []).filter((d) => d !== dir);
  void state.update(RECENT_KEY, [dir, ...recent].slice(0, RECENT_MAX));
}

interface ModelItem extends vscode.QuickPickItem {
  dir?: string;
}

/** The model: a quick pick of the configured, recent and sample models, or a folder picker; validated. */
export async function pickModel(state: vscode.Memento, extensionPath: string, workspace: string | undefined): Promise<{ dir: string; spec: ModelSpec } | undefined> {
  const items: ModelItem[] = [];
  const seen = new Set<string>();
  const add = (dir: string | undefined, label: string, description: string) => {
    if (!dir || seen.has(dir) || !fs.existsSync(dir)) return;
    seen.add(dir);
    items.push({ label, description, detail: dir, dir });
  };
  add(configuredModel(workspace), '$(gear) From settings', 'loraLab.modelPath');
  for (const d of state.get<string[]>(RECENT_KEY, [])) add(d, `$(history) ${path.basename(d)}`, 'recently used');
  add(sampleModelPath(extensionPath), '$(beaker) Bundled sample model', 'a small GPT-2 pretrained by LoRA Lab (no download)');
  items.push({ label: '$(folder-opened) Browse for a model folder…', description: 'config.json + model.safetensors (+ tokenizer.json)' });
  for (;;) {
    const choice = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title: 'LoRA Lab: base model', placeHolder: 'A local Hugging Face model folder' });
    if (!choice) return undefined;
    let dir = choice.dir;
    if (!dir) {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model', title: 'Hugging Face model folder' });
      dir = picked?.[0]?.fsPath;
      if (!dir) return undefined;
    }
    const checked = checkModelFolder(dir);
    if ('spec' in checked) {
      rememberModel(state, dir);
      return { dir, spec: checked.spec };
    }
    const again = await vscode.window.showErrorMessage(`LoRA Lab: ${dir} is not a model LoRA Lab can load: ${checked.error}`, 'Choose Another');
    if (again !== 'Choose Another') return undefined;
  }
}
