// The resolved configuration of a training run: every knob with its default, validated with
// errors that name the setting and its valid choices. JSON-serialisable: it travels to the
// worker, is stored in run.json, and can be given back with --config.
import * as path from 'node:path';
import type { BackendChoice } from './backend';
import type { DataOptions } from './data';
import type { ScheduleKind } from './train/schedule';

export interface RunConfig {
  model: string;
  data: string;
  valid?: string;
  /** Workspace folder the runs folder is relative to. */
  workspace: string;
  runsDir: string;
  /** Continue training this PEFT adapter folder (its r, alpha and targets win over `lora`). */
  initAdapter?: string;
  name?: string;
  lora: {
    r: number;
    alpha: number;
    dropout: number;
    /** undefined = PEFT's default targets for the architecture. */
    targets?: string[] | 'all-linear';
    useRslora: boolean;
    init: 'kaiming' | 'gaussian';
    layers?: number[];
  };
  training: {
    lr: number;
    schedule: ScheduleKind;
    /** Fraction of total steps spent warming up (used when warmupSteps is undefined). */
    warmupRatio: number;
    warmupSteps?: number;
    epochs: number;
    maxSteps?: number;
    batchSize: number;
    gradAccum: number;
    maxSeqLen: number;
    maxGradNorm: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    eps: number;
    seed: number;
    reportEvery: number;
    /** undefined = about 10 evaluations per run. */
    evalEvery?: number;
    /** undefined = with every evaluation. */
    checkpointEvery?: number;
    patience: number;
    /** Batches of examples of similar length (shuffled in groups of up to 50 batches): less padding. */
    groupByLength: boolean;
  };
  dataOptions: {
    policy: 'skip' | 'fail';
    validFraction: number;
    textColumn?: string;
    promptColumn?: string;
    completionColumn?: string;
  };
  backend: BackendChoice;
  threads?: number;
  /** Stop before tensors pass this many bytes (default: the backend's own safe limit, if it has one). */
  memoryLimitBytes?: number;
}

export type RunConfigInput = Partial<Omit<RunConfig, 'lora' | 'training' | 'dataOptions'>> & {
  lora?: Partial<RunConfig['lora']>;
  training?: Partial<RunConfig['training']>;
  dataOptions?: Partial<RunConfig['dataOptions']>;
};

export const DEFAULT_TRAINING: RunConfig['training'] = {
  lr: 2e-4,
  schedule: 'cosine',
  warmupRatio: 0.05,
  epochs: 3,
  batchSize: 4,
  gradAccum: 1,
  maxSeqLen: 256,
  maxGradNorm: 1.0,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  seed: 42,
  reportEvery: 1,
  patience: 0,
  groupByLength: false,
};

export const DEFAULT_LORA: RunConfig['lora'] = { r: 8, alpha: 16, dropout: 0.05, useRslora: false, init: 'kaiming' };

export class RunConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunConfigError';
  }
}

function defined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * How a run reads its data: the training session and `lora-lab eval --run` both take it from here,
 * so a run's held-out split is always rebuilt from the same options. `maxSeqLen` overrides the run's.
 */
export function dataOptionsOf(c: RunConfig, maxSeqLen = c.training.maxSeqLen): DataOptions {
  return {
    maxSeqLen, policy: c.dataOptions.policy, validFraction: c.dataOptions.validFraction, seed: c.training.seed,
    validFile: c.valid,
    columns: { text: c.dataOptions.textColumn, prompt: c.dataOptions.promptColumn, completion: c.dataOptions.completionColumn },
  };
}

