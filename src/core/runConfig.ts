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
    maxSeqLen, policy: c.dataOptions.badRows, validFraction: c.dataOptions.validationFraction, seed: c.training.seed,
    validFile: c.valid,
    columns: { text: c.dataOptions.textColumn, prompt: c.dataOptions.promptColumn, completion: c.dataOptions.completionColumn },
  };
}

/**
 * Fills defaults and checks every field. Accepts run.json configs of older versions: their keys
 * are renamed by RUN_CONFIG_ALIASES (protocol/runConfig.ts) first.
 */
export function resolveRunConfig(raw: RunConfigInput): RunConfig {
  const input = upgradeRunConfigKeys(raw);
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
    ...withFieldDefaults(input),
  };
  validateRunConfig(cfg);
  return cfg;
}

/** Throws a RunConfigError naming every bad field, its valid values and what it got. */
export function validateRunConfig(c: RunConfig): void {
  const problems = runConfigProblems(c);
  if (problems.length) throw new RunConfigError(problems.join('; '));
}
