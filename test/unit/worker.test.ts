// The real worker, forked as the extension host forks it: a short training job end to end,
// cancel (checkpoint saved, status cancelled), a killed worker (run marked failed with the
// reason, metrics and checkpoints kept); then the evaluate and merge jobs of the *Evaluate Run…*
// and *Merge and Export Run…* commands on the finished run, with their phase events; a parent that
// lets go mid-run (a window reload) leaves the run interrupted, to resume.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunDir } from '../../src/core/runs';
import { WorkerClient } from '../../src/worker/client';
import type { FromWorker, RunConfigInput, WorkerJob } from '../../src/protocol/worker';
import { buildWorker, startJob as startWorkerJob } from './helpers/buildWorker';
import type { EvalReport } from '../../src/protocol/evaluation';
import { Narrator } from '../../src/protocol/progress';
import { randomIds } from './helpers/randomModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');
let script: string;

beforeAll(async () => {
  script = await buildWorker();
});

function workspace(rows: number): { dir: string; data: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-worker-'));
  const data = path.join(dir, 'train.jsonl');
  // Pre-tokenized rows: the tiny fixture model has no tokenizer.
  fs.writeFileSync(data, randomIds(rows, 16, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  return { dir, data };
}

function start(config: RunConfigInput, onEvent: (e: FromWorker, w: WorkerClient) => void = () => {}) {
  return startJob({ type: 'train', config }, onEvent);
}

/** The bundled worker on a job, its events recorded (helpers/buildWorker.ts). */
const startJob = (job: WorkerJob, onEvent?: (e: FromWorker, w: WorkerClient) => void) => startWorkerJob(script, job, onEvent);

let finishedRun = '';

describe('training worker (forked)', () => {
  it('runs a short job end to end: events in order, run.json completed, PEFT adapter and metrics on disk', async () => {
    const ws = workspace(12);
    const { worker, events } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 4, batchSize: 2, evalEvery: 2 } });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('ready');
    for (const t of ['data', 'backend', 'run', 'preflight', 'step', 'eval', 'checkpoint', 'done', 'adapter', 'finished']) expect(types).toContain(t);
    const runEv = events.find((e) => e.type === 'run') as Extract<FromWorker, { type: 'run' }>;
    const run = RunDir.open(runEv.dir);
    expect(run.record().status).toBe('completed');
    expect(fs.existsSync(path.join(run.adapterDir, 'adapter_model.safetensors'))).toBe(true);
    expect(run.metrics().filter((m) => m.type === 'step')).toHaveLength(4);
    expect(out.run).toEqual({ runId: runEv.runId, dir: runEv.dir }); // the client knows the run it trained
    finishedRun = runEv.dir;

    // The phases: checking the data, loading the model and pre-flight before the first step, then merging, evaluating k/K, generating k/K.
    const phases = events.filter((e): e is Extract<FromWorker, { type: 'phase' }> => e.type === 'phase');
    expect([...new Set(phases.map((p) => p.phase))]).toEqual(['checking-data', 'loading-model', 'preflight', 'merging', 'evaluating', 'generating']);
    const lastEval = phases.filter((p) => p.phase === 'evaluating').at(-1)!;
    expect(lastEval.done).toBe(lastEval.total);
    expect(lastEval.detail).toBe('base, adapter, merged');
    // One narrator over the same events: during the evaluation the status line says so (not "4/4 · ETA 0s").
    const n = new Narrator();
    const seen: string[] = [];
    for (const e of events) {
      if (e.type === 'ready' || e.type === 'exit' || e.type === 'merged') continue;
      n.tell(e);
      seen.push(n.status());
    }
    expect(seen).toContainEqual(expect.stringMatching(/^Training · step 4\/4 · loss \d+\.\d{3} · \d+ tok\/s · ETA 0s$/));
    expect(seen).toContainEqual(expect.stringMatching(/^Evaluating base, adapter, merged · batch 1\/1 · ETA 0s$/));
    expect(seen).toContainEqual(expect.stringMatching(/^Generating · prompt \d+\/\d+/));
    expect(seen.at(-1)).toBe('Completed');
  });

  it('cancel: stops within a step, saves the last checkpoint, exits 0 with status cancelled', async () => {
    const ws = workspace(40);
    let cancelledAt = -1;
    const { worker, events } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 500, batchSize: 2 } }, (e, w) => {
      if (e.type === 'step' && cancelledAt < 0) {
        cancelledAt = e.step;
        w.cancel();
      }
    });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    const fin = events.find((e) => e.type === 'finished') as Extract<FromWorker, { type: 'finished' }>;
    expect(fin.status).toBe('cancelled');
    const done = events.find((e) => e.type === 'done') as Extract<FromWorker, { type: 'done' }>;
    expect(done.step).toBeLessThanOrEqual(cancelledAt + 1);
    const run = RunDir.open(fin.runDir!);
    expect(run.record().status).toBe('cancelled');
    expect(run.checkpointDir('last')).toBeDefined();
  });

  it('a killed worker: the host marks the run failed with the reason; metrics and checkpoint are kept', async () => {
    const ws = workspace(40);
    let killed = false;
    const { worker } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 500, batchSize: 2, checkpointEvery: 2, evalEvery: 2 } }, (e, w) => {
      if (e.type === 'checkpoint' && e.name === 'last' && !killed) {
        killed = true;
        w.kill();
      }
    });
    const out = await worker.done;
    expect(out.finished).toBeUndefined();
    expect(out.failure?.kind).toBe('out-of-memory'); // SIGKILL is what the kernel's OOM killer sends
    const runs = fs.readdirSync(path.join(ws.dir, '.lora-lab', 'runs'));
    const run = RunDir.open(path.join(ws.dir, '.lora-lab', 'runs', runs[0]));
    const rec = run.record();
    expect(rec.status).toBe('failed');
    expect(rec.error?.message).toMatch(/ran out of memory/);
    expect(run.metrics().filter((m) => m.type === 'step').length).toBeGreaterThanOrEqual(2);
    expect(run.checkpointDir('last')).toBeDefined();
  });
});

