// The integration tests, run in order inside a real VS Code by index.ts: the extension activates,
// registers every command it contributes, offers "Fine-tune with LoRA" on dataset files only, and
// trains a short run (20 steps; settings from fixture.ts) that leaves a completed run folder and
// opens the results panel.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as vscode from 'vscode';
import { evaluateWhen, resourceContext } from './whenClause';

export interface IntegrationTest {
  name: string;
  fn: () => Promise<void>;
  timeoutMs: number;
}

export const tests: IntegrationTest[] = [];
function test(name: string, fn: () => Promise<void>, timeoutMs = 30_000): void {
  tests.push({ name, fn, timeoutMs });
}

const EXTENSION_ID = 'lora-lab.lora-lab';
const PANEL_VIEW_TYPE = 'loraLab.results';

interface Manifest {
  contributes: {
    commands: { command: string; title: string }[];
    menus: Record<string, { command: string; when?: string }[]>;
  };
}

function extension(): vscode.Extension<unknown> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed in the Extension Development Host`);
  return ext;
}

function manifest(): Manifest {
  return extension().packageJSON as Manifest;
}

function runFolders(root: string): string[] {
  return fs.existsSync(root) ? fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'run.json'))).sort() : [];
}

test('the extension activates', async () => {
  const ext = extension();
  await ext.activate();
  assert.equal(ext.isActive, true);
});

test('every contributed command is registered', async () => {
  const contributed = manifest().contributes.commands.map((c) => c.command);
  assert.ok(contributed.includes('loraLab.startTraining') && contributed.includes('loraLab.fineTuneFile') && contributed.includes('loraLab.showResults'));
  const registered = new Set(await vscode.commands.getCommands(true));
  assert.deepEqual(contributed.filter((c) => !registered.has(c)), [], 'commands in contributes.commands without a registration');
});

test('"Fine-tune with LoRA" is offered on dataset files only, not on evaluation case files (explorer and editor menus)', async () => {
  const menus = manifest().contributes.menus;
  for (const where of ['explorer/context', 'editor/context', 'editor/title/context']) {
    const item = menus[where]?.find((m) => m.command === 'loraLab.fineTuneFile');
    assert.ok(item?.when, `${where} contributes loraLab.fineTuneFile with a when-clause`);
    for (const file of ['train.jsonl', 'data.json', 'table.csv', 'table.tsv', 'corpus.txt', 'my.data.jsonl']) {
      assert.equal(evaluateWhen(item.when, resourceContext(`/ws/${file}`)), true, `${where} accepts ${file} (when: ${item.when})`);
    }
    for (const file of ['script.py', 'model.safetensors', 'README.md', 'train.jsonl.bak', 'jsonl', 'notes.text', 'devil.evals.jsonl', 'one.EVALS.json']) {
      assert.equal(evaluateWhen(item.when, resourceContext(`/ws/${file}`)), false, `${where} rejects ${file} (when: ${item.when})`);
    }
  }
  // It needs a file: hidden from the Command Palette.
  const palette = menus.commandPalette?.find((m) => m.command === 'loraLab.fineTuneFile');
  assert.equal(palette?.when, 'false', 'loraLab.fineTuneFile is hidden from the Command Palette');
});

test('a short run on the sample model leaves a completed run folder and opens the results panel', async () => {
  const datasetPath = process.env.LORA_LAB_IT_DATASET;
  const modelChoice = process.env.LORA_LAB_IT_MODEL;
  assert.ok(datasetPath && fs.existsSync(datasetPath), 'LORA_LAB_IT_DATASET names the dataset (set by runTest.ts)');
  const workspace = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(workspace, 'a workspace folder is open');
  const runsRoot = path.join(workspace, '.lora-lab', 'runs');
  const before = runFolders(runsRoot);

  // "Start Training with Defaults" on the dataset: the model quick pick comes next. Its first item
  // is the configured model (loraLab.modelPath) or else the bundled sample model; accept it as a
  // person pressing Enter would, until the run's folder appears.
  let settled = false;
  const command = Promise.resolve(vscode.commands.executeCommand('loraLab.trainWithDefaults', vscode.Uri.file(datasetPath))).finally(() => {
    settled = true;
  });
  const deadline = Date.now() + 120_000;
  while (!settled && runFolders(runsRoot).length === before.length && Date.now() < deadline) {
    await sleep(500);
    await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
  }
  // The command resolves when the run has ended.
  await command;

  const added = runFolders(runsRoot).filter((d) => !before.includes(d));
  assert.equal(added.length, 1, `one new run folder under ${runsRoot} (found ${added.join(', ') || 'none'})`);
  const dir = path.join(runsRoot, added[0]);
  const record = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as { status: string; error?: { message: string }; model: { path: string }; dataset: { path: string } };
  assert.equal(record.status, 'completed', `the run completed (${record.error?.message ?? ''})`);
  const expectedModel = modelChoice === 'sample' ? path.join(extension().extensionPath, 'samples', 'model') : modelChoice;
  assert.equal(path.resolve(record.model.path), path.resolve(expectedModel!), 'the run used the expected model');
  assert.equal(path.resolve(record.dataset.path), path.resolve(datasetPath), 'the run used the dataset it was given');
  const rows = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  assert.equal(rows.filter((r) => r.type === 'step').length, 20, 'loraLab.training.maxSteps = 20 steps');
  assert.ok(rows.some((r) => r.type === 'eval'), 'at least one evaluation');
  assert.ok(fs.existsSync(path.join(dir, 'adapter', 'adapter_model.safetensors')), 'the adapter was saved');
  assert.ok(fs.existsSync(path.join(dir, 'adapter', 'adapter_config.json')), 'the adapter config was saved');

  // loraLab.openPanelOnStart: the results panel is open.
  const panel = vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(PANEL_VIEW_TYPE));
  assert.ok(panel, `a ${PANEL_VIEW_TYPE} webview tab is open`);
  assert.equal(panel.label, 'LoRA Lab');
}, 10 * 60_000);

test('"Show Results" reveals the results panel', async () => {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  await vscode.commands.executeCommand('loraLab.showResults');
  const deadline = Date.now() + 10_000;
  const isOpen = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).some((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith(PANEL_VIEW_TYPE));
  while (!isOpen() && Date.now() < deadline) await sleep(200);
  assert.ok(isOpen(), 'the results panel is open after loraLab.showResults');
  // Let its webview load and say ready before the suite ends (and the test host closes).
  await sleep(3_000);
});
