// run.json's record of one experiment, defined once: written and read by src/core/runs/record.ts,
// sent to the panel inside a RunDetail. decodeRunRecord checks a parsed run.json field by field.
// Pure: the webview bundle imports the types.
import { decoder, fail, Fields, isRecord, type Decoder } from './decode';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'completed', 'failed', 'cancelled', 'interrupted'];
/** Which engine trained the run: absent for LoRA Lab's own; 'trl' for one brought back by `lora-lab import`. */
export type RunSource = 'trl';
export const RUN_SOURCES: readonly RunSource[] = ['trl'];

/** For an imported run: the folder it came from, the bundle and source run it was exported from, and what the cluster run recorded. */
export interface ImportedFrom {
  /** The train.py output folder that was imported (absolute, as it was then). */
  from: string;
  bundle?: string;
  sourceRunId?: string;
  /** What the cluster run did differently or recorded (worldSize, perDeviceBatch, gradientAccumulation, maxSteps, …). */
  cluster: Record<string, number | string>;
}

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
  /** The resolved RunConfig (checked by the run-config schema where it is used, not here). */
  config: unknown;
  model: { path: string; fingerprint: string };
  dataset: {
    path: string;
    sha256: string;
    validPath?: string;
    validSha256?: string;
    /** Rows the training file's exclusion list left out (`<file>.lora-lab-exclude.json`): the list's file and line numbers. */
    excluded?: { file: string; rows: number; lines: number[] };
    /** The same for the validation file. */
    validExcluded?: { file: string; rows: number; lines: number[] };
  };
  backend?: unknown;
  versions?: Record<string, string>;
  error?: { message: string; kind: string };
  resumedFrom?: { runId: string; checkpoint: string; step: number };
  /** Free-form results for listings, e.g. { finalStep, bestValLoss }. */
  summary?: Record<string, unknown>;
  /** Absent (LoRA Lab trained it) or the engine an imported run was trained with. */
  source?: RunSource;
  imported?: ImportedFrom;
}

/** Where the record was read from: its id and absolute folder come from there, never from the file. */
export interface RunFolder {
  id: string;
  dir: string;
}

/** The stored fields of run.json (formatVersion already checked by the reader), plus the folder's id and dir. */
export function decodeRunRecord(folder: RunFolder): Decoder<RunRecord> {
  return decoder((v) => {
    const f = Fields.of(v, '');
    const status = f.oneOf('status', RUN_STATUSES);
    const createdAt = f.str('createdAt');
    const model = f.obj('model');
    const dataset = f.obj('dataset');
    const rec: RunRecord = {
      id: folder.id, dir: folder.dir, name: typeof f.raw.name === 'string' ? f.raw.name : folder.id, status, createdAt, config: f.raw.config,
      model: { path: model.str('path'), fingerprint: model.str('fingerprint') },
      dataset: { path: dataset.str('path'), sha256: dataset.str('sha256') },
    };
    for (const k of ['validPath', 'validSha256'] as const) {
      const x = dataset.optStr(k);
      if (x !== undefined) rec.dataset[k] = x;
    }
    for (const k of ['excluded', 'validExcluded'] as const) {
      const x = (f.raw.dataset as Record<string, unknown>)[k] as { file?: unknown; rows?: unknown; lines?: unknown } | undefined;
      if (x && typeof x.file === 'string' && typeof x.rows === 'number' && Array.isArray(x.lines) && x.lines.every((l) => Number.isInteger(l))) {
        rec.dataset[k] = { file: x.file, rows: x.rows, lines: x.lines as number[] };
      }
    }
    for (const k of ['startedAt', 'endedAt', 'hostname'] as const) {
      const x = f.optStr(k);
      if (x !== undefined) rec[k] = x;
    }
    for (const k of ['durationMs', 'pid'] as const) {
      const x = f.optNum(k);
      if (x !== undefined) rec[k] = x;
    }
    if (f.has('backend')) rec.backend = f.raw.backend;
    const versions = f.optObj('versions');
    if (versions) rec.versions = Object.fromEntries(Object.keys(versions.raw).map((k) => [k, versions.str(k)]));
    const error = f.optObj('error');
    if (error) rec.error = { message: error.str('message'), kind: error.str('kind') };
    const resumed = f.optObj('resumedFrom');
    if (resumed) rec.resumedFrom = { runId: resumed.str('runId'), checkpoint: resumed.str('checkpoint'), step: resumed.num('step') };
    if (f.has('source')) rec.source = f.oneOf('source', RUN_SOURCES);
    const imported = f.optObj('imported');
    if (imported) {
      const cluster = imported.obj('cluster');
      rec.imported = {
        from: imported.str('from'),
        cluster: Object.fromEntries(Object.entries(cluster.raw).map(([k, x]) => [k, typeof x === 'number' || typeof x === 'string' ? x : fail(cluster.at(k), x, 'a number or a string')])),
      };
      for (const k of ['bundle', 'sourceRunId'] as const) {
        const x = imported.optStr(k);
        if (x !== undefined) rec.imported[k] = x;
      }
    }
    if (f.has('summary')) rec.summary = isRecord(f.raw.summary) ? f.raw.summary : fail(f.at('summary'), f.raw.summary, 'an object');
    return rec;
  });
}