describe('a window that goes away mid-run (forked)', () => {
  it('the parent lets go mid-training (reload, crash, kill): the run is interrupted, not cancelled, with its last checkpoint; it resumes to completion', async () => {
    const ws = workspace(40);
    let detached = false;
    const config: RunConfigInput = { model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 10, batchSize: 2, checkpointEvery: 2, evalEvery: 5 } };
    const { worker, events } = start(config, (e, w) => {
      // Step 3 is logged after the checkpoint at step 2: the resume must not log it twice.
      if (e.type === 'step' && e.step === 3 && !detached) {
        detached = true;
        w.detach();
      }
    });
    const out = await worker.done;
    expect(out.detached).toBe(true);
    expect(out.failure).toBeUndefined();
    expect(out.exitCode).toBe(0);
    const runEv = events.find((e) => e.type === 'run') as Extract<FromWorker, { type: 'run' }>;
    const run = RunDir.open(runEv.dir);
    const rec = run.record();
    expect(rec.status).toBe('interrupted');
    expect(rec.endedAt).toBeDefined();
    expect(run.checkpointDir('last')).toBeDefined();
    expect(fs.readFileSync(run.logPath, 'utf8')).toMatch(/interrupted: the window that started this run went away/);
    expect(fs.existsSync(path.join(run.dir, 'run.lock'))).toBe(false);

    const resumed = startJob({ type: 'train', config, resumeRunDir: run.dir });
    const out2 = await resumed.worker.done;
    expect(out2.exitCode).toBe(0);
    const again = resumed.events.find((e) => e.type === 'run') as Extract<FromWorker, { type: 'run' }>;
    expect(again.dir).toBe(run.dir);
    expect(again.resumedFromStep).toBeGreaterThan(0);
    expect(run.record().status).toBe('completed');
    expect(fs.existsSync(path.join(run.adapterDir, 'adapter_config.json'))).toBe(true);
    // Rows logged past the checkpoint by the first attempt were set aside (core/runs/rewind.ts):
    // each step 1…10 is in metrics.jsonl once.
    const steps = run.metrics().flatMap((r) => (r.type === 'step' ? [r.step as number] : []));
    expect(steps).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  it('a user cancel, then the parent going away: the run stays cancelled', async () => {
    const ws = workspace(40);
    let cancelled = false;
    const { worker } = start({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 500, batchSize: 2 } }, (e, w) => {
      if (e.type === 'step' && !cancelled) {
        cancelled = true;
        w.cancel();
        setTimeout(() => w.detach(), 5);
      }
    });
    const out = await worker.done;
    const runs = fs.readdirSync(path.join(ws.dir, '.lora-lab', 'runs'));
    const run = RunDir.open(path.join(ws.dir, '.lora-lab', 'runs', runs[0]));
    expect(run.record().status).toBe('cancelled');
    expect(out.failure).toBeUndefined();
  });
});

