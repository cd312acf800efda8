// Messages between the extension host (or any parent process) and the worker it forks: the jobs
// the worker runs (train, evaluate a run, merge a run's adapter) and the events it sends back,
// discriminated on `type` and JSON-serialisable (child_process IPC). Each side decodes what it
// receives with decodeToWorker / decodeFromWorker: a typed value, or the reason it was rejected.
import type { BackendReport } from '../core/backend/report';
import type { DatasetReport } from '../core/data/types';
import type { MergeSummary } from '../core/peft/merge';
import type { RunConfig, RunConfigInput } from './runConfig';
import type { RunStatus } from './runRecord';
import type { TrainerEvent } from '../core/train/trainer';
import type { Preflight } from './metrics';
import type { Decoded, Decoder } from './decode';
import { decodeEvalReport, type EvalReport } from './evaluation';
import { decodeCaseOutcome, decodeCasesReport, type CaseOutcome, type CasesReport } from './evalCases';
import { ANNOUNCED_PHASES, type PhaseEvent } from './progress';

export type { Decoded, RunConfig, RunConfigInput, PhaseEvent };

/** How a job ended (a training run is never left 'running' or 'interrupted' by its own session). */
export type FinishedStatus = Exclude<RunStatus, 'running' | 'interrupted'>;

/** A training session's events, in order (src/core/session.ts); evaluation jobs send the last three. */
export type SessionEvent =
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'config'; config: RunConfig }
  | { type: 'data'; train: DatasetReport; valid: DatasetReport; validSource: string }
  | { type: 'backend'; report: BackendReport }
  | { type: 'run'; runId: string; dir: string; resumedFromStep?: number }
  | PhaseEvent
  | ({ type: 'preflight' } & Preflight)
  | TrainerEvent
  | { type: 'adapter'; dir: string }
  | { type: 'evaluation'; path: string; report: EvalReport }
  | { type: 'finished'; status: FinishedStatus; runDir?: string; message?: string; errorKind?: string };

/** Parent → worker: one job per worker, then cancel when asked. */
export type ToWorker =
  /** Train (or resume) a run; the worker sends the session's events. */
  | { type: 'train'; config: RunConfigInput; resumeRunDir?: string }
  /**
   * Evaluate a finished run (base, adapter, merged) on its validation examples; writes <run>/eval.json.
   * `adapter`: one of its checkpoints instead of <run>/adapter (a run interrupted before it wrote one).
   */
  | { type: 'evaluate'; runDir: string; adapter?: string }
  /** Merge an adapter into its base model and write the merged model folder. */
  | { type: 'merge'; model: string; adapter: string; out: string; force?: boolean }
  /**
   * Run the evaluation cases of a `*.evals.jsonl` file (issue 16) on a run's models (`runDir`: base,
   * adapter, merged; `checkpoints` adds each saved one) or on `model` (+ `adapter`); `kinds` keeps
   * only those (base | adapter | merged | checkpoint), `only` only the cases of those names. Sends
   * a `caseOutcome` per case × model, then `cases`; with `runDir`, writes <run>/evals/<name>.json.
   */
  | { type: 'test'; cases: string; runDir?: string; model?: string; adapter?: string; kinds?: string[]; checkpoints?: boolean; only?: string[] }
  | { type: 'cancel' };

export type WorkerJob = Exclude<ToWorker, { type: 'cancel' }>;

/** Worker → parent: the job's events, plus the worker's own life cycle. */
export type FromWorker =
  | { type: 'ready'; pid: number }
  | SessionEvent
  | { type: 'merged'; out: string; summary: MergeSummary }
  /** One case on one model, as soon as it is known (the `test` job). */
  | { type: 'caseOutcome'; outcome: CaseOutcome }
  /** The `test` job's whole report, and where it was written (<run>/evals/<name>.json) when it ran on a run. */
  | { type: 'cases'; path?: string; report: CasesReport }
  | { type: 'exit'; code: number };


// --- Decoders ---------------------------------------------------------------------------------
// One table per direction: for each message type, every field (none left out, none extra: the
// mapped types below make the compiler check that) and what it must hold.

type Check = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'number|null' | readonly string[];
type Field = Check | { optional: Check };
type Fields<M extends { type: string }> = { [T in M['type']]: { [K in keyof Omit<Extract<M, { type: T }>, 'type'>]-?: Field } };

const opt = (c: Check): Field => ({ optional: c });

const TO_WORKER: Fields<ToWorker> = {
  train: { config: 'object', resumeRunDir: opt('string') },
  evaluate: { runDir: 'string', adapter: opt('string') },
  merge: { model: 'string', adapter: 'string', out: 'string', force: opt('boolean') },
  test: { cases: 'string', runDir: opt('string'), model: opt('string'), adapter: opt('string'), kinds: opt('array'), checkpoints: opt('boolean'), only: opt('array') },
  cancel: {},
};