export function resolveRunConfig(input: RunConfigInput): RunConfig {
  if (!input.model) throw new RunConfigError('model is required: a Hugging Face model folder');
  if (!input.data) throw new RunConfigError('data is required: a dataset file (.jsonl, .json, .csv, .tsv, .txt)');
  // Absolute paths: run.json must still point at the inputs when resumed from another folder.
  const cfg: RunConfig = {
    model: path.resolve(input.model),
    data: path.resolve(input.data),
    valid: input.valid === undefined ? undefined : path.resolve(input.valid),
    initAdapter: input.initAdapter === undefined ? undefined : path.resolve(input.initAdapter),
    workspace: path.resolve(input.workspace ?? process.cwd()),
    runsDir: input.runsDir ?? '.lora-lab/runs',
    name: input.name,
    lora: { ...DEFAULT_LORA, ...defined(input.lora) },
    training: { ...DEFAULT_TRAINING, ...defined(input.training) },
    dataOptions: { policy: 'fail', validFraction: 0.1, ...defined(input.dataOptions) },
    backend: input.backend ?? 'auto',
    threads: input.threads,
    memoryLimitBytes: input.memoryLimitBytes,
  };
  validateRunConfig(cfg);
  return cfg;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RunConfigError(message);
}

const posInt = (v: number | undefined) => v === undefined || (Number.isInteger(v) && v > 0);

export function validateRunConfig(c: RunConfig): void {
  const t = c.training;
  const l = c.lora;
  check(posInt(l.r), `lora.r (rank) must be a positive integer, got ${l.r}`);
  check(l.alpha > 0, `lora.alpha must be > 0, got ${l.alpha}`);
  check(l.dropout >= 0 && l.dropout < 1, `lora.dropout must be in [0, 1), got ${l.dropout}`);
  check(['kaiming', 'gaussian'].includes(l.init), `lora.init must be kaiming or gaussian, got ${l.init}`);
  check(t.lr > 0 && t.lr < 1, `training.lr must be in (0, 1), got ${t.lr}`);
  check(['constant', 'linear', 'cosine'].includes(t.schedule), `training.schedule must be constant, linear or cosine, got ${t.schedule}`);
  check(t.warmupRatio >= 0 && t.warmupRatio < 1, `training.warmupRatio must be in [0, 1), got ${t.warmupRatio}`);
  check(t.warmupSteps === undefined || (Number.isInteger(t.warmupSteps) && t.warmupSteps >= 0), `training.warmupSteps must be an integer ≥ 0, got ${t.warmupSteps}`);
  check(t.epochs > 0, `training.epochs must be > 0, got ${t.epochs}`);
  check(Number.isInteger(t.epochs), `training.epochs must be an integer, got ${t.epochs}`);
  for (const k of ['maxSteps', 'batchSize', 'gradAccum', 'reportEvery', 'evalEvery', 'checkpointEvery'] as const) {
    check(posInt(t[k]), `training.${k} must be a positive integer, got ${t[k]}`);
  }
  check(posInt(t.maxSeqLen) && t.maxSeqLen >= 2, `training.maxSeqLen must be an integer ≥ 2, got ${t.maxSeqLen}`);
  check(t.maxGradNorm >= 0, `training.maxGradNorm must be ≥ 0 (0 disables clipping), got ${t.maxGradNorm}`);
  check(t.weightDecay >= 0, `training.weightDecay must be ≥ 0, got ${t.weightDecay}`);
  check(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1, `training.beta1/beta2 must be in [0, 1), got ${t.beta1}, ${t.beta2}`);
  check(t.eps > 0, `training.eps must be > 0, got ${t.eps}`);
  check(Number.isInteger(t.seed), `training.seed must be an integer, got ${t.seed}`);
  check(Number.isInteger(t.patience) && t.patience >= 0, `training.patience must be an integer ≥ 0, got ${t.patience}`);
  check(typeof t.groupByLength === 'boolean', `training.groupByLength must be true or false, got ${JSON.stringify(t.groupByLength)}`);
  check(c.memoryLimitBytes === undefined || c.memoryLimitBytes > 0, `memoryLimitBytes must be > 0, got ${c.memoryLimitBytes}`);
  check(['skip', 'fail'].includes(c.dataOptions.policy), `dataOptions.policy must be skip or fail, got ${c.dataOptions.policy}`);
  check(c.dataOptions.validFraction > 0 && c.dataOptions.validFraction < 1, `dataOptions.validFraction must be in (0, 1), got ${c.dataOptions.validFraction}`);
  check(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].includes(c.backend), `backend must be auto, tensorflow-gpu, tensorflow, wasm or cpu, got ${c.backend}`);
}
