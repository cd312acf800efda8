// `lora-lab params`: PEFT's trainable/total parameter counts from config.json alone.
import { readConfig } from '../core/hf/config';
import { countParameters, resolveLoraConfig } from '../core/lora/config';
import { selectTargets } from '../core/lora/config';
import { patternRecord, runField } from '../protocol/runConfig';
import { type CliCommand, fieldFlagValue, fieldOption, formatBytes, formatInt, requireString } from './common';

// The same flags, defaults and checks as `lora-lab train` (the run-config table).
const RANK = runField('lora', 'r');
const TARGETS = runField('lora', 'targetModules');
const LAYERS = runField('lora', 'layers');
const RANK_PATTERN = runField('lora', 'rankPattern');
const ALPHA_PATTERN = runField('lora', 'alphaPattern');
const DORA = runField('lora', 'useDora');

export const paramsCommand: CliCommand = {
  summary: 'Trainable and total parameters of a LoRA configuration (PEFT print_trainable_parameters), from config.json alone',
  synopsis: '--model <dir|config.json> [--rank 8] [--targets c_attn|q_proj,v_proj|all-linear] [--layers 0,1] [--rank-pattern key=r,…] [--alpha-pattern key=a,…] [--dora] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir|config.json', description: 'Hugging Face model folder, or its config.json' },
    rank: fieldOption(RANK),
    targets: fieldOption(TARGETS),
    layers: fieldOption(LAYERS),
    'rank-pattern': fieldOption(RANK_PATTERN),
    'alpha-pattern': fieldOption(ALPHA_PATTERN),
    dora: fieldOption(DORA),
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const { spec, file } = readConfig(requireString(values, 'model'));
    const cfg = resolveLoraConfig(spec, {
      r: fieldFlagValue(values, RANK) as number | undefined,
      targetModules: fieldFlagValue(values, TARGETS) as string[] | string | undefined,
      layersToTransform: fieldFlagValue(values, LAYERS) as number[] | undefined,
      rankPattern: patternRecord(fieldFlagValue(values, RANK_PATTERN) as string[] | undefined),
      alphaPattern: patternRecord(fieldFlagValue(values, ALPHA_PATTERN) as string[] | undefined),
      useDora: fieldFlagValue(values, DORA) as boolean | undefined,
    });
    const c = countParameters(spec, cfg);
    const modules = [...new Set(selectTargets(spec, cfg).map((m) => m.name))];
    if (values.json) {
      console.log(JSON.stringify({ model: file, architecture: spec.architecture, r: cfg.r, targetModules: cfg.targetModules, layersToTransform: cfg.layersToTransform ?? null, rankPattern: cfg.rankPattern ?? null, alphaPattern: cfg.alphaPattern ?? null, useDora: cfg.useDora, ...c }));
      return 0;
    }
    console.log(`${spec.architecture}: ${spec.numLayers} layers × ${spec.hiddenSize}, vocab ${formatInt(spec.vocabSize)}  (${file})`);
    const entries = (p: Record<string, number>) => Object.entries(p).map(([k, v]) => `${k}=${v}`).join(', ');
    const pattern = cfg.rankPattern ? ` (rank_pattern ${entries(cfg.rankPattern)})` : '';
    const alphas = cfg.alphaPattern ? ` (alpha_pattern ${entries(cfg.alphaPattern)})` : '';
    console.log(`${cfg.useDora ? 'DoRA' : 'LoRA'} r=${cfg.r}${pattern}${alphas} on ${modules.join(', ')}: ${c.adaptedModules} modules${cfg.layersToTransform ? ` in layers ${cfg.layersToTransform.join(',')}` : ''}`);
    console.log(`trainable params: ${formatInt(c.trainable)} || all params: ${formatInt(c.total)} || trainable%: ${c.percent.toFixed(4)}`);
    console.log(`adapter file: ${formatBytes(c.adapterBytes)} (float32${cfg.useDora ? `, with ${formatInt(selectTargets(spec, cfg).reduce((s, m) => s + m.outFeatures, 0))} DoRA magnitudes` : ''})`);
    return 0;
  },
};
