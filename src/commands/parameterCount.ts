// "LoRA Lab: Count LoRA Parameters…": PEFT's trainable/total figures for a model folder and a
// rank/targets choice, computed from config.json in the extension host (pure arithmetic, no tensors).
import * as vscode from 'vscode';
import { readConfig } from '../core/hf/config';
import { countParameters, resolveLoraConfig } from '../core/lora/config';
import { defaultTargets, moduleNames } from '../core/lora/modules';

export async function countParametersCommand(): Promise<void> {
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model folder', title: 'Hugging Face model folder (with config.json)' });
  if (!picked?.[0]) return;
  let spec;
  try {
    spec = readConfig(picked[0].fsPath).spec;
  } catch (e) {
    void vscode.window.showErrorMessage((e as Error).message);
    return;
  }
  const rankText = await vscode.window.showInputBox({
    title: 'LoRA rank r',
    value: '8',
    validateInput: (v) => (/^[1-9]\d*$/.test(v.trim()) ? undefined : 'A positive integer, e.g. 8'),
  });
  if (!rankText) return;
  const items = [...moduleNames(spec), 'all-linear'].map((n) => ({ label: n, picked: defaultTargets(spec).includes(n) }));
  const chosen = await vscode.window.showQuickPick(items, { canPickMany: true, title: `Target modules of ${spec.architecture}` });
  if (!chosen || chosen.length === 0) return;
  const names = chosen.map((c) => c.label);
  try {
    const cfg = resolveLoraConfig(spec, { r: Number(rankText), targetModules: names.includes('all-linear') ? 'all-linear' : names });
    const c = countParameters(spec, cfg);
    void vscode.window.showInformationMessage(
      `${spec.architecture}, r=${cfg.r} on ${names.join(', ')} (${c.adaptedModules} modules): ` +
        `trainable ${c.trainable.toLocaleString('en-US')} of ${c.total.toLocaleString('en-US')} (${c.percent.toFixed(4)}%)`,
    );
  } catch (e) {
    void vscode.window.showErrorMessage((e as Error).message);
  }
}
