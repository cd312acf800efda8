// End-to-end: the packaged extension (.vsix) in a real VS Code (code-server 4.100.3 = VS Code
// 1.100.3), driven like a person would through headless Chromium:
//   (a) dataset open in the editor → Command Palette → "LoRA Lab: Start Training…" → base model →
//       "Start with defaults" → the run completes (on wasm; the one-time hint offers native
//       TensorFlow) → the results panel shows the loss curve and lists the run;
//   (b) explorer → right-click the dataset → "Fine-tune with LoRA" → a second run starts;
//   (c) "LoRA Lab: Set Up Native Backend…" → CPU → the success notification → "Start Training with
//       Defaults" → the run trains on native TensorFlow (run.json: backend "tensorflow");
//   (d) Reload Window while a run trains → the run is `interrupted` → the notification's Resume →
//       the run completes from its last checkpoint in the same folder;
//   (e) a dataset with planted problems opened → the Problems panel lists them on their lines, the
//       CodeLens sums the file up, the hover shows a row's tokens and loss, the quick fix removes
//       the duplicate row;
//   (f) the planted dataset → Start Training… → "Configure…" → the Configure section shows the lint
//       summary ("1 error"), Start disabled, one `planted.jsonl:2` link that opens the file at line 2;
//   (g) a short run → "LoRA Lab: Show Results" → Loss curves → click a point of the training curve →
//       the step's examples are listed → the first `devil.jsonl:N` link opens the dataset at line N;
//   (h) the sample's case file devil.evals.jsonl in the Test Explorer (a file → its cases) → "Test: Run
//       All Tests" on the newest trained run → every case shows passed/failed as the run's report
//       (<run>/evals/devil.json) says, per model (base, adapter, merged) → the results panel's
//       Evaluation section shows the cases × models matrix and a cell's checks and output.
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
  QUICK_INPUT_BOX,
  ROOT,
  runFromPalette,
  screenshot,
  showExplorer,
  waitFor,
  waitForQuickPick,
  webviewContent,
} from './harness';
import { describeRun, findNotification, linkedLibraries, nativeInstallRecord, NATIVE_HINT, NATIVE_SET_UP, seedWheelCache } from './native';
import {
  casesMatrix, checkResultsPanel, chooseFormOption, clickLintLink, clickStartTraining, clickStepExample, clickTrainingStep, configureLint, expandCaseCell, formFieldError, formFieldHelp, formParamsText,
  openConfigureForm, panelText, setFormCheckbox, stepExamplesList, typeFormText,
} from './panel';
import { expandTestRow, showTestExplorer, testRows, waitForCaseReport } from './testExplorer';
import { CASES, DATASET, FIXTURE_MODEL, hasSampleCases, metricsCount, PLANTED, runs, useSample, waitForCompletion, workspaceFiles, type RunInfo } from './workspace';

/**
 * Records what the LoRA status bar item and the panel's status line say while a run goes on (each
 * change once): the one narrator's phase, n/N and ETA, from training steps to the end-of-run
 * evaluation.
 */
