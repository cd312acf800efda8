// The worker: a child process forked by the extension host (src/worker/client.ts) or a test. It
// receives one job — train (or resume) a run, evaluate a finished run, merge a run's adapter, run a
// case file's evaluation cases (issue 16) —
// and then `cancel` when asked; every message is decoded first (a malformed one is logged with
// its reason and dropped). It sends the job's events back, ending with `finished` and `exit`.
// Tensor work, native aborts and GPU memory live and die here, never in the extension host.
import * as path from 'node:path';
import { initBackend } from '../core/backend';
import { readCases } from '../core/eval/cases/caseFile';
import { runCases } from '../core/eval/cases/run';
import { mergeModelFolder } from '../core/peft/merge';
import { resolveRunConfig } from '../core/runConfig';
import { runCaseModels, writeRunCasesReport } from '../core/runCases';
import { evaluateSavedRun } from '../core/runEval';
import { RunDir } from '../core/runs';
import { runSession } from '../core/session';
import type { CaseModel, ModelKind } from '../protocol/evalCases';
import { decodeToWorker, type FromWorker, type WorkerJob } from '../protocol/worker';

/** The folder of the run this worker trains, once known (its `run` event; a resumed run's too). */
let trainRunDir: string | undefined;

function send(m: FromWorker): Promise<void> {
  if (m.type === 'run') trainRunDir = m.dir;
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

if (!process.send) {
  console.error('lora-lab worker: start me with child_process.fork (no IPC channel)');
  process.exit(2);
}

const abort = new AbortController();
let started = false;

/** Runs the job, sending its events; resolves with the exit code (1 when it failed). */
async function run(job: WorkerJob): Promise<number> {
  if (job.type === 'train') {
    let code = 0;
    for await (const ev of runSession(job.config, { signal: abort.signal, resumeRunDir: job.resumeRunDir })) {
      await send(ev);
      if (ev.type === 'finished' && ev.status === 'failed') code = 1;
    }
    return code;
  }
  // Evaluate and merge: phase events as they come, then the result and `finished`.
  const pending: Promise<void>[] = [];
  const onPhase = (e: Extract<FromWorker, { type: 'phase' }>) => void pending.push(send(e));
  try {
    if (job.type === 'evaluate') {
      const { path, report } = await evaluateSavedRun(job.runDir, { onPhase, signal: abort.signal, adapterDir: job.adapter });
      await Promise.all(pending);
      await send({ type: 'evaluation', path, report });
      await send({ type: 'finished', status: 'completed', runDir: job.runDir });
    } else if (job.type === 'test') {
      await runTestJob(job, onPhase, pending);
    } else {
      await send({ type: 'phase', phase: 'merging' });
      // Into a run's folder (the default <run>/merged): as its one writer meanwhile.
      const lock = RunDir.containing(job.out)?.lock('merge');
      let summary: ReturnType<typeof mergeModelFolder>;
      try {
        summary = mergeModelFolder({ model: job.model, adapter: job.adapter, out: job.out, force: job.force });
      } finally {
        lock?.release();
      }
      await send({ type: 'merged', out: summary.out, summary });
      await send({ type: 'finished', status: 'completed' });
    }
    return 0;
  } catch (e) {
    await Promise.all(pending);
    const err = e as Error;
    if (abort.signal.aborted) {
      await send({ type: 'finished', status: 'cancelled', message: `${job.type} cancelled` });
      return 0;
    }
    await send({ type: 'finished', status: 'failed', message: err.message ?? String(e), errorKind: err.name ?? 'internal' });
    return 1;
  }
}

const MODEL_KINDS: readonly ModelKind[] = ['base', 'adapter', 'merged', 'checkpoint'];

/**
 * The `test` job: the case file read (every problem of a malformed one in the error, as file:line),
 * the models built (a run's, or the model and adapter given), the backend started as the run's own
 * evaluation starts it, each case × model sent as it is known, then the report (written into the
 * run's evals/ folder for the results panel) and `finished`. Throws what the caller reports.
 */
async function runTestJob(job: Extract<WorkerJob, { type: 'test' }>, onPhase: (e: Extract<FromWorker, { type: 'phase' }>) => void, pending: Promise<void>[]): Promise<void> {
  const file = path.resolve(job.cases);
  // A malformed file throws CaseFileError, its message listing every problem as file:line:column.
  const cases = readCases(file);
  const unknown = (job.kinds ?? []).filter((k) => !(MODEL_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new Error(`unknown model kind${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}: use ${MODEL_KINDS.join(', ')}`);
  const kinds = job.kinds as ModelKind[] | undefined;
  let models: CaseModel[];
  let notes: string[] = [];
  let backendChoice: Parameters<typeof initBackend>[0] = 'auto';
  let threads: number | undefined;
  if (job.runDir) {
    ({ models, notes } = runCaseModels(job.runDir, { kinds, checkpoints: job.checkpoints }));
    const config = resolveRunConfig(RunDir.open(job.runDir).record().config);
    backendChoice = config.backend;
    threads = config.threads;
  } else if (job.model) {
    models = [{ label: 'base', kind: 'base', model: job.model }];
    if (job.adapter) models.push({ label: 'adapter', kind: 'adapter', model: job.model, adapter: job.adapter });
    if (kinds) models = models.filter((m) => kinds.includes(m.kind));
  } else {
    throw new Error('the test job needs a run folder (runDir) or a model folder (model)');
  }
  if (models.length === 0) throw new Error(`no model to run the cases on${kinds ? ` (kinds ${kinds.join(', ')})` : ''}${notes.length ? `: ${notes.join('; ')}` : ''}`);
  const backend = await initBackend(backendChoice, { threads });
  const report = await runCases({
    file, cases, models, backend, only: job.only, signal: abort.signal, onPhase, notes,
    ...(job.runDir && { run: job.runDir }),
    onOutcome: (outcome) => void pending.push(send({ type: 'caseOutcome', outcome })),
  });
  await Promise.all(pending);
  const written = job.runDir ? writeRunCasesReport(job.runDir, report) : undefined;
  await send({ type: 'cases', report, ...(written !== undefined && { path: written }) });
  await send({ type: 'finished', status: 'completed', ...(job.runDir && { runDir: job.runDir }) });
}

process.on('message', (raw: unknown) => {
  const m = decodeToWorker(raw);
  if (!m.ok) {
    console.error(`lora-lab worker: ignored a message: ${m.error}`);
    return;
  }
  const msg = m.value;
  if (msg.type === 'cancel') {
    abort.abort();
    return;
  }
  if (started) {
    console.error(`lora-lab worker: ignored "${msg.type}": this worker already has a job`);
    return;
  }
  started = true;
  void run(msg).then(async (code) => {
    await send({ type: 'exit', code });
    process.exit(code);
  });
});

// The parent went away (window reload, extension host crash or kill, WorkerClient.detach): stop
// as a cancel does (a training session saves a checkpoint), then leave. Unless the user had
// cancelled first, the run is marked `interrupted`, not `cancelled`: the next activation offers
// Resume. A worker still busy after 30 s exits anyway; its `running` record with a dead pid reads
// as interrupted too (core/runs/list.ts).
process.on('disconnect', () => {
  const userCancelled = abort.signal.aborted;
  abort.abort();
  if (!userCancelled) process.on('exit', () => markInterrupted(trainRunDir));
  setTimeout(() => process.exit(0), 30_000).unref();
});

/** The run this worker trained, marked `interrupted` (its checkpoints and metrics kept), unless it had ended otherwise. */
function markInterrupted(dir: string | undefined): void {
  if (!dir) return;
  try {
    const run = RunDir.open(dir);
    const status = run.record().status;
    if (status !== 'running' && status !== 'cancelled') return;
    run.update({ status: 'interrupted', endedAt: new Date().toISOString() });
    run.log('interrupted: the window that started this run went away (reload, crash or kill); resume it from its last checkpoint');
  } catch {
    // The run folder is unreadable: its `running` record with a dead pid still reads as interrupted.
  }
}

void send({ type: 'ready', pid: process.pid });
