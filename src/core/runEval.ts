// What evaluating a finished run means: its base model, its saved adapter, and the validation
// examples the run itself was scored on, rebuilt from run.json exactly as the training session
// built them (the same file, sibling file or seeded held-out split; the same max_seq_len, bad-row
// policy and columns). Evaluating the whole training file instead would score the adapter on the
// examples it was trained on. evaluateSavedRun is the whole job (the worker's `evaluate`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from './backend';
import { padIdFor, prepareData, type Example, type ValidSource } from './data';
import { EVAL_FILE, writeEvalReport, type EvalReport } from './eval/evaluate';
import { evaluateFolders } from './eval/evaluateFolders';
import { readConfig } from './hf/config';
import { sha256File } from './hf/fingerprint';
import { loadTokenizer, type LoraTokenizer } from './hf/tokenizer';
import { dataOptionsOf, resolveRunConfig, type RunConfig, type RunConfigInput } from './runConfig';
import { ADAPTER_DIR, RunDir, type RunRecord } from './runs';
import type { PhaseEvent } from '../protocol/progress';

export interface RunEvalInputs {
  record: RunRecord;
  config: RunConfig;
  /** The run's base model folder, as recorded. */
  modelDir: string;
  /** <run>/adapter, or the adapter given instead (e.g. one of its checkpoints). */
  adapterDir: string;
}

/**
 * The run's record and resolved config, and where its model and adapter are. Without `adapterDir`,
 * the run's own adapter; throws, naming the folder, when the run has none yet.
 */
export function runEvalInputs(runDir: string, adapterDir?: string): RunEvalInputs {
  const run = RunDir.open(runDir);
  const record = run.record();
  const config = resolveRunConfig(record.config as RunConfigInput);
  if (adapterDir !== undefined) return { record, config, modelDir: config.model, adapterDir };
  const own = path.join(run.dir, ADAPTER_DIR);
  if (!fs.existsSync(path.join(own, 'adapter_config.json'))) {
    throw new Error(
      `${own} holds no adapter (the run is ${record.status}; the adapter is written when training ends). ` +
        `Resume the run, or evaluate a checkpoint (each is a PEFT folder): --run ${run.dir} --adapter ${path.join(run.dir, 'checkpoints', 'last')} (or best).`,
    );
  }
  return { record, config, modelDir: config.model, adapterDir: own };
}

export interface RunValidation {
  examples: Example[];
  source: ValidSource;
  /** For eval.json's sources.data: the file, and for a split how it was drawn. */
  description: string;
  /** Warnings for the report, e.g. the dataset file changed since the run. */
  notes: string[];
}

/**
 * The run's validation examples, tokenized with `tokenizer` (the run's model's) and truncated to
 * `maxSeqLen` (the run's unless given). Throws when the
 * run trained without validation data (fraction 0, no file): there is nothing held out to score.
 */
export async function runValidation(inputs: RunEvalInputs, tokenizer: LoraTokenizer | undefined, vocabSize: number, maxSeqLen = inputs.config.training.maxSeqLen): Promise<RunValidation> {
  const { config, record } = inputs;
  const data = await prepareData(config.data, tokenizer, { ...dataOptionsOf(config, maxSeqLen), vocabSize });
  if (data.validSource === 'none') {
    throw new Error(`${record.dir} trained without validation data (no validation file and a validation fraction of 0), so nothing was held out to evaluate on; give a dataset file to evaluate on.`);
  }
  const notes: string[] = [];
  const trainFile = path.resolve(config.data);
  const changed = async (file: string, recorded: string | undefined) => recorded !== undefined && (await sha256File(file)) !== recorded;
  if (await changed(trainFile, record.dataset.sha256)) {
    notes.push(`${trainFile} changed since the run (its SHA-256 differs from run.json's)${data.validSource === 'split' ? ': the held-out split is drawn from the file as it is now and may include examples the adapter was trained on' : ''}`);
  }
  const validFile = path.resolve(data.validReport.file);
  if (data.validSource !== 'split' && (await changed(validFile, record.dataset.validSha256))) notes.push(`${validFile} changed since the run (its SHA-256 differs from run.json's)`);
  const description = describeValidation(data.validSource, trainFile, validFile, data.valid.length, config);
  return { examples: data.valid, source: data.validSource, description, notes };
}

/** Where a run's validation examples come from, for eval.json's sources.data. */
export function describeValidation(source: ValidSource, trainFile: string, validFile: string, examples: number, config: Pick<RunConfig, 'dataOptions' | 'training'>): string {
  if (source !== 'split') return path.resolve(validFile);
  return `${path.resolve(trainFile)} (the ${examples} examples the run held out for validation: fraction ${config.dataOptions.validationFraction}, seed ${config.training.seed})`;
}

/**
 * The *Evaluate Run…* job: a finished run's base, adapter and merged model scored again on the
 * validation examples the run held out, on the run's backend; writes <run>/eval.json, holding
 * the run's lock meanwhile (see RunDir.lock).
 */
export async function evaluateSavedRun(runDir: string, opts: { onPhase?: (e: PhaseEvent) => void; signal?: AbortSignal; adapterDir?: string } = {}): Promise<{ path: string; report: EvalReport }> {
  // It writes into the run: refused while another process (training, another evaluation) holds it.
  const lock = RunDir.open(runDir).lock('evaluation');
  try {
    return await evaluateLocked(runDir, opts);
  } finally {
    lock.release();
  }
}

async function evaluateLocked(runDir: string, opts: { onPhase?: (e: PhaseEvent) => void; signal?: AbortSignal; adapterDir?: string }): Promise<{ path: string; report: EvalReport }> {
  const inputs = runEvalInputs(runDir, opts.adapterDir);
  opts.onPhase?.({ type: 'phase', phase: 'checking-data' });
  const { spec } = readConfig(inputs.modelDir);
  const tokenizer = loadTokenizer(inputs.modelDir);
  const valid = await runValidation(inputs, tokenizer, spec.vocabSize);
  const backend = await initBackend(inputs.config.backend, { threads: inputs.config.threads });
  const report = await evaluateFolders({
    modelDir: inputs.modelDir, adapterDir: inputs.adapterDir, examples: valid.examples, padId: padIdFor(tokenizer), tokenizer,
    notes: valid.notes, dataSource: valid.description, backend, options: { seed: inputs.config.training.seed }, onPhase: opts.onPhase, signal: opts.signal,
  });
  const file = path.join(runDir, EVAL_FILE);
  writeEvalReport(file, report);
  return { path: file, report };
}
