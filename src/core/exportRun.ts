// Exporting a finished run to a TRL + Accelerate bundle, as `lora-lab export --to trl` and the
// command "LoRA Lab: Export Run to Cluster…" both do it: the run's config resolved, its data
// prepared exactly as training prepared it (same files, split, max_seq_len, columns, bad-row
// policy), then written by export/writeTrlBundle. No tensors: it runs in the extension host too.
import * as path from 'node:path';
import { padIdFor, prepareData } from './data';
import { writeTrlBundle, type TrlBundleResult } from './export';
import { readConfig } from './hf/config';
import { sha256File } from './hf/fingerprint';
import { loadTokenizer } from './hf/tokenizer';
import { dataOptionsOf, resolveRunConfig, type RunConfigInput } from './runConfig';
import { RunDir } from './runs';

export interface ExportRunOptions {
  runDir: string;
  out: string;
  force?: boolean;
  /** Hub id of the base model for train.py (default: the run's model folder). */
  baseId?: string;
}

export interface ExportRunResult extends TrlBundleResult {
  train: number;
  valid: number;
  /** What the bundle cannot carry over, or what changed since the run (also in the README's Notes). */
  notes: string[];
}

/** Writes the bundle; throws ExportError for a bad --out (a usage problem), other errors as they come. */
export async function exportRunToTrl(opts: ExportRunOptions): Promise<ExportRunResult> {
  const run = RunDir.open(opts.runDir);
  const record = run.record();
  const config = resolveRunConfig(record.config as RunConfigInput);
  const { spec } = readConfig(config.model);
  const tokenizer = loadTokenizer(config.model);
  const data = await prepareData(config.data, tokenizer, { ...dataOptionsOf(config), vocabSize: spec.vocabSize, vocabSource: `vocab_size in ${path.join(config.model, 'config.json')}` });
  const notes: string[] = [];
  if (record.dataset.sha256 !== undefined && (await sha256File(config.data)) !== record.dataset.sha256) {
    notes.push(`${config.data} changed since the run (its SHA-256 differs from run.json's): data/ holds the file as it is now.`);
  }
  if (config.initAdapter) notes.push(`The run continued training ${config.initAdapter}; train.py starts from a fresh adapter with the same LoRA configuration.`);
  if (data.valid.length === 0) notes.push('The run trained without validation data: no evaluation, and --check-only has nothing to score.');
  const result = writeTrlBundle({
    runDir: run.dir, runId: record.id, config, train: data.train, valid: data.valid, padId: padIdFor(tokenizer),
    baseModel: opts.baseId, out: opts.out, force: opts.force ?? false, notes,
  });
  return { ...result, train: data.train.length, valid: data.valid.length, notes };
}
