// Interrupted runs in VS Code (VS Code mocked): on activation, a run whose worker died with the
// window (its record still `running`, its pid gone) is marked `interrupted` and offered for
// resuming in a notification, once; *Resume* resumes that run folder from checkpoints/last; the
// command *LoRA Lab: Resume Run…* picks among resumable runs; the panel's `resumeRun` command
// resumes the run folder of its id (a `../` id is refused); Evaluate and Merge on a run without
// adapter/ offer its checkpoints in a QuickPick instead of failing with CLI flags.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => ({
  ws: '',
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  showWarningMessage: undefined as unknown as import('vitest').Mock,
  showInformationMessage: undefined as unknown as import('vitest').Mock,
  showErrorMessage: undefined as unknown as import('vitest').Mock,
  showQuickPick: undefined as unknown as import('vitest').Mock,
  showSaveDialog: undefined as unknown as import('vitest').Mock,
  posted: [] as unknown[],
  receive: undefined as ((m: unknown) => void) | undefined,
}));

vi.mock('vscode', () => {
  const uri = (fsPath: string) => ({ fsPath, toString: () => `file://${fsPath}` });
  h.showWarningMessage = vi.fn(async () => undefined);
  h.showInformationMessage = vi.fn(async () => undefined);
  h.showErrorMessage = vi.fn(async () => undefined);
  h.showQuickPick = vi.fn(async () => undefined);
  h.showSaveDialog = vi.fn(async () => undefined);
  const log = () => ({ info: vi.fn(), warn: vi.fn(), error: vi.fn(), show: vi.fn(), dispose: vi.fn(), appendLine: vi.fn() });
  const panel = () => ({
    webview: {
      options: {}, html: '', cspSource: 'vscode-webview:',
      asWebviewUri: (u: { fsPath: string }) => u,
      postMessage: async (m: unknown) => (h.posted.push(m), true),
      onDidReceiveMessage: (f: (m: unknown) => void) => ((h.receive = f), { dispose() {} }),
    },
    onDidDispose: () => ({ dispose() {} }),
    reveal() {},
    dispose() {},
  });
  return {
    Uri: { joinPath: (u: { fsPath: string }, ...p: string[]) => uri([u.fsPath, ...p].join('/')), file: uri, from: (c: { path: string }) => uri(c.path) },
    ViewColumn: { Beside: 2 },
    StatusBarAlignment: { Left: 1 },
    ProgressLocation: { Notification: 15 },
    window: {
      createOutputChannel: log,
      createStatusBarItem: () => ({ show: vi.fn(), hide: vi.fn(), dispose: vi.fn() }),
      createWebviewPanel: panel,
      registerWebviewPanelSerializer: () => ({ dispose() {} }),
      showWarningMessage: (...a: unknown[]) => h.showWarningMessage(...a),
      showInformationMessage: (...a: unknown[]) => h.showInformationMessage(...a),
      showErrorMessage: (...a: unknown[]) => h.showErrorMessage(...a),
      showQuickPick: (...a: unknown[]) => h.showQuickPick(...a),
      showSaveDialog: (...a: unknown[]) => h.showSaveDialog(...a),
      activeTextEditor: undefined,
    },
    commands: {
      registerCommand: (id: string, f: (...a: unknown[]) => unknown) => (h.commands.set(id, f), { dispose() {} }),
      executeCommand: vi.fn(async () => undefined),
    },
    workspace: {
      getWorkspaceFolder: () => ({ uri: uri(h.ws) }),
      get workspaceFolders() {
        return [{ uri: uri(h.ws) }];
      },
      getConfiguration: () => ({ get: (_k: string, fallback?: unknown) => fallback }),
      registerTextDocumentContentProvider: () => ({ dispose() {} }),
      // The dataset lint's listeners (src/host/datasetLint.ts): no document is open here.
      textDocuments: [],
      onDidOpenTextDocument: () => ({ dispose() {} }),
      onDidSaveTextDocument: () => ({ dispose() {} }),
      onDidCloseTextDocument: () => ({ dispose() {} }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
      onDidChangeTextDocument: () => ({ dispose() {} }),
      onDidDeleteFiles: () => ({ dispose() {} }),
      findFiles: async () => [],
      createFileSystemWatcher: () => ({ onDidCreate: () => ({ dispose() {} }), onDidChange: () => ({ dispose() {} }), onDidDelete: () => ({ dispose() {} }), dispose() {} }),
    },
    DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
    CodeActionKind: { QuickFix: 'quickfix' },
    EventEmitter: class {
      event = () => ({ dispose() {} });
      fire() {}
      dispose() {}
    },
    languages: {
      createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, dispose() {} }),
      registerHoverProvider: () => ({ dispose() {} }),
      registerCodeLensProvider: () => ({ dispose() {} }),
      registerCodeActionsProvider: () => ({ dispose() {} }),
      registerCompletionItemProvider: () => ({ dispose() {} }),
    },
    // The evaluation cases' Test Explorer and editor support (src/host/evalTests.ts, caseCompletion.ts): no case file here.
    Disposable: class {
      static from(...d: { dispose(): void }[]) {
        return { dispose: () => d.forEach((x) => x.dispose()) };
      }
      dispose() {}
    },
    RelativePattern: class {
      constructor(
        readonly base: unknown,
        readonly pattern: string,
      ) {}
    },
    TestRunProfileKind: { Run: 1, Debug: 2, Coverage: 3 },
    tests: {
      createTestController: () => ({
        items: { forEach() {}, get: () => undefined, add() {}, delete() {}, replace() {}, size: 0 },
        createRunProfile: () => ({ dispose() {} }),
        createTestItem: () => ({ children: { forEach() {}, replace() {}, add() {}, delete() {} } }),
        dispose() {},
      }),
    },
  };
});

