// PEFT adapter folders in and out: adapter_config.json (LoraConfig's JSON) and
// adapter_model.safetensors with PEFT's tensor names `base_model.model.<module>.lora_A.weight`
// (r, in) and `.lora_B.weight` (out, r), float32, metadata {"format": "pt"}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from './hfConfig';
import { selectTargets, type LoraConfig } from './loraConfig';
import { SafetensorsFile, writeSafetensors } from './safetensors';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export class AdapterError extends Error {
  constructor(message: string, readonly file: string) {
    super(`${file}: ${message}`);
    this.name = 'AdapterError';
  }
}

export interface PeftAdapter {
  config: LoraConfig;
  baseModel?: string;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

type Json = Record<string, unknown>;

/** Options PEFT supports that would change the math if we ignored them: refuse them by name. */
function rejectUnsupported(c: Json, file: string): void {
  const refuse = (what: string, why: string) => {
    throw new AdapterError(`${what} is not supported by LoRA Lab (${why}); train or convert the adapter without it`, file);
  };
  if (c.peft_type !== 'LORA') refuse(`peft_type ${JSON.stringify(c.peft_type)}`, 'only LORA adapters are read');
  if (c.use_dora === true) refuse('use_dora=true (DoRA)', 'it adds a magnitude vector');
  if (c.bias !== undefined && c.bias !== 'none') refuse(`bias=${JSON.stringify(c.bias)}`, 'only bias="none" is trained');
  if (c.lora_bias === true) refuse('lora_bias=true', 'lora_B has no bias here');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = c[k];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) refuse(`a non-empty ${k}`, 'one r and lora_alpha apply to every module');
  }
  if (Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0) refuse('modules_to_save', 'only LoRA matrices are stored');
  if (c.layer_replication) refuse('layer_replication', 'the base layers are used as they are');
  if (c.use_qalora === true) refuse('use_qalora=true', 'quantized bases are not loaded');
}

/** adapter_config.json → LoraConfig (validated against the model later by loadAdapter). */
export function parseAdapterConfig(raw: unknown, file: string): { config: LoraConfig; baseModel?: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AdapterError('must contain a JSON object', file);
  const c = raw as Json;
  rejectUnsupported(c, file);
  const r = c.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r <= 0) throw new AdapterError(`"r" must be a positive integer, found ${JSON.stringify(r)}`, file);
  const alpha = c.lora_alpha ?? 8; // PEFT's LoraConfig default
  if (typeof alpha !== 'number') throw new AdapterError(`"lora_alpha" must be a number, found ${JSON.stringify(alpha)}`, file);
  const tm = c.target_modules;
  if (!(typeof tm === 'string' || (Array.isArray(tm) && tm.every((t) => typeof t === 'string')))) {
    throw new AdapterError(`"target_modules" must be a list of module names or a regex string, found ${JSON.stringify(tm)}`, file);
  }
  let layers: number[] | undefined;
  const ltt = c.layers_to_transform;
  if (typeof ltt === 'number') layers = [ltt];
  else if (Array.isArray(ltt)) layers = ltt as number[];
  const init = c.init_lora_weights;
  return {
    config: {
      r,
      loraAlpha: alpha,
      loraDropout: typeof c.lora_dropout === 'number' ? c.lora_dropout : 0,
      targetModules: tm as string[] | string,
      useRslora: c.use_rslora === true,
      initLoraWeights: init === 'gaussian' ? 'gaussian' : true,
      layersToTransform: layers,
      bias: 'none',
    },
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : undefined,
  };
}

