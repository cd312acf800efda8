// Parent side of the lint process (src/worker/lintServer.ts): forked on first use and kept, forked
// again if it dies; each request gets a promise of its answer. A lint superseded by a newer lint of
// the same file (typing and saving again) is cancelled in the process and resolves undefined. No
// vscode import: unit-tested under vitest.
import { fork, type ChildProcess } from 'node:child_process';
import { decodeLintResponse, type LintReport, type LintRequest, type LintSettings, type RowView } from '../protocol/lint';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; key?: string };

export class LintClient {
  private child?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** The request id of the latest lint of each file. */
  private readonly latest = new Map<string, number>();
  private disposed = false;

  constructor(
    private readonly script: string,
    private readonly log: (line: string) => void = () => {},
    private readonly env: () => NodeJS.ProcessEnv = () => process.env,
  ) {}

  private process(): ChildProcess {
    if (this.child && this.child.connected) return this.child;
    const child = fork(this.script, [], { env: this.env(), stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('message', (m: unknown) => {
      const r = decodeLintResponse(m);
      if (!r) return this.log(`lint process: a message that is not a lint response was dropped`);
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.type === 'error') p.reject(new Error(r.message));
      else p.resolve(r.type === 'lint' ? r.report : r.view);
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.pending.size && !this.disposed) this.log(`lint process exited (${signal ?? code})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new Error(`the lint process exited (${signal ?? code}) before answering`));
      }
    });
    this.child = child;
    return child;
  }

  private request<T>(req: Exclude<LintRequest, { type: 'cancel' }>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('the lint client is closed'));
    const child = this.process();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(req.id, { resolve: resolve as (v: unknown) => void, reject });
      child.send(req);
    });
  }

  /** Lints `file` (and its validation file); undefined when a newer lint of the same file superseded it. */
  async lint(file: string, settings: LintSettings, validFile?: string | false): Promise<LintReport | undefined> {
    const id = this.nextId++;
    const previous = this.latest.get(file);
    if (previous !== undefined && this.pending.has(previous)) {
      this.child?.send({ type: 'cancel', id: previous } satisfies LintRequest);
      const p = this.pending.get(previous)!;
      this.pending.delete(previous);
      p.resolve(undefined);
    }
    this.latest.set(file, id);
    const report = await this.request<LintReport>({ type: 'lint', id, file, validFile, settings });
    if (this.latest.get(file) === id) this.latest.delete(file);
    return report;
  }

  /** The row at `line` as the model sees it (`text`: the line as the editor has it, for JSON Lines). */
  row(file: string, line: number, settings: LintSettings, text?: string): Promise<RowView | null> {
    return this.request<RowView | null>({ type: 'row', id: this.nextId++, file, line, text, settings });
  }

  dispose(): void {
    this.disposed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.resolve(undefined);
    }
    this.child?.kill();
    this.child = undefined;
  }
}
