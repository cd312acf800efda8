// `lora-lab export --run <dir> --to trl --out <bundle>`: a run as a folder for TRL + Accelerate
// (multi-GPU, multi-node): train.py, the run's data as LoRA Lab tokenized it (validation rows
// included), Accelerate configs, launch.sh, slurm.sbatch. The bundle itself is src/core/export.
import * as path from 'node:path';
import { padIdFor, prepareData } from '../core/data';
import { ExportError, writeTrlBundle } from '../core/export';
import { readConfig } from '../core/hf/config';
import { sha256File } from '../core/hf/fingerprint';
import { loadTokenizer } from '../core/hf/tokenizer';
import { dataOptionsOf, resolveRunConfig, type RunConfigInput } from '../core/runConfig';
import { RunDir } from '../core/runs';
import { CliUsageError, type CliCommand, formatInt, requireString } from './common';

export const EXPORT_TARGETS = ['trl'] as const;

export const exportCommand: CliCommand = {
  summary: 'Export a run as a TRL + Accelerate bundle (train.py, tokenized data, launch scripts) to train it on many GPUs or nodes',
  synopsis: '--run <dir> --to trl --out <bundle dir> [--force] [--base-id <hub id>] [--json]',
  options: {
    run: { type: 'string', valueName: 'dir', description: 'A LoRA Lab run folder (.lora-lab/runs/<id>)' },
    to: { type: 'string', valueName: 'engine', description: `Target engine: ${EXPORT_TARGETS.join(', ')}`, default: 'trl' },
    out: { type: 'string', valueName: 'dir', description: 'Bundle folder to create (must be new or empty, unless --force)' },
    force: { type: 'boolean', description: 'Replace a previous bundle at --out (only a folder holding lora-lab-bundle.json)' },
    'base-id': { type: 'string', valueName: 'id', description: "Hugging Face Hub id of the base model for train.py (default: the run's model folder)" },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const runDir = requireString(values, 'run');
    const out = requireString(values, 'out');
    const to = typeof values.to === 'string' ? values.to : 'trl';
    if (!(EXPORT_TARGETS as readonly string[]).includes(to)) throw new CliUsageError(`--to must be one of ${EXPORT_TARGETS.join(', ')}, got "${to}"`);
    const run = RunDir.open(runDir);
    const record = run.record();
    const config = resolveRunConfig(record.config as RunConfigInput);
    const { spec } = readConfig(config.model);
    const tokenizer = loadTokenizer(config.model);
    // The run's own data path: the same files, split, max_seq_len, columns and bad-row policy as training.
    const data = await prepareData(config.data, tokenizer, { ...dataOptionsOf(config), vocabSize: spec.vocabSize, vocabSource: `vocab_size in ${path.join(config.model, 'config.json')}` });
    const notes: string[] = [];
    if (record.dataset.sha256 !== undefined && (await sha256File(config.data)) !== record.dataset.sha256) {
      notes.push(`${config.data} changed since the run (its SHA-256 differs from run.json's): data/ holds the file as it is now.`);
    }
    if (config.initAdapter) notes.push(`The run continued training ${config.initAdapter}; train.py starts from a fresh adapter with the same LoRA configuration.`);
    if (data.valid.length === 0) notes.push('The run trained without validation data: no evaluation, and --check-only has nothing to score.');
    let result;
    try {
      result = writeTrlBundle({
        runDir: run.dir, runId: record.id, config, train: data.train, valid: data.valid, padId: padIdFor(tokenizer),
        baseModel: typeof values['base-id'] === 'string' ? values['base-id'] : undefined, out, force: values.force === true, notes,
      });
    } catch (e) {
      if (e instanceof ExportError) throw new CliUsageError(e.message);
      throw e;
    }
    if (values.json) {
      console.log(JSON.stringify({ dir: result.dir, files: result.files, effectiveBatch: result.plan.effectiveBatch, totalSteps: result.plan.totalSteps, train: data.train.length, valid: data.valid.length, notes }));
      return 0;
    }
    const lines = [
      `data     ${formatInt(data.train.length)} training and ${formatInt(data.valid.length)} validation examples (LoRA Lab's tokens and loss mask)`,
      `plan     ${result.plan.totalSteps} steps, effective batch ${result.plan.effectiveBatch} (split from WORLD_SIZE at launch)`,
      ...notes.map((n) => `note     ${n}`),
      `wrote    ${result.dir}: ${result.files.length} files`,
      `next     cd ${result.dir} && pip install -r requirements.txt && python train.py --check-only && bash launch.sh`,
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
