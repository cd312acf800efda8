// End-to-end: the packaged extension (.vsix) in a real VS Code (code-server 4.100.3 = VS Code
// 1.100.3), driven like a person would through headless Chromium:
//   (a) dataset open in the editor → Command Palette → "LoRA Lab: Start Training…" → base model →
//       "Start with defaults" → the run completes → the results panel shows the loss curve and lists the run;
//   (b) explorer → right-click the dataset → "Fine-tune with LoRA" → a second run starts.
// scripts/e2e/run.sh prepares code-server and the .vsix and runs this file (bundled by esbuild).
// Screenshots of every step go to test-output/e2e/.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext, Page } from 'playwright-core';
import {
  CodeServer,
  closeQuickInput,
  explorerRow,
  launchBrowser,
  notifications,
  OUTPUT,
  pickRow,
  progress,
  ROOT,
  runFromPalette,
  screenshot,
  showExplorer,
  waitFor,
  waitForQuickPick,
  webviewContent,
} from './harness';

const CODE_SERVER = process.env.LORA_LAB_CODE_SERVER;
const VSIX = process.env.LORA_LAB_VSIX;
/** Seconds one training run may take before the test gives up (it takes well under a minute). */
const RUN_TIMEOUT_MS = Number(process.env.LORA_LAB_E2E_RUN_TIMEOUT_S ?? 300) * 1000;

// --- Fixture: the dataset and the model ------------------------------------------------------------
// With the bundled sample model (samples/model, packaged in the .vsix), the run uses
// samples/datasets/devil/train.jsonl, copied as devil.jsonl (or a small text dataset made here when that is absent). Without it
// (a checkout that predates the sample), the run uses a copy of test/fixtures/gpt2-tiny, chosen
// through loraLab.modelPath, on pre-tokenized input_ids (the fixture has no tokenizer).
const SAMPLE_MODEL = path.join(ROOT, 'samples', 'model');
const SAMPLE_DATASET = path.join(ROOT, 'samples', 'datasets', 'devil', 'train.jsonl');
const FIXTURE_MODEL = path.join(ROOT, 'test', 'fixtures', 'gpt2-tiny');
const useSample = fs.existsSync(path.join(SAMPLE_MODEL, 'config.json'));

function textDataset(): string {
  const words = 'the of a to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there been one all we their'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const n = 8 + (i % 9);
    lines.push(JSON.stringify({ text: Array.from({ length: n }, (_, j) => words[(i * 7 + j * 13) % words.length]).join(' ') + '.' }));
  }
  return `${lines.join('\n')}\n`;
}

function inputIdsDataset(vocabSize: number): string {
  const lines: string[] = [];
  let s = 12345;
  for (let i = 0; i < 48; i++) {
    const n = 12 + (i % 20);
    const ids = Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 8) % vocabSize;
    });
    lines.push(JSON.stringify({ input_ids: ids }));
  }
  return `${lines.join('\n')}\n`;
}

const DATASET = useSample && fs.existsSync(SAMPLE_DATASET) ? 'devil.jsonl' : useSample ? 'tiny-text.jsonl' : 'tiny-ids.jsonl';

