// One run folder (RunDir): create or open it, lock it for one writer, append metrics, log, save
// checkpoints and the adapter, finish it. File formats: record.ts (run.json), metrics.ts
// (metrics.jsonl); the lock: lock.ts; atomic writes: util/durableFiles.ts; listing and
// interrupted runs: list.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  appendDurable,
  asideName,
  checkName,
  commitDirAtomically,
  commitDirAtomicallyAsync,
  cannotCreateIn,
  creationError,
  makeDirs,
  removeDirAtomically,
  resolveDir,
  safeReaddir,
  statOrUndefined,
  sweepLeftovers,
  TEMP_PREFIX,
} from '../util/durableFiles';
import { appendMetricLine, readMetricsFile, type MetricsRead } from './metrics';
import { baseRunId, reserveGivenId, reserveNewId } from './ids';
import { ADAPTER_DIR, CHECKPOINTS_DIR, LOG_FILE, METRICS_FILE, readRunRecord, RUN_FILE, writeRunRecord, type RunRecord, type RunStatus } from './record';
import { acquireRunLock, type RunLock } from './lock';

export { RunStoreError } from '../util/durableFiles';
export type { MetricsRead } from './metrics';
export { ADAPTER_DIR, CHECKPOINTS_DIR, LOG_FILE, METRICS_FILE, RUN_FILE, RUN_STATUSES, type RunRecord, type RunStatus } from './record';
export { baseRunId, DEFAULT_RUNS_SETTING, newRunId, runsRoot, slugOf } from './ids';
export { isOrphaned, isProcessAlive, listRuns, type ListRunsOptions, type RunListing } from './list';
export { LOCK_FILE, RunLock, RunLockedError, runLockHolder, type LockHolder } from './lock';

/** What to do when a run folder cannot be made: both ways to choose the runs folder. */
export const RUNS_FOLDER_ADVICE = 'Choose a writable runs folder (--runs-dir, or the loraLab.runsFolder setting), or make that folder writable.';

/** What the caller supplies to create a run; the store fills id, dir, status, createdAt, pid, hostname. */
export type RunInit = Omit<RunRecord, 'id' | 'dir' | 'status' | 'createdAt' | 'pid' | 'hostname' | 'name'> & { id?: string; name?: string };

export class RunDir {
  readonly dir: string;
  readonly id: string;
  /** Whether this instance has checked metrics.jsonl for a line cut short by an earlier crash. */
  private metricsTailChecked = false;

