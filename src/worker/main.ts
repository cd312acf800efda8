// The worker: a child process forked by the extension host (src/worker/client.ts) or a test. It
// receives one job — train (or resume) a run, evaluate a finished run, merge a run's adapter —
// and then `cancel` when asked; every message is decoded first (a malformed one is logged with
// its reason and dropped). It sends the job's events back, ending with `finished` and `exit`.
// Tensor work, native aborts and GPU memory live and die here, never in the extension host.
import { mergeModelFolder } from '../core/peft/merge';
import { evaluateSavedRun } from '../core/runEval';
import { RunDir } from '../core/runs';
import { runSession } from '../core/session';
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
