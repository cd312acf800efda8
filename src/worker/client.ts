// Parent side of the worker (src/worker/main.ts): forks it with the environment the native
// backends need, sends it one job, decodes and relays its events, cancels it (gracefully, then
// by force), and tells a crash or an out-of-memory kill from a cancel. It is the host's one owner
// of the run's identity (which run folder the job works on). No vscode import: the host wraps it
// (src/host/trainingController.ts, src/commands/runs.ts) and the tests fork it as they are.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { workerEnvironment } from '../core/backend/cudaEnv';
import { RunDir } from '../core/runs';
import { decodeFromWorker, type FromWorker, type SessionEvent, type WorkerJob } from '../protocol/worker';

export type FinishedEvent = Extract<SessionEvent, { type: 'finished' }>;

/** The run a job works on: the training run once its folder exists, or the run evaluated. */
export interface RunRef {
  runId: string;
  dir: string;
}

export interface WorkerOutcome {
  /** The job's own `finished` event, when the worker lived to send it. */
  finished?: FinishedEvent;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the worker died without finishing: 'crash' or 'out-of-memory'. */
  failure?: { kind: 'crash' | 'out-of-memory'; message: string };
  /** Set when the host let go of the worker (detach): a training run is left `interrupted`, to resume. */
  detached?: boolean;
  stderrTail: string;
  run?: RunRef;
}

export interface WorkerOptions {
  /** The environment to fork with (workerEnvironment adds the native/CUDA variables); default process.env. */
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
  /** Hears each message from the worker that did not decode, with the reason (the message is dropped). */
  onRejected?: (reason: string) => void;
}

const STDERR_KEEP = 8_000;
/** After a cancel, how long a training worker gets to save its checkpoint before it is killed. */
const CANCEL_GRACE_MS = 60_000;
/** An evaluation stops between batches; a merge writes to a temporary folder: neither has anything to save. */
const JOB_CANCEL_GRACE_MS = 5_000;

const JOB_NAME: Record<WorkerJob['type'], string> = { train: 'training worker', evaluate: 'evaluation worker', merge: 'merge worker', test: 'evaluation-cases worker' };

export class WorkerClient {
  readonly done: Promise<WorkerOutcome>;
  private readonly child: ChildProcess;
  private stderr = '';
  private finished?: FinishedEvent;
  private runRef?: RunRef;
  private killTimer?: NodeJS.Timeout;
  /** The grace time, when the worker was killed because it did not stop within it after a cancel. */
  private killedAfterCancel?: number;
  /** The host let go of the worker (detach): not a user's cancel. */
  private detached = false;

