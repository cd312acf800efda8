// Messages between the extension host (or any parent process) and the training worker.
// Discriminated unions on `type`; everything is JSON-serialisable (child_process IPC).
import type { RunConfig, RunConfigInput } from '../core/runConfig';
import type { SessionEvent } from '../core/session';

export type { RunConfig, RunConfigInput, SessionEvent };

/** Parent → worker. */
export type ToWorker =
  | { type: 'start'; config: RunConfigInput; resumeRunDir?: string }
  | { type: 'cancel' };

/** Worker → parent: the session's events, plus the worker's own life cycle. */
export type FromWorker =
  | { type: 'ready'; pid: number }
  | SessionEvent
  | { type: 'exit'; code: number };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}
