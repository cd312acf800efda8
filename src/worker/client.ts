// Parent side of the training worker: forks it with the environment the native backends need,
// relays its events, cancels it (gracefully, then by force), and tells a crash or an
// out-of-memory kill from a cancel. No vscode import: the CLI's tests use it too.
import { fork, type ChildProcess } from 'node:child_process';
import { workerEnvironment } from '../core/backend/cudaEnv';
import { RunDir } from '../core/runs';
import type { FromWorker, RunConfigInput, SessionEvent } from '../protocol/training';
import { isFromWorker } from '../protocol/training';

export interface WorkerOutcome {
  /** The session's own `finished` event, when the worker lived to send it. */
  finished?: Extract<SessionEvent, { type: 'finished' }>;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the worker died without finishing: 'crash' or 'out-of-memory'. */
  failure?: { kind: 'crash' | 'out-of-memory'; message: string };
  stderrTail: string;
}

const STDERR_KEEP = 8_000;
/** After a cancel, how long the worker gets to save its checkpoint before it is killed. */
const CANCEL_GRACE_MS = 60_000;

export class TrainingWorker {
  readonly done: Promise<WorkerOutcome>;
  private readonly child: ChildProcess;
  private stderr = '';
  private finished?: Extract<SessionEvent, { type: 'finished' }>;
  private runDir?: string;
  private killTimer?: NodeJS.Timeout;

  constructor(
    workerScript: string,
    config: RunConfigInput,
    private readonly onEvent: (e: FromWorker) => void,
    opts: { resumeRunDir?: string; env?: NodeJS.ProcessEnv; execArgv?: string[] } = {},
  ) {
    this.child = fork(workerScript, [], {
      env: workerEnvironment(opts.env ?? process.env, { threads: config.threads }),
      execArgv: opts.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-STDERR_KEEP);
    });
    this.child.stdout?.on('data', () => {});
    this.child.on('message', (m: unknown) => {
      if (!isFromWorker(m)) return;
      if (m.type === 'run') this.runDir = m.dir;
      if (m.type === 'finished') this.finished = m;
      this.onEvent(m);
    });
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        clearTimeout(this.killTimer);
        resolve(this.outcome(code, signal));
      });
    });
    this.child.send({ type: 'start', config, resumeRunDir: opts.resumeRunDir });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Asks the worker to stop after the current step (it saves a checkpoint); kills it if it does not exit in time. */
  cancel(graceMs = CANCEL_GRACE_MS): void {
    if (this.child.exitCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'cancel' });
    this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private outcome(code: number | null, signal: NodeJS.Signals | null): WorkerOutcome {
    const base = { exitCode: code, signal, stderrTail: this.stderr, finished: this.finished };
    if (this.finished) return base;
    const oom = signal === 'SIGKILL' || /heap out of memory|memory access out of bounds|std::bad_alloc|OOM|out of memory/i.test(this.stderr);
    const kind = oom ? 'out-of-memory' : 'crash';
    const lastLine = this.stderr.trim().split('\n').slice(-3).join(' | ');
    const message = oom
      ? `the training worker ran out of memory (${signal ?? `exit code ${code}`}): lower the batch size, the max sequence length or the rank${lastLine ? `; ${lastLine}` : ''}`
      : `the training worker crashed (${signal ?? `exit code ${code}`})${lastLine ? `: ${lastLine}` : ''}`;
    // The worker could not record its own end: do it here, keeping its metrics and checkpoints.
    if (this.runDir) {
      try {
        const run = RunDir.open(this.runDir);
        if (run.record().status === 'running') run.finish('failed', { error: { message, kind } });
        run.log(`worker died: ${message}`);
      } catch {
        // The run folder is unreadable; the outcome below still carries the message.
      }
    }
    return { ...base, failure: { kind, message } };
  }
}