  constructor(
    workerScript: string,
    private readonly job: WorkerJob,
    private readonly onEvent: (e: FromWorker) => void,
    opts: WorkerOptions = {},
  ) {
    if (job.type === 'evaluate') this.runRef = { runId: path.basename(job.runDir), dir: job.runDir };
    if (job.type === 'test' && job.runDir) this.runRef = { runId: path.basename(job.runDir), dir: job.runDir };
    this.child = fork(workerScript, [], {
      env: workerEnvironment(opts.env ?? process.env, { threads: job.type === 'train' ? job.config.threads : undefined }),
      execArgv: opts.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-STDERR_KEEP);
    });
    this.child.stdout?.on('data', () => {});
    this.child.on('message', (raw: unknown) => {
      const m = decodeFromWorker(raw);
      if (!m.ok) {
        (opts.onRejected ?? ((r: string) => console.error(`lora-lab: ${r}`)))(m.error);
        return;
      }
      const e = m.value;
      if (e.type === 'run') this.runRef = { runId: e.runId, dir: e.dir };
      if (e.type === 'finished') this.finished = e;
      this.onEvent(e);
    });
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        clearTimeout(this.killTimer);
        resolve(this.outcome(code, signal));
      });
    });
    this.child.send(job);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The run this job works on (undefined for a merge, and for a training run before its folder exists). */
  get run(): RunRef | undefined {
    return this.runRef;
  }

  get jobType(): WorkerJob['type'] {
    return this.job.type;
  }

  /**
   * Asks the worker to stop (a training run after the current step, saving a checkpoint; an
   * evaluation between batches); kills it if it has not exited in time.
   */
  cancel(graceMs = this.job.type === 'train' ? CANCEL_GRACE_MS : JOB_CANCEL_GRACE_MS): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'cancel' });
    clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => {
      this.killedAfterCancel = graceMs;
      this.child.kill('SIGKILL');
    }, graceMs);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  /**
   * Lets go of the worker as a window that goes away does (reload, shutdown): the IPC channel is
   * closed, the worker stops as on a cancel (a training run saves its checkpoint) and marks the run
   * `interrupted`, not `cancelled`, for the next activation to offer Resume (src/worker/main.ts).
   * Killed if it has not exited within `graceMs` while this process still lives.
   */
  detach(graceMs = CANCEL_GRACE_MS): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.detached = true;
    if (this.child.connected) this.child.disconnect();
    clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    this.killTimer.unref();
  }

  private outcome(code: number | null, signal: NodeJS.Signals | null): WorkerOutcome {
    const base = { exitCode: code, signal, stderrTail: this.stderr, finished: this.finished, run: this.runRef };
    if (this.finished) return base;
    const who = JOB_NAME[this.job.type];
    if (this.detached) {
      // The worker marks its run interrupted on its way out; this covers one killed before it could.
      if (this.job.type === 'train' && this.runRef) {
        try {
          const run = RunDir.open(this.runRef.dir);
          if (run.record().status === 'running') run.update({ status: 'interrupted', endedAt: new Date().toISOString() });
        } catch {
          // Unreadable: a `running` record with a dead pid reads as interrupted anyway.
        }
      }
      return { ...base, detached: true, finished: { type: 'finished', status: 'cancelled', message: `the ${who} was let go (the window went away)`, ...(this.runRef ? { runDir: this.runRef.dir } : {}) } };
    }
    // Cancelled, then stopped by force: an evaluation or a merge has nothing to keep, so that is just a cancel.
    if (this.killedAfterCancel !== undefined && this.job.type !== 'train') {
      return { ...base, finished: { type: 'finished', status: 'cancelled', message: `the ${who} was stopped`, ...(this.runRef ? { runDir: this.runRef.dir } : {}) } };
    }
    const oom = this.killedAfterCancel === undefined && (signal === 'SIGKILL' || /heap out of memory|memory access out of bounds|std::bad_alloc|OOM|out of memory/i.test(this.stderr));
    const kind = oom ? 'out-of-memory' : 'crash';
    const lastLine = this.stderr.trim().split('\n').slice(-3).join(' | ');
    const message = this.killedAfterCancel !== undefined
      ? `the ${who} did not stop within ${Math.round(this.killedAfterCancel / 1000)} s of the cancel and was killed; the run keeps its metrics and last checkpoint`
      : oom
      ? `the ${who} ran out of memory (${signal ?? `exit code ${code}`}): lower the batch size, the max sequence length or the rank${lastLine ? `; ${lastLine}` : ''}`
      : `the ${who} crashed (${signal ?? `exit code ${code}`})${lastLine ? `: ${lastLine}` : ''}`;
    // A training worker could not record its own end: do it here, keeping its metrics and checkpoints.
    // (An evaluation or a merge that dies leaves the run as it was.)
    if (this.job.type === 'train' && this.runRef) {
      try {
        const run = RunDir.open(this.runRef.dir);
        if (run.record().status === 'running') run.finish('failed', { error: { message, kind } });
        run.log(`worker died: ${message}`);
      } catch {
        // The run folder is unreadable; the outcome below still carries the message.
      }
    }
    return { ...base, failure: { kind, message } };
  }
}
