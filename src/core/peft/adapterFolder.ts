// PEFT adapter folders in and out: adapter_config.json (LoraConfig's JSON) and
// adapter_model.safetensors with PEFT's tensor names `base_model.model.<module>.lora_A.weight`
// (r, in) and `.lora_B.weight` (out, r), with DoRA (use_dora) `.lora_magnitude_vector` (out) too,
// float32, metadata {"format": "pt"}. Reading checks an
// adapter against the base it is loaded on (modules, shapes, target_modules by PEFT's matching
// rules) and refuses LoRA variants whose math LoRA Lab does not implement, naming them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelSpec } from '../hf/config';
import { moduleLora, resolveLoraConfig, selectTargets, type LoraConfig } from '../lora/config';
import { checkConfigFields } from './configFields';
import type { CausalLM } from '../models/causalLm';
import { linearModules, type LinearModule } from '../lora/modules';
import { makeDirs, writeFileAtomic } from '../util/durableFiles';
import { SafetensorsFile, writeSafetensors } from '../hf/safetensors';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** The dtypes an adapter's tensors are read from (SafetensorsFile.readFloat32). */
const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

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
  /** PEFT's module-selection options LoraConfig does not carry (used to check the tensors against target_modules). */
  selection?: { excludeModules?: string[] | string; layersPattern?: string[] | string };
  /** adapter_config.json fields read but not understood (configFields.ts), one line each naming the file. */
  warnings?: string[];
}

/** The PEFT version whose adapter_config.json keys and defaults LoRA Lab writes (and was tested against). */
export const PEFT_FORMAT_VERSION = '0.21.2';

type Json = Record<string, unknown>;

/** adapter_config.json → LoraConfig (checked against a model later by adapterForModel). */
export function parseAdapterConfig(raw: unknown, file: string): Omit<PeftAdapter, 'tensors'> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AdapterError('must contain a JSON object', file);
  const c = raw as Json;
  // Every field of PEFT's LoraConfig is honoured, harmless or refused by name (configFields.ts).
  const fields = checkConfigFields(c, PEFT_FORMAT_VERSION);
  if (fields.refused) throw new AdapterError(fields.refused, file);
  const warnings = fields.unknown.length
    ? [`${file}: ignoring ${fields.unknown.join(', ')}: not LoraConfig fields of PEFT ${PEFT_FORMAT_VERSION} (a newer PEFT?), set to default-looking values`]
    : [];
  const pattern = (key: 'rank_pattern' | 'alpha_pattern'): Record<string, number> | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'number')) {
      throw new AdapterError(`"${key}" must map module-name patterns to numbers, found ${JSON.stringify(v)}`, file);
    }
    for (const k of Object.keys(v)) {
      try {
        new RegExp(k);
      } catch (e) {
        throw new AdapterError(`"${key}" key ${JSON.stringify(k)} is not a regular expression LoRA Lab can read (${(e as Error).message})`, file);
      }
    }
    return Object.keys(v).length ? (v as Record<string, number>) : undefined;
  };
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
  const strings = (v: unknown): string[] | string | undefined =>
    typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')) ? (v as string[] | string) : undefined;
  return {
    config: {
      r,
      loraAlpha: alpha,
      loraDropout: typeof c.lora_dropout === 'number' ? c.lora_dropout : 0,
      targetModules: tm as string[] | string,
      useRslora: c.use_rslora === true,
      useDora: c.use_dora === true,
      initLoraWeights: init === 'gaussian' ? 'gaussian' : true,
      layersToTransform: layers,
      bias: 'none',
      rankPattern: pattern('rank_pattern'),
      alphaPattern: pattern('alpha_pattern'),
    },
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : undefined,
    selection: { excludeModules: strings(c.exclude_modules), layersPattern: strings(c.layers_pattern) },
    warnings,
  };
}

/** An adapter folder's config and tensor shapes, its weights not read (`stored`: the tensor's name in the file). */
type AdapterShapes = Omit<PeftAdapter, 'tensors'> & { tensors: Map<string, { shape: number[]; stored: string }> };

/** Reads a PEFT LoRA adapter folder. Errors name the file and tensor. */
export function readPeftAdapter(dir: string): PeftAdapter {
  return readAdapterWeights(dir, readAdapterShapes(dir));
}