describe('evaluate and merge jobs (forked)', () => {
  it('evaluate: a finished run scored again on its held-out examples; phase events, then evaluation and finished; eval.json rewritten', async () => {
    expect(finishedRun).not.toBe('');
    const before = JSON.parse(fs.readFileSync(path.join(finishedRun, 'eval.json'), 'utf8')) as EvalReport;
    const { worker, events } = startJob({ type: 'evaluate', runDir: finishedRun });
    const out = await worker.done;
    expect(out.exitCode).toBe(0);
    expect(out.run?.dir).toBe(finishedRun);
    const phases = events.flatMap((e) => (e.type === 'phase' ? [e.phase] : []));
    expect([...new Set(phases)]).toEqual(['checking-data', 'loading-model', 'merging', 'evaluating', 'generating']);
    const ev = events.find((e) => e.type === 'evaluation') as Extract<FromWorker, { type: 'evaluation' }>;
    expect(ev.path).toBe(path.join(finishedRun, 'eval.json'));
    expect(events.at(-2)).toMatchObject({ type: 'finished', status: 'completed' });
    const after = JSON.parse(fs.readFileSync(ev.path, 'utf8')) as EvalReport;
    expect(after.createdAt).not.toBe(before.createdAt);
    // The same examples and seed as the end-of-run evaluation: the same scores.
    for (const k of ['base', 'adapter', 'merged'] as const) expect(after[k]!.loss).toBeCloseTo(before[k]!.loss, 5);
    expect(RunDir.open(finishedRun).record().status).toBe('completed');
  });

  it('evaluate, cancelled before its first batch: finished cancelled, the run and its eval.json untouched', async () => {
    const evalJson = path.join(finishedRun, 'eval.json');
    const before = fs.readFileSync(evalJson, 'utf8');
    const { worker, events } = startJob({ type: 'evaluate', runDir: finishedRun });
    worker.cancel();
    const out = await worker.done;
    expect(out.failure).toBeUndefined();
    expect(events.find((e) => e.type === 'finished')).toMatchObject({ status: 'cancelled' });
    expect(fs.readFileSync(evalJson, 'utf8')).toBe(before);
  });

  it('merge: the run\'s adapter merged into its base, written as a model folder; a merged event with the summary', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lora-merge-job-')), 'merged');
    const { worker, events } = startJob({ type: 'merge', model: MODEL, adapter: path.join(finishedRun, 'adapter'), out });
    const res = await worker.done;
    expect(res.exitCode).toBe(0);
    const merged = events.find((e) => e.type === 'merged') as Extract<FromWorker, { type: 'merged' }>;
    expect(merged.out).toBe(out);
    expect(merged.summary.mergedModules.length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(out, 'config.json'))).toBe(true);
    expect(events.filter((e) => e.type === 'phase').map((e) => (e as { phase: string }).phase)).toEqual(['merging']);
    // A second merge into the same folder fails with the reason, as a finished event (the worker lives to say it).
    const again = startJob({ type: 'merge', model: MODEL, adapter: path.join(finishedRun, 'adapter'), out });
    expect((await again.worker.done).exitCode).toBe(1);
    expect(again.events.find((e) => e.type === 'finished')).toMatchObject({ status: 'failed', message: expect.stringMatching(/already exists/) });
  });

  it('a merge that does not stop when cancelled is killed after the grace time: a cancel, not an out-of-memory', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lora-merge-cancel-')), 'merged');
    const { worker } = startJob({ type: 'merge', model: MODEL, adapter: path.join(finishedRun, 'adapter'), out });
    worker.cancel(1); // the worker is still starting: it is killed before it can stop by itself
    const res = await worker.done;
    expect(res.failure).toBeUndefined();
    expect(res.finished).toMatchObject({ status: 'cancelled', message: 'the merge worker was stopped' });
    expect(fs.existsSync(out)).toBe(false);
  });
});