const num = 'number' as const;
const FROM_WORKER: Fields<FromWorker> = {
  ready: { pid: num },
  exit: { code: num },
  log: { level: ['info', 'warn'], message: 'string' },
  config: { config: 'object' },
  data: { train: 'object', valid: 'object', validSource: 'string' },
  backend: { report: 'object' },
  run: { runId: 'string', dir: 'string', resumedFromStep: opt(num) },
  phase: { phase: ANNOUNCED_PHASES, done: opt(num), total: opt(num), elapsedMs: opt(num), detail: opt('string') },
  preflight: {
    counts: 'object', memory: 'object', warmupMs: num, measuredPeakBytes: opt(num), stepsPerEpoch: num, totalSteps: num, secondsPerEpoch: num, etaSeconds: num,
  },
  step: { step: num, totalSteps: num, epoch: num, loss: num, lr: num, gradNorm: num, tokens: num, tokensPerSec: num, stepMs: num, elapsedMs: num, examples: opt('array'), exampleLosses: opt('array') },
  eval: { step: num, valLoss: num, valPerplexity: num, valTokens: num, best: 'boolean' },
  checkpoint: { step: num, name: ['last', 'best'], dir: 'string' },
  done: { status: ['completed', 'cancelled', 'early-stopped', 'diverged'], step: num, bestValLoss: 'number|null', bestStep: 'number|null', message: opt('string') },
  adapter: { dir: 'string' },
  evaluation: { path: 'string', report: 'object' },
  merged: { out: 'string', summary: 'object' },
  caseOutcome: { outcome: 'object' },
  cases: { path: opt('string'), report: 'object' },
  finished: { status: ['completed', 'failed', 'cancelled'], runDir: opt('string'), message: opt('string'), errorKind: opt('string') },
};

function holds(v: unknown, c: Check): boolean {
  if (Array.isArray(c)) return typeof v === 'string' && c.includes(v);
  switch (c) {
    case 'number|null':
      return v === null || typeof v === 'number';
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    default:
      return typeof v === c;
  }
}

const describeCheck = (c: Check) => (typeof c === 'string' ? `${/^[aeiou]/.test(c) ? 'an' : 'a'} ${c}` : `one of ${c.join(', ')}`);

function decodeWith<M>(table: Record<string, Record<string, Field>>, what: string, raw: unknown): Decoded<M> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: `${what}: not an object (${raw === null ? 'null' : typeof raw})` };
  const m = raw as Record<string, unknown>;
  if (typeof m.type !== 'string') return { ok: false, error: `${what}: no "type"` };
  const fields = Object.hasOwn(table, m.type) ? table[m.type] : undefined;
  if (!fields) return { ok: false, error: `${what}: unknown type "${m.type}"` };
  for (const [k, f] of Object.entries(fields)) {
    const optional = typeof f === 'object' && !Array.isArray(f);
    const check = optional ? (f as { optional: Check }).optional : (f as Check);
    if (m[k] === undefined) {
      if (optional) continue;
      return { ok: false, error: `${what} "${m.type}": "${k}" is missing` };
    }
    if (!holds(m[k], check)) return { ok: false, error: `${what} "${m.type}": "${k}" must be ${describeCheck(check)}, got ${JSON.stringify(m[k])?.slice(0, 60)}` };
  }
  for (const k of Object.keys(m)) {
    if (k !== 'type' && !(k in fields)) return { ok: false, error: `${what} "${m.type}": unexpected field "${k}"` };
  }
  return { ok: true, value: m as M };
}

/** What the worker accepts from its parent. */
export function decodeToWorker(raw: unknown): Decoded<ToWorker> {
  return decodeWith<ToWorker>(TO_WORKER, 'message to the worker', raw);
}

/** Fields whose own type has a decoder of its own (the rest of a nested object is the engine's, checked as an object). */
const NESTED: { [T in FromWorker['type']]?: Record<string, Decoder<unknown>> } = {
  evaluation: { report: decodeEvalReport },
  caseOutcome: { outcome: decodeCaseOutcome },
  cases: { report: decodeCasesReport },
};

/** What the parent accepts from the worker. */
export function decodeFromWorker(raw: unknown): Decoded<FromWorker> {
  const d = decodeWith<FromWorker>(FROM_WORKER, 'message from the worker', raw);
  const nested = d.ok ? NESTED[d.value.type] : undefined;
  if (!d.ok || !nested) return d;
  const value: Record<string, unknown> = { ...d.value };
  for (const [k, decode] of Object.entries(nested)) {
    const r = decode(value[k]);
    if (!r.ok) return { ok: false, error: `message from the worker "${d.value.type}": "${k}": ${r.error}` };
    value[k] = r.value;
  }
  return { ok: true, value: value as FromWorker };
}
