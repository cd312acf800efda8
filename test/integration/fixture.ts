// The workspace the integration suite opens: a temporary folder with a small dataset, and the
// settings that keep a training run to a few seconds. Shared by runTest.ts (which lays it out) and
// documented in README.md. No vscode import: it runs in the launcher's plain Node.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Fixture {
  /** The temporary root: workspace/, user-data/, extensions/. */
  root: string;
  workspace: string;
  userData: string;
  extensionsDir: string;
  /** Absolute path of the dataset inside the workspace. */
  dataset: string;
  /** 'sample': the bundled samples/model; otherwise the model folder given by loraLab.modelPath. */
  model: 'sample' | string;
}

/** Settings for a run of 20 steps on short sequences (a few seconds on a laptop CPU). */
export const FAST_RUN_SETTINGS = {
  'loraLab.training.maxSteps': 20,
  'loraLab.training.batchSize': 4,
  'loraLab.training.maxSeqLen': 64,
  'loraLab.training.evalEvery': 5,
  'loraLab.training.checkpointEvery': 10,
  'loraLab.openPanelOnStart': true,
};

const WORDS = 'the of a to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their'.split(' ');

function textDataset(): string {
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const n = 8 + (i % 9);
    lines.push(JSON.stringify({ text: `${Array.from({ length: n }, (_, j) => WORDS[(i * 7 + j * 13) % WORDS.length]).join(' ')}.` }));
  }
  return `${lines.join('\n')}\n`;
}

function inputIdsDataset(vocabSize: number): string {
  const lines: string[] = [];
  let s = 12345;
  for (let i = 0; i < 48; i++) {
    const ids = Array.from({ length: 12 + (i % 20) }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 8) % vocabSize;
    });
    lines.push(JSON.stringify({ input_ids: ids }));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Lays out the fixture for the extension at `root` (the repository). With the bundled sample model
 * the dataset is samples/datasets/devil.jsonl (or a small text file when that is absent); without
 * it, a copy of test/fixtures/gpt2-tiny chosen through loraLab.modelPath, on pre-tokenized data.
 */
export function makeFixture(repo: string): Fixture {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lab-it-'));
  const workspace = path.join(root, 'workspace');
  const userData = path.join(root, 'user-data');
  const extensionsDir = path.join(root, 'extensions');
  for (const d of [workspace, path.join(workspace, '.vscode'), path.join(userData, 'User'), extensionsDir]) fs.mkdirSync(d, { recursive: true });

  const sampleModel = path.join(repo, 'samples', 'model');
  const sampleData = path.join(repo, 'samples', 'datasets', 'devil.jsonl');
  const workspaceSettings: Record<string, unknown> = { ...FAST_RUN_SETTINGS };
  let dataset: string;
  let model: Fixture['model'];
  if (fs.existsSync(path.join(sampleModel, 'config.json'))) {
    model = 'sample';
    dataset = path.join(workspace, fs.existsSync(sampleData) ? 'devil.jsonl' : 'tiny-text.jsonl');
    if (fs.existsSync(sampleData)) fs.copyFileSync(sampleData, dataset);
    else fs.writeFileSync(dataset, textDataset());
  } else {
    const fixtureModel = path.join(repo, 'test', 'fixtures', 'gpt2-tiny');
    model = path.join(workspace, 'models', 'gpt2-tiny');
    fs.cpSync(fixtureModel, model, { recursive: true });
    const vocab = (JSON.parse(fs.readFileSync(path.join(fixtureModel, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
    dataset = path.join(workspace, 'tiny-ids.jsonl');
    fs.writeFileSync(dataset, inputIdsDataset(vocab));
    workspaceSettings['loraLab.modelPath'] = 'models/gpt2-tiny';
  }
  fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify(workspaceSettings, null, 2));
  fs.writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'security.workspace.trust.enabled': false,
      'git.enabled': false,
      'window.restoreWindows': 'none',
    }, null, 2),
  );
  return { root, workspace, userData, extensionsDir, dataset, model };
}
