// The resolved configuration of a training run: every knob with its default, validated with
// errors that name the setting and its valid choices. JSON-serialisable: it travels to the
// worker, is stored in run.json, and can be given back with --config. The fields, defaults and
// checks are the table in src/protocol/runConfig.ts; this file adds what needs Node (paths).
import * as path from 'node:path';
import type { DataOptions } from './data';
import { runConfigProblems, upgradeRunConfigKeys, withFieldDefaults, type RunConfig, type RunConfigInput } from '../protocol/runConfig';

export type { RunConfig, RunConfigInput } from '../protocol/runConfig';

export class RunConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunConfigError';
  }
}

/**
 * How a run reads its data: the training session and `lora-lab eval --run` both take it from here,
 * so a run's held-out split is always rebuilt from the same options. `maxSeqLen` overrides the run's.
 */
export function dataOptionsOf(c: RunConfig, maxSeqLen = c.training.maxSeqLen): DataOptions {
  return {
    maxSeqLen, policy: c.dataOptions.badRows, maxRowBytes: c.dataOptions.maxRowBytes, validFraction: c.dataOptions.validationFraction, seed: c.training.seed,
    validFile: c.valid,
    columns: { text: c.dataOptions.textColumn, prompt: c.dataOptions.promptColumn, completion: c.dataOptions.completionColumn },
  };
}

/**
 * Fills defaults and checks every field. Takes what a caller built (RunConfigInput) or what a
 * run.json holds (unknown): configs of older versions have their keys renamed by
 * RUN_CONFIG_ALIASES (protocol/runConfig.ts) first.
 */
export function resolveRunConfig(raw: RunConfigInput | unknown): RunConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RunConfigError(`a run config must be a JSON object, got ${JSON.stringify(raw)}`);
  const input = upgradeRunConfigKeys(raw) as Record<string, unknown>;
  if (!input.model || typeof input.model !== 'string') throw new RunConfigError('model is required: a Hugging Face model folder');
  if (!input.data || typeof input.data !== 'string') throw new RunConfigError('data is required: a dataset file (.jsonl, .json, .csv, .tsv, .txt)');
  const str = (k: string): string | undefined => {
    const v = input[k];
    if (v !== undefined && typeof v !== 'string') throw new RunConfigError(`${k} must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  for (const g of ['lora', 'training', 'dataOptions']) {
    const v = input[g];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new RunConfigError(`${g} must be an object, got ${JSON.stringify(v)}`);
  }
  const valid = str('valid');
  const evals = str('evals');
  const initAdapter = str('initAdapter');
  const workspace = str('workspace');
  // Absolute paths: run.json must still point at the inputs when resumed from another folder.
  const cfg: RunConfig = {
    model: path.resolve(input.model),
    data: path.resolve(input.data),
    valid: valid === undefined ? undefined : path.resolve(valid),
    ...(evals !== undefined && { evals: path.resolve(evals) }),
    initAdapter: initAdapter === undefined ? undefined : path.resolve(initAdapter),
    workspace: path.resolve(workspace ?? process.cwd()),
    runsDir: str('runsDir') ?? '.lora-lab/runs',
    name: str('name'),
    ...withFieldDefaults(input as RunConfigInput),
  };
  validateRunConfig(cfg);
  return cfg;
}

/** Throws a RunConfigError naming every bad field, its valid values and what it got. */
export function validateRunConfig(c: RunConfig): void {
  const problems = runConfigProblems(c);
  if (problems.length) throw new RunConfigError(problems.join('; '));
}
