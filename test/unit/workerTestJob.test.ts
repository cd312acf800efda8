// The worker's `test` job (issue 16), forked as the Test Explorer forks it (src/worker/client.ts):
// on the sample model (model given), every case × model arrives as a `caseOutcome` before the
// `cases` report, whose outcomes they equal; `only` and `kinds` narrow it; a malformed case file
// fails the job with each problem as file:line; a cancel ends it as `cancelled`; on a run folder
// (the sample model with a hand-made adapter) it runs base, adapter and merged and writes
// <run>/evals/<name>.json, the report the results panel reads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCasesReport, type CaseOutcome } from '../../src/protocol/evalCases';
import type { FromWorker, WorkerJob } from '../../src/protocol/worker';
import { WorkerClient } from '../../src/worker/client';
import { buildWorker, startJob as startWorkerJob } from './helpers/buildWorker';
import { handmadeRun } from './helpers/handmadeRun';

const MODEL = path.join(__dirname, '..', '..', 'samples', 'model');
const DATA = path.join(__dirname, '..', '..', 'samples', 'datasets', 'devil', 'train.jsonl');
let script: string;
let dir: string;

beforeAll(async () => {
  script = await buildWorker();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-test-job-'));
});

function caseFile(name: string, lines: string[]): string {
  const f = path.join(dir, `${name}.evals.jsonl`);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

const CASES = [
  JSON.stringify({ name: 'says something', prompt: 'Define: Abasement\n', expect: { notContains: ['zzzz-never'] }, maxNewTokens: 4 }),
  JSON.stringify({ name: 'impossible', prompt: 'Define: Abatis\n', expect: { contains: ['zzzz-never'] }, maxNewTokens: 4 }),
  JSON.stringify({ name: 'equals', prompt: 'Define: Abdication\n', expect: { equals: 'not this' }, maxNewTokens: 3 }),
];

/** The bundled worker on a job, its events recorded (helpers/buildWorker.ts). */
const startJob = (job: WorkerJob, onEvent?: (e: FromWorker, w: WorkerClient) => void) => startWorkerJob(script, job, onEvent);

const outcomesOf = (events: FromWorker[]) => events.filter((e): e is Extract<FromWorker, { type: 'caseOutcome' }> => e.type === 'caseOutcome').map((e) => e.outcome);
const finishedOf = (events: FromWorker[]) => events.find((e): e is Extract<FromWorker, { type: 'finished' }> => e.type === 'finished');

describe('worker test job (forked)', () => {
  it('model given: an outcome per case × model, all before the report, which holds the same outcomes; exit 0', async () => {
    const file = caseFile('basic', CASES);
    const { worker, events } = startJob({ type: 'test', cases: file, model: MODEL });
    const out = await worker.done;
    expect(out.exitCode, out.stderrTail).toBe(0);
    const types = events.map((e) => e.type);
    const casesAt = types.indexOf('cases');
    expect(casesAt).toBeGreaterThan(0);
    expect(types.lastIndexOf('caseOutcome')).toBeLessThan(casesAt);
    expect(types.slice(casesAt)).toEqual(['cases', 'finished', 'exit']);
    const outcomes = outcomesOf(events);
    expect(outcomes.map((o) => `${o.case}@${o.model}`).sort()).toEqual(['equals@base', 'impossible@base', 'says something@base']);
    const byName = (n: string) => outcomes.find((o) => o.case === n)!;
    expect(byName('says something').status).toBe('pass');
    expect(byName('impossible').status).toBe('fail');
    expect(byName('impossible').line).toBe(2);
    expect(byName('equals').status).toBe('fail');
    expect(byName('equals').output?.text).toBeTypeOf('string');
    const casesEv = events.find((e) => e.type === 'cases') as Extract<FromWorker, { type: 'cases' }>;
    expect(casesEv.path).toBeUndefined(); // no run: nothing written
    const report = casesEv.report;
    expect(report.file).toBe(file);
    expect([...report.outcomes].sort(byKey)).toEqual([...outcomes].sort(byKey));
    expect(finishedOf(events)?.status).toBe('completed');
  }, 120_000);

  it('`only` runs just the named cases; an unknown model kind fails the job naming the kinds there are', async () => {
    const file = caseFile('only', CASES);
    const { worker, events } = startJob({ type: 'test', cases: file, model: MODEL, only: ['impossible'] });
    await worker.done;
    expect(outcomesOf(events).map((o) => o.case)).toEqual(['impossible']);
    const bad = startJob({ type: 'test', cases: file, model: MODEL, kinds: ['adaptor'] });
    const out = await bad.worker.done;
    expect(out.exitCode).toBe(1);
    expect(finishedOf(bad.events)?.message).toMatch(/unknown model kind adaptor: use base, adapter, merged, checkpoint/);
  }, 120_000);

  it('a malformed case file: finished failed listing every problem as file:line, no outcome', async () => {
    const file = caseFile('broken', [CASES[0], '{"name": "no expect", "prompt": "x"}', '{not json', CASES[0]]);
    const { worker, events } = startJob({ type: 'test', cases: file, model: MODEL });
    const out = await worker.done;
    expect(out.exitCode).toBe(1);
    const fin = finishedOf(events)!;
    expect(fin.status).toBe('failed');
    expect(fin.message).toContain(`${file}:2`);
    expect(fin.message).toContain(`${file}:3:`);
    expect(fin.message).toContain(`${file}:4`); // the duplicate name
    expect(outcomesOf(events)).toEqual([]);
    expect(events.some((e) => e.type === 'cases')).toBe(false);
  }, 60_000);

  it('cancel after the first outcome: finished cancelled, exit 0, no report', async () => {
    const many = Array.from({ length: 24 }, (_, i) => JSON.stringify({ name: `c${i}`, prompt: `Define: Word${i}\n`, expect: { contains: ['x'] }, maxNewTokens: 48 }));
    const file = caseFile('many', many);
    let cancelled = false;
    const { worker, events } = startJob({ type: 'test', cases: file, model: MODEL }, (e, w) => {
      if (e.type === 'caseOutcome' && !cancelled) {
        cancelled = true;
        w.cancel();
      }
    });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    expect(finishedOf(events)?.status).toBe('cancelled');
    expect(outcomesOf(events).length).toBeLessThan(24);
    expect(events.some((e) => e.type === 'cases')).toBe(false);
  }, 120_000);

  it('on a run folder: base, adapter and merged, the report written into <run>/evals/ and decodable', async () => {
    const runDir = handmadeRun(path.join(dir, 'runs'), MODEL, DATA);
    const file = caseFile('devil', CASES.slice(0, 2));
    const { worker, events } = startJob({ type: 'test', cases: file, runDir });
    const out = await worker.done;
    expect(out.exitCode, out.stderrTail).toBe(0);
    expect(out.run?.dir).toBe(runDir);
    const models = [...new Set(outcomesOf(events).map((o) => o.model))];
    expect(models).toEqual(['base', 'adapter', 'merged']);
    const cases = events.find((e) => e.type === 'cases') as Extract<FromWorker, { type: 'cases' }>;
    expect(cases.path).toBe(path.join(runDir, 'evals', 'devil.json'));
    const onDisk = decodeCasesReport(JSON.parse(fs.readFileSync(cases.path!, 'utf8')));
    expect(onDisk.ok).toBe(true);
    if (onDisk.ok) {
      expect(onDisk.value.run).toBe(runDir);
      expect(onDisk.value.outcomes).toHaveLength(6);
    }
    // `kinds` narrows a run to the models asked for.
    const narrowed = startJob({ type: 'test', cases: file, runDir, kinds: ['adapter'], only: ['impossible'] });
    await narrowed.worker.done;
    expect(outcomesOf(narrowed.events).map((o) => `${o.case}@${o.model}`)).toEqual(['impossible@adapter']);
  }, 120_000);
});

function byKey(a: CaseOutcome, b: CaseOutcome): number {
  return `${a.case}@${a.model}`.localeCompare(`${b.case}@${b.model}`);
}
