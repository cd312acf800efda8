// The run lock: one writer per run folder. `run.lock` holds the writer's pid, hostname, start
// time and job; it appears atomically with its whole content (written to a temp file, then
// hard-linked to its name, which fails if it exists: O_EXCL's guarantee without an empty file
// another process could read), is held for the whole job and removed on every way out (release,
// and a process 'exit' hook for process.exit). A lock whose pid is gone on this host is stale
// (kill -9, a crash) and is taken over; the caller notes that in train.log. A lock from another
// host cannot be checked and is respected.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isRecord } from '../../protocol/decode';
import { isProcessAlive } from './list';

export const LOCK_FILE = 'run.lock';
/** Serialises take-overs of a stale lock, so two processes never both replace it. */
const TAKEOVER_FILE = `${LOCK_FILE}.takeover`;
/** A take-over guard (or an unreadable lock) older than this was left by a dead process. */
const ABANDONED_MS = 10_000;

export interface LockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What the holder does: training, evaluation, ... */
  job?: string;
}

/** A second writer refused; `holder` is who has the run. */
export class RunLockedError extends Error {
  constructor(readonly runId: string, readonly holder: LockHolder, readonly lockFile: string) {
    const local = holder.hostname === os.hostname();
    super(
      `run ${runId} is being written by pid ${holder.pid} on ${holder.hostname} since ${holder.since}${holder.job ? ` (${holder.job})` : ''}: ` +
        (local ? 'wait for it to finish or stop that process first' : `wait for it to finish; if that process is gone, delete ${lockFile}`),
    );
    this.name = 'RunLockedError';
  }
}

/** The locks this process holds, removed by the 'exit' hook if a job ends without releasing. */
const held = new Map<string, string>(); // lock file → its exact content
let exitHookInstalled = false;

function removeIfOurs(file: string, content: string): void {
  try {
    if (fs.readFileSync(file, 'utf8') === content) fs.rmSync(file, { force: true });
  } catch {
    // already gone (or unreadable): nothing of ours to remove
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [file, content] of held) removeIfOurs(file, content);
    held.clear();
  });
}

export class RunLock {
  private released = false;
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
    private readonly content: string,
    /** The dead process whose lock this one replaced, if any. */
    readonly tookOverFrom?: LockHolder,
  ) {}

  /** Remove run.lock (only if it is still ours). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.file);
    removeIfOurs(this.file, this.content);
  }
}

/** The holder recorded in `file`; undefined when the file is gone; 'unreadable' when it is not a lock. */
function readHolder(file: string): LockHolder | 'unreadable' | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const j: unknown = JSON.parse(text);
    if (isRecord(j) && Number.isInteger(j.pid) && typeof j.hostname === 'string' && typeof j.since === 'string') {
      return { pid: j.pid as number, hostname: j.hostname, since: j.since, ...(typeof j.job === 'string' ? { job: j.job } : {}) };
    }
  } catch {
    // fall through
  }
  return 'unreadable';
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** Whether the holder's process may still be writing: its pid lives on this host, or it is on another host. */
function holderAlive(h: LockHolder, file: string): boolean {
  if (h.hostname !== os.hostname()) return true;
  // Our own pid: alive only when this process really holds the lock now (else a reused pid of a dead holder).
  if (h.pid === process.pid) return held.has(file);
  return isProcessAlive(h.pid);
}

/** Creates `file` with `content` only if it does not exist. */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.new-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, content, { flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  // A file system without hard links: O_EXCL directly (a reader may briefly see it empty: 'unreadable', recent = held).
  try {
    fs.writeFileSync(file, content, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes the stale lock `file` if it still is the one judged stale (`seen`), under a take-over
 * guard so that two processes finding the same stale lock cannot both replace it.
 */
function removeStale(file: string, seen: LockHolder | 'unreadable'): void {
  const guard = path.join(path.dirname(file), TAKEOVER_FILE);
  const mine = JSON.stringify({ pid: process.pid, hostname: os.hostname(), since: new Date().toISOString() });
  if (!createExclusive(guard, mine)) {
    if (ageMs(guard) > ABANDONED_MS) fs.rmSync(guard, { force: true }); // its taker died mid-take-over
    return; // someone else is taking it over: the caller looks again
  }
  try {
    const now = readHolder(file);
    if (now !== undefined && JSON.stringify(now) === JSON.stringify(seen)) fs.rmSync(file, { force: true });
  } finally {
    removeIfOurs(guard, mine);
  }
}

/**
 * Takes the lock of the run folder `dir` for this process, for `job`. Throws RunLockedError when
 * a live process holds it; takes over a stale one (see `tookOverFrom`).
 */
export function acquireRunLock(dir: string, runId: string, job: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const holder: LockHolder = { pid: process.pid, hostname: os.hostname(), since: new Date().toISOString(), job };
  const content = `${JSON.stringify(holder)}\n`;
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (createExclusive(file, content)) {
      installExitHook();
      held.set(file, content);
      return new RunLock(file, holder, content, tookOverFrom);
    }
    const seen = readHolder(file);
    if (seen === undefined) continue; // released meanwhile: try again
    if (seen === 'unreadable') {
      // Being written on a file system without links, or garbage: wait briefly before calling it abandoned.
      if (ageMs(file) <= ABANDONED_MS) {
        if (attempt < 50) {
          sleepSync(20);
          continue;
        }
        throw new RunLockedError(runId, { pid: 0, hostname: '(unknown)', since: new Date(Date.now() - ageMs(file)).toISOString() }, file);
      }
    } else {
      if (holderAlive(seen, file)) throw new RunLockedError(runId, seen, file);
      tookOverFrom = seen;
    }
    removeStale(file, seen);
    sleepSync(attempt < 5 ? 0 : 10);
  }
  throw new Error(`${file}: could not take the run lock (another process keeps replacing it)`);
}

/** Who holds the run's lock now, if anyone (a stale holder included). */
export function runLockHolder(dir: string): LockHolder | undefined {
  const h = readHolder(path.join(dir, LOCK_FILE));
  return h === 'unreadable' ? undefined : h;
}
