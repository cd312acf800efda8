// The tensors a model of a config.json reads from its checkpoint (names, shapes), and a check of a
// model folder against them from the safetensors headers alone: every tensor present, with the
// shape config.json implies and a dtype LoRA Lab can train on. No tensor data is read, so
// `lora-lab train` refuses a broken or quantized model before a run folder exists (session.ts).
// Gpt2Model.load / LlamaModel.load read exactly these (test/unit/weightLayout.test.ts).
import * as path from 'node:path';
import type { ModelSpec } from '../hf/config';
import { closeNamesHint, SafetensorsError } from '../hf/safetensors';
import { WeightStore } from '../hf/weights';
import { gpt2Modules, llamaModules } from '../lora/modules';

export interface ExpectedWeight {
  /** The key in the checkpoint (with the GPT-2 prefix, if the checkpoint uses one). */
  key: string;
  shape: number[];
}

/** The dtypes WeightReader reads (SafetensorsFile.readFloat32); integer and 8-bit/4-bit quantized weights are not. */
export const TRAINABLE_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** Which key layout a GPT-2 checkpoint uses: 'transformer.' or '' (bare GPT2Model keys). */
export function gpt2Prefix(names: readonly string[], where: string): string {
  if (names.includes('transformer.wte.weight')) return 'transformer.';
  if (names.includes('wte.weight')) return '';
  throw new Error(
    `${where}: not a GPT-2 checkpoint: neither "transformer.wte.weight" nor "wte.weight" is present (first keys: ${names.slice(0, 5).join(', ')})`,
  );
}

/** What load reads for `spec` from a checkpoint holding `names`, in load order. */
export function expectedWeights(spec: ModelSpec, names: readonly string[], where: string): ExpectedWeight[] {
  const d = spec.hiddenSize;
  const V = spec.vocabSize;
  const out: ExpectedWeight[] = [];
  const need = (key: string, shape: number[]) => out.push({ key, shape });
  if (spec.family === 'gpt2') {
    const p = gpt2Prefix(names, where);
    need(`${p}wte.weight`, [V, d]);
    need(`${p}wpe.weight`, [spec.maxPositions, d]);
    const modules = gpt2Modules(spec);
    for (let i = 0; i < spec.numLayers; i++) {
      const h = `${p}h.${i}.`;
      const lin = (m: (typeof modules)[number]) => {
        const key = p + m.path.replace(/^transformer\./, '');
        need(`${key}.weight`, [m.inFeatures, m.outFeatures]); // Conv1D: (in, out)
        need(`${key}.bias`, [m.outFeatures]);
      };
      need(`${h}ln_1.weight`, [d]);
      need(`${h}ln_1.bias`, [d]);
      lin(modules[4 * i]);
      lin(modules[4 * i + 1]);
      need(`${h}ln_2.weight`, [d]);
      need(`${h}ln_2.bias`, [d]);
      lin(modules[4 * i + 2]);
      lin(modules[4 * i + 3]);
    }
    need(`${p}ln_f.weight`, [d]);
    need(`${p}ln_f.bias`, [d]);
    // The LM head key is never prefixed; a tied copy saved anyway is not read.
    if (!spec.tieWordEmbeddings) need('lm_head.weight', [V, d]);
    return out;
  }
  need('model.embed_tokens.weight', [V, d]);
  const modules = llamaModules(spec);
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const lin = (m: (typeof modules)[number]) => {
      need(`${m.path}.weight`, [m.outFeatures, m.inFeatures]); // nn.Linear: (out, in)
      if (m.bias) need(`${m.path}.bias`, [m.outFeatures]);
    };
    need(`${p}input_layernorm.weight`, [d]);
    for (const m of modules.slice(7 * i, 7 * i + 4)) lin(m);
    need(`${p}post_attention_layernorm.weight`, [d]);
    for (const m of modules.slice(7 * i + 4, 7 * i + 7)) lin(m);
  }
  need('model.norm.weight', [d]);
  if (!spec.tieWordEmbeddings) need('lm_head.weight', [V, d]);
  return out;
}

/**
 * Checks `modelDir`'s weights against `spec` from the headers alone: each tensor load will read is
 * present, has config.json's shape and a trainable dtype. Errors name the file and the tensor.
 */
export function checkModelWeights(modelDir: string, spec: ModelSpec): void {
  const store = WeightStore.open(modelDir);
  try {
    const configFile = path.join(modelDir, 'config.json');
    for (const w of expectedWeights(spec, store.names(), modelDir)) {
      if (!store.has(w.key)) {
        const file = store.files.length === 1 ? store.files[0] : modelDir;
        throw new SafetensorsError(
          `${file}: tensor "${w.key}" is missing${closeNamesHint(w.key, store.names())}; ${spec.architecture} with the sizes in ${configFile} reads it. ` +
            'The weights and config.json come from different models or a broken conversion: download both from one source.',
          file, w.key);
      }
      const info = store.info(w.key);
      if (info.shape.length !== w.shape.length || info.shape.some((n, i) => n !== w.shape[i])) {
        throw new SafetensorsError(
          `${info.file}: tensor "${w.key}" has shape [${info.shape.join(', ')}], but ${configFile} implies [${w.shape.join(', ')}]. ` +
            'The weights and config.json come from different models or a broken conversion: download both from one source.',
          info.file, w.key);
      }
      if (!TRAINABLE_DTYPES.includes(info.dtype)) {
        throw new SafetensorsError(
          `${info.file}: tensor "${w.key}" is ${info.dtype}; LoRA Lab trains on ${TRAINABLE_DTYPES.join(', ')} weights (quantized or integer weights are not supported): ` +
            'use the float16, bfloat16 or float32 release of the model.',
          info.file, w.key);
      }
    }
  } finally {
    store.close();
  }
}