const { activate } = await import('../../src/extension');
const { TrainingController } = await import('../../src/host/trainingController');
const { PanelController } = await import('../../src/host/panelController');
const { ResultsPanel } = await import('../../src/panel/resultsPanel');
const { OFFERED_KEY } = await import('../../src/host/resume');
const { evaluateRun, mergeRun } = await import('../../src/commands/runs');
const { RunDir } = await import('../../src/core/runs');
type FormState = import('../../src/protocol/panel').FormState;

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
const settle = () => new Promise((r) => setTimeout(r, 20));

/** A pid that is certainly not running: a child that has exited. */
const DEAD_PID = spawnSync(process.execPath, ['-e', '0']).pid!;

function workspaceWithRun(opts: { status?: 'running' | 'completed'; checkpoint?: boolean } = {}) {
  h.ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-resume-ws-'));
  const data = path.join(h.ws, 'train.jsonl');
  fs.writeFileSync(data, '{"text": "hello"}\n');
  const root = path.join(h.ws, '.lora-lab', 'runs');
  const run = RunDir.create(root, { name: 'r', config: { model: MODEL, data, lora: { r: 4 } }, model: { path: MODEL, fingerprint: 'f' }, dataset: { path: data, sha256: '0'.repeat(64) } });
  // The window went away: the worker died before it could write anything more.
  run.update({ pid: DEAD_PID, status: opts.status ?? 'running', summary: { finalStep: 6 } });
  if (opts.checkpoint !== false) run.writeCheckpoint('last', { 'adapter_config.json': '{}', 'adapter_model.safetensors': new Uint8Array(8) });
  return { run, data };
}

function memento(): { get: <T>(k: string, d?: T) => T | undefined; update: (k: string, v: unknown) => Promise<void>; data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return { data, get: <T,>(k: string, d?: T) => (data.has(k) ? (data.get(k) as T) : d), update: async (k, v) => void data.set(k, v) };
}

function context() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-resume-ext-'));
  return {
    subscriptions: [] as { dispose(): void }[],
    extensionPath: tmp,
    extensionUri: { fsPath: tmp },
    globalStorageUri: { fsPath: path.join(tmp, 'global') },
    asAbsolutePath: (p: string) => path.join(tmp, p),
    globalState: memento(),
    workspaceState: memento(),
  };
}

/** Activates the extension with TrainingController.start recorded instead of forking a worker. */
async function activateWith(pick: string | undefined) {
  h.commands.clear();
  h.showWarningMessage.mockReset().mockResolvedValue(pick);
  const start = vi.spyOn(TrainingController.prototype, 'start').mockImplementation(async () => {});
  const ctx = context();
  activate(ctx as never);
  await settle();
  return { ctx, start };
}

