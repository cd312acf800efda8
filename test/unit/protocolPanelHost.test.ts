// The host end of the panel protocol (ResultsPanel + PanelController, VS Code mocked): what the
// webview posts is decoded before anything acts on it, a refused message is logged with its
// reason, run ids reach the disk only as folders inside the runs folder, LoadRuns answers through
// the request/reply helper, Start trains on the dataset and model picked through the host, and
// the live run reaches the panel as runStarted (again, rejoined, for a panel reopened during it).
// The Configure section's dataset lint (issue 14): the form's dataset is linted with the form's
// model and max_seq_len, a Start is refused while it has errors, links open only its files.
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
    showTextDocument: undefined as unknown as import('vitest').Mock,
    /** The PanelActions of the current set-up: no action may run for a refused message. */
    actions: {} as Record<string, import('vitest').Mock>,
  };
  return state;
});

vi.mock('vscode', () => {
  const uri = (fsPath: string) => ({ fsPath, toString: () => `file://${fsPath}` });
  h.executeCommand = vi.fn(async () => undefined);
  h.showTextDocument = vi.fn(async () => undefined);
  class Position {
    constructor(readonly line: number, readonly character: number) {}
  }
  class Range {
    constructor(readonly start: Position, readonly end: Position) {}
  }
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
    ViewColumn: { One: 1, Beside: 2 },
    Position,
    Range,
    window: { createWebviewPanel: panel, showTextDocument: (...a: unknown[]) => h.showTextDocument(...a) },
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
const { lintDataset } = await import('../../src/core/lint/lint');
const { lintOptions } = await import('../../src/core/lint/context');
type LintReport = import('../../src/protocol/lint').LintReport;
type LintSettings = import('../../src/protocol/lint').LintSettings;
type DatasetLintState = import('../../src/protocol/panel').DatasetLintState;

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

describe('the Configure section’s dataset lint (host end)', () => {
  // The reference: a CSV whose record on line 5 opens a quote that never closes (csv-parse itself
  // says "at line 27", the end of the file); the lint must name line 5 only.
  const BAD = path.join(h.ws, 'data', 'bad.csv');
  const CLEAN_ROWS = ['prompt,completion', 'Say hi,hello', 'Say bye,goodbye', 'Count,one two'];
  const tail = Array.from({ length: 22 }, (_, i) => `q${i + 6},a${i + 6}`);
  fs.mkdirSync(path.dirname(BAD), { recursive: true });
  const writeBad = () => fs.writeFileSync(BAD, [...CLEAN_ROWS, '"Unclosed,oops', ...tail].join('\n') + '\n');
  const writeFixed = () => fs.writeFileSync(BAD, [...CLEAN_ROWS, '"Closed",fine', ...tail].join('\n') + '\n');
  const csvForm: FormState = { ...form, dataset: BAD, initial: { ...form.initial, data: BAD, training: { learningRate: 2e-4, maxSeqLen: 64 } } };

  /** The lint process's work without the process: lintOptions + lintDataset, as src/worker/lintServer.ts does. */
  function fakeLint(enabled = true) {
    const reports = new Map<string, LintReport>();
    const calls: { file: string; form?: Partial<LintSettings> }[] = [];
    const lint = {
      enabled: () => enabled,
      lint: vi.fn(async (file: string, f?: Partial<LintSettings>) => {
        calls.push({ file, form: f });
        const report = await lintDataset(file, lintOptions({ maxSeqLen: 1024, ...f }));
        reports.set(file, report);
        return report;
      }),
      reportOf: (file: string) => reports.get(file),
      forget: (file: string) => reports.delete(file),
    };
    return { lint, calls };
  }

  function setUpLint(enabled = true) {
    ResultsPanel.current?.dispose();
    h.posted.length = 0;
    h.executeCommand.mockClear();
    h.showTextDocument.mockClear();
    const warnings: string[] = [];
    const training = { start: vi.fn(async () => {}), cancel: vi.fn(), activeRunId: undefined };
    const { lint, calls } = fakeLint(enabled);
    const panels = new PanelController({ extensionUri: { fsPath: '/ext' }, extensionPath: '/ext', globalState: {} } as never, training as never, h.actions as never, { warn: (m) => warnings.push(m) }, lint);
    panels.show(csvForm);
    h.receive!({ type: 'ready' });
    return { panels, training, warnings, lint, calls };
  }

  const lintStates = () => ofType('datasetLint').map((m) => m.lint as DatasetLintState);
  const lastLint = () => lintStates().at(-1)!;
  const waitFor = async <T>(f: () => T | undefined, ms = 5_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const done = () => waitFor(() => (lastLint()?.status === 'done' ? lastLint() : undefined));

  it('a CSV with an unclosed quote on line 5: one error at line 5 (no "at line"), linted with the form’s model and max_seq_len; Start is refused', async () => {
    writeBad();
    const { training, calls, warnings } = setUpLint();
    const state = await done();
    expect(lintStates()[0].status).toBe('checking');
    expect(calls[0]).toEqual({ file: BAD, form: { model: MODEL, maxSeqLen: 64 } });
    expect(state.summary!.errors).toBe(1);
    expect(state.summary!.files.map((f) => f.file)).toEqual([BAD]);
    expect(state.workspace).toBe(h.ws);
    expect(state.errors).toEqual([{ file: BAD, line: 5, code: 'syntax', message: expect.stringMatching(/^CSV syntax error in the record starting here \(Quote Not Closed/) }]);
    expect(state.errors![0].message).not.toMatch(/at line|line 27/);

    h.receive!({ type: 'startTraining', config: {} });
    await waitFor(() => ofType('error').length > 0);
    expect(training.start).not.toHaveBeenCalled();
    const refused = ofType('error').at(-1)!.message as string;
    expect(refused).toMatch(/^Not started: data\/bad\.csv has 1 error that training would refuse \(first: data\/bad\.csv:5: CSV syntax error in the record starting here/);
    expect(refused).not.toMatch(/at line/);
    expect(warnings.some((w) => w.startsWith('Results panel: Not started: data/bad.csv has 1 error'))).toBe(true);
  });

  it('the fixed file: the editor’s re-lint on save clears the errors and Start trains; a fix with no save is found by the Start’s own re-lint', async () => {
    writeBad();
    const { panels, training, lint } = setUpLint();
    await done();
    writeFixed();
    // The editor lints the file again on save (DatasetLint.onDidReport → onLintReport).
    const fresh = await lintDataset(BAD, lintOptions({ maxSeqLen: 64, model: MODEL }));
    panels.onLintReport(BAD, fresh);
    expect(lastLint()).toMatchObject({ status: 'done', summary: { errors: 0 }, errors: [] });
    h.receive!({ type: 'startTraining', config: {} });
    await waitFor(() => training.start.mock.calls.length > 0);
    expect(training.start.mock.calls[0]).toEqual([expect.objectContaining({ data: BAD, model: MODEL })]);

    // Broken again, the report says so; then fixed on disk without a save event: Start lints again and trains.
    writeBad();
    panels.onLintReport(BAD, await lintDataset(BAD, lintOptions({ maxSeqLen: 64 })));
    expect(lastLint().summary!.errors).toBe(1);
    writeFixed();
    lint.lint.mockClear();
    h.receive!({ type: 'startTraining', config: { training: { maxSeqLen: 32 } } });
    await waitFor(() => training.start.mock.calls.length > 1);
    expect(lint.lint).toHaveBeenCalledWith(BAD, { model: MODEL, maxSeqLen: 32 });
    expect(lastLint()).toMatchObject({ status: 'done', summary: { errors: 0 } });
  });

  it('a report of another file, or one the panel already has, is not sent again', async () => {
    writeBad();
    const { panels } = setUpLint();
    const state = await done();
    const n = lintStates().length;
    panels.onLintReport(path.join(h.ws, 'other.jsonl'), { diagnostics: [], summary: { ...state.summary!, errors: 0 } });
    expect(lintStates()).toHaveLength(n);
  });

  it('max_seq_len typed in the form: linted again once, after the typing stops, with it', async () => {
    writeFixed();
    const { calls } = setUpLint();
    await done();
    for (const n of [1, 12, 128]) h.receive!({ type: 'lintDataset', maxSeqLen: n });
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toHaveLength(1);
    await waitFor(() => calls.length === 2);
    await new Promise((r) => setTimeout(r, 400));
    expect(calls.map((c) => c.form?.maxSeqLen)).toEqual([64, 128]);
  });

  it('a link opens the dataset at its line; a path the lint did not read is refused', async () => {
    writeBad();
    const { warnings } = setUpLint();
    await done();
    h.receive!({ type: 'openLocation', file: BAD, line: 5 });
    await waitFor(() => h.showTextDocument.mock.calls.length > 0);
    const [uri, opts] = h.showTextDocument.mock.calls[0] as [{ fsPath: string }, { selection: { start: { line: number } }; viewColumn: number }];
    expect(uri.fsPath).toBe(BAD);
    expect(opts.selection.start.line).toBe(4);
    h.receive!({ type: 'openLocation', file: '/etc/passwd', line: 1 });
    await waitFor(() => ofType('error').length > 0);
    expect(h.showTextDocument).toHaveBeenCalledTimes(1);
    expect(ofType('error').at(-1)!.message).toMatch(/^Not opened: \/etc\/passwd is not a file of the dataset lint/);
    h.receive!({ type: 'openLocation', file: BAD, line: 0 });
    await settle();
    expect(warnings.at(-1)).toMatch(/^Results panel: message refused: "line" is 0, expected a line number ≥ 1/);
  });

  it('Show in Problems panel: the diagnostics are set (linted again if the editor let them go), then the Problems panel opens', async () => {
    writeBad();
    const { lint } = setUpLint();
    await done();
    h.receive!({ type: 'showProblems' });
    await waitFor(() => h.executeCommand.mock.calls.length > 0);
    expect(h.executeCommand).toHaveBeenCalledWith('workbench.actions.view.problems');
    expect(lint.lint).toHaveBeenCalledTimes(1);
    lint.forget(BAD); // the editor closed the file and dropped its diagnostics
    h.receive!({ type: 'showProblems' });
    await waitFor(() => h.executeCommand.mock.calls.length > 1);
    expect(lint.lint).toHaveBeenCalledTimes(2);
  });

  it('a reopened panel gets the latest lint; with the lint off the panel says so and Start is not held back', async () => {
    writeBad();
    const { panels } = setUpLint();
    await done();
    ResultsPanel.current!.dispose();
    h.posted.length = 0;
    panels.show();
    h.receive!({ type: 'ready' });
    await settle();
    expect(lintStates()).toMatchObject([{ status: 'done', summary: { errors: 1 } }]);

    const off = setUpLint(false);
    await waitFor(() => lintStates().find((l) => l.status === 'off'));
    expect(lastLint().note).toMatch(/loraLab\.lint\.enabled/);
    h.receive!({ type: 'startTraining', config: {} });
    await waitFor(() => off.training.start.mock.calls.length > 0);
  });
});