function readAdapterWeights(dir: string, { tensors: shapes, ...rest }: AdapterShapes): PeftAdapter {
  const st = SafetensorsFile.open(path.join(dir, ADAPTER_WEIGHTS));
  try {
    const tensors = new Map([...shapes].map(([key, t]) => [key, { shape: t.shape, data: st.readFloat32(t.stored) }]));
    return { ...rest, tensors };
  } finally {
    st.close();
  }
}

/**
 * The LoraConfig that loads the adapter in `dir` on `spec`, from adapter_config.json and the
 * tensors' shapes alone (no weight is read): every check of adapterForModel, before any model or
 * tensor is loaded.
 */
export function checkPeftAdapter(dir: string, spec: ModelSpec): LoraConfig {
  return adapterForModel(readAdapterShapes(dir), spec, dir);
}

/**
 * Reads the adapter in `dir` for a base of `spec`: adapter_config.json and the safetensors header
 * are checked against `spec` first (an adapter for another model fails naming its file and tensor
 * before any weight is read), then the weights are read. `config` is the one that loads them.
 */
export function readPeftAdapterFor(dir: string, spec: ModelSpec): PeftAdapter & { config: LoraConfig } {
  const shapes = readAdapterShapes(dir);
  const config = adapterForModel(shapes, spec, dir);
  return { ...readAdapterWeights(dir, shapes), config };
}

function readAdapterShapes(dir: string): AdapterShapes {
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(cfgFile)) throw new AdapterError(`not found: a PEFT adapter folder needs ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`, cfgFile);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new AdapterError(`is not valid JSON (${(e as Error).message})`, cfgFile);
  }
  const { config, baseModel, selection, warnings } = parseAdapterConfig(raw, cfgFile);
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
    const tensors: AdapterShapes['tensors'] = new Map();
    for (const name of st.names()) {
      const { dtype } = st.info(name);
      if (!FLOAT_DTYPES.includes(dtype)) throw new AdapterError(`tensor "${name}" is ${dtype}; adapter weights must be F32, F16, BF16 or F64 (re-save the adapter from PEFT without quantizing it)`, wFile);
      const dora = /^base_model\.model\.(.+)\.lora_magnitude_vector(?:\.default)?$/.exec(name);
      if (dora) {
        if (!config.useDora) throw new AdapterError(`tensor "${name}" is a DoRA magnitude, but adapter_config.json has use_dora false: the config and the weights come from different adapters`, wFile);
        const info = st.info(name);
        if (info.shape.length !== 1) throw new AdapterError(`tensor "${name}" has shape [${info.shape}], expected 1-D (one magnitude per output)`, wFile);
        tensors.set(`base_model.model.${dora[1]}.lora_magnitude_vector`, { shape: info.shape, stored: name });
        continue;
      }
      const m = /^base_model\.model\.(.+)\.lora_([AB])\.(?:default\.)?weight$/.exec(name);
      if (!m) throw new AdapterError(`tensor "${name}" is not a LoRA A/B weight or DoRA magnitude (embedding LoRA and saved modules are not supported)`, wFile);
      const info = st.info(name);
      if (info.shape.length !== 2) throw new AdapterError(`tensor "${name}" has shape [${info.shape}], expected 2-D`, wFile);
      const rank = m[2] === 'A' ? info.shape[0] : info.shape[1];
      const want = moduleLora(config, m[1]).r;
      if (rank !== want) {
        const says = want === config.r ? `r=${want}` : `r=${want} for ${m[1]} (rank_pattern)`;
        throw new AdapterError(`tensor "${name}" has rank ${rank} but adapter_config.json says ${says}: the config and the weights come from different adapters`, wFile);
      }
      // PEFT writes without the adapter name; older files may carry `.default.`: normalise.
      tensors.set(`base_model.model.${m[1]}.lora_${m[2]}.weight`, { shape: info.shape, stored: name });
    }
    if (tensors.size === 0) throw new AdapterError('contains no LoRA tensors', wFile);
    return { config, baseModel, tensors, selection, warnings };
  } finally {
    st.close();
  }
}

