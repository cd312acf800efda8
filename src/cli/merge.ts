// `lora-lab merge`: a PEFT LoRA adapter merged into its base model, written as a complete model
// folder (config, weights in the base's own layout, dtypes and sharding, tokenizer and small files).
import { mergeModelFolder } from '../core/peft/merge';
import { RunDir } from '../core/runs';
import { type CliCommand, formatBytes, requireString } from './common';

export const mergeCommand: CliCommand = {
  summary: 'Merge a PEFT LoRA adapter into its base model and write a complete model folder',
  synopsis: '--model <base dir> --adapter <adapter dir> --out <dir> [--force] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir', description: 'Base Hugging Face model folder the adapter was trained on' },
    adapter: { type: 'string', valueName: 'dir', description: 'PEFT adapter folder (adapter_config.json + adapter_model.safetensors)' },
    out: { type: 'string', valueName: 'dir', description: 'Folder to create for the merged model (must not exist, unless --force)' },
    force: { type: 'boolean', description: 'Replace --out if it exists (only once the new folder is complete)' },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const model = requireString(values, 'model');
    const adapter = requireString(values, 'adapter');
    const out = requireString(values, 'out');
    // Into a run's folder (e.g. <run>/merged): as its one writer meanwhile (refused while it trains).
    const lock = RunDir.containing(out)?.lock('merge');
    let s: ReturnType<typeof mergeModelFolder>;
    try {
      s = mergeModelFolder({ model, adapter, out, force: values.force === true });
    } finally {
      lock?.release();
    }
    if (values.json) {
      console.log(JSON.stringify(s));
      return 0;
    }
    const dtypes = Object.entries(s.dtypes).map(([d, n]) => `${d} ×${n}`).join(', ');
    const lines = [
      `merged   ${s.mergedModules.length} module(s): ${s.mergedModules.slice(0, 4).join(', ')}${s.mergedModules.length > 4 ? ', …' : ''}`,
      `weights  ${s.weightFiles.join(', ')} (${formatBytes(s.bytes)}; ${dtypes}: the base's dtypes and key layout)`,
      `copied   ${s.copied.join(', ') || '—'}`,
      ...s.skipped.map((k) => `skipped  ${k.file}: ${k.why}`),
      `wrote    ${s.out} in ${(s.ms / 1000).toFixed(1)} s`,
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