  private constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.id = path.basename(this.dir);
  }

  /**
   * Make the run folder (id reserved by an exclusive mkdir, so two processes never share one)
   * and write run.json with status 'running' and this process's pid and hostname.
   */
  static create(root: string, init: RunInit): RunDir {
    const created = new Date();
    const id = init.id ?? baseRunId(created, init.dataset.path);
    // Read-only, not writable, full: said with the folder at fault, not as a bare errno.
    const cannot = (e: unknown, dir: string) => creationError(e, 'the run folder', dir, RUNS_FOLDER_ADVICE);
    let dir: string;
    try {
      makeDirs(root);
      dir = init.id !== undefined ? reserveGivenId(root, init.id) : reserveNewId(root, id);
    } catch (e) {
      throw cannot(e, path.join(root, id));
    }
    const run = new RunDir(dir);
    const { id: _id, name, ...rest } = init;
    const rec: RunRecord = {
      id: run.id,
      dir: run.dir,
      name: name ?? run.id,
      status: 'running',
      createdAt: created.toISOString(),
      pid: process.pid,
      hostname: os.hostname(),
      ...rest,
    };
    try {
      writeRunRecord(run.dir, rec);
    } catch (e) {
      fs.rmSync(run.dir, { recursive: true, force: true });
      throw cannot(e, run.dir);
    }
    return run;
  }

  /**
   * Throws, naming the folder at fault, when a run folder could not be made under `root` (a file in
   * the path, a read-only or unwritable folder), without making anything: checked before the data
   * is read and the model loaded, so that work is not lost when create() would fail.
   */
  static assertCanCreateIn(root: string): void {
    const e = cannotCreateIn(root, 'a run folder in', path.resolve(root), RUNS_FOLDER_ADVICE);
    if (e) throw e;
  }

  /** Open an existing run folder; throws RunStoreError naming run.json if it is missing or invalid. */
  static open(dir: string): RunDir {
    readRunRecord(dir);
    return new RunDir(dir);
  }

  /**
   * The run folder that `target` is, or lies in (the nearest folder at or above it with a run.json),
   * for jobs that write into a run without being its session, e.g. a merge into <run>/merged.
   */
  static containing(target: string): RunDir | undefined {
    let dir = path.resolve(target);
    for (;;) {
      if (fs.existsSync(path.join(dir, RUN_FILE))) {
        try {
          return RunDir.open(dir);
        } catch {
          return undefined; // not a readable run: nothing to lock
        }
      }
      const up = path.dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }

  get runJsonPath(): string {
    return path.join(this.dir, RUN_FILE);
  }
  get metricsPath(): string {
    return path.join(this.dir, METRICS_FILE);
  }
  get logPath(): string {
    return path.join(this.dir, LOG_FILE);
  }
  get checkpointsDir(): string {
    return path.join(this.dir, CHECKPOINTS_DIR);
  }
  /** Final adapter folder; prefer writeAdapterWith, which writes it atomically. */
  get adapterDir(): string {
    return path.join(this.dir, ADAPTER_DIR);
  }

  /** run.json as it is on disk now. */
  record(): RunRecord {
    return readRunRecord(this.dir);
  }

  /**
   * Shallow-merge `patch` into run.json and write it atomically (temp file, fsync, rename).
   * A key set to undefined is removed; `id` and `dir` are ignored. One writer per run: the holder of lock().
   */
  update(patch: Partial<RunRecord>): RunRecord {
    const { id: _id, dir: _dir, ...rest } = patch;
    writeRunRecord(this.dir, { ...this.record(), ...rest });
    return this.record();
  }

  /**
   * Take the run's lock (run.lock) for `job` before writing to the run: one writer per run folder,
   * whichever surface (CLI, worker, panel) it comes from. Throws RunLockedError naming the live
   * holder; a lock left by a dead process on this host is taken over, with a note in train.log.
   * Release it (RunLock.release) on every way out; process.exit removes it too.
   */
  lock(job: string): RunLock {
    const lock = acquireRunLock(this.dir, this.id, job);
    const dead = lock.tookOverFrom;
    if (dead) {
      this.log(`took over the run lock of pid ${dead.pid} on ${dead.hostname} (since ${dead.since}${dead.job ? `, ${dead.job}` : ''}): that process is no longer running`);
    }
    return lock;
  }

  /** Record this process as the one running the run (when it was created by another process). */
  claim(): RunRecord {
    return this.update({ pid: process.pid, hostname: os.hostname() });
  }

  /** Final status, endedAt = now, durationMs from startedAt (or createdAt when never set). */
  finish(status: Exclude<RunStatus, 'running' | 'interrupted'>, extra: Partial<RunRecord> = {}): RunRecord {
    const rec = this.record();
    const end = new Date();
    const start = Date.parse(rec.startedAt ?? rec.createdAt);
    return this.update({ ...extra, status, endedAt: end.toISOString(), durationMs: Number.isFinite(start) ? end.getTime() - start : undefined });
  }

  /** Append one object as a line of metrics.jsonl and fsync it before returning. */
  appendMetric(m: Record<string, unknown>): void {
    appendMetricLine(this.metricsPath, m, !this.metricsTailChecked);
    this.metricsTailChecked = true;
  }

  /** Every readable row of metrics.jsonl (a crash-truncated last line and corrupt lines skipped). */
  metrics(): Record<string, unknown>[] {
    return this.readMetrics().rows;
  }

  /** metrics() with what was skipped: `truncatedTail` and the numbers of `corruptLines`. */
  readMetrics(): MetricsRead {
    return readMetricsFile(this.metricsPath);
  }

  /** Append to train.log, each line prefixed with an ISO timestamp; fsynced. */
  log(line: string): void {
    const stamp = new Date().toISOString();
    appendDurable(this.logPath, line.split(/\r?\n/).map((l) => `${stamp} ${l}\n`).join(''));
  }

  /** Write a checkpoint folder from in-memory files (relative paths); atomic, see writeCheckpointWith. */
  writeCheckpoint(name: string, files: Record<string, Uint8Array | string>): string {
    const target = path.join(this.checkpointsDir, name);
    for (const rel of Object.keys(files)) {
      for (const seg of rel.split(/[\\/]/)) checkName(seg, 'checkpoint file', target);
    }
    return this.writeCheckpointWith(name, (tmp) => {
      for (const [rel, data] of Object.entries(files)) {
        const file = path.join(tmp, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, data);
      }
    });
  }

  /**
   * `write(tmpDir)` fills a temp folder inside checkpoints/; its files are fsynced and it is
   * renamed to `name`. An existing `name` is renamed aside first and deleted last, so a complete
   * checkpoint exists at every moment. If `write` throws, `name` is untouched and the temp removed.
   */
  writeCheckpointWith(name: string, write: (tmpDir: string) => void): string {
    checkName(name, 'checkpoint name', this.checkpointsDir);
    return commitDirAtomically(this.checkpointsDir, name, write);
  }

  async writeCheckpointWithAsync(name: string, write: (tmpDir: string) => Promise<void>): Promise<string> {
    checkName(name, 'checkpoint name', this.checkpointsDir);
    return commitDirAtomicallyAsync(this.checkpointsDir, name, write);
  }

  /** The complete folder of checkpoint `name`, or undefined. Survives a crash mid-replace. */
  checkpointDir(name: string): string | undefined {
    checkName(name, 'checkpoint name', this.checkpointsDir);
    return resolveDir(this.checkpointsDir, name);
  }

  /** Complete checkpoints, oldest first (mtime, then name); temp folders never appear. */
  listCheckpoints(): { name: string; dir: string; mtime: string }[] {
    const names = new Set<string>();
    for (const entry of safeReaddir(this.checkpointsDir)) {
      const name = entry.startsWith('.') ? asideName(entry) : entry;
      if (name !== undefined) names.add(name);
    }
    const out: { name: string; dir: string; mtime: string; ms: number }[] = [];
    for (const name of names) {
      const dir = resolveDir(this.checkpointsDir, name);
      const st = dir ? statOrUndefined(dir) : undefined;
      if (dir && st) out.push({ name, dir, mtime: st.mtime.toISOString(), ms: st.mtimeMs });
    }
    out.sort((a, b) => a.ms - b.ms || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out.map(({ ms: _ms, ...c }) => c);
  }

  /** Delete a checkpoint: it disappears in one rename, then its files are removed. */
  deleteCheckpoint(name: string): void {
    const dir = this.checkpointDir(name);
    if (dir) removeDirAtomically(dir);
  }

  /** Write adapter/ atomically (same steps as a checkpoint) and return its path. */
  writeAdapterWith(write: (tmpDir: string) => void): string {
    return commitDirAtomically(this.dir, ADAPTER_DIR, write);
  }

  async writeAdapterWithAsync(write: (tmpDir: string) => Promise<void>): Promise<string> {
    return commitDirAtomicallyAsync(this.dir, ADAPTER_DIR, write);
  }

  /**
   * Tidy leftovers of crashed writes (temp folders and files, checkpoints caught mid-replace
   * restored to their name). Only while no process writes to this run, e.g. before resuming from
   * it. Returns one line per action, for the log.
   */
  recover(): string[] {
    const done = [...sweepLeftovers(this.checkpointsDir), ...sweepLeftovers(this.dir)];
    for (const entry of safeReaddir(this.dir)) {
      if (entry.startsWith(`${RUN_FILE}${TEMP_PREFIX}`)) {
        fs.rmSync(path.join(this.dir, entry), { force: true });
        done.push(`removed ${entry} (unfinished run.json write)`);
      }
    }
    return done;
  }
}