/** Reads a PEFT LoRA adapter folder. Errors name the file and tensor. */
export function readPeftAdapter(dir: string): PeftAdapter {
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(cfgFile)) throw new AdapterError(`not found: a PEFT adapter folder needs ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`, cfgFile);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new AdapterError(`is not valid JSON (${(e as Error).message})`, cfgFile);
  }
  const { config, baseModel } = parseAdapterConfig(raw, cfgFile);
  const wFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(wFile)) {
    const bin = fs.existsSync(path.join(dir, 'adapter_model.bin'));
    throw new AdapterError(
      bin ? 'only adapter_model.bin (a pickle) is present: re-save it with safe_serialization=True in PEFT' : 'not found',
      wFile,
    );
  }
  const st = SafetensorsFile.open(wFile);
  try {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const name of st.names()) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])\.(?:default\.)?weight$/.exec(name);
      if (!m) throw new AdapterError(`tensor "${name}" is not a LoRA A/B weight (embedding LoRA, DoRA magnitudes and saved modules are not supported)`, wFile);
      const info = st.info(name);
      if (info.shape.length !== 2) throw new AdapterError(`tensor "${name}" has shape [${info.shape}], expected 2-D`, wFile);
      const rank = m[2] === 'A' ? info.shape[0] : info.shape[1];
      if (rank !== config.r) throw new AdapterError(`tensor "${name}" has rank ${rank} but adapter_config.json says r=${config.r}`, wFile);
      // PEFT writes without the adapter name; older files may carry `.default.`: normalise.
      tensors.set(`base_model.model.${m[1]}.lora_${m[2]}.weight`, { shape: info.shape, data: st.readFloat32(name) });
    }
    if (tensors.size === 0) throw new AdapterError('contains no LoRA tensors', wFile);
    return { config, baseModel, tensors };
  } finally {
    st.close();
  }
}

/** adapter_config.json content with PEFT's keys; fields LoRA Lab does not use keep PEFT's defaults. */
export function adapterConfigJson(cfg: LoraConfig, spec: ModelSpec, baseModel: string, targets: string[], exactLayers?: number[]): Json {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    exclude_modules: null,
    fan_in_fan_out: spec.family === 'gpt2',
    inference_mode: true,
    init_lora_weights: cfg.initLoraWeights,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: exactLayers ?? null,
    loftq_config: {},
    lora_alpha: cfg.loraAlpha,
    lora_bias: false,
    lora_dropout: cfg.loraDropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: {},
    revision: null,
    // PEFT writes the expanded list of module names it matched (a set): sorted for stable diffs.
    target_modules: [...new Set(targets)].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: cfg.useRslora,
  };
}

/** Writes a PEFT adapter folder (config + float32 safetensors) atomically per file. */
export function writePeftAdapter(
  dir: string,
  cfg: LoraConfig,
  spec: ModelSpec,
  baseModel: string,
  tensors: { name: string; shape: number[]; data: Float32Array }[],
): void {
  fs.mkdirSync(dir, { recursive: true });
  const paths = [...new Set(tensors.map((t) => /^base_model\.model\.(.+)\.lora_[AB]\.weight$/.exec(t.name)?.[1] ?? t.name))];
  // Leaf names (+ layers_to_transform) when they select exactly these modules, else the full paths (as PEFT does for all-linear).
  const leaves = [...new Set(paths.map((p) => p.split('.').pop()!))];
  const byLeaves = selectTargets(spec, { targetModules: leaves, layersToTransform: cfg.layersToTransform }).map((m) => m.path);
  const exact = byLeaves.length === paths.length && byLeaves.every((p) => paths.includes(p));
  const targets = exact ? leaves : paths;
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  fs.writeFileSync(`${cfgFile}.tmp`, JSON.stringify(adapterConfigJson(cfg, spec, baseModel, targets, exact ? cfg.layersToTransform : undefined), null, 2) + '\n');
  fs.renameSync(`${cfgFile}.tmp`, cfgFile);
  writeSafetensors(
    path.join(dir, ADAPTER_WEIGHTS),
    tensors.map((t) => ({ name: t.name, shape: t.shape, data: t.data, dtype: 'F32' as const })),
    { format: 'pt' },
  );
}