function watchStatus(page: Page, everyMs = 250): { stop: () => Promise<{ statusBar: string[]; panel: string[] }> } {
  const seen = { statusBar: [] as string[], panel: [] as string[] };
  const note = (list: string[], t: string) => {
    const text = t.replace(/\s+/g, ' ').trim();
    if (text && list.at(-1) !== text) list.push(text);
  };
  let on = true;
  const loop = (async () => {
    while (on && !page.isClosed()) {
      note(seen.statusBar, await page.locator('.statusbar-item').filter({ hasText: /LoRA (Starting|Checking|Loading|Pre-flight|Training|Saving|Merging|Evaluating|Generating)|LoRA: starting/ }).first().innerText({ timeout: 200 }).catch(() => ''));
      note(seen.panel, await webviewContent(page).locator('.status-text').first().innerText({ timeout: 200 }).catch(() => ''));
      await sleep(everyMs, undefined, { ref: false }); // a failed step never stops it: it must not hold the process
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return seen;
    },
  };
}

/** LORA_LAB_E2E_ONLY=d,e runs only those tests (while working on them; CI runs all). */
const ONLY = process.env.LORA_LAB_E2E_ONLY?.split(',').map((x) => x.trim());
const only = (id: string): { skip?: string } => (ONLY && !ONLY.includes(id) ? { skip: `LORA_LAB_E2E_ONLY=${ONLY.join(',')}` } : {});

const CODE_SERVER = process.env.LORA_LAB_CODE_SERVER;
const VSIX = process.env.LORA_LAB_VSIX;

// --- The test ----------------------------------------------------------------------------------------
describe('LoRA Lab in VS Code (code-server + Chromium)', { timeout: 30 * 60_000 }, () => {
  let server: CodeServer;
  let context: BrowserContext | undefined;
  let page: Page;
  let firstRun: RunInfo | undefined;
  let extensionDir = '';

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
    seedWheelCache(server);
    progress(useSample ? `model: the bundled sample model; dataset: ${DATASET}` : `model: ${FIXTURE_MODEL} (samples/model is not there yet) via loraLab.modelPath; dataset: ${DATASET} (pre-tokenized)`);

    progress(`installing ${path.relative(ROOT, VSIX)} into the profile`);
    const installed = await server.installExtension(VSIX);
    extensionDir = installed;
    progress(`installed: ${path.basename(installed)}`);
    assert.ok(fs.existsSync(path.join(installed, 'dist', 'extension.js')), 'the .vsix has dist/extension.js');
    assert.equal(fs.existsSync(path.join(installed, 'samples', 'model', 'config.json')), useSample, 'the .vsix carries samples/model exactly when the checkout has it');
    assert.ok(fs.existsSync(path.join(installed, 'node_modules', '@tensorflow', 'tfjs-node', 'lib', 'napi-v8', 'tfjs_binding.node')), 'the .vsix carries the prebuilt tfjs-node binding');
    assert.equal(linkedLibraries(installed), undefined, 'a fresh install has no native libraries linked');

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

  /** The dataset's editor tab (opened from the explorer if needed) → `command` from the palette → the model. */
  async function onDatasetPickModel(command: string): Promise<void> {
      await closeQuickInput(page);
      const tab = page.locator('.tabs-container .tab').filter({ hasText: DATASET }).first();
      if (!(await tab.isVisible())) {
        await showExplorer(page);
        await explorerRow(page, DATASET).click();
      }
      await tab.click();
      // The editor box, not .view-lines: Monaco moves .view-lines up by the scroll offset, so a point near its
      // top is off screen once an earlier test left the file scrolled down ((g) opens a row near its end).
      await page.locator('.editor-group-container.active .monaco-editor').first().click({ position: { x: 80, y: 30 } });
      await runFromPalette(page, command, 60_000);
      await waitForQuickPick(page, 'LoRA Lab: base model', 60_000);
      progress(`picked: ${await pickRow(page, /recently used|Bundled sample model|From settings/)}`);
  }

  /** The dataset's editor tab → "Start Training with Defaults" → the model. */
  const startWithDefaultsOnDataset = () => onDatasetPickModel('LoRA Lab: Start Training with Defaults');

  /** Workspace settings for short runs: 20 steps, a checkpoint at 10, an evaluation every 5 ((d) asks for 120 steps). */
  async function shortRunSettings(): Promise<void> {
    const wsSettings = path.join(server.workspace, '.vscode', 'settings.json');
    fs.mkdirSync(path.dirname(wsSettings), { recursive: true });
    fs.writeFileSync(wsSettings, JSON.stringify({ 'loraLab.training.maxSteps': 20, 'loraLab.training.checkpointEvery': 10, 'loraLab.training.evalEvery': 5 }, null, 2));
    await sleep(3_000); // the settings file watcher
  }

  /**
   * A short run started as a user would (Start Training with Defaults on the dataset), awaited to
   * completion. (d)'s workspace settings ask for 120 steps: they are set back to 20 first.
   */
  async function shortRunWithDefaults(): Promise<RunInfo> {
    if (fs.existsSync(path.join(server.workspace, '.vscode', 'settings.json'))) await shortRunSettings();
    const before = runs(server.workspace).map((r) => r.id);
    await step(`${DATASET} in the editor → "LoRA Lab: Start Training with Defaults" → model`, async () => {
      await startWithDefaultsOnDataset();
    });
    return step('the run completes', async () => {
      const r = await waitFor('a new run folder under .lora-lab/runs', () => runs(server.workspace).find((x) => !before.includes(x.id)), 120_000);
      return waitForCompletion(server.workspace, r.id);
    });
  }

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

  it('(a) Command Palette → Start Training… → model → Start with defaults → the run completes → results panel', { ...only('a'), timeout: 12 * 60_000 }, async () => {
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

    const status = watchStatus(page);
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

    await step('the status bar and the panel told the phases: training step n/20 with its ETA, then the end-of-run evaluation', async () => {
      const seen = await status.stop();
      progress(`status bar: ${seen.statusBar.slice(-6).join(' | ')}`);
      progress(`panel: ${seen.panel.slice(-6).join(' | ')}`);
      assert.ok(seen.statusBar.some((t) => /LoRA Training · step \d+\/20 · loss [\d.]+ · \d+ tok\/s · ETA \S+/.test(t)), 'the status bar showed a training step n/20 with its ETA');
      const evaluating = /(Merging the adapter into the base|Evaluating base, adapter, merged · batch \d+\/\d+|Generating · prompt \d+\/\d+)/;
      // The sample model's end-of-run evaluation (3 prompts × 32 tokens, two models) takes seconds: it must be seen. The
      // tiny fixture model's takes a fraction of one, which a 250-ms look may miss.
      if (useSample) {
        assert.ok(seen.statusBar.some((t) => evaluating.test(t)), 'the status bar showed the end-of-run evaluation, not "20/20 · ETA 0s"');
        assert.ok(seen.panel.some((t) => evaluating.test(t)), 'the panel showed the end-of-run evaluation');
      } else progress(`end-of-run evaluation seen: status bar ${seen.statusBar.some((t) => evaluating.test(t))}, panel ${seen.panel.some((t) => evaluating.test(t))}`);
    });

    await step('the run trained on wasm, and the one-time hint offers the native backend', async () => {
      const info = describeRun(firstRun!);
      progress(`first run: ${info.text}`);
      assert.equal(info.backend, 'wasm', 'nothing native is set up in this profile yet: the run trains on wasm');
      const hint = await findNotification(page, NATIVE_HINT, 'native-hint');
      assert.ok(hint, 'the one-time hint offers "Set Up Native Backend…"');
      assert.match(hint, /Set Up Native Backend…/, 'the hint has the button');
      progress(`hint: ${hint}`);
    });

    await step('the results panel shows the loss curve and lists the run', async () => {
      await checkResultsPanel(page, firstRun!);
    });
  });

  it('(b) Explorer → right-click the dataset → Fine-tune with LoRA → a second run starts', { ...only('b'), timeout: 8 * 60_000 }, async () => {
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

  it('(c) Set Up Native Backend… → CPU → Start Training with Defaults → the run trains on native TensorFlow', { ...only('c'), timeout: 15 * 60_000 }, async () => {
    await step('clear the notifications (the next ones must show as toasts)', async () => {
      await runFromPalette(page, 'Notifications: Clear All Notifications', 60_000);
      await waitFor('no notification toasts', async () => (await notifications(page)).length === 0, 10_000);
    });

    await step('Command Palette → "LoRA Lab: Set Up Native Backend…" → CPU', async () => {
      await runFromPalette(page, 'LoRA Lab: Set Up Native Backend…', 60_000, () => screenshot(page, 'palette-setup-native'));
      await waitForQuickPick(page, 'LoRA Lab: set up native TensorFlow', 60_000);
      await screenshot(page, 'native-variant-pick');
      progress(`picked: ${await pickRow(page, 'CPU')}`);
    });

    const t0 = Date.now();
    await step('the set-up succeeds', async () => {
      let shot = false;
      const done = await waitFor('the "native TensorFlow … is set up" notification', async () => {
        const notes = await notifications(page);
        const failed = notes.find((t) => /setting up native TensorFlow failed|set-up cancelled/.test(t));
        if (failed) throw new Error(`the set-up failed: ${failed}`);
        if (!shot && notes.some((t) => /LoRA Lab: native TensorFlow \(CPU\)/.test(t))) {
          shot = true;
          progress(`progress: ${notes.find((t) => /native TensorFlow \(CPU\)/.test(t))}`);
          await screenshot(page, 'native-setup-progress');
        }
        return notes.find((t) => NATIVE_SET_UP.test(t));
      }, 10 * 60_000, 1_000);
      progress(`set up in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${done}`);
      await screenshot(page, 'native-set-up');
      const install = nativeInstallRecord(server);
      assert.ok(install, 'the install record is in the extension\'s global storage');
      assert.equal(install.record.variant, 'cpu');
      progress(`install: ${install.record.wheel.filename} → ${install.root}`);
      const linked = linkedLibraries(extensionDir);
      assert.equal(linked, fs.realpathSync(path.join(install.root, 'site', 'tensorflow')), 'the installed extension\'s tfjs-node/deps/lib points at the install');
    });

    const before = runs(server.workspace).map((r) => r.id);
    await step('dataset in the editor → Command Palette → "LoRA Lab: Start Training with Defaults" → model', async () => {
      await closeQuickInput(page);
      // The dataset's tab from test (a) (opening it from the explorer again would put a second
      // copy into the panel's editor group, if that group is the active one).
      const tab = page.locator('.tabs-container .tab').filter({ hasText: DATASET }).first();
      if (!(await tab.isVisible())) {
        await showExplorer(page);
        await explorerRow(page, DATASET).click();
      }
      await tab.click();
      await waitFor(`${DATASET} as the active editor tab`, () => page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: DATASET }).first().isVisible(), 30_000);
      // Focus the editor with a click below its top edge: when the editor is scrolled, Monaco's
      // scroll shadow (.scroll-decoration) covers the first few pixels and takes the click.
      await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click({ position: { x: 40, y: 30 } });
      await screenshot(page, 'dataset-active');
      await runFromPalette(page, 'LoRA Lab: Start Training with Defaults', 60_000);
      await waitForQuickPick(page, 'LoRA Lab: base model', 60_000);
      progress(`picked: ${await pickRow(page, /recently used|Bundled sample model|From settings/)}`);
    });

    await step('the run completes on native TensorFlow', async () => {
      const run = await waitFor('a new run folder under .lora-lab/runs', () => runs(server.workspace).find((r) => !before.includes(r.id)), 120_000);
      progress(`native run folder: ${path.relative(server.workspace, run.dir)} (${run.status})`);
      await screenshot(page, 'native-training');
      const done = await waitForCompletion(server.workspace, run.id);
      assert.equal(metricsCount(done).steps, 20, 'loraLab.training.maxSteps = 20 steps');
      const info = describeRun(done);
      progress(`native run: ${info.text}`);
      if (firstRun) progress(`first run (wasm): ${describeRun(firstRun).text}`);
      assert.equal(info.backend, 'tensorflow', 'run.json records the native backend');
      assert.equal(info.fusedOps?.loaded, true, `the worker ran LoRA Lab's fused kernels (the VSIX carries lora_lab_ops.node next to the binding): ${info.fusedOps?.reason ?? 'no fusedOps in run.json'}`);
      await waitFor('the "run completed" notification', async () => (await notifications(page)).find((t) => /LoRA Lab: run completed/.test(t)), 60_000);
      await sleep(500); // the toast slides in
      await screenshot(page, 'native-run-completed');
    });

    await step('as after an extension update (no deps/ in the extension) → Reload Window → re-linked on activation', async () => {
      fs.rmSync(path.join(extensionDir, 'node_modules', '@tensorflow', 'tfjs-node', 'deps'), { recursive: true, force: true });
      assert.equal(linkedLibraries(extensionDir), undefined);
      await runFromPalette(page, 'Developer: Reload Window', 60_000);
      await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 120_000 });
      // Any LoRA Lab command activates the extension (the restored panel may already have).
      await runFromPalette(page, 'LoRA Lab: Show Log', 120_000);
      const linked = await waitFor('tfjs-node/deps/lib linked again', () => linkedLibraries(extensionDir), 30_000);
      progress(`re-linked on activation: deps/lib → ${linked}`);
      const line = await waitFor('the re-link line in the LoRA Lab output channel', async () => {
        // The window may still be restoring its layout when Show Log runs, and close the panel again: ask once more.
        if (!(await page.locator('.part.panel').first().isVisible().catch(() => false))) await runFromPalette(page, 'LoRA Lab: Show Log', 20_000).catch(() => undefined);
        // Monaco renders spaces as U+00A0 and wraps long lines: compare the text with spaces collapsed.
        const text = ((await page.locator('.part.panel .monaco-editor .view-lines').first().innerText().catch(() => '')) ?? '').replace(/\s+/g, ' ');
        return /\S+ \[info\] native TensorFlow: re-linked cpu in \S+/.exec(text)?.[0];
      }, 60_000);
      progress(`output channel: ${line}`);
      await screenshot(page, 'relinked-log');
    });
  });

  it('(d) Reload Window mid-run → the run is interrupted → the Resume notification → it completes from its last checkpoint', { ...only('d'), timeout: 10 * 60_000 }, async () => {
    // A longer run than (a)-(c), checkpointed often, so that the reload lands mid-training: workspace
    // settings (.vscode/settings.json) over the user settings, as a user would set them for a project.
    const wsSettings = path.join(server.workspace, '.vscode', 'settings.json');
    fs.mkdirSync(path.dirname(wsSettings), { recursive: true });
    fs.writeFileSync(wsSettings, JSON.stringify({ 'loraLab.training.maxSteps': 120, 'loraLab.training.checkpointEvery': 10, 'loraLab.training.evalEvery': 60 }, null, 2));
    await sleep(3_000); // the settings file watcher

    const before = runs(server.workspace).map((r) => r.id);
    await step('dataset in the editor → "LoRA Lab: Start Training with Defaults" (120 steps, a checkpoint every 10)', async () => {
      await startWithDefaultsOnDataset();
    });

    const run = await step('the run trains and saves checkpoints/last', async () => {
      const r = await waitFor('a new run folder under .lora-lab/runs', () => runs(server.workspace).find((x) => !before.includes(x.id)), 120_000);
      const config = await waitFor('run.json with its config', () => {
        try {
          return (JSON.parse(fs.readFileSync(path.join(r.dir, 'run.json'), 'utf8')) as { config?: { training?: { maxSteps?: number } } }).config;
        } catch {
          return undefined;
        }
      }, 60_000);
      assert.equal(config.training?.maxSteps, 120, 'the run took maxSteps = 120 from .vscode/settings.json');
      await waitFor(`${r.id}/checkpoints/last`, () => fs.existsSync(path.join(r.dir, 'checkpoints', 'last')), 180_000, 250);
      return r;
    });
    const stepsBefore = metricsCount(run).steps;

    await step('Developer: Reload Window while the run trains', async () => {
      const status = runs(server.workspace).find((x) => x.id === run.id)?.status;
      assert.equal(status, 'running', `the run is still training when the window reloads (it is ${status}; ${stepsBefore} steps logged)`);
      progress(`reloading at step ${stepsBefore} of 120`);
      await screenshot(page, 'reload-mid-run');
      await runFromPalette(page, 'Developer: Reload Window', 60_000);
      await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 120_000 });
    });

    await step('the run is marked interrupted (not cancelled), its checkpoint and metrics kept', async () => {
      const r = await waitFor(`run ${run.id} to stop`, () => runs(server.workspace).find((x) => x.id === run.id && x.status !== 'running'), 60_000);
      assert.equal(r.status, 'interrupted', `a run whose window went away is interrupted (got ${r.status})`);
      assert.ok(fs.existsSync(path.join(r.dir, 'checkpoints', 'last')), 'checkpoints/last is kept');
      progress(`interrupted after ${metricsCount(r).steps} logged steps`);
    });

    await step('after the reload: the "was interrupted" notification offers Resume → click it', async () => {
      // The notification comes on activation; a LoRA Lab command activates the extension if the
      // restored panel has not already.
      // A toast hides after a while; the notification stays in the notification center.
      let probes = 0;
      const note = await waitFor('the "was interrupted" notification', async () => {
        const found = (await notifications(page)).find((t) => new RegExp(`run ${run.id} was interrupted`).test(t));
        if (!found && ++probes % 3 === 0) await runFromPalette(page, 'Notifications: Show Notifications', 30_000).catch(() => {});
        return found;
      }, 120_000, 2_000);
      progress(`notification: ${note}`);
      assert.match(note, /resume from its last checkpoint/);
      const toast = page.locator('.notifications-toasts .notification-toast, .notifications-center .notification-list-item').filter({ hasText: `run ${run.id} was interrupted` }).first();
      await screenshot(page, 'interrupted-notification');
      await toast.locator('.monaco-button', { hasText: /^Resume$/ }).click();
    });

    await step('the resumed run completes all 120 steps in the same folder', async () => {
      await waitFor(`run ${run.id} running again`, () => runs(server.workspace).find((x) => x.id === run.id && x.status === 'running'), 60_000, 250).catch(() => undefined);
      const done = await waitForCompletion(server.workspace, run.id);
      const rows = fs.readFileSync(path.join(done.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step?: number });
      const steps = rows.filter((r) => r.type === 'step').map((r) => r.step as number);
      assert.equal(steps.at(-1), 120, 'the last logged step is 120');
      for (let s = 1; s <= 120; s++) assert.ok(steps.includes(s), `step ${s} is logged`);
      assert.equal(new Set(steps).size, steps.length, 'no step logged twice (rows past the checkpoint are dropped on resume)');
      assert.equal(runs(server.workspace).filter((x) => !before.includes(x.id)).length, 1, 'resuming made no new run folder');
      await waitFor('the "run completed" notification', async () => (await notifications(page)).find((t) => /LoRA Lab: run completed/.test(t)), 60_000);
      await sleep(500);
      await screenshot(page, 'resumed-run-completed');
    });
  });
  it('(e) a dataset with planted problems: Problems panel, CodeLens, hover, quick fix', { ...only('e'), timeout: 8 * 60_000 }, async () => {
    const problems = async () => ((await page.locator('.markers-panel').first().innerText({ timeout: 2_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ');
    const editorFor = () => page.locator('.editor-group-container.active .monaco-editor').first();
    await step(`open ${PLANTED} from the explorer`, async () => {
      await closeQuickInput(page);
      await showExplorer(page);
      await explorerRow(page, PLANTED).click();
      await waitFor(`${PLANTED} as the active editor tab`, () => page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: PLANTED }).first().isVisible(), 30_000);
    });

    await step('the Problems panel lists the bad JSON (error, line 2), the duplicate (line 3) and the over-length row (line 4)', async () => {
      await runFromPalette(page, 'View: Focus Problems (Problems)', 5_000).catch(() => runFromPalette(page, 'View: Toggle Problems', 30_000));
      const text = await waitFor('LoRA Lab diagnostics in the Problems panel', async () => {
        const t = await problems();
        return /exact duplicate of line 1/.test(t) && /bad JSON/.test(t) ? t : undefined;
      }, 120_000, 1_000);
      progress(`problems: ${text.slice(0, 400)}`);
      assert.match(text, /bad JSON[^]*\[Ln 2, Col 1\]/, 'the bad JSON row is on line 2');
      assert.match(text, /exact duplicate of line 1[^]*\[Ln 3, Col 1\]/, 'the duplicate is on line 3');
      if (useSample) assert.match(text, /over max_seq_len = 64[^]*\[Ln 4, Col 1\]/, 'the over-length row is on line 4 (loraLab.training.maxSeqLen = 64)');
      await screenshot(page, 'lint-problems');
    });

    await step('the CodeLens at the top sums the file up and offers "Fine-tune with LoRA"', async () => {
      const lens = await waitFor('the LoRA Lab CodeLens', async () => {
        const t = ((await editorFor().locator('.contentWidgets .codelens-decoration, .codelens-decoration').first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ');
        return /rows/.test(t) ? t : undefined;
      }, 60_000);
      progress(`CodeLens: ${lens}`);
      assert.match(lens, /5 rows \(prompt-completion\)/);
      assert.match(lens, /Fine-tune with LoRA/);
    });

    if (useSample) {
      await step('hover on line 4: the tokens the model sees, the loss tokens and those cut by max_seq_len', async () => {
        await editorFor().locator('.view-lines').first().click({ position: { x: 40, y: 30 } });
        await page.keyboard.press('Control+G');
        await page.locator(QUICK_INPUT_BOX).fill(':4');
        await page.keyboard.press('Enter');
        await runFromPalette(page, 'Show or Focus Hover', 30_000);
        // The hover holds the diagnostic of the line too; the row's part names max_seq_len in brackets.
        const hover = await waitFor('the LoRA Lab hover', async () => {
          const t = ((await page.locator('.monaco-hover').filter({ hasText: 'LoRA Lab' }).first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ');
          return /\(max_seq_len 64\)/.test(t) ? t : undefined;
        }, 60_000, 1_000);
        progress(`hover: ${hover.slice(0, 300)}`);
        assert.match(hover, /prompt-completion · \d+ tokens \(max_seq_len 64\) · \d+ carry loss · \d+ cut by truncation/);
        await screenshot(page, 'lint-hover');
        await page.keyboard.press('Escape');
      });
    }

    await step('Quick Fix on line 3 → "Remove the duplicate row" → save → the duplicate warning is gone', async () => {
      await editorFor().locator('.view-lines').first().click({ position: { x: 40, y: 30 } });
      await page.keyboard.press('Control+G');
      await page.locator(QUICK_INPUT_BOX).fill(':3');
      await page.keyboard.press('Enter');
      await runFromPalette(page, 'Quick Fix...', 30_000);
      const fix = page.locator('.action-widget .monaco-list-row, .context-view .action-widget li').filter({ hasText: 'Remove the duplicate row (line 3)' }).first();
      await fix.waitFor({ state: 'visible', timeout: 30_000 });
      await screenshot(page, 'lint-quick-fix');
      // The action list has keyboard focus on its first (preferred) action: Enter applies it.
      await page.keyboard.press('Enter');
      await page.keyboard.press('Control+S');
      await waitFor('the duplicate warning gone after the save', async () => {
        const t = await problems();
        return /bad JSON/.test(t) && !/exact duplicate/.test(t) ? t : undefined;
      }, 60_000, 1_000);
      const lines = fs.readFileSync(path.join(server.workspace, PLANTED), 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 4, 'the file lost one row');
      assert.equal(lines.filter((l) => l.includes('"Define: Cat"')).length, 1, 'one "Define: Cat" row is left');
      await screenshot(page, 'lint-fixed');
    });
  });

  it('(f) the planted dataset in the Configure section: the lint summary, Start disabled, one planted.jsonl:2 link that opens the line', { ...(useSample ? only('f') : { skip: `${PLANTED} is written only with the sample model` }), timeout: 6 * 60_000 }, async () => {
    await step(`${PLANTED} in the editor → "LoRA Lab: Start Training…" → model → "Configure…"`, async () => {
      await closeQuickInput(page);
      await showExplorer(page);
      await explorerRow(page, PLANTED).click();
      await waitFor(`${PLANTED} as the active editor tab`, () => page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: PLANTED }).first().isVisible(), 30_000);
      await runFromPalette(page, 'LoRA Lab: Start Training…', 60_000);
      await waitForQuickPick(page, 'LoRA Lab: base model', 60_000);
      progress(`picked: ${await pickRow(page, /recently used|Bundled sample model/)}`);
      await waitForQuickPick(page, `LoRA Lab: ${PLANTED} on`, 60_000);
      progress(`picked: ${await pickRow(page, 'Configure…')}`);
    });

    await step('the Configure section: "1 error", Start disabled, the planted.jsonl:2 link; screenshot', async () => {
      // The bad JSON row on line 2 is the one error (the quick fix of (e) removed the duplicate; warnings may remain).
      const lint = await waitFor('the dataset lint in the Configure section', async () => {
        const l = await configureLint(page);
        return /\b1 error\b/.test(l.counts) && l.links.length > 0 ? l : undefined;
      }, 120_000, 1_000);
      progress(`Configure lint: ${lint.text.slice(0, 400)} | Start disabled: ${lint.startDisabled} (${lint.startTitle})`);
      assert.deepEqual(lint.links, [`${PLANTED}:2`], 'one link, the bad JSON row on line 2, relative to the workspace');
      assert.equal(lint.text.split(`${PLANTED}:2`).length - 1, 1, 'the path and line appear once (the message beside the link does not repeat them)');
      assert.match(lint.text, /bad JSON/);
      assert.doesNotMatch(lint.text, /at line \d+/);
      assert.match(lint.text, /Show in Problems panel/);
      assert.ok(lint.startDisabled, 'Start training is disabled while the dataset has an error');
      assert.match(lint.startTitle, /1 error that training would refuse/);
      await screenshot(page, 'configure-lint');
    });

    await step(`the ${PLANTED}:2 link opens the file at line 2`, async () => {
      await clickLintLink(page, `${PLANTED}:2`);
      await waitFor(`${PLANTED} active with the cursor on line 2`, async () => {
        const active = await page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: PLANTED }).first().isVisible().catch(() => false);
        const cursor = ((await page.locator('.statusbar-item').filter({ hasText: /Ln \d+, Col \d+/ }).first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').trim();
        return active && /Ln 2, Col 1\b/.test(cursor) ? cursor : undefined;
      }, 30_000);
      await screenshot(page, 'configure-lint-opened');
    });
  });

  it('(g) a short run → Show Results → Loss curves → click a point of the training curve → its examples → the first link opens the dataset at its line', { ...only('g'), timeout: 10 * 60_000 }, async () => {
    // Its own short run (it also runs alone, LORA_LAB_E2E_ONLY=g).
    const done = await shortRunWithDefaults();
    await step('the run has per-example provenance in its metrics', async () => {
      const rows = fs.readFileSync(path.join(done.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; examples?: number[] });
      assert.ok(rows.some((x) => x.type === 'step' && (x.examples?.length ?? 0) > 0), 'step rows carry "examples"');
      progress(`run ${done.id}: ${metricsCount(done).steps} steps`);
    });

    const clicked = await step('"LoRA Lab: Show Results" → Loss curves → click a point of the training curve', async () => {
      await closeQuickInput(page);
      await runFromPalette(page, 'LoRA Lab: Show Results', 60_000);
      await waitFor('the LoRA Lab results panel tab', () => page.locator('.tabs-container .tab').filter({ hasText: 'LoRA Lab' }).first().isVisible(), 30_000);
      await waitFor('the results panel content', async () => (await panelText(page)).length > 0, 60_000);
      const s = await clickTrainingStep(page);
      progress(`clicked step ${s}`);
      return s;
    });

    const link = await step("the step's examples are listed, highest loss first, each a file:line link", async () => {
      const list = await stepExamplesList(page);
      progress(`${list.heading}: ${list.links.join(', ')}`);
      assert.match(list.heading, /^Step [\d,]+ of /);
      assert.ok(list.links.length > 0, 'the step lists its examples');
      for (const l of list.links) assert.match(l, new RegExp(`^${DATASET.replace('.', '\\.')}:\\d+$`), 'each link names the dataset and a line');
      progress(`the list is of step ${list.step} (clicked ${clicked})`);
      await screenshot(page, 'step-examples');
      return list.links[0];
    });

    await step(`the first link (${link}) opens ${DATASET} at that line`, async () => {
      const line = Number(link.split(':').pop());
      await clickStepExample(page, 0);
      const cursor = await waitFor(`${DATASET} active with the cursor on line ${line}`, async () => {
        const active = await page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: DATASET }).first().isVisible().catch(() => false);
        const text = ((await page.locator('.statusbar-item').filter({ hasText: /Ln \d+, Col \d+/ }).first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').trim();
        return active && new RegExp(`Ln ${line}, Col 1\\b`).test(text) ? text : undefined;
      }, 30_000);
      progress(`editor: ${DATASET}, ${cursor}`);
      await screenshot(page, 'step-examples-opened');
    });
  });
  it('(h) a case file in the Test Explorer → Run All Tests → pass/fail per case and model → the matrix in the results panel', { ...only('h'), ...(hasSampleCases ? {} : { skip: 'no samples/datasets/devil/devil.evals.jsonl (or no sample model)' }), timeout: 12 * 60_000 }, async () => {
    const trained = () => runs(server.workspace).filter((r) => r.status === 'completed' && fs.existsSync(path.join(r.dir, 'adapter', 'adapter_config.json')));
    if (trained().length === 0) {
      progress('no trained run yet: a short one first');
      await shortRunWithDefaults();
      await sleep(1_500); // the runs watcher refreshes the Test Explorer's profiles
    }

    await step(`Testing view → ${CASES} and its cases`, async () => {
      await closeQuickInput(page);
      await showTestExplorer(page);
      await waitFor(`${CASES} in the Test Explorer`, async () => (await testRows(page)).find((r) => r.label.includes(CASES)), 60_000);
      await expandTestRow(page, new RegExp(CASES.replace(/\./g, '\\.')));
      const rows = await waitFor('the cases under the file', async () => {
        const r = await testRows(page);
        return r.length > 3 ? r : undefined;
      }, 30_000);
      progress(`Test Explorer: ${rows.map((r) => r.label).join(' | ')}`);
      assert.ok(rows.some((r) => r.label.includes('starts-like-a-definition')), 'the case "starts-like-a-definition" is listed under its file');
      await screenshot(page, 'test-explorer-cases');
    });

    const since = Date.now();
    const { report, runDir } = await step('"Test: Run All Tests" → the worker runs every case on base, adapter and merged → the report in the run', async () => {
      await runFromPalette(page, 'Test: Run All Tests', 60_000);
      const found = await waitFor('a run folder whose evals/ gets the report', async () => {
        for (const r of trained().reverse()) {
          if (fs.existsSync(path.join(r.dir, 'evals', 'devil.json')) && fs.statSync(path.join(r.dir, 'evals', 'devil.json')).mtimeMs >= since) return r.dir;
        }
        return undefined;
      }, 6 * 60_000, 1_000);
      const got = await waitForCaseReport(found, CASES, since, 10_000);
      return { report: got.report, runDir: found };
    });
    const labels = report.models.map((m) => m.label);
    assert.deepEqual(labels.slice(0, 3), ['base', 'adapter', 'merged'], 'the default profile runs base, adapter and merged');
    assert.equal(report.outcomes.length, report.cases.length * report.models.length, 'one outcome per case × model');
    progress(`report of ${path.basename(runDir)}: ${report.cases.length} cases × ${labels.join(', ')}; ${report.outcomes.filter((o) => o.status === 'pass').length} passed, ${report.outcomes.filter((o) => o.status === 'fail').length} failed, ${report.outcomes.filter((o) => o.status === 'error').length} errors, ${report.outcomes.filter((o) => o.status === 'skip').length} skipped`);

    await step('each case shows the state its outcomes give (errored > failed > passed > skipped)', async () => {
      const expected = (name: string) => {
        const st = report.outcomes.filter((o) => o.case === name).map((o) => o.status);
        return st.includes('error') ? 'errored' : st.includes('fail') ? 'failed' : st.includes('pass') ? 'passed' : 'skipped';
      };
      const rows = await waitFor('every case row with its result icon', async () => {
        const r = (await testRows(page)).filter((x) => report.cases.some((c) => x.label.startsWith(c.name)));
        return r.length === report.cases.length && r.every((x) => ['passed', 'failed', 'errored', 'skipped'].includes(x.state)) ? r : undefined;
      }, 60_000);
      for (const c of report.cases) {
        const row = rows.find((r) => r.label.startsWith(c.name))!;
        progress(`  ${c.name}: ${row.state}`);
        assert.equal(row.state, expected(c.name), `${c.name}: the Test Explorer shows ${row.state}, the report says ${expected(c.name)}`);
      }
      const first = report.cases[0].name;
      await expandTestRow(page, new RegExp(`^${first}`));
      const children = await waitFor(`the models under ${first}`, async () => {
        const r = await testRows(page);
        const kids = r.filter((x) => labels.some((l) => x.label.startsWith(l)) && x.state !== '');
        return kids.length >= labels.length ? kids : undefined;
      }, 30_000);
      progress(`  ${first}: ${children.map((k) => `${k.label} ${k.state}`).join(', ')}`);
      await screenshot(page, 'test-explorer-results');
    });

    await step('"LoRA Lab: Show Results" → Evaluation → the cases × models matrix, a cell expanded', async () => {
      await runFromPalette(page, 'LoRA Lab: Show Results', 60_000);
      await waitFor('the results panel content', async () => (await panelText(page)).length > 0, 60_000);
      const m = await casesMatrix(page, CASES);
      progress(`matrix: ${m.head}; ${m.cells.length} cells`);
      assert.equal(m.cells.length, report.outcomes.length, 'a cell per case × model');
      const o = report.outcomes.find((x) => x.model === 'adapter' && x.output)!;
      const word = { pass: 'passed', fail: 'failed', skip: 'skipped', error: 'error' }[o.status];
      assert.ok(m.cells.some((c) => c.startsWith(o.case) && /on adapter/.test(c) && c.includes(word)), `the cell of ${o.case} on adapter says ${word}`);
      await screenshot(page, 'cases-matrix');
      const detail = await expandCaseCell(page, new RegExp(`^${o.case}.*on adapter`));
      progress(`detail: ${detail.slice(0, 240)}`);
      assert.ok(detail.includes(o.output!.text.trim().slice(0, 20)), 'the expanded cell shows the generated output');
      await screenshot(page, 'cases-matrix-detail');
    });
      await step('a case file with a typo: the Problems panel names the line and the key; completion offers the expect kinds', async () => {
      const file = 'typo.evals.jsonl';
      fs.writeFileSync(path.join(server.workspace, file), ['{"name": "fine", "prompt": "Define: Cat\\n", "expect": {"contains": "cat"}}', '{"name": "typo", "prompt": "Define: Dog\\n", "expected": {"contains": "dog"}}', '{"name": "new", "prompt": "Define: Owl\\n", "expect": {}}', ''].join('\n'));
      await closeQuickInput(page);
      await showExplorer(page);
      await waitFor(`${file} in the explorer`, () => explorerRow(page, file).isVisible(), 30_000);
      await explorerRow(page, file).click();
      await waitFor(`${file} as the active editor tab`, () => page.locator('.editor-group-container.active .tabs-container .tab.active').filter({ hasText: file }).first().isVisible(), 30_000);
      await runFromPalette(page, 'View: Focus Problems (Problems)', 5_000).catch(() => runFromPalette(page, 'View: Toggle Problems', 30_000));
      const problems = await waitFor('the case file problem in the Problems panel', async () => {
        const t = ((await page.locator('.markers-panel').first().innerText({ timeout: 2_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ');
        return /expected/.test(t) && /Ln 2/.test(t) ? t : undefined;
      }, 60_000, 1_000);
      progress(`problems: ${problems.slice(0, 300)}`);
      assert.match(problems, /did you mean "expect"/, 'the problem suggests the key "expect"');
      assert.doesNotMatch(problems, /missing field "completion"/, 'the case file is not linted as a dataset');
      await screenshot(page, 'cases-problems');
      // The cursor inside line 3's empty expect {} → Ctrl+Space.
      await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
      await page.keyboard.press('Control+End');
      await page.keyboard.press('ArrowUp');
      await page.keyboard.press('End');
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('Control+Space');
      const offered = await waitFor('the completion list inside "expect"', async () => {
        const t = ((await page.locator('.suggest-widget .monaco-list').first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ');
        return /contains/.test(t) && /maxLoss/.test(t) ? t : undefined;
      }, 30_000);
      progress(`completion: ${offered.slice(0, 200)}`);
      await screenshot(page, 'cases-completion');
      await page.keyboard.press('Escape');
    });
  });

  it('(i) Configure → DoRA + LoRA+ → a run; then PiSSA (pissa_niter_4) without the base dropout → a run whose adapter is PEFT\'s converted form', { ...only('i'), timeout: 12 * 60_000 }, async () => {
    await shortRunSettings();

    /** DATASET in the editor → Start Training… → the model → Configure… → the form. */
    const openForm = async () => {
      await onDatasetPickModel('LoRA Lab: Start Training…');
      await waitForQuickPick(page, `LoRA Lab: ${DATASET} on`, 60_000);
      progress(`picked: ${await pickRow(page, 'Configure…')}`);
      await openConfigureForm(page);
    };
    /** Start training, then the new run to its end. */
    const startAndWait = async (): Promise<RunInfo> => {
      const before = runs(server.workspace).map((r) => r.id);
      await clickStartTraining(page);
      const r = await waitFor('a new run folder under .lora-lab/runs', () => runs(server.workspace).find((x) => !before.includes(x.id)), 120_000);
      return waitForCompletion(server.workspace, r.id);
    };
    const trainable = (t: string) => Number((/([\d,]+) trainable/.exec(t) ?? ['', 'NaN'])[1].replace(/,/g, ''));

    await step(`${DATASET} → Start Training… → model → Configure…: tick DoRA (the preview adds each module's out), LoRA+ ratio 16; screenshot`, async () => {
      await openForm();
      assert.equal(await setFormCheckbox(page, 'useDora', false), false);
      const plain = await waitFor('the parameter preview', async () => { const t = await formParamsText(page); return /trainable/.test(t) ? t : undefined; }, 30_000);
      assert.match(await formFieldHelp(page, 'useDora'), /magnitude/);
      assert.equal(await setFormCheckbox(page, 'useDora', true), true);
      const dora = await waitFor('the preview with DoRA magnitudes', async () => { const t = await formParamsText(page); return /DoRA out/.test(t) ? t : undefined; }, 10_000);
      // Each row "kind × count in × out …": DoRA adds out per adapted module (PEFT's lora_magnitude_vector).
      const outs = [...dora.matchAll(/× (\d+) ([\d,]+) × ([\d,]+)/g)].reduce((s, m) => s + Number(m[1]) * Number(m[3].replace(/,/g, '')), 0);
      progress(`preview: ${plain.slice(0, 120)} → ${dora.slice(0, 160)} (outs ${outs})`);
      assert.ok(outs > 0, 'the preview lists the adapted module kinds');
      assert.equal(trainable(dora) - trainable(plain), outs, 'DoRA adds one magnitude per output of each adapted module');
      await typeFormText(page, 'loraplusLrRatio', '16');
      await screenshot(page, 'configure-dora');
    });
    const doraRun = await step('Start training → the DoRA run completes; its adapter_config.json says use_dora, the weights hold the magnitudes', async () => {
      const run = await startAndWait();
      const cfg = (JSON.parse(fs.readFileSync(path.join(run.dir, 'run.json'), 'utf8')) as { config: { lora: { useDora?: boolean }; training: { loraplusLrRatio?: number } } }).config;
      assert.equal(cfg.lora.useDora, true);
      assert.equal(cfg.training.loraplusLrRatio, 16);
      const ac = JSON.parse(fs.readFileSync(path.join(run.dir, 'adapter', 'adapter_config.json'), 'utf8')) as { use_dora: boolean };
      assert.equal(ac.use_dora, true);
      const st = fs.readFileSync(path.join(run.dir, 'adapter', 'adapter_model.safetensors'));
      const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
      const magnitudes = Object.keys(header).filter((k) => k.endsWith('lora_magnitude_vector'));
      progress(`DoRA run ${run.id}: ${magnitudes.length} lora_magnitude_vector tensors`);
      assert.ok(magnitudes.length > 0 && magnitudes.length === Object.keys(header).filter((k) => k.endsWith('lora_A.weight')).length, 'one magnitude vector per adapted module');
      return run;
    });

    await step('Configure again: DoRA with pissa_niter_4 is refused at Initialisation (Start disabled); DoRA off, base dropout off; screenshot', async () => {
      await openForm();
      assert.equal(await setFormCheckbox(page, 'useDora', true), true);
      assert.equal(await chooseFormOption(page, 'init', 'pissa_niter_4'), 'pissa_niter_4');
      const refused = await waitFor('the refusal under Initialisation', async () => { const e = await formFieldError(page, 'init'); return e || undefined; }, 10_000);
      progress(`init error: ${refused}`);
      assert.match(refused, /use_dora|DoRA/);
      const start = await configureLint(page);
      assert.ok(start.startDisabled, 'Start training is disabled while a field is refused');
      assert.match(start.startTitle, /Fix the fields marked in red/);
      assert.equal(await setFormCheckbox(page, 'useDora', false), false);
      await waitFor('the refusal gone', async () => ((await formFieldError(page, 'init')) === '' ? true : undefined), 10_000);
      assert.equal(await setFormCheckbox(page, 'baseDropout', false), false);
      await screenshot(page, 'configure-pissa');
    });
    await step('Start training → the PiSSA run completes; adapter/ is the converted rank-2r adapter for the original base', async () => {
      const run = await startAndWait();
      assert.notEqual(run.id, doraRun.id);
      const cfg = (JSON.parse(fs.readFileSync(path.join(run.dir, 'run.json'), 'utf8')) as { config: { lora: { r: number; alpha: number; init: string; useDora?: boolean }; training: { baseDropout?: boolean } } }).config;
      assert.equal(cfg.lora.init, 'pissa_niter_4');
      assert.equal(cfg.training.baseDropout, false);
      const ac = JSON.parse(fs.readFileSync(path.join(run.dir, 'adapter', 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number; init_lora_weights: unknown; use_dora: boolean };
      progress(`PiSSA run ${run.id}: run r ${cfg.lora.r} alpha ${cfg.lora.alpha} → adapter_config r ${ac.r} lora_alpha ${ac.lora_alpha} init_lora_weights ${JSON.stringify(ac.init_lora_weights)}`);
      assert.equal(ac.r, 2 * cfg.lora.r, "PEFT's conversion doubles r");
      assert.equal(ac.lora_alpha, 2 * cfg.lora.alpha, 'and alpha (no rsLoRA)');
      assert.equal(ac.init_lora_weights, true, 'the converted adapter applies to the original base, as a plain LoRA adapter');
      assert.equal(ac.use_dora, false);
      await checkResultsPanel(page, run);
    });
  });
});
