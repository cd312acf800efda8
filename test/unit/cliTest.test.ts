// `lora-lab test` (src/cli/test.ts) and a run's own case file (run config `evals`): a 2-step run of
// the sample model with a case file writes <run>/evals/<name>.json at the end (decodeCasesReport
// reads it); then the command's exit codes (0 gate passes, 1 gate fails or errors, 2 bad usage or
// a case file with problems, each listed as file:line), --only, --gate, --junit and --json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runSession, type SessionEvent } from '../../src/core/session';
import { runCaseModels } from '../../src/core/runCases';
import { decodeCasesReport, type CasesReport } from '../../src/protocol/evalCases';
import { cli } from './helpers/cli';

const SAMPLE = path.join(__dirname, '..', '..', 'samples', 'model');
const DEVIL = path.join(__dirname, '..', '..', 'samples', 'datasets', 'devil', 'train.jsonl');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-clitest-'));
const write = (name: string, lines: object[] | string): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof lines === 'string' ? lines : lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
};
const PASSING = { name: 'says-something', prompt: 'Define: Bait\n', expect: { regex: '[\\s\\S]' }, maxNewTokens: 4 };
const FAILING = { name: 'never', prompt: 'Define: Bait\n', expect: { contains: ['zzzz-not-in-any-output'] }, maxNewTokens: 4 };
const LOSS = { name: 'loss', prompt: 'Define: Bait\n', completion: 'A preparation that renders the hook more palatable.', expect: { maxLoss: 100, lowerLossThanBase: true } };

let runDir = '';
const events: SessionEvent[] = [];

beforeAll(async () => {
  const data = write('train.jsonl', fs.readFileSync(DEVIL, 'utf8').split('\n').slice(0, 40).join('\n') + '\n');
  const evals = write('run.evals.jsonl', [PASSING, LOSS]);
  for await (const e of runSession({ model: SAMPLE, data, evals, workspace: dir, backend: 'wasm', training: { maxSteps: 2, batchSize: 4, maxSeqLen: 48 } })) events.push(e);
  const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
  expect(fin.status, fin.message).toBe('completed');
  runDir = fin.runDir!;
}, 240_000);

describe('a run names a case file (evals)', () => {
  it('the end-of-run evaluation writes <run>/evals/run.json for base, adapter and merged, and logs a tally line', () => {
    const file = path.join(runDir, 'evals', 'run.json');
    const decoded = decodeCasesReport(JSON.parse(fs.readFileSync(file, 'utf8')));
    expect(decoded.ok).toBe(true);
    const report = (decoded as { ok: true; value: CasesReport }).value;
    expect(report.models.map((m) => m.label)).toEqual(['base', 'adapter', 'merged']);
    expect(report.run).toBe(path.resolve(runDir));
    expect(report.outcomes).toHaveLength(6);
    expect(report.outcomes.find((o) => o.case === 'loss' && o.model === 'base')!.checks.find((c) => c.kind === 'lowerLossThanBase')!.status).toBe('skip');
    expect(events.some((e) => e.type === 'log' && /^cases: base \d\/2 passed/.test(e.message))).toBe(true);
    expect(fs.readFileSync(path.join(runDir, 'train.log'), 'utf8')).toMatch(/cases: base .*adapter .*merged/);
    const record = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { config: { evals?: string } };
    expect(record.config.evals).toBe(path.join(dir, 'run.evals.jsonl'));
  });

  it('a case file with problems is a warning in the log, not a failed run', async () => {
    const data = path.join(dir, 'train.jsonl');
    const bad = write('bad-run.evals.jsonl', '{"name": "x", "expect": {}}\n');
    const evs: SessionEvent[] = [];
    for await (const e of runSession({ model: SAMPLE, data, evals: bad, workspace: dir, backend: 'wasm', training: { maxSteps: 1, batchSize: 4, maxSeqLen: 32 } })) evs.push(e);
    expect((evs.at(-1) as Extract<SessionEvent, { type: 'finished' }>).status).toBe('completed');
    expect(evs.some((e) => e.type === 'log' && e.level === 'warn' && e.message.includes(`${bad}:1`))).toBe(true);
  }, 240_000);

  it('runCaseModels: base, adapter and merged (in memory, with a note); --checkpoints adds each checkpoint with its step', () => {
    const { models, notes } = runCaseModels(runDir, { checkpoints: true });
    expect(models.map((m) => m.kind)).toEqual(['base', 'adapter', 'merged', ...models.slice(3).map(() => 'checkpoint')]);
    expect(models.length).toBeGreaterThan(3);
    expect(models.slice(3).every((m) => m.step === 2 && m.label.endsWith('(step 2)'))).toBe(true);
    expect(models[2].note).toMatch(/^in memory/);
    expect(notes.some((n) => n.includes('in memory'))).toBe(true);
  });
});

