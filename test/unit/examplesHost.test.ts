// The host end of the panel's example lists (src/host/examples.ts through PanelController, VS
// Code mocked): StepExamples reads that step's row of metrics.jsonl from disk (a redone step's
// later row, also a step a thinned chart does not hold), highest loss first with the start of each
// row; RunExamples lists the hardest training / validation examples and those whose loss went up;
// openExample opens only the run's training or validation file at the line; excludeExamples calls
// loraLab.excludeRows with the run's training file; an unknown run is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => ({
  ws: '',
  posted: [] as unknown[],
  receive: undefined as ((m: unknown) => void) | undefined,
  executeCommand: undefined as unknown as import('vitest').Mock,
  showTextDocument: undefined as unknown as import('vitest').Mock,
}));

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
    onDidDispose: () => ({ dispose() {} }),
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
const { readStepRow } = await import('../../src/host/examples');
const { readConfig } = await import('../../src/core/hf/config');

h.ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-examples-ws-'));
const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
const DATA = path.join(h.ws, 'train.jsonl');
const VALID = path.join(h.ws, 'valid.jsonl');
fs.writeFileSync(DATA, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `row ${i + 1} ${'x'.repeat(200)}` })).join('\n') + '\n');
fs.writeFileSync(VALID, '{"text":"v1"}\n{"text":"v2"}\n');
const run = RunDir.create(path.join(h.ws, '.lora-lab', 'runs'), { name: 'ex', config: {}, model: { path: MODEL, fingerprint: 'f' }, dataset: { path: DATA, sha256: '0'.repeat(64), validPath: VALID } });

const stepRow = (step: number, examples: number[], exampleLosses: (number | null)[], loss = 1) =>
  JSON.stringify({ type: 'step', step, totalSteps: 4, epoch: step / 2, loss, lr: 1e-3, gradNorm: 1, tokens: 10, tokensPerSec: 1, stepMs: 1, elapsedMs: step, examples, exampleLosses, time: 't' });
fs.writeFileSync(path.join(run.dir, 'metrics.jsonl'), [
  stepRow(1, [1, 2, 3, 4], [1, 2, 0.5, null]),
  stepRow(2, [5, 6, 7, 8], [1, 1, 1, 1]),
  JSON.stringify({ type: 'eval', step: 2, valLoss: 1, valPerplexity: 2.7, valTokens: 4, best: true, time: 't' }),
  stepRow(3, [2, 1, 8, 7], [0.1, 1.5, 3, 0.2]),
  stepRow(4, [3, 4, 5, 6], [0.4, 0.1, 0.9, 2]),
].join('\n') + '\n');
fs.writeFileSync(path.join(run.dir, 'eval-examples.jsonl'), [
  { step: 4, tag: 'last', file: VALID, line: 1, loss: 0.3, tokens: 2 },
  { step: 4, tag: 'last', file: VALID, line: 2, loss: 0.9, tokens: 2 },
].map((r) => JSON.stringify(r)).join('\n') + '\n');

const settle = () => new Promise((r) => setTimeout(r, 50));
const reply = (id: number) => h.posted.find((m) => (m as { type?: string; inReplyTo?: number }).type === 'reply' && (m as { inReplyTo: number }).inReplyTo === id) as { result?: unknown; error?: string };

function setUp() {
  ResultsPanel.current?.dispose();
  h.posted.length = 0;
  h.executeCommand.mockClear();
  h.showTextDocument.mockClear();
  const warnings: string[] = [];
  const actions = { newRun: vi.fn(), evaluateRun: vi.fn(), mergeRun: vi.fn(), compareRuns: vi.fn(), openRunFolder: vi.fn(), resumeRun: vi.fn() };
  const panels = new PanelController({ extensionUri: { fsPath: '/ext' }, extensionPath: '/ext', globalState: {} } as never, { start: vi.fn(), cancel: vi.fn(), activeRunId: undefined } as never, actions as never, { warn: (m) => warnings.push(m) });
  panels.show({
    dataset: DATA, model: MODEL, datasetSummary: '', modelSpec: readConfig(MODEL).spec, moduleChoices: [], defaultTargets: [],
    initial: { model: MODEL, data: DATA, workspace: h.ws, runsDir: '.lora-lab/runs' },
  });
  h.receive!({ type: 'ready' });
  return { warnings };
}