/** adapter_config.json content: every key PEFT 0.21.2 writes; fields LoRA Lab does not use keep PEFT's defaults. */
export function adapterConfigJson(cfg: LoraConfig, spec: ModelSpec, baseModel: string, targets: string[], exactLayers?: number[]): Json {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: cfg.alphaPattern ?? {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: spec.family === 'gpt2', // GPT-2's Conv1D stores (in, out)
    inference_mode: true,
    init_lora_weights: cfg.initLoraWeights,
    kasa_config: null,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: exactLayers ?? null,
    loftq_config: {},
    lora_alpha: cfg.loraAlpha,
    lora_bias: false,
    lora_dropout: cfg.loraDropout,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    monteclora_config: null,
    peft_type: 'LORA',
    // PEFT fills this with its own version; the format written here is that of PEFT_FORMAT_VERSION.
    peft_version: PEFT_FORMAT_VERSION,
    qalora_group_size: 16,
    r: cfg.r,
    rank_pattern: cfg.rankPattern ?? {},
    revision: null,
    // PEFT writes the module names it matched (a set): sorted here for stable diffs.
    target_modules: [...new Set(targets)].sort(),
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: cfg.useDora,
    use_qalora: false,
    use_rslora: cfg.useRslora,
    velora_config: null,
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
  makeDirs(dir); // not Node's recursive mkdir, which reports a read-only file system as ENOENT
  const paths = [...new Set(tensors.map((t) => /^base_model\.model\.(.+)\.(?:lora_[AB]\.weight|lora_magnitude_vector)$/.exec(t.name)?.[1] ?? t.name))];
  // Leaf names (+ layers_to_transform) when they select exactly these modules, else the full paths;
  // all-linear is written as full paths, as PEFT expands it.
  const leaves = [...new Set(paths.map((p) => p.split('.').pop()!))];
  const byLeaves = selectTargets(spec, { targetModules: leaves, layersToTransform: cfg.layersToTransform }).map((m) => m.path);
  const exact = cfg.targetModules !== 'all-linear' && byLeaves.length === paths.length && byLeaves.every((p) => paths.includes(p));
  const targets = exact ? leaves : paths;
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  writeFileAtomic(cfgFile, JSON.stringify(adapterConfigJson(cfg, spec, baseModel, targets, exact ? cfg.layersToTransform : undefined), null, 2) + '\n');
  writeSafetensors(
    path.join(dir, ADAPTER_WEIGHTS),
    tensors.map((t) => ({ name: t.name, shape: t.shape, data: t.data, dtype: 'F32' as const })),
    { format: 'pt' },
  );
}

/** PEFT's check_target_module_exists for one module path: exclude_modules, then target_modules (list or regex), then layers. */
function peftSelects(modulePath: string, cfg: LoraConfig, sel: PeftAdapter['selection'] = {}): boolean {
  const ex = sel.excludeModules;
  if (typeof ex === 'string' ? new RegExp(`^(?:${ex})$`).test(modulePath) : ex?.some((e) => modulePath === e || modulePath.endsWith(`.${e}`))) return false;
  const tm = cfg.targetModules;
  if (typeof tm === 'string') return tm === 'all-linear' || new RegExp(`^(?:${tm})$`).test(modulePath);
  if (tm.includes(modulePath)) return true;
  if (!tm.some((t) => modulePath.endsWith(`.${t}`))) return false;
  const layers = cfg.layersToTransform;
  if (!layers || layers.length === 0) return true;
  const patterns = sel.layersPattern === undefined || sel.layersPattern.length === 0 ? undefined : [sel.layersPattern].flat();
  const m = patterns
    ? patterns.map((p) => new RegExp(`(?:^|.*?\\.)${p}\\.(\\d+)\\.`).exec(modulePath)).find((x) => x)
    : /.*?\.[^.]*\.(\d+)\./.exec(modulePath);
  return m ? layers.includes(Number(m[1])) : false;
}

/**
 * Checks an adapter read from `dir` against a base: every tensor belongs to a linear module of this
 * architecture with the right shape, both factors are present, and the modules are exactly those
 * adapter_config.json's target_modules select (PEFT's rules). Returns the config that loads them.
 */
export function adapterForModel(adapter: Omit<PeftAdapter, 'tensors'> & { tensors: Map<string, { shape: number[] }> }, spec: ModelSpec, dir: string): LoraConfig {
  const [cfgFile, wFile] = [path.join(dir, ADAPTER_CONFIG), path.join(dir, ADAPTER_WEIGHTS)];
  const all = linearModules(spec);
  const byPath = new Map(all.map((m) => [m.path, m]));
  const factors = new Map<string, Set<string>>();
  for (const [name, t] of adapter.tensors) {
    const [, modPath, which] = /^base_model\.model\.(.+)\.(?:lora_([AB])\.weight|lora_magnitude_vector)$/.exec(name)!;
    const mod = byPath.get(modPath);
    if (!mod) {
      throw new AdapterError(`tensor "${name}" is for module "${modPath}", which ${spec.architecture} with ${spec.numLayers} layers does not have (its modules look like ${all[0].path}): the adapter was made for another model`, wFile);
    }
    if (!which) {
      // DoRA's magnitude: one per output of the module.
      if (t.shape.length !== 1 || t.shape[0] !== mod.outFeatures) {
        throw new AdapterError(`tensor "${name}" has shape [${t.shape.join(', ')}], but ${modPath} of this base has ${mod.outFeatures} outputs: the adapter was trained on a base of other dimensions`, wFile);
      }
      factors.set(modPath, (factors.get(modPath) ?? new Set()).add('magnitude'));
      continue;
    }
    const r = moduleLora(adapter.config, modPath).r;
    const want = which === 'A' ? [r, mod.inFeatures] : [mod.outFeatures, r];
    if (t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
      throw new AdapterError(`tensor "${name}" has shape [${t.shape.join(', ')}], but ${modPath} of this base (in ${mod.inFeatures}, out ${mod.outFeatures}) needs [${want.join(', ')}]: the adapter was trained on a base of other dimensions`, wFile);
    }
    factors.set(modPath, (factors.get(modPath) ?? new Set()).add(which));
  }
  for (const [modPath, f] of factors) {
    if (!f.has('A') || !f.has('B')) {
      const has = f.has('A') ? 'lora_A' : f.has('B') ? 'lora_B' : 'a DoRA magnitude';
      throw new AdapterError(`has ${has} but no ${f.has('A') ? 'lora_B' : 'lora_A'} for module ${modPath}: the file is incomplete`, wFile);
    }
    if (adapter.config.useDora && !f.has('magnitude')) {
      throw new AdapterError(`has no lora_magnitude_vector for module ${modPath}, but adapter_config.json has use_dora true: the file is incomplete`, wFile);
    }
  }
  let selected: LinearModule[];
  try {
    selected = all.filter((m) => peftSelects(m.path, adapter.config, adapter.selection));
  } catch (e) {
    throw new AdapterError(`target_modules or exclude_modules is not a valid regular expression (${(e as Error).message})`, cfgFile);
  }
  const missing = selected.filter((m) => !factors.has(m.path));
  if (missing.length) throw new AdapterError(`target_modules selects ${missing[0].path}${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}, but ${ADAPTER_WEIGHTS} has no lora_A/lora_B for it: the config and weights do not match`, cfgFile);
  const extra = [...factors.keys()].filter((p) => !selected.some((m) => m.path === p));
  if (extra.length) throw new AdapterError(`has LoRA weights for ${extra[0]}, which target_modules ${JSON.stringify(adapter.config.targetModules)} in ${ADAPTER_CONFIG} does not select: the config and weights do not match`, wFile);
  // Keep the file's target spelling when LoRA Lab's own matching agrees; else name the modules exactly.
  try {
    const ours = resolveLoraConfig(spec, adapter.config);
    const same = selectTargets(spec, ours).map((m) => m.path);
    if (same.length === selected.length && same.every((p, i) => p === selected[i].path)) return ours;
  } catch {
    // e.g. a target list that also names modules of other architectures: fall through to exact paths
  }
  return resolveLoraConfig(spec, { ...adapter.config, targetModules: selected.map((m) => m.path), layersToTransform: undefined });
}

/** Reads the PEFT adapter folder `dir`, checks it against `model`'s architecture and installs it. */
export function loadPeftAdapter(model: CausalLM, dir: string): PeftAdapter {
  const adapter = readPeftAdapterFor(dir, model.spec);
  model.loadAdapter(adapter.config, adapter.tensors);
  return adapter;
}