describe('interrupted runs on activation', () => {
  beforeEach(() => {
    vi.restoreAllMocks();
  });

  it('a run whose worker died with the window is marked interrupted and offered in a notification; Resume resumes that run folder from its last checkpoint', async () => {
    const { run } = workspaceWithRun();
    const { ctx, start } = await activateWith('Resume');
    expect(h.showWarningMessage).toHaveBeenCalledTimes(1);
    const [text, ...buttons] = h.showWarningMessage.mock.calls[0] as string[];
    expect(text).toMatch(new RegExp(`run ${run.id} was interrupted \\(step 6`));
    expect(text).toMatch(/resume from its last checkpoint/);
    expect(buttons).toEqual(['Resume', 'Show Runs']);
    expect(run.record().status).toBe('interrupted');
    expect(run.record().endedAt).toBeDefined();
    expect(start).toHaveBeenCalledTimes(1);
    expect(start.mock.calls[0][1]).toBe(run.dir);
    expect(start.mock.calls[0][0]).toMatchObject({ model: MODEL, lora: { r: 4 } });
    expect(ctx.workspaceState.data.get(OFFERED_KEY)).toEqual([run.dir]);
    for (const s of ctx.subscriptions) s.dispose();
  });

  it('offered once: a later activation (the run still interrupted) does not ask again; the command Resume Run… still lists it', async () => {
    const { run } = workspaceWithRun();
    const { ctx } = await activateWith(undefined);
    expect(h.showWarningMessage).toHaveBeenCalledTimes(1);
    h.showWarningMessage.mockClear();
    // The same workspace state, as after a second reload.
    h.commands.clear();
    const start = vi.spyOn(TrainingController.prototype, 'start').mockImplementation(async () => {});
    activate({ ...context(), workspaceState: ctx.workspaceState } as never);
    await settle();
    expect(h.showWarningMessage).not.toHaveBeenCalled();
    h.showQuickPick.mockReset().mockImplementation(async (items: { dir: string }[]) => items[0]);
    await h.commands.get('loraLab.resumeRun')!();
    // Labelled by the run's name (one run: nothing else to tell apart), the id beside it.
    const items = h.showQuickPick.mock.calls[0][0] as { label: string; description: string }[];
    expect(items.map((i) => i.label)).toEqual(['r']);
    expect(items[0].description.startsWith(`${run.id} · interrupted`)).toBe(true);
    expect(start.mock.calls.map((c) => c[1])).toEqual([run.dir]);
  });

  it('nothing is offered for a completed run, nor for an interrupted run without a checkpoint', async () => {
    workspaceWithRun({ status: 'completed' });
    await activateWith('Resume');
    workspaceWithRun({ checkpoint: false });
    const { start } = await activateWith('Resume');
    expect(h.showWarningMessage).not.toHaveBeenCalled();
    expect(start).not.toHaveBeenCalled();
  });
});

describe('the panel’s Resume button (resumeRun)', () => {
  function setUp() {
    ResultsPanel.current?.dispose();
    h.posted.length = 0;
    const warnings: string[] = [];
    const actions = {
      newRun: vi.fn(async () => {}), evaluateRun: vi.fn(async () => true), mergeRun: vi.fn(async () => true),
      compareRuns: vi.fn(async () => {}), openRunFolder: vi.fn(async () => {}), resumeRun: vi.fn(async () => {}),
    };
    const training = { start: vi.fn(async () => {}), cancel: vi.fn(), activeRunId: undefined };
    const panels = new PanelController({ extensionUri: { fsPath: '/ext' }, extensionPath: '/ext', globalState: {} } as never, training as never, actions, { warn: (m) => warnings.push(m) });
    return { panels, actions, warnings };
  }

  it('resumeRun {runId} resumes that run folder; a `../` id is refused before anything runs', async () => {
    const { run, data } = workspaceWithRun();
    const { panels, actions, warnings } = setUp();
    const form = { dataset: data, model: MODEL } as FormState;
    panels.show(form);
    h.receive!({ type: 'resumeRun', runId: run.id });
    await settle();
    expect(actions.resumeRun).toHaveBeenCalledWith(run.dir);
    actions.resumeRun.mockClear();
    h.receive!({ type: 'resumeRun', runId: '../lora-outside' });
    h.receive!({ type: 'resumeRun', runId: 'nope' });
    await settle();
    expect(actions.resumeRun).not.toHaveBeenCalled();
    expect(warnings[0]).toMatch(/^Results panel: message refused: "runId" is "\.\.\/lora-outside", expected a run id/);
    expect(warnings[1]).toMatch(/run id refused: no run "nope"/);
    ResultsPanel.current?.dispose();
  });
});

