// run.json: the record of one experiment (config, model and dataset fingerprints, backend,
// status, timings, owning process), its validation when read back, and its atomic write.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunStoreError, writeFileAtomic } from '../util/durableFiles';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled', 'interrupted'];

export interface RunRecord {
  /** The folder name; always taken from the folder, so a renamed folder keeps working. */
  id: string;
  /** Absolute folder path; never stored in run.json (the folder may be moved). */
  dir: string;
  name: string;
  status: RunStatus;
  createdAt: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  pid?: number;
  hostname?: string;
  config: unknown;
  model: { path: string; fingerprint: string };
  dataset: { path: string; sha256: string; validPath?: string; validSha256?: string };
  backend?: unknown;
  versions?: Record<string, string>;
  error?: { message: string; kind: string };
  resumedFrom?: { runId: string; checkpoint: string; step: number };
  /** Free-form results for listings, e.g. { finalStep, bestValLoss }. */
  summary?: Record<string, unknown>;
}

// The folder layout: <runs root>/<id>/{run.json, metrics.jsonl, train.log, checkpoints/, adapter/}.
export const RUN_FILE = 'run.json';
export const METRICS_FILE = 'metrics.jsonl';
export const LOG_FILE = 'train.log';
export const CHECKPOINTS_DIR = 'checkpoints';
export const ADAPTER_DIR = 'adapter';
// Bumped when run.json changes incompatibly; readers refuse newer formats by name.
export const RUN_FORMAT_VERSION = 1;

/** Write `rec` (without `dir`) to `<dir>/run.json` through a temp file and rename. */
export function writeRunRecord(dir: string, rec: RunRecord): void {
  const { dir: _dir, ...stored } = rec;
  const text = `${JSON.stringify({ formatVersion: RUN_FORMAT_VERSION, ...stored }, null, 2)}\n`;
  writeFileAtomic(path.join(dir, RUN_FILE), text);
}

/** Read and validate `<dir>/run.json`; the error names the file and what to do. */
export function readRunRecord(dir: string): RunRecord {
  const file = path.join(dir, RUN_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RunStoreError(`${file} does not exist: this folder is not a LoRA Lab run, or its creation was cut short. Open a folder under .lora-lab/runs, or delete this one.`, file);
    }
    throw new RunStoreError(`${file} cannot be read (${(e as Error).message}); check the folder's permissions.`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RunStoreError(`${file} is not valid JSON (${(e as Error).message}); restore it from a backup or delete the run folder. metrics.jsonl and checkpoints/ beside it are still usable.`, file);
  }
  return validate(json, dir, file);
}

function validate(json: unknown, dir: string, file: string): RunRecord {
  const bad = (what: string): never => {
    throw new RunStoreError(`${file}: ${what}; the file was edited by hand or written by another tool. Fix that field or delete the run folder.`, file);
  };
  if (!isObject(json)) return bad('the top level is not a JSON object');
  const v = json.formatVersion;
  if (typeof v === 'number' && v > RUN_FORMAT_VERSION) {
    throw new RunStoreError(`${file} has formatVersion ${v}, newer than this LoRA Lab understands (${RUN_FORMAT_VERSION}); update LoRA Lab to open it.`, file);
  }
  if (!RUN_STATUSES.includes(json.status as RunStatus)) bad(`"status" is ${JSON.stringify(json.status)}, expected one of ${RUN_STATUSES.join(', ')}`);
  if (typeof json.createdAt !== 'string') bad('"createdAt" is missing or not a string');
  const model = json.model;
  if (!isObject(model) || typeof model.path !== 'string' || typeof model.fingerprint !== 'string') bad('"model" needs string fields "path" and "fingerprint"');
  const dataset = json.dataset;
  if (!isObject(dataset) || typeof dataset.path !== 'string' || typeof dataset.sha256 !== 'string') bad('"dataset" needs string fields "path" and "sha256"');
  for (const k of ['startedAt', 'endedAt', 'hostname'] as const) {
    if (json[k] !== undefined && typeof json[k] !== 'string') bad(`"${k}" is not a string`);
  }
  for (const k of ['durationMs', 'pid'] as const) {
    if (json[k] !== undefined && typeof json[k] !== 'number') bad(`"${k}" is not a number`);
  }
  const { formatVersion: _v, ...rest } = json;
  const id = path.basename(dir);
  return { ...(rest as unknown as RunRecord), id, dir: path.resolve(dir), name: typeof json.name === 'string' ? json.name : id };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
