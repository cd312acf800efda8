// Evaluation cases in the Test Explorer (issue 16), VS Code mocked (its testing API as a small
// in-memory controller that records what a test run reports): the tree found from the workspace's
// *.evals.jsonl (file → case at its line → base/adapter/merged), a malformed line as the file
// item's error and as a Problem at its line and column; one run profile per run with an adapter
// (+ checkpoints), the newest the default; the request narrowed to a job (only, kinds); and a real
// run through the forked worker on the sample model with a hand-made adapter: failures with the
// generated text, `equals` as a diff, the case failed when one model failed, the matrix in the
// output, the report in <run>/evals/; the command Run Evaluation Cases… on the active editor's file.
// The checkpoint items of every case against the run folder (runCaseModels' labels): written,
// replaced and removed checkpoints show up and go once the runs watcher fires.
// The text helpers (rollup, matrix) against known reports.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { CaseOutcome, CasesReport } from '../../src/protocol/evalCases';
import { buildWorker } from './helpers/buildWorker';
import { handmadeRun } from './helpers/handmadeRun';

const h = vi.hoisted(() => ({
  ws: '', info: undefined as unknown as import('vitest').Mock, active: undefined as undefined | { document: { uri: unknown } },
  /** Every file-system watcher made, with its pattern, and a way to fire its events. */
  watchers: [] as { pattern: unknown; fire: (u: unknown) => void }[],
}));