describe('lora-lab test', () => {
  it('exit 0 when every case passes on the gate; the matrix names each model; --run writes the report into the run', async () => {
    const cases = write('ok.evals.jsonl', [PASSING, { ...LOSS, expect: { maxLoss: 100 } }]);
    const r = await cli(['test', '--cases', cases, '--run', runDir, '--backend', 'wasm']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^case\s+base\s+adapter\s+merged$/m);
    expect(r.out).toMatch(/^says-something\s+✓\s+✓\s+✓$/m);
    expect(r.out).toMatch(/^loss\s+✓\s+✓\s+✓$/m);
    expect(r.out).toMatch(/ok: every case passes on adapter \(the gate\)/);
    expect(fs.existsSync(path.join(runDir, 'evals', 'ok.json'))).toBe(true);
  }, 120_000);

  it('exit 1 when a case fails on the gate, with expected vs got and the output; --only leaves it out (exit 0); --junit writes one testsuite per model', async () => {
    const cases = write('mixed.evals.jsonl', [PASSING, FAILING]);
    const junit = path.join(dir, 'out', 'junit.xml');
    const r = await cli(['test', '--cases', cases, '--run', runDir, '--backend', 'wasm', '--junit', junit]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`✗ never on adapter (${cases}:2)`);
    expect(r.out).toMatch(/expected {2}contains "zzzz-not-in-any-output"/);
    expect(r.out).toMatch(/output {4}".*"/);
    expect(r.out).toMatch(/^adapter 1\/2 passed \(1 failed\) {2}\(gate\)$/m); // evalCases.tally's line
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml.match(/<testsuite /g)).toHaveLength(3);
    expect(xml.match(/<testcase /g)).toHaveLength(6);
    const only = await cli(['test', '--cases', cases, '--run', runDir, '--backend', 'wasm', '--only', 'says-something']);
    expect(only.code, only.out).toBe(0);
  }, 120_000);

  it('--gate: an adapter that does not load errors its cases (exit 1 with the default gate, adapter); --gate base passes (exit 0); an unknown gate is bad usage (exit 2)', async () => {
    const cases = write('gate.evals.jsonl', [PASSING]);
    const broken = path.join(dir, 'no-adapter-here');
    const args = ['test', '--cases', cases, '--model', SAMPLE, '--adapter', broken, '--backend', 'wasm'];
    const byDefault = await cli(args);
    expect(byDefault.code).toBe(1);
    expect(byDefault.out).toMatch(/^says-something\s+✓\s+E$/m);
    expect(byDefault.out).toContain(broken);
    expect((await cli([...args, '--gate', 'base'])).code).toBe(0);
    const unknown = await cli([...args, '--gate', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/--gate nope: no such model; the models are base, adapter/);
  }, 120_000);

  it('--json prints a report decodeCasesReport reads, with the gate', async () => {
    const cases = write('json.evals.jsonl', [PASSING]);
    const r = await cli(['test', '--cases', cases, '--model', SAMPLE, '--backend', 'wasm', '--json']);
    expect(r.code).toBe(0);
    const decoded = decodeCasesReport(JSON.parse(r.out));
    expect(decoded).toMatchObject({ ok: true, value: { gate: 'base', models: [{ label: 'base', kind: 'base' }] } });
  }, 120_000);

  it('exit 2 for a case file with problems, each listed as file:line; and for an unknown --only name', async () => {
    const bad = write('bad.evals.jsonl', '{"name": "a", "prompt": "x", "expect": {"contians": ["y"]}}\nnot json\n');
    const r = await cli(['test', '--cases', bad, '--model', SAMPLE]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1(:\\d+)?: error: `));
    expect(r.err).toMatch(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2(:\\d+)?: error: `));
    const cases = write('only.evals.jsonl', [PASSING]);
    const only = await cli(['test', '--cases', cases, '--model', SAMPLE, '--only', 'nope']);
    expect(only.code).toBe(2);
    expect(only.err).toMatch(/no case named "nope"; the cases are says-something/);
  });
});
