// `lora-lab params`: PEFT's trainable/total parameter counts from config.json alone.
import { readConfig } from '../core/hf/config';
import { countParameters, resolveLoraConfig } from '../core/lora/config';
import { selectTargets } from '../core/lora/config';
import { type CliCommand, formatBytes, formatInt, optionalInt, optionalList, requireString } from './common';

export const paramsCommand: CliCommand = {
  summary: 'Trainable and total parameters of a LoRA configuration (PEFT print_trainable_parameters), from config.json alone',
  synopsis: '--model <dir|config.json> [--rank 8] [--targets c_attn|q_proj,v_proj|all-linear] [--layers 0,1] [--json]',
  options: {
    model: { type: 'string', valueName: 'dir|config.json', description: 'Hugging Face model folder, or its config.json' },
    rank: { type: 'string', valueName: 'r', description: 'LoRA rank r', default: '8' },
    targets: { type: 'string', valueName: 'names', description: "Comma-separated module names, or all-linear (default: PEFT's for the architecture)" },
    layers: { type: 'string', valueName: 'indices', description: 'Only these layer indices (layers_to_transform)' },
    json: { type: 'boolean', description: 'Print one JSON object' },
  },
  async run(values) {
    const { spec, file } = readConfig(requireString(values, 'model'));
    const targets = optionalList(values, 'targets');
    const layers = optionalList(values, 'layers')?.map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n)) throw new Error(`--layers: "${s}" is not a layer index`);
      return n;
    });
    const cfg = resolveLoraConfig(spec, {
      r: optionalInt(values, 'rank', 1) ?? 8,
      targetModules: targets && targets.length === 1 && targets[0] === 'all-linear' ? 'all-linear' : targets,
      layersToTransform: layers,
    });
    const c = countParameters(spec, cfg);
    const modules = [...new Set(selectTargets(spec, cfg).map((m) => m.name))];
    if (values.json) {
      console.log(JSON.stringify({ model: file, architecture: spec.architecture, r: cfg.r, targetModules: cfg.targetModules, layersToTransform: cfg.layersToTransform ?? null, ...c }));
      return 0;
    }
    console.log(`${spec.architecture}: ${spec.numLayers} layers × ${spec.hiddenSize}, vocab ${formatInt(spec.vocabSize)}  (${file})`);
    console.log(`LoRA r=${cfg.r} on ${modules.join(', ')}: ${c.adaptedModules} modules${cfg.layersToTransform ? ` in layers ${cfg.layersToTransform.join(',')}` : ''}`);
    console.log(`trainable params: ${formatInt(c.trainable)} || all params: ${formatInt(c.total)} || trainable%: ${c.percent.toFixed(4)}`);
    console.log(`adapter file: ${formatBytes(c.adapterBytes)} (float32)`);
    return 0;
  },
};