describe('Evaluate and Merge on a run without adapter/', () => {
  function jobs() {
    return {
      log: { show: vi.fn(), info: vi.fn() },
      runJob: vi.fn(async () => ({ outcome: { exitCode: 0, signal: null, stderrTail: '', finished: { type: 'finished', status: 'completed' } } })),
      showResults: vi.fn(),
      start: vi.fn(async () => {}),
    };
  }
  const pickCheckpoint = async (items: { adapter?: string }[]) => items.find((i) => i.adapter?.endsWith(`${path.sep}last`));

  it('Evaluate offers the checkpoints (and Resume) in a QuickPick and evaluates the one picked, instead of an error with CLI flags', async () => {
    const { run } = workspaceWithRun();
    const j = jobs();
    h.showErrorMessage.mockClear();
    h.showQuickPick.mockReset().mockImplementation(pickCheckpoint);
    expect(await evaluateRun(j as never, run.dir)).toBe(true);
    const [items, opts] = h.showQuickPick.mock.calls[0] as [{ label: string; resume?: boolean }[], { title: string }];
    expect(items.map((i) => i.label)).toEqual(['$(history) Evaluate checkpoint "last"', '$(debug-continue) Resume training instead']);
    expect(opts.title).toMatch(/is interrupted and has no final adapter yet: evaluate one of its checkpoints/);
    expect(j.runJob).toHaveBeenCalledWith({ type: 'evaluate', runDir: run.dir, adapter: run.checkpointDir('last') }, expect.stringContaining('checkpoint last'));
    expect(h.showErrorMessage).not.toHaveBeenCalled();
  });

  it('Evaluate → Resume training instead resumes the run', async () => {
    const { run } = workspaceWithRun();
    const j = jobs();
    h.showQuickPick.mockReset().mockImplementation(async (items: { resume?: boolean }[]) => items.find((i) => i.resume));
    expect(await evaluateRun(j as never, run.dir)).toBe(false);
    await settle();
    expect(j.runJob).not.toHaveBeenCalled();
    expect(j.start).toHaveBeenCalledWith(expect.objectContaining({ model: MODEL }), run.dir);
  });

  it('Merge offers the checkpoint and merges it', async () => {
    const { run } = workspaceWithRun();
    const j = jobs();
    h.showQuickPick.mockReset().mockImplementation(pickCheckpoint);
    h.showSaveDialog.mockReset().mockResolvedValue({ fsPath: path.join(run.dir, 'merged') });
    expect(await mergeRun(j as never, run.dir)).toBe(true);
    expect(j.runJob).toHaveBeenCalledWith({ type: 'merge', model: MODEL, adapter: run.checkpointDir('last'), out: path.join(run.dir, 'merged') }, expect.stringContaining('checkpoint last'));
  });

  it('a run with neither adapter nor checkpoint: a plain message, no CLI flags, no job', async () => {
    const { run } = workspaceWithRun({ checkpoint: false });
    const j = jobs();
    h.showErrorMessage.mockClear();
    h.showQuickPick.mockReset();
    expect(await evaluateRun(j as never, run.dir)).toBe(false);
    expect(h.showQuickPick).not.toHaveBeenCalled();
    expect(j.runJob).not.toHaveBeenCalled();
    const msg = String(h.showErrorMessage.mock.calls[0][0]);
    expect(msg).toMatch(/has no adapter and no checkpoint to evaluate/);
    expect(msg).not.toMatch(/--adapter|--run/);
  });
});