function workspaceFiles(): ConstructorParameters<typeof CodeServer>[1]['workspaceFiles'] {
  if (useSample) return { [DATASET]: fs.existsSync(SAMPLE_DATASET) ? { from: SAMPLE_DATASET } : { text: textDataset() } };
  const vocab = (JSON.parse(fs.readFileSync(path.join(FIXTURE_MODEL, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  return { [DATASET]: { text: inputIdsDataset(vocab) }, 'models/gpt2-tiny': { dir: FIXTURE_MODEL } };
}

// --- Run folders -----------------------------------------------------------------------------------
interface RunInfo {
  id: string;
  dir: string;
  status: string;
  name?: string;
  error?: { message: string };
}

function runs(workspace: string): RunInfo[] {
  const root = path.join(workspace, '.lora-lab', 'runs');
  if (!fs.existsSync(root)) return [];
  const out: RunInfo[] = [];
  for (const id of fs.readdirSync(root).sort()) {
    const file = path.join(root, id, 'run.json');
    try {
      const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<RunInfo, 'id' | 'dir'>;
      out.push({ ...rec, id, dir: path.join(root, id) });
    } catch {
      // Not written yet (or mid-rename): seen on the next poll.
    }
  }
  return out;
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

/** Waits until the run `id` has ended; fails with its error and log when it did not complete. */
async function waitForCompletion(workspace: string, id: string): Promise<RunInfo> {
  let lastStatus = '';
  const run = await waitFor(`run ${id} to end`, () => {
    const r = runs(workspace).find((x) => x.id === id);
    if (r && r.status !== lastStatus) {
      lastStatus = r.status;
      progress(`run ${id}: ${r.status}`);
    }
    return r && r.status !== 'running' ? r : undefined;
  }, RUN_TIMEOUT_MS, 1_000);
  assert.equal(run.status, 'completed', `run ${id} ended ${run.status}: ${run.error?.message ?? ''}\ntrain.log:\n${tail(path.join(run.dir, 'train.log'))}`);
  return run;
}

function metricsCount(run: RunInfo): { steps: number; evals: number } {
  const rows = fs.readFileSync(path.join(run.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
  return { steps: rows.filter((r) => r.type === 'step').length, evals: rows.filter((r) => r.type === 'eval').length };
}

// --- The results panel ---------------------------------------------------------------------------
/** The panel's visible text, whitespace collapsed. */
async function panelText(page: Page): Promise<string> {
  return ((await webviewContent(page).locator('body').innerText({ timeout: 5_000 })) ?? '').replace(/\s+/g, ' ').trim();
}

/** Opens a section of the panel by its tab label, when the panel has such tabs. */
async function openPanelTab(page: Page, label: RegExp): Promise<boolean> {
  const tab = webviewContent(page).locator('vscode-tab-header, [role=tab]').filter({ hasText: label }).first();
  if (!(await tab.count())) return false;
  await tab.click();
  return true;
}

/** The loss chart is drawn, the Runs section lists the run, and the Evaluation section is shown if it has a table. */
async function checkResultsPanel(page: Page, run: RunInfo): Promise<void> {
  await waitFor('the LoRA Lab results panel tab', () => page.locator('.tabs-container .tab').filter({ hasText: 'LoRA Lab' }).first().isVisible(), 30_000);
  const view = webviewContent(page);
  await waitFor('the results panel content', async () => (await panelText(page)).length > 0, 60_000);
  progress(`panel: ${(await panelText(page)).slice(0, 240)}`);
  await openPanelTab(page, /^\s*Loss curves/);

  // The loss chart: a canvas of some size with drawn pixels (uPlot draws axes, grid and the series on it).
  let painted: number;
  try {
    const canvas = await waitFor('a loss chart (canvas) in the panel', async () => {
      const canvases = view.locator('canvas');
      const n = await canvases.count();
      for (let i = 0; i < n; i++) {
        const box = await canvases.nth(i).boundingBox();
        if (box && box.width > 50 && box.height > 50) return canvases.nth(i);
      }
      return undefined;
    }, 60_000);
    painted = await waitFor('the loss chart to be drawn', async () => {
      const n = await canvas.evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext('2d');
        if (!ctx || !c.width || !c.height) return 0;
        const data = ctx.getImageData(0, 0, c.width, c.height).data;
        let count = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
        return count;
      });
      return n > 500 ? n : undefined;
    }, 30_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the panel shows: "${(await panelText(page).catch(() => '')).slice(0, 600)}"`);
  }
  const points = /([\d,]+) points?/.exec(await panelText(page))?.[1];
  progress(`loss chart: ${painted} painted pixels${points ? `, ${points} points` : ''}`);
  await screenshot(page, 'results-loss-curves');

  // The run in the Runs section (or, in a panel without sections, anywhere in its text).
  if (await openPanelTab(page, /^\s*Runs/)) {
    const row = await waitFor(`run ${run.id} in the Runs section`, async () => {
      // Visible rows only: the (hidden) Loss curves section has tables that name the run too.
      const rows = view.locator('table tr').filter({ hasText: run.id, visible: true });
      return (await rows.count()) ? rows.first() : undefined;
    }, 30_000);
    const text = ((await row.innerText()) ?? '').replace(/\s+/g, ' ').trim();
    progress(`Runs section: ${text}`);
    assert.match(text, /completed/i, 'the Runs section shows the run as completed');
    await screenshot(page, 'results-runs');
  } else {
    await waitFor(`run ${run.id} listed in the panel`, async () => (await panelText(page)).includes(run.id), 30_000);
  }

  // The evaluation, when the panel has one for this run (eval.json is written by "Evaluate").
  if (await openPanelTab(page, /^\s*Evaluation/)) {
    await sleep(500);
    const tables = view.locator('section[aria-label="Evaluation"] table, .eval-table');
    const n = await tables.count();
    if (n) progress(`Evaluation section: ${n} table(s): ${((await tables.first().innerText()) ?? '').replace(/\s+/g, ' ').slice(0, 200)}`);
    else progress(`Evaluation section (no table): ${(await panelText(page)).replace(/^.*?Runs( \(\d+\))?/, '').slice(0, 200)}`);
    await screenshot(page, 'results-evaluation');
  }
  await openPanelTab(page, /^\s*Loss curves/);
}

// --- The test ----------------------------------------------------------------------------------------
describe('LoRA Lab in VS Code (code-server + Chromium)', { timeout: 20 * 60_000 }, () => {
  let server: CodeServer;
  let context: BrowserContext | undefined;
  let page: Page;
  let firstRun: RunInfo | undefined;

  before(async () => {
    assert.ok(CODE_SERVER && fs.existsSync(path.join(CODE_SERVER, 'out', 'node', 'entry.js')), 'LORA_LAB_CODE_SERVER must name the code-server folder (run scripts/e2e/run.sh)');
    assert.ok(VSIX && fs.existsSync(VSIX), 'LORA_LAB_VSIX must name the packaged extension (run scripts/e2e/run.sh)');
    fs.mkdirSync(OUTPUT, { recursive: true });

    const settings: Record<string, unknown> = {
      // A run of a few seconds: 20 steps of 4 short examples, an evaluation every 5 steps.
      'loraLab.training.maxSteps': 20,
      'loraLab.training.batchSize': 4,
      'loraLab.training.maxSeqLen': 64,
      'loraLab.training.evalEvery': 5,
      'loraLab.training.checkpointEvery': 10,
      'loraLab.training.learningRate': 0.002,
      'loraLab.openPanelOnStart': true,
    };
    // Relative to the workspace folder (the extension resolves it there).
    if (!useSample) settings['loraLab.modelPath'] = 'models/gpt2-tiny';
    server = new CodeServer(CODE_SERVER, { settings, workspaceFiles: workspaceFiles() });
    progress(`profile and workspace in ${server.root}`);
    progress(useSample ? `model: the bundled sample model; dataset: ${DATASET}` : `model: ${FIXTURE_MODEL} (samples/model is not there yet) via loraLab.modelPath; dataset: ${DATASET} (pre-tokenized)`);

    progress(`installing ${path.relative(ROOT, VSIX)} into the profile`);
    const installed = await server.installExtension(VSIX);
    progress(`installed: ${path.basename(installed)}`);
    assert.ok(fs.existsSync(path.join(installed, 'dist', 'extension.js')), 'the .vsix has dist/extension.js');
    assert.equal(fs.existsSync(path.join(installed, 'samples', 'model', 'config.json')), useSample, 'the .vsix carries samples/model exactly when the checkout has it');

    const url = await server.start(path.join(OUTPUT, 'code-server.log'));
    progress(`code-server is up at ${url} (log: ${path.relative(ROOT, path.join(OUTPUT, 'code-server.log'))})`);

    ({ context, page } = await launchBrowser(server.home, path.join(server.root, 'chromium')));
    page.on('pageerror', (e) => progress(`page error: ${e.message.split('\n')[0]}`));
    await page.goto(`${url}/?folder=${encodeURIComponent(server.workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 120_000 });
    await showExplorer(page);
    await waitFor(`${DATASET} in the explorer`, () => explorerRow(page, DATASET).isVisible(), 90_000);
    progress('workbench loaded');
    await screenshot(page, 'workbench');
  });

  after(async () => {
    if (page) await screenshot(page, 'final');
    server?.noteDescendants();
    await context?.close().catch(() => {});
    if (server) {
      await server.stop();
      progress('code-server stopped (process group and descendants)');
      server.cleanup();
    }
  });

  /** Runs a step; on failure, a screenshot and the visible notifications explain it. */
  async function step<T>(name: string, f: () => Promise<T>): Promise<T> {
    progress(`▶ ${name}`);
    try {
      return await f();
    } catch (e) {
      await screenshot(page, `failed-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
      const notes = await notifications(page).catch(() => []);
      if (notes.length) progress(`notifications: ${notes.join(' | ')}`);
      throw e;
    }
  }

  it('(a) Command Palette → Start Training… → model → Start with defaults → the run completes → results panel', { timeout: 12 * 60_000 }, async () => {
    await step('open the dataset in the editor', async () => {
      await explorerRow(page, DATASET).click();
      await waitFor(`${DATASET} as the active editor tab`, () => page.locator('.tabs-container .tab.active').filter({ hasText: DATASET }).isVisible(), 30_000);
      await page.locator('.editor-group-container .monaco-editor .view-lines').first().click();
      await screenshot(page, 'dataset-open');
    });

    await step('Command Palette → "LoRA Lab: Start Training…"', async () => {
      await runFromPalette(page, 'LoRA Lab: Start Training…', 120_000, () => screenshot(page, 'palette'));
    });

    const modelLabel = useSample ? 'Bundled sample model' : 'From settings';
    await step(`model quick pick → "${modelLabel}"`, async () => {
      await waitForQuickPick(page, 'LoRA Lab: base model', 120_000);
      await screenshot(page, 'model-pick');
      progress(`picked: ${await pickRow(page, modelLabel)}`);
    });

    await step('"Start with defaults"', async () => {
      await waitForQuickPick(page, `LoRA Lab: ${DATASET} on`, 60_000);
      await screenshot(page, 'how-to-start');
      progress(`picked: ${await pickRow(page, 'Start with defaults')}`);
    });

    const run = await step('the run starts', async () => {
      const r = await waitFor('a run folder under .lora-lab/runs', () => runs(server.workspace)[0], 120_000);
      progress(`run folder: ${path.relative(server.workspace, r.dir)} (${r.status})`);
      await screenshot(page, 'training');
      return r;
    });

    firstRun = await step('the run completes', async () => {
      const done = await waitForCompletion(server.workspace, run.id);
      const m = metricsCount(done);
      progress(`completed: ${m.steps} steps and ${m.evals} evaluations in metrics.jsonl`);
      assert.equal(m.steps, 20, 'loraLab.training.maxSteps = 20 steps');
      assert.ok(m.evals >= 1, 'at least one evaluation');
      assert.ok(fs.existsSync(path.join(done.dir, 'adapter', 'adapter_model.safetensors')), 'the final adapter is saved');
      const note = await waitFor('the "run completed" notification', async () => (await notifications(page)).find((t) => /LoRA Lab: run completed/.test(t)), 60_000);
      progress(`notification: ${note}`);
      await screenshot(page, 'run-completed');
      return done;
    });

    await step('the results panel shows the loss curve and lists the run', async () => {
      await checkResultsPanel(page, firstRun!);
    });
  });

  it('(b) Explorer → right-click the dataset → Fine-tune with LoRA → a second run starts', { timeout: 8 * 60_000 }, async () => {
    const before = runs(server.workspace).map((r) => r.id);
    await step('explorer context menu → "Fine-tune with LoRA"', async () => {
      await closeQuickInput(page);
      await showExplorer(page);
      const row = explorerRow(page, DATASET);
      const item = page.getByRole('menuitem', { name: 'Fine-tune with LoRA' });
      await waitFor('"Fine-tune with LoRA" in the explorer context menu', async () => {
        await row.click({ button: 'right' });
        try {
          await item.waitFor({ state: 'visible', timeout: 3_000 });
          return true;
        } catch {
          await page.keyboard.press('Escape');
          return false;
        }
      }, 30_000, 1_000);
      await screenshot(page, 'context-menu');
      await item.click();
    });

    await step('model quick pick → the model of the first run', async () => {
      await waitForQuickPick(page, 'LoRA Lab: base model', 60_000);
      await screenshot(page, 'model-pick-2');
      // The first run's model now also appears as recently used (the list shows each folder once).
      progress(`picked: ${await pickRow(page, /recently used|Bundled sample model|From settings/)}`);
    });

    await step('"Start with defaults"', async () => {
      await waitForQuickPick(page, `LoRA Lab: ${DATASET} on`, 60_000);
      progress(`picked: ${await pickRow(page, 'Start with defaults')}`);
    });

    await step('a second run folder appears (running or completed)', async () => {
      const second = await waitFor('a second run folder under .lora-lab/runs', () => runs(server.workspace).find((r) => !before.includes(r.id)), 120_000);
      progress(`second run: ${second.id} (${second.status})`);
      assert.ok(['running', 'completed'].includes(second.status), `the second run is running or completed, not ${second.status}`);
      assert.equal(runs(server.workspace).length, before.length + 1);
      await screenshot(page, 'second-run');
      const done = await waitForCompletion(server.workspace, second.id);
      progress(`second run completed: ${metricsCount(done).steps} steps`);
      await screenshot(page, 'second-run-completed');
      const text = await panelText(page);
      assert.ok(text.includes(done.id), `the results panel shows the second run (${done.id}); it shows: "${text.slice(0, 400)}"`);
    });
  });
});