vi.mock('vscode', () => {
  const uri = (fsPath: string) => ({ fsPath, scheme: 'file', toString: () => `file://${fsPath}` });
  const ev = () => () => ({ dispose() {} });
  class Position { constructor(readonly line: number, readonly character: number) {} }
  class Range {
    readonly start: Position;
    readonly end: Position;
    constructor(a: number, b: number, c: number, d: number) {
      this.start = new Position(a, b);
      this.end = new Position(c, d);
    }
  }
  class Location { constructor(readonly uri: unknown, readonly range: unknown) {} }
  class TestMessage {
    location?: Location;
    expectedOutput?: string;
    actualOutput?: string;
    constructor(readonly message: string) {}
    static diff(message: string, expected: string, actual: string) {
      return Object.assign(new TestMessage(message), { expectedOutput: expected, actualOutput: actual });
    }
  }
  class MarkdownString { constructor(readonly value: string) {} }
  class Diagnostic {
    source?: string;
    constructor(readonly range: Range, readonly message: string, readonly severity: number) {}
  }
  type Item = { id: string; label: string; uri?: unknown; parent?: Item; range?: Range; error?: unknown; description?: string; sortText?: string; children: ReturnType<typeof collection> };
  const collection = (owner?: Item) => {
    const m = new Map<string, Item>();
    return {
      get size() { return m.size; },
      get: (id: string) => m.get(id),
      add: (i: Item) => { i.parent = owner; m.set(i.id, i); },
      delete: (id: string) => m.delete(id),
      replace: (items: Item[]) => { m.clear(); for (const i of items) { i.parent = owner; m.set(i.id, i); } },
      forEach: (f: (i: Item) => void) => [...m.values()].forEach(f),
    };
  };
  const createTestController = (id: string, label: string) => {
    const ctrl = {
      id, label, items: collection(), profiles: [] as { label: string; isDefault: boolean; handler: (r: unknown, t: unknown) => Promise<void>; dispose(): void }[], runs: [] as unknown[],
      refreshHandler: undefined as unknown,
      createTestItem: (iid: string, l: string, u?: unknown): Item => {
        const i = { id: iid, label: l, uri: u } as Item;
        i.children = collection(i);
        return i;
      },
      createRunProfile: (l: string, _kind: number, handler: (r: unknown, t: unknown) => Promise<void>, isDefault: boolean) => {
        const p = { label: l, isDefault, handler, dispose: () => ctrl.profiles.splice(ctrl.profiles.indexOf(p), 1) };
        ctrl.profiles.push(p);
        return p;
      },
      createTestRun: () => {
        const log: [string, string, ...unknown[]][] = [];
        const run = {
          log, output: '', ended: false,
          enqueued: (i: Item) => log.push(['enqueued', i.id]),
          started: (i: Item) => log.push(['started', i.id]),
          passed: (i: Item) => log.push(['passed', i.id]),
          skipped: (i: Item) => log.push(['skipped', i.id]),
          failed: (i: Item, m: unknown) => log.push(['failed', i.id, m]),
          errored: (i: Item, m: unknown) => log.push(['errored', i.id, m]),
          appendOutput: (s: string) => void (run.output += s),
          end: () => void (run.ended = true),
        };
        ctrl.runs.push(run);
        return run;
      },
      dispose() {},
    };
    return ctrl;
  };
  const find = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : find(p);
    return e.name.endsWith('.evals.jsonl') ? [p] : [];
  });
  h.info = vi.fn(async () => undefined);
  return {
    Position, Range, Location, TestMessage, MarkdownString, Diagnostic,
    DiagnosticSeverity: { Error: 0 },
    TestRunProfileKind: { Run: 1 },
    Uri: { file: uri },
    RelativePattern: class { constructor(readonly base: unknown, readonly pattern: string) {} },
    tests: { createTestController },
    languages: { createDiagnosticCollection: () => ({ set: vi.fn(), delete: vi.fn(), dispose() {} }) },
    window: {
      showInformationMessage: (...a: unknown[]) => h.info(...a),
      showQuickPick: vi.fn(async () => undefined),
      withProgress: (_o: unknown, f: (p: unknown, t: unknown) => Promise<unknown>) => f({ report() {} }, { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) }),
      get activeTextEditor() { return h.active; },
    },
    ProgressLocation: { Notification: 15 },
    TestRunRequest: class { constructor(readonly include?: unknown[], readonly exclude?: unknown[], readonly profile?: unknown) {} },
    commands: { executeCommand: vi.fn() },
    workspace: {
      get workspaceFolders() { return [{ uri: uri(h.ws), name: 'ws', index: 0 }]; },
      textDocuments: [],
      findFiles: async () => find(h.ws).map(uri),
      fs: { readFile: async (u: { fsPath: string }) => fs.readFileSync(u.fsPath) },
      asRelativePath: (u: { fsPath: string }) => path.relative(h.ws, u.fsPath),
      createFileSystemWatcher: (pattern: unknown) => {
        const listeners: ((u: unknown) => void)[] = [];
        const on = (f: (u: unknown) => void) => (listeners.push(f), { dispose() {} });
        h.watchers.push({ pattern, fire: (u) => listeners.forEach((f) => f(u)) });
        return { onDidCreate: on, onDidChange: on, onDidDelete: on, dispose() {} };
      },
      onDidChangeTextDocument: ev(), onDidOpenTextDocument: ev(), onDidCloseTextDocument: ev(), onDidSaveTextDocument: ev(), onDidChangeConfiguration: ev(),
      getConfiguration: () => ({ get: (_k: string, d: unknown) => d }),
    },
  };
});

import { caseDiagnostics } from '../../src/host/caseDiagnostics';
import { EvalTests } from '../../src/host/evalTests';
import { groupRequest, jobFor } from '../../src/host/evalTestRun';
import { equalsDiff, failureText, matrixLines, rollup } from '../../src/host/evalTestText';
import { runCaseModels } from '../../src/core/runCases';
import { CHECKPOINT_ADAPTER_CONFIG, CHECKPOINT_TRAINER_STATE } from '../../src/core/runs/caseCheckpoints';
import { ADAPTER_CONFIG } from '../../src/core/peft/adapterFolder';
import { TRAINER_STATE } from '../../src/core/train/checkpoint';

