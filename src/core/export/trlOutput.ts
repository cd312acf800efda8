// What a bundle's train.py left in its output folder (--output-dir, default <bundle>/output), read
// for `lora-lab import`: the PEFT adapter (adapter/), metrics.jsonl in LoRA Lab's row format
// (each row checked by the metrics decoder; a bad row names the file and line),
// lora-lab-output.json (world size, batch split, steps: written by train.py), the last
// checkpoint's trainer_state.json (Trainer's own record) and the source run's run.json that the
// bundle carries. Reads only; the run is made by src/core/importRun.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRecord } from '../../protocol/decode';
import { decodeMetricsLine, type MetricsLine } from '../../protocol/metrics';
import { decodeRunRecord, type RunRecord } from '../../protocol/runRecord';
import { BUNDLE_MANIFEST } from './bundle';

/** The record train.py writes at the end of training (trainPy.ts). */
export const TRL_OUTPUT_RECORD = 'lora-lab-output.json';
export const TRL_METRICS = 'metrics.jsonl';
export const TRL_ADAPTER_DIR = 'adapter';

/** The folder is not something `lora-lab import` can bring back; the message says what is missing and what to do. */
export class ImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportError';
  }
}

export interface TrlOutput {
  /** The output folder, absolute. */
  dir: string;
  /** The folder holding adapter_config.json and adapter_model.safetensors. */
  adapterDir: string;
  metricsFile: string;
  /** Every row, decoded, in file order (non-finite numbers as numbers). */
  rows: MetricsLine[];
  /** The bundle the output came from, when found (the record's "bundle", or the output folder's parent). */
  bundleDir?: string;
  /** The source run's record, from the bundle's run.json. */
  source?: RunRecord;
  /** What the cluster run recorded: lora-lab-output.json's numbers and strings, then trainer_state.json's where it adds. */
  cluster: Record<string, number | string>;
  /** torch, transformers, trl, peft, accelerate as train.py found them. */
  versions: Record<string, string>;
}

// Python's json.dumps writes NaN and ±Infinity bare (not JSON); LoRA Lab's rows hold them as strings.
const PY_NON_FINITE = /([:,[]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g;

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ImportError(`${file} cannot be read as JSON (${(e as Error).message}); it was cut short or edited: run train.py again, or remove the file.`);
  }
}

/** metrics.jsonl's rows, each checked; the first bad row stops the import with its file and line. */
export function readTrlMetrics(file: string): MetricsLine[] {
  const rows: MetricsLine[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text.replace(PY_NON_FINITE, '$1"$2"'), (_k, x: unknown) =>
        x === 'NaN' ? Number.NaN : x === 'Infinity' ? Number.POSITIVE_INFINITY : x === '-Infinity' ? Number.NEGATIVE_INFINITY : x);
    } catch (e) {
      throw new ImportError(`${file}:${i + 1}: not a JSON object (${(e as Error).message}); the line was cut short or edited. Delete that line and import again.`);
    }
    const d = decodeMetricsLine(v);
    if (!d.ok) throw new ImportError(`${file}:${i + 1}: not a LoRA Lab metrics row (${d.error}); was metrics.jsonl written by the bundle's train.py? Fix or delete that line and import again.`);
    rows.push(d.value);
  });
  return rows;
}

/** Numbers and strings of an object (the rest, e.g. nested objects, left out). */
function flat(v: Record<string, unknown>, keys: readonly string[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const k of keys) {
    const x = v[k];
    if (typeof x === 'number' || typeof x === 'string') out[k] = x;
  }
  return out;
}

const RECORD_KEYS = ['runId', 'model', 'worldSize', 'perDeviceBatch', 'gradientAccumulation', 'effectiveBatch', 'maxSteps', 'warmupSteps', 'globalStep'] as const;

/** The newest checkpoint-N/trainer_state.json (Trainer writes one per save), or undefined. */
function lastTrainerState(dir: string): { file: string; state: Record<string, unknown> } | undefined {
  const steps = fs.readdirSync(dir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && fs.existsSync(path.join(dir, m[0], 'trainer_state.json')))
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  if (steps.length === 0) return undefined;
  const file = path.join(dir, steps[0][0], 'trainer_state.json');
  const state = readJson(file);
  return isRecord(state) ? { file, state } : undefined;
}

