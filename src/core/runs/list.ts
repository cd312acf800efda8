// Listing the runs under a runs root, newest first, and telling a run that is still training
// from one whose process died without finishing it ("interrupted").
import * as os from 'node:os';
import * as path from 'node:path';
import { isDir, safeReaddir, statOrUndefined } from '../util/durableFiles';
import { LOG_FILE, METRICS_FILE, readRunRecord, RUN_FILE, writeRunRecord, type RunRecord } from './record';

export interface RunListing {
  runs: RunRecord[];
  /** Folders under the root that are not readable runs, each with the reason. */
  problems: { dir: string; reason: string }[];
}

export interface ListRunsOptions {
  /**
   * Write status 'interrupted' into run.json of runs found dead, with endedAt = the last write to
   * the run folder's files (the best estimate of when the process died). Default false.
   */
  markInterrupted?: boolean;
}

/**
 * Whether a process with this pid exists. Signal 0 checks without sending anything; EPERM means
 * it exists but belongs to another user. A reused pid reads as alive (see listRuns).
 */
export function isProcessAlive(pid: number): boolean {
  // kill(0) and kill(-n) address process groups, never one process.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A 'running' record whose process is gone from this machine. Runs recorded on another host
 * (a shared workspace) cannot be checked and stay 'running'.
 */
export function isOrphaned(rec: RunRecord): boolean {
  if (rec.status !== 'running') return false;
  if (rec.hostname !== undefined && rec.hostname !== os.hostname()) return false;
  return rec.pid === undefined || !isProcessAlive(rec.pid);
}

/**
 * Every run folder under `root`, newest first (createdAt, then id). A missing root is an empty
 * list. Folders starting with '.' are skipped silently; other unreadable folders go to
 * `problems`. A 'running' run whose pid is not alive on this host is reported 'interrupted'.
 */
export function listRuns(root: string, options: ListRunsOptions = {}): RunListing {
  const out: RunListing = { runs: [], problems: [] };
  for (const entry of safeReaddir(root)) {
    if (entry.startsWith('.')) continue;
    const dir = path.resolve(root, entry);
    if (!isDir(dir)) continue;
    let rec: RunRecord;
    try {
      rec = readRunRecord(dir);
    } catch (e) {
      out.problems.push({ dir, reason: (e as Error).message });
      continue;
    }
    if (isOrphaned(rec)) {
      rec = { ...rec, status: 'interrupted' };
      if (options.markInterrupted) {
        rec.endedAt ??= lastActivity(dir);
        try {
          writeRunRecord(dir, rec);
        } catch (e) {
          out.problems.push({ dir, reason: `could not mark it interrupted: ${(e as Error).message}` });
        }
      }
    }
    out.runs.push(rec);
  }
  out.runs.sort((a, b) => (a.createdAt === b.createdAt ? cmp(b.id, a.id) : cmp(b.createdAt, a.createdAt)));
  return out;
}

/** ISO time of the newest write among run.json, metrics.jsonl and train.log. */
function lastActivity(dir: string): string {
  const times = [RUN_FILE, METRICS_FILE, LOG_FILE].map((f) => statOrUndefined(path.join(dir, f))?.mtimeMs ?? 0);
  return new Date(Math.max(...times)).toISOString();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
