// The host end of the panel protocol (ResultsPanel + PanelController, VS Code mocked): what the
// webview posts is decoded before anything acts on it, a refused message is logged with its
// reason, run ids reach the disk only as folders inside the runs folder, LoadRuns answers through
// the request/reply helper, Start trains on the dataset and model picked through the host, and
// the live run reaches the panel as runStarted (again, rejoined, for a panel reopened during it).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => {
  const state = {
    /** The workspace folder (set below, once node modules are loaded). */
    ws: '',
    posted: [] as unknown[],
    receive: undefined as ((m: unknown) => void) | undefined,
    disposeListener: undefined as (() => void) | undefined,
    executeCommand: undefined as unknown as import('vitest').Mock,
    /** The PanelActions of the current set-up: no action may run for a refused message. */
    actions: {} as Record<string, import('vitest').Mock>,
  };
  return state;
});

vi.mock('vscode', () => {
  const uri = (fsPath: string) => ({ fsPath, toString: () => `file://${fsPath}` });
  h.executeCommand = vi.fn(async () => undefined);
  const panel = () => ({
    webview: {
      options: {}, html: '', cspSource: 'vscode-webview:',
      asWebviewUri: (u: { fsPath: string }) => u,
      postMessage: async (m: unknown) => (h.posted.push(m), true),
      onDidReceiveMessage: (f: (m: unknown) => void) => ((h.receive = f), { dispose() {} }),
    },
    onDidDispose: (f: () => void) => ((h.disposeListener = f), { dispose() {} }),
    reveal() {},
    dispose() {},
  });
  return {
    Uri: { joinPath: (u: { fsPath: string }, ...p: string[]) => uri([u.fsPath, ...p].join('/')), file: uri },
    ViewColumn: { Beside: 2 },
    window: { createWebviewPanel: panel },
    commands: { executeCommand: (...a: unknown[]) => h.executeCommand(...a) },
    workspace: {
      getWorkspaceFolder: () => ({ uri: uri(h.ws) }),
      workspaceFolders: [{ uri: uri(h.ws) }],
      getConfiguration: () => ({ get: (_k: string, fallback?: unknown) => fallback }),
    },
  };
});

const { PanelController } = await import('../../src/host/panelController');
const { ResultsPanel } = await import('../../src/panel/resultsPanel');
const { RunDir } = await import('../../src/core/runs');
const { readConfig } = await import('../../src/core/hf/config');
type FormState = import('../../src/protocol/panel').FormState;

h.ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-panel-ws-'));
const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
const DATA = path.join(h.ws, 'train.jsonl');
fs.writeFileSync(DATA, '{"text": "hello"}\n');
const run = RunDir.create(path.join(h.ws, '.lora-lab', 'runs'), { name: 'known', config: {}, model: { path: MODEL, fingerprint: 'f' }, dataset: { path: DATA, sha256: '0'.repeat(64) } });
fs.mkdirSync(path.join(os.tmpdir(), 'lora-outside'), { recursive: true });

const form: FormState = {
  dataset: DATA, model: MODEL, datasetSummary: 'text, 1 row', modelSpec: readConfig(MODEL).spec, moduleChoices: ['c_attn', 'all-linear'], defaultTargets: ['c_attn'],
  initial: { model: MODEL, data: DATA, workspace: h.ws, runsDir: '.lora-lab/runs', lora: { r: 8 }, training: { learningRate: 2e-4 } },
};

const settle = () => new Promise((r) => setTimeout(r, 20));
const ofType = (t: string) => h.posted.filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null && (m as { type?: unknown }).type === t);

function setUp() {
  ResultsPanel.current?.dispose();
  h.posted.length = 0;
  h.executeCommand.mockClear();
  const warnings: string[] = [];
  const training = { start: vi.fn(async () => {}), cancel: vi.fn(), activeRunId: undefined };
  // The panel's buttons call these (extension.ts hands in the commands' functions); recorded here.
  const actions = {
    newRun: vi.fn(async () => {}), evaluateRun: vi.fn(async () => true), mergeRun: vi.fn(async () => true),
    compareRuns: vi.fn(async () => {}), openRunFolder: vi.fn(async () => {}), resumeRun: vi.fn(async () => {}),
  };
  h.actions = actions;
  const panels = new PanelController({ extensionUri: { fsPath: '/ext' }, extensionPath: '/ext', globalState: {} } as never, training as never, actions, { warn: (m) => warnings.push(m) });
  panels.show(form);
  h.receive!({ type: 'ready' });
  return { panels, training, warnings };
}