describe('the panel’s example lists (host end)', () => {
  it('readStepRow finds a step’s row by a scan of the file; the later of a redone step; none for a step not logged', async () => {
    const file = path.join(run.dir, 'metrics.jsonl');
    expect((await readStepRow(file, 3))?.examples).toEqual([2, 1, 8, 7]);
    const redone = path.join(h.ws, 'redone.jsonl');
    fs.writeFileSync(redone, `${stepRow(2, [5], [1])}\n${stepRow(3, [6], [1])}\n${stepRow(2, [5], [9], 3)}\n`);
    expect((await readStepRow(redone, 2))?.loss).toBe(3);
    expect(await readStepRow(file, 9)).toBeUndefined();
    expect(await readStepRow(path.join(h.ws, 'none.jsonl'), 1)).toBeUndefined();
  });

  it('StepExamples: the step’s examples highest loss first (null last), each with its row’s first 100 characters', async () => {
    setUp();
    h.receive!({ type: 'request', id: 1, method: 'stepExamples', params: { runId: run.id, step: 1 } });
    h.receive!({ type: 'request', id: 2, method: 'stepExamples', params: { runId: run.id, step: 7 } });
    await settle();
    const r = reply(1).result as { loss: number; file: string; examples: { line: number; loss: number | null; text?: string }[] };
    expect(r.file).toBe(DATA);
    expect(r.examples.map((e) => [e.line, e.loss])).toEqual([[2, 2], [1, 1], [3, 0.5], [4, null]]);
    expect(r.examples[0].text).toBe(JSON.stringify({ text: `row 2 ${'x'.repeat(200)}` }).slice(0, 100));
    expect((reply(2).result as { examples: unknown[]; note: string }).note).toMatch(/Step 7 has no row/);
  });

  it('RunExamples: hardest training (last epoch), hardest validation (last evaluation), went up (first → last epoch)', async () => {
    setUp();
    h.receive!({ type: 'request', id: 3, method: 'runExamples', params: { runId: run.id, limit: 3 } });
    await settle();
    const r = reply(3).result as { epochs: number; hardestTrain: { line: number }[]; hardestValid: { line: number; file: string }[]; wentUp: { line: number; firstLoss: number; loss: number }[] };
    expect(r.epochs).toBe(2);
    expect(r.hardestTrain.map((e) => e.line)).toEqual([8, 6, 1]); // 3, 2, 1.5
    expect(r.hardestValid.map((e) => [e.file, e.line])).toEqual([[VALID, 2], [VALID, 1]]);
    expect(r.wentUp.map((e) => [e.line, e.firstLoss, e.loss])).toEqual([[8, 1, 3], [6, 1, 2], [1, 1, 1.5]]);
  });

  it('openExample opens the run’s training or validation file at the line; any other file is refused', async () => {
    setUp();
    h.receive!({ type: 'openExample', runId: run.id, file: DATA, line: 5 });
    h.receive!({ type: 'openExample', runId: run.id, file: VALID, line: 2 });
    h.receive!({ type: 'openExample', runId: run.id, file: '/etc/passwd', line: 1 });
    await settle();
    expect(h.showTextDocument).toHaveBeenCalledTimes(2);
    const [uri, opts] = h.showTextDocument.mock.calls[0] as [{ fsPath: string }, { selection: { start: { line: number } } }];
    expect(uri.fsPath).toBe(DATA);
    expect(opts.selection.start.line).toBe(4);
    const errors = h.posted.filter((m) => (m as { type?: string }).type === 'error') as { message: string }[];
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^Not opened: \/etc\/passwd is not a data file of run/)]);
  });

  it('excludeExamples calls loraLab.excludeRows with the run’s training file, the lines sorted once each, the note', async () => {
    setUp();
    h.receive!({ type: 'excludeExamples', runId: run.id, lines: [7, 2, 7], note: 'step 3 of ex' });
    await settle();
    expect(h.executeCommand).toHaveBeenCalledWith('loraLab.excludeRows', DATA, [2, 7], 'step 3 of ex');
  });

  it('an unknown run is refused (the request fails; nothing is opened)', async () => {
    setUp();
    h.receive!({ type: 'request', id: 4, method: 'stepExamples', params: { runId: 'nope', step: 1 } });
    h.receive!({ type: 'openExample', runId: 'nope', file: DATA, line: 1 });
    await settle();
    expect(reply(4).error).toMatch(/Run "nope" refused/);
    expect(h.showTextDocument).not.toHaveBeenCalled();
  });
});