/**
 * Reads a train.py output folder. Refuses, naming the file: a folder without an adapter
 * (adapter/adapter_config.json) or without metrics.jsonl, a bad metrics row, a bundle run.json
 * that is not a run record. `bundle` overrides where the bundle is looked for.
 */
export function readTrlOutput(outputDir: string, bundle?: string): TrlOutput {
  const dir = path.resolve(outputDir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ImportError(`${outputDir} is not a folder: give the output folder of the bundle's train.py (--output-dir, default <bundle>/output).`);
  }
  const nested = path.join(dir, TRL_ADAPTER_DIR);
  const adapterDir = fs.existsSync(path.join(nested, 'adapter_config.json')) ? nested : dir;
  const notOutput = (what: string) =>
    new ImportError(`${dir} is not the output of a LoRA Lab bundle's train.py: ${what}. Give the folder train.py wrote (--output-dir, default <bundle>/output), after training finished.`);
  if (!fs.existsSync(path.join(adapterDir, 'adapter_config.json'))) throw notOutput(`no ${path.join(TRL_ADAPTER_DIR, 'adapter_config.json')} (the adapter is saved when training ends)`);
  const metricsFile = path.join(dir, TRL_METRICS);
  if (!fs.existsSync(metricsFile)) throw notOutput(`no ${TRL_METRICS}`);
  const rows = readTrlMetrics(metricsFile);
  if (!rows.some((r) => r.type === 'step')) throw new ImportError(`${metricsFile} holds no step rows: training logged nothing. Run train.py to the end, then import.`);

  const recordFile = path.join(dir, TRL_OUTPUT_RECORD);
  const record = fs.existsSync(recordFile) ? readJson(recordFile) : undefined;
  const cluster: Record<string, number | string> = {};
  let versions: Record<string, string> = {};
  if (isRecord(record)) {
    Object.assign(cluster, flat(record, RECORD_KEYS));
    if (isRecord(record.versions)) versions = Object.fromEntries(Object.entries(record.versions).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  const trainer = lastTrainerState(dir);
  if (trainer) {
    const s = flat(trainer.state, ['global_step', 'max_steps', 'train_batch_size', 'num_train_epochs', 'epoch']);
    if (s.global_step !== undefined) cluster.globalStep ??= s.global_step;
    if (s.max_steps !== undefined) cluster.maxSteps ??= s.max_steps;
    if (s.train_batch_size !== undefined) cluster.perDeviceBatch ??= s.train_batch_size;
    if (s.epoch !== undefined) cluster.epochs = s.epoch;
  }
  const lastStep = rows.filter((r) => r.type === 'step').at(-1);
  if (lastStep && lastStep.type === 'step') {
    cluster.globalStep ??= lastStep.step;
    cluster.maxSteps ??= lastStep.totalSteps;
  }

  const candidates = [bundle, typeof record === 'object' && isRecord(record) && typeof record.bundle === 'string' ? record.bundle : undefined, path.dirname(dir)];
  const bundleDir = candidates.find((c): c is string => c !== undefined && fs.existsSync(path.join(c, BUNDLE_MANIFEST)));
  if (bundle !== undefined && bundleDir === undefined) throw new ImportError(`--bundle ${bundle} holds no ${BUNDLE_MANIFEST}: give the folder "lora-lab export --to trl" wrote.`);
  let source: RunRecord | undefined;
  if (bundleDir !== undefined) {
    const runFile = path.join(bundleDir, 'run.json');
    const raw = readJson(runFile);
    const d = decodeRunRecord({ id: isRecord(raw) && typeof raw.id === 'string' ? raw.id : path.basename(bundleDir), dir: bundleDir })(raw);
    if (!d.ok) throw new ImportError(`${runFile}: not a LoRA Lab run record (${d.error}); export the run again.`);
    source = d.value;
  }
  return { dir, adapterDir: path.resolve(adapterDir), metricsFile, rows, bundleDir: bundleDir && path.resolve(bundleDir), source, cluster, versions };
}
