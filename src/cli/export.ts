// `lora-lab export --run <dir> --to trl --out <bundle>`: a run as a folder for TRL + Accelerate
// (multi-GPU, multi-node): train.py, the run's data as LoRA Lab tokenized it (validation rows
// included), Accelerate configs, launch.sh, slurm.sbatch. The work is src/core/exportRun.ts.
import { ExportError } from '../core/export';
import { exportRunToTrl } from '../core/exportRun';
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
    let result;
    try {
      result = await exportRunToTrl({ runDir, out, force: values.force === true, baseId: typeof values['base-id'] === 'string' ? values['base-id'] : undefined });
    } catch (e) {
      if (e instanceof ExportError) throw new CliUsageError(e.message);
      throw e;
    }
    const { notes } = result;
    if (values.json) {
      console.log(JSON.stringify({ dir: result.dir, files: result.files, effectiveBatch: result.plan.effectiveBatch, batchSplits: result.plan.batchSplits, totalSteps: result.plan.totalSteps, train: result.train, valid: result.valid, notes }));
      return 0;
    }
    const lines = [
      `data     ${formatInt(result.train)} training and ${formatInt(result.valid)} validation examples (LoRA Lab's tokens and loss mask)`,
      `plan     ${result.plan.totalSteps} steps, effective batch ${result.plan.effectiveBatch}; world sizes ${result.plan.batchSplits.map((s) => s.world).join(', ')} keep it (train.py's BATCH_SPLITS)`,
      ...notes.map((n) => `note     ${n}`),
      `wrote    ${result.dir}: ${result.files.length} files`,
      `next     cd ${result.dir} && pip install -r requirements.txt && python train.py --check-only && bash launch.sh`,
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