const MODEL = path.join(__dirname, '..', '..', 'samples', 'model');
const DATA = path.join(__dirname, '..', '..', 'samples', 'datasets', 'devil', 'train.jsonl');
const CASES = [
  JSON.stringify({ name: 'says something', prompt: 'Define: Abasement\n', expect: { notContains: ['zzzz-never'] }, maxNewTokens: 4 }),
  '',
  JSON.stringify({ name: 'impossible', prompt: 'Define: Abatis\n', expect: { contains: ['zzzz-never'] }, maxNewTokens: 4 }),
  JSON.stringify({ name: 'equals', prompt: 'Define: Abdication\n', expect: { equals: '  not this ' }, maxNewTokens: 3 }),
];
let script: string;

beforeAll(async () => {
  script = await buildWorker();
});

interface MItem { id: string; label: string; uri: { fsPath: string }; range: { start: { line: number } }; error?: { value: string }; children: { get(id: string): MItem; forEach(f: (i: MItem) => void): void } }
type MMessage = { message: string; location: { range: { start: { line: number } } }; expectedOutput?: string; actualOutput?: string };
interface MRun { log: [string, string, MMessage[]?][]; output: string; ended: boolean }
type MockCtrl = { items: { get(id: string): MItem; forEach(f: (i: MItem) => void): void }; profiles: { label: string; isDefault: boolean; handler: (r: unknown, t: unknown) => Promise<void> }[]; runs: MRun[] };
const log = { info: vi.fn(), warn: vi.fn(), error: vi.fn() } as never;
const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };

function workspace(lines: string[]): { file: string } {
  h.ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-evaltests-'));
  h.watchers.length = 0;
  const file = path.join(h.ws, 'cases', 'devil.evals.jsonl');
  fs.mkdirSync(path.dirname(file));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file };
}

async function controller(): Promise<{ tests: EvalTests; ctrl: MockCtrl }> {
  const tests = new EvalTests({ workerScript: script, env: () => process.env, log });
  await tests.tree.discover();
  return { tests, ctrl: tests.ctrl as unknown as MockCtrl };
}

describe('Test Explorer tree and profiles', () => {
  it('finds the case files: file → case at its line → base, adapter, merged; a bad line is the file item’s error and a Problem', async () => {
    const { file } = workspace([...CASES, '{"name": "broken", "prompt": 1, "expect": {}}']);
    const { ctrl, tests } = await controller();
    const fileItem = ctrl.items.get(`file://${file}`);
    expect(fileItem.label).toBe(path.join('cases', 'devil.evals.jsonl'));
    const cases: MItem[] = [];
    fileItem.children.forEach((c) => cases.push(c));
    expect(cases.map((c) => [c.label, c.range.start.line])).toEqual([['says something', 0], ['impossible', 2], ['equals', 3]]);
    const models: string[] = [];
    cases[1].children.forEach((c) => models.push(c.label));
    expect(models).toEqual(['base', 'adapter', 'merged']);
    expect(fileItem.error?.value).toMatch(/^line 5: /);
    const diags = caseDiagnostics(fs.readFileSync(file, 'utf8'), file);
    expect(diags.length).toBeGreaterThan(0);
    expect(diags.every((d) => d.range.start.line === 4)).toBe(true);
    // No run yet: one profile that says so.
    expect(ctrl.profiles.map((p) => p.label)).toEqual(['No run with an adapter yet']);
    tests.dispose();
  });

  it('one profile per run with an adapter, and its + checkpoints variant; the newest is the default; a run without adapter has none', async () => {
    workspace(CASES);
    const root = path.join(h.ws, '.lora-lab', 'runs');
    handmadeRun(root, MODEL, DATA, 'older');
    await new Promise((r) => setTimeout(r, 1100)); // run ids and creation times to the second
    handmadeRun(root, MODEL, DATA, 'newer');
    const bare = handmadeRun(root, MODEL, DATA, 'bare');
    fs.rmSync(path.join(bare, 'adapter'), { recursive: true });
    const { ctrl, tests } = await controller();
    expect(ctrl.profiles.map((p) => [p.label, p.isDefault])).toEqual([['Run: newer', true], ['Run: newer + checkpoints', false], ['Run: older', false], ['Run: older + checkpoints', false]]);
    tests.dispose();
  });

  it('a request becomes a job: a model item runs its case on that model only; a whole file runs every case', async () => {
    const { file } = workspace(CASES);
    const { ctrl, tests } = await controller();
    const fileItem = ctrl.items.get(`file://${file}`);
    const impossible = fileItem.children.get(`${fileItem.id}#impossible`);
    const adapter = impossible.children.get(`${impossible.id}/adapter`);
    const target = { runDir: '/r', runLabel: 'r', checkpoints: true };
    const [g] = groupRequest(tests, { include: [adapter], exclude: [] } as never);
    expect(jobFor(g, target)).toEqual({ type: 'test', cases: fileItem.uri.fsPath, runDir: '/r', only: ['impossible'], kinds: ['adapter'] });
    const [all] = groupRequest(tests, { include: undefined, exclude: [] } as never);
    expect(jobFor(all, target)).toEqual({ type: 'test', cases: fileItem.uri.fsPath, runDir: '/r', checkpoints: true });
    const [less] = groupRequest(tests, { include: [fileItem], exclude: [impossible] } as never);
    expect(jobFor(less, target).only).toEqual(['says something', 'equals']);
    tests.dispose();
  });
});