describe('the host end of the panel protocol', () => {
  beforeEach(() => {
    h.posted.length = 0;
  });

  it('on ready the panel gets the form and the runs list', async () => {
    setUp();
    await settle();
    expect(ofType('showForm')).toHaveLength(2); // queued by show(), and again in answer to ready
    expect((ofType('runs').at(-1)!.runs as { id: string }[]).map((r) => r.id)).toEqual([run.id]);
  });

  it('a `../x` run id is refused before anything runs, with the reason in the log', async () => {
    const { warnings } = setUp();
    h.receive!({ type: 'openRunFolder', runId: '../lora-outside' });
    h.receive!({ type: 'mergeRun', runId: path.join(os.tmpdir(), 'lora-outside') });
    await settle();
    expect(h.executeCommand).not.toHaveBeenCalled();
    for (const f of Object.values(h.actions)) expect(f).not.toHaveBeenCalled();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^Results panel: message refused: "runId" is "\.\.\/lora-outside", expected a run id/);
  });

  it('an unknown run id is refused with the reason (log and panel); a known one opens its folder', async () => {
    const { warnings } = setUp();
    h.receive!({ type: 'openRunFolder', runId: 'nope' });
    await settle();
    expect(h.executeCommand).not.toHaveBeenCalled();
    for (const f of Object.values(h.actions)) expect(f).not.toHaveBeenCalled();
    expect(warnings).toEqual([`Results panel: run id refused: no run "nope" under ${path.join(h.ws, '.lora-lab', 'runs')}`]);
    expect(ofType('error').at(-1)!.message).toMatch(/Run "nope" refused/);
    h.receive!({ type: 'openRunFolder', runId: run.id });
    await settle();
    expect(h.actions.openRunFolder).toHaveBeenCalledWith(run.dir);
  });

  it('LoadRuns answers with the runs’ details in inReplyTo; an id outside the runs folder gets an error reply', async () => {
    const { warnings } = setUp();
    h.receive!({ type: 'request', id: 7, method: 'loadRuns', params: { runIds: [run.id] } });
    h.receive!({ type: 'request', id: 8, method: 'loadRuns', params: { runIds: ['..'] } });
    await settle();
    const replies = ofType('reply');
    const ok = replies.find((r) => r.inReplyTo === 7)!;
    expect((ok.result as { summary: { id: string } }[]).map((d) => d.summary.id)).toEqual([run.id]);
    const refused = replies.find((r) => r.inReplyTo === 8)!;
    expect(refused.error).toMatch(/^loadRuns: "params\.runIds\[0\]" is "\.\.", expected a run id/);
    expect(warnings.some((w) => w.includes('request loadRuns (8) failed'))).toBe(true);
  });

  it('Start trains on the dataset and model picked through the host, with the panel’s parameters; paths the panel sends are not taken', async () => {
    const { training } = setUp();
    h.receive!({ type: 'startTraining', config: { model: '/evil/model', data: '/etc/passwd', workspace: '/', runsDir: '../../x', lora: { r: 16 }, training: { learningRate: 1e-3 } } });
    await settle();
    expect(training.start).toHaveBeenCalledTimes(1);
    expect(training.start.mock.calls[0]).toEqual([expect.objectContaining({ model: MODEL, data: DATA, workspace: h.ws, runsDir: '.lora-lab/runs', lora: { r: 16 }, training: { learningRate: 1e-3 } })]);
  });

  it('the live run reaches the panel as runStarted with its detail; a panel reopened during the run gets it again, rejoined', async () => {
    const { panels } = setUp();
    panels.onRunEvent(undefined, { type: 'config', config: {} as never });
    panels.onRunEvent(run.id, { type: 'run', runId: run.id, dir: run.dir });
    await settle();
    expect(ofType('runEvent').map((m) => (m.event as { type: string }).type)).toEqual(['config']);
    const started = ofType('runStarted');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ event: { runId: run.id }, detail: { summary: { id: run.id }, metrics: [] } });
    expect(started[0].rejoined).toBeUndefined();
    // The panel is closed and opened again while the run goes on.
    ResultsPanel.current!.dispose();
    h.posted.length = 0;
    panels.show();
    h.receive!({ type: 'ready' });
    await settle();
    expect(ofType('runStarted')).toMatchObject([{ event: { runId: run.id }, rejoined: true }]);
    // A run that starts while no panel is open: the panel opened during it rejoins it.
    ResultsPanel.current!.dispose();
    panels.onRunEvent(run.id, { type: 'run', runId: run.id, dir: run.dir, resumedFromStep: 0 });
    h.posted.length = 0;
    panels.show();
    h.receive!({ type: 'ready' });
    await settle();
    expect(ofType('runStarted')).toMatchObject([{ event: { runId: run.id, resumedFromStep: 0 }, rejoined: true }]);
    panels.onRunEnded();
    ResultsPanel.current!.dispose();
    h.posted.length = 0;
    panels.show();
    h.receive!({ type: 'ready' });
    await settle();
    expect(ofType('runStarted')).toEqual([]);
  });
});