describe('checkpoint items follow the run folder', () => {
  /** A checkpoint folder as training writes it: the adapter and trainer_state.json with its step. */
  const checkpoint = (runDir: string, name: string, step: number) => {
    const dir = path.join(runDir, 'checkpoints', name);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.cpSync(path.join(runDir, 'adapter'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'trainer_state.json'), JSON.stringify({ step }));
  };
  const modelsOf = (ctrl: MockCtrl, file: string) => {
    const out: string[][] = [];
    ctrl.items.get(`file://${file}`).children.forEach((c) => {
      const labels: string[] = [];
      c.children.forEach((m) => labels.push(m.label));
      out.push(labels);
    });
    return out;
  };
  /** What the runs watcher reports for a change under a run's checkpoints, then the debounce. */
  const fsEvent = async (file: string) => {
    const w = h.watchers.filter((x) => String((x.pattern as { pattern?: string }).pattern).includes('checkpoints'));
    expect(w.length).toBe(1);
    w[0].fire({ fsPath: file, scheme: 'file', toString: () => `file://${file}` });
    await new Promise((r) => setTimeout(r, 700));
  };
  const BASE = ['base', 'adapter', 'merged'];

  it('a checkpoint written, last replaced at a later step, one removed by a rewind: every case\'s checkpoint items follow (runCaseModels\' labels)', async () => {
    const { file } = workspace(CASES);
    const runDir = handmadeRun(path.join(h.ws, '.lora-lab', 'runs'), MODEL, DATA, 'devil');
    checkpoint(runDir, 'step-2', 2);
    const { ctrl, tests } = await controller();
    const expected = (ckpts: string[]) => [[...BASE, ...ckpts], [...BASE, ...ckpts], [...BASE, ...ckpts]];
    expect(modelsOf(ctrl, file)).toEqual(expected(['checkpoint step-2 (step 2)']));
    expect(runCaseModels(runDir, { checkpoints: true }).models.filter((m) => m.kind === 'checkpoint').map((m) => m.label)).toEqual(['checkpoint step-2 (step 2)']);
    expect([CHECKPOINT_ADAPTER_CONFIG, CHECKPOINT_TRAINER_STATE]).toEqual([ADAPTER_CONFIG, TRAINER_STATE]); // the host's copies of the names

    await new Promise((r) => setTimeout(r, 20)); // checkpoints are ordered by their folders' mtimes
    checkpoint(runDir, 'last', 4);
    await fsEvent(path.join(runDir, 'checkpoints', 'last', 'trainer_state.json'));
    expect(modelsOf(ctrl, file)).toEqual(expected(['checkpoint step-2 (step 2)', 'checkpoint last (step 4)']));

    fs.rmSync(path.join(runDir, 'checkpoints', 'step-2'), { recursive: true }); // a rewind
    checkpoint(runDir, 'last', 6);
    await fsEvent(path.join(runDir, 'checkpoints', 'step-2'));
    expect(modelsOf(ctrl, file)).toEqual(expected(['checkpoint last (step 6)']));
    expect(runCaseModels(runDir, { checkpoints: true }).models.filter((m) => m.kind === 'checkpoint').map((m) => m.label)).toEqual(['checkpoint last (step 6)']);

    // A case added to the file gets them too; a checkpoint without adapter files is no model.
    fs.mkdirSync(path.join(runDir, 'checkpoints', 'partial'));
    tests.tree.update(ctrl.items.get(`file://${file}`).uri as never, [...CASES, JSON.stringify({ name: 'new', prompt: 'x', expect: { contains: ['y'] } })].join('\n'));
    expect(modelsOf(ctrl, file)).toEqual([...expected(['checkpoint last (step 6)']), [...BASE, 'checkpoint last (step 6)']]);
    tests.dispose();
  });

  it("the newest run's checkpoints, until a run is run + checkpoints: then that run's", async () => {
    const { file } = workspace(CASES);
    const root = path.join(h.ws, '.lora-lab', 'runs');
    const older = handmadeRun(root, MODEL, DATA, 'older');
    checkpoint(older, 'last', 3);
    await new Promise((r) => setTimeout(r, 1100)); // run ids and creation times to the second
    const newer = handmadeRun(root, MODEL, DATA, 'newer');
    checkpoint(newer, 'last', 8);
    const { ctrl, tests } = await controller();
    expect(modelsOf(ctrl, file)[0]).toEqual([...BASE, 'checkpoint last (step 8)']);
    const profile = ctrl.profiles.find((p) => p.label === 'Run: older + checkpoints')!;
    await profile.handler({ include: [], exclude: [] }, token); // nothing to run: no worker
    expect(modelsOf(ctrl, file)[0]).toEqual([...BASE, 'checkpoint last (step 3)']);
    fs.rmSync(older, { recursive: true }); // that run deleted: back to the newest's
    await fsEvent(path.join(older, 'checkpoints', 'last'));
    expect(modelsOf(ctrl, file)[0]).toEqual([...BASE, 'checkpoint last (step 8)']);
    tests.dispose();
  });
});

describe('a Test Explorer run (forked worker, sample model)', () => {
  it('reports each model of each case, the failures with the generated text, equals as a diff; the case fails when one model fails; matrix and report', async () => {
    const { file } = workspace(CASES);
    const runDir = handmadeRun(path.join(h.ws, '.lora-lab', 'runs'), MODEL, DATA, 'devil');
    const { ctrl, tests } = await controller();
    const profile = ctrl.profiles.find((p) => p.isDefault)!;
    expect(profile.label).toBe('Run: devil');
    const fileItem = ctrl.items.get(`file://${file}`);
    await profile.handler({ include: [fileItem], exclude: [] }, token);
    const run = ctrl.runs[0];
    expect(run.ended).toBe(true);
    const state = (id: string) => run.log.filter((l) => l[1] === id && l[0] !== 'enqueued' && l[0] !== 'started').map((l) => l[0]);
    const caseId = (n: string) => `${fileItem.id}#${n}`;
    for (const m of ['base', 'adapter', 'merged']) {
      expect(state(`${caseId('says something')}/${m}`)).toEqual(['passed']);
      expect(state(`${caseId('impossible')}/${m}`)).toEqual(['failed']);
    }
    expect(state(caseId('says something'))).toEqual(['passed']);
    expect(state(caseId('impossible'))).toEqual(['failed']);
    const failed = run.log.find((l) => l[0] === 'failed' && l[1] === `${caseId('impossible')}/adapter`)![2]!;
    expect(failed[0].message).toMatch(/impossible failed on adapter:\n✗ contains: expected .*zzzz-never[\s\S]*Generated \(\d+ tokens/);
    expect(failed[0].location.range.start.line).toBe(2);
    const eq = run.log.find((l) => l[0] === 'failed' && l[1] === `${caseId('equals')}/base`)![2]!;
    expect(eq[0].expectedOutput).toBe('not this');
    expect(typeof eq[0].actualOutput).toBe('string');
    expect(run.output).toMatch(/case\s+base\s+adapter\s+merged\r\nsays something\s+✓\s+✓\s+✓\r\nimpossible\s+✗\s+✗\s+✗/);
    expect(run.output).toContain(`report written to ${path.join(runDir, 'evals', 'devil.json')}`);
    expect(fs.existsSync(path.join(runDir, 'evals', 'devil.json'))).toBe(true);
    tests.dispose();
  }, 120_000);
});

describe('the command Run Evaluation Cases…', () => {
  it('runs the active editor’s case file on the only run, as a Test Explorer run, then says where the results are', async () => {
    const { file } = workspace(CASES.slice(0, 1));
    handmadeRun(path.join(h.ws, '.lora-lab', 'runs'), MODEL, DATA, 'devil');
    const { ctrl, tests } = await controller();
    h.active = { document: { uri: { fsPath: file, scheme: 'file', toString: () => `file://${file}` } } };
    await tests.runCasesCommand();
    h.active = undefined;
    const run = ctrl.runs[0];
    expect(run.ended).toBe(true);
    expect(run.log.filter((l) => l[0] === 'passed').map((l) => l[1].split('#')[1])).toEqual(['says something/base', 'says something/adapter', 'says something/merged', 'says something']);
    expect(h.info).toHaveBeenLastCalledWith(expect.stringMatching(/evaluation cases of devil\.evals\.jsonl ran on devil/), 'Show Test Results', 'Show Results Panel');
    tests.dispose();
  }, 120_000);
});

describe('text of results', () => {
  const outcome = (model: string, status: CaseOutcome['status'], extra: Partial<CaseOutcome> = {}): CaseOutcome => ({ case: 'c', line: 1, model, status, checks: [], ...extra });

  it('rollup: passed only when every model passed (skips aside); an error wins over a failure', () => {
    expect(rollup(['pass', 'pass', 'skip'])).toBe('pass');
    expect(rollup(['pass', 'fail'])).toBe('fail');
    expect(rollup(['fail', 'error'])).toBe('error');
    expect(rollup(['skip', 'skip'])).toBe('skip');
  });

  it('failureText and equalsDiff: the failed checks, the generated text, the trimmed pair for a diff', () => {
    const o = outcome('adapter', 'fail', {
      checks: [{ kind: 'equals', status: 'fail', expected: 'equals "A"', actual: '"B"' }, { kind: 'contains', status: 'fail', expected: 'contains "x"', actual: 'the output', message: 'not found' }],
      output: { text: ' B\n', ids: [1, 2], stop: 'eos', ms: 5 },
    });
    expect(failureText(o, true)).toBe('c failed on adapter:\n✗ contains: expected contains "x", got the output (not found)\n\nGenerated (2 tokens, stopped at end of sequence):\n B\n');
    expect(equalsDiff({ name: 'c', line: 1, expect: { equals: ' A ' } }, o)).toMatchObject({ expected: 'A', actual: 'B' });
    expect(failureText(outcome('base', 'pass'))).toBeUndefined();
    expect(failureText(outcome('base', 'error', { error: 'prompt too long' }))).toBe('c could not run on base: prompt too long');
  });

  it('matrixLines: a row per case, a column per model, evalCases.tally\'s line per model', () => {
    const r = { models: [{ label: 'base' }, { label: 'adapter' }], cases: [{ name: 'c', line: 1 }, { name: 'd', line: 2 }], notes: ['merged in memory'],
      outcomes: [outcome('base', 'fail'), outcome('adapter', 'pass'), { ...outcome('base', 'pass'), case: 'd', line: 2 }, { ...outcome('adapter', 'error'), case: 'd', line: 2 }] } as unknown as CasesReport;
    expect(matrixLines(r)).toEqual(['case  base  adapter', 'c     ✗     ✓', 'd     ✓     !', '', 'base 1/2 passed (1 failed) · adapter 1/2 passed (1 error)', 'note: merged in memory']);
  });
});
