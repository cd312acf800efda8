// LoRA configuration with PEFT's semantics (LoraConfig field by field), target selection by
// PEFT's module-name matching, and PEFT's parameter arithmetic. Pure: no tensors, so the
// extension host and `lora-lab params` can use it on a bare config.json.
import type { ModelSpec } from '../hf/config';
import { fieldProblem, runField } from '../../protocol/runConfig';
import { baseParameterCount, defaultTargets, linearModules, moduleNames, type LinearModule } from './modules';

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /**
   * As PEFT: a list of module names or dotted path suffixes (`q_proj`, `model.layers.0.self_attn.q_proj`),
   * `all-linear`, or any other string as a regular expression that must match a whole module path.
   */
  targetModules: string[] | string;
  useRslora: boolean;
  /** PEFT's use_dora: DoRA, a trained magnitude per output rescaling the adapted weight's direction (dora.ts). */
  useDora: boolean;
  /**
   * PEFT's init_lora_weights: true = Kaiming-uniform A (a=√5) and zero B; 'gaussian' = A ~ N(0, 1/r), zero B;
   * 'pissa', 'pissa_niter_N', 'olora' = A and B from W's SVD / QR, the base becoming the residual (initDecomp.ts).
   */
  initLoraWeights: true | 'gaussian' | DecompInit;
  /** Restrict adaptation to these layer indices (PEFT's layers_to_transform); undefined = all layers. */
  layersToTransform?: number[];
  bias: 'none';
  /** PEFT's rank_pattern: module-name pattern → r for the modules it matches (patternKey); others use r. */
  rankPattern?: Record<string, number>;
  /** PEFT's alpha_pattern: module-name pattern → lora_alpha, matched the same way. */
  alphaPattern?: Record<string, number>;
}

const R = runField('lora', 'r');
const ALPHA = runField('lora', 'alpha');
const DROPOUT = runField('lora', 'dropout');

/** The run-config table's LoRA defaults (src/protocol/runConfig.ts) under PEFT's names. */
export const LORA_DEFAULTS: Omit<LoraConfig, 'targetModules'> = {
  r: R.default as number,
  loraAlpha: ALPHA.default as number,
  loraDropout: DROPOUT.default as number,
  useRslora: runField('lora', 'useRslora').default as boolean,
  useDora: runField('lora', 'useDora').default as boolean,
  initLoraWeights: initLoraWeightsOf(runField('lora', 'init').default as string),
  bias: 'none',
};

export class LoraConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraConfigError';
  }
}

/** Fills defaults (PEFT's per-architecture targets) and validates against the model. */
export function resolveLoraConfig(spec: ModelSpec, partial: Partial<LoraConfig> = {}): LoraConfig {
  const cfg: LoraConfig = { ...LORA_DEFAULTS, targetModules: defaultTargets(spec), ...stripUndefined(partial) };
  // The table's checks, named as PEFT names them (this also reads adapter_config.json files).
  for (const [f, v] of [[R, cfg.r], [ALPHA, cfg.loraAlpha], [DROPOUT, cfg.loraDropout]] as const) {
    const problem = fieldProblem(f, v, f.peft === 'r' ? 'LoRA rank r' : f.peft);
    if (problem) throw new LoraConfigError(problem);
  }
  if (cfg.initLoraWeights !== true && cfg.initLoraWeights !== 'gaussian' && !isDecompInit(cfg.initLoraWeights)) {
    throw new LoraConfigError(`init_lora_weights ${JSON.stringify(cfg.initLoraWeights)} is not supported (supported: true, "gaussian", "pissa", "pissa_niter_N", "olora")`);
  }
  const decomp = decompProblem(cfg, spec.family === 'gpt2');
  if (decomp) throw new LoraConfigError(decomp);
  if (Array.isArray(cfg.targetModules)) {
    if (cfg.targetModules.length === 0) throw new LoraConfigError('target_modules is empty: name at least one module');
    const all = linearModules(spec);
    const unknown = cfg.targetModules.filter((t) => !all.some((m) => matchesEntry(m.path, t)));
    if (unknown.length) {
      throw new LoraConfigError(
        `target module(s) ${unknown.join(', ')} do not exist in ${spec.architecture}. Choose from: ${moduleNames(spec).join(', ')}, or all-linear`,
      );
    }
  } else if (cfg.targetModules !== 'all-linear') {
    try {
      new RegExp(cfg.targetModules);
    } catch (e) {
      throw new LoraConfigError(`target_modules regex ${JSON.stringify(cfg.targetModules)} is invalid: ${(e as Error).message}`);
    }
  }
  if (cfg.layersToTransform) {
    const bad = cfg.layersToTransform.filter((l) => !Number.isInteger(l) || l < 0 || l >= spec.numLayers);
    if (bad.length) throw new LoraConfigError(`layers_to_transform ${bad.join(', ')} out of range: the model has layers 0..${spec.numLayers - 1}`);
  }
  for (const [name, pat] of [['rank_pattern', cfg.rankPattern], ['alpha_pattern', cfg.alphaPattern]] as const) {
    for (const [k, v] of Object.entries(pat ?? {})) {
      try {
        new RegExp(k);
      } catch (e) {
        throw new LoraConfigError(`${name} key ${JSON.stringify(k)} is not a valid regular expression: ${(e as Error).message}`);
      }
      const ok = name === 'rank_pattern' ? Number.isInteger(v) && v > 0 : typeof v === 'number' && Number.isFinite(v);
      if (!ok) throw new LoraConfigError(`${name} ${JSON.stringify(k)}: ${JSON.stringify(v)} is not ${name === 'rank_pattern' ? 'a positive integer rank' : 'a number'}`);
    }
  }
  const targets = selectTargets(spec, cfg);
  if (targets.length === 0) throw new LoraConfigError('no module matches target_modules and layers_to_transform');
  return cfg;
}

/**
 * PEFT's get_pattern_key (peft/utils/other.py, 0.21): the first key, in the dict's order, for which
 * `re.match(rf"(.*\.)?({key})$", module_path)` succeeds, i.e. the key matches the whole path or a
 * dotted suffix of it as a regex (`c_attn`, `h.1.attn.c_attn`, `h\.[01]\.mlp\.c_fc`); undefined when none does.
 */
export function patternKey(keys: readonly string[], modulePath: string): string | undefined {
  return keys.find((k) => new RegExp(`^(?:.*\\.)?(?:${k})$`).test(modulePath));
}

/** The r and lora_alpha PEFT gives one module (LoraModel._create_and_replace): rank_pattern / alpha_pattern, else r / lora_alpha. */
export function moduleLora<C extends Pick<LoraConfig, 'r' | 'rankPattern'> & Partial<Pick<LoraConfig, 'loraAlpha' | 'alphaPattern'>>>(cfg: C, modulePath: string): C {
  const rk = cfg.rankPattern && patternKey(Object.keys(cfg.rankPattern), modulePath);
  const ak = cfg.alphaPattern && patternKey(Object.keys(cfg.alphaPattern), modulePath);
  if (rk === undefined && ak === undefined) return cfg;
  return { ...cfg, r: rk !== undefined ? cfg.rankPattern![rk] : cfg.r, loraAlpha: ak !== undefined ? cfg.alphaPattern![ak] : cfg.loraAlpha };
}

/** The run config's lora.init as PEFT's init_lora_weights: kaiming → true, the others by their own name. */
export function initLoraWeightsOf(init: string): LoraConfig['initLoraWeights'] {
  if (init === 'gaussian' || isDecompInit(init)) return init;
  return true;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The scale applied to B·A: alpha/r, or alpha/√r with rsLoRA. */
export function loraScale(cfg: Pick<LoraConfig, 'r' | 'loraAlpha' | 'useRslora'>): number {
  return cfg.useRslora ? cfg.loraAlpha / Math.sqrt(cfg.r) : cfg.loraAlpha / cfg.r;
}

/** PEFT's rule for a list entry: the module path equals it or ends with `.entry`. */
function matchesEntry(path: string, entry: string): boolean {
  return path === entry || path.endsWith(`.${entry}`);
}

/**
 * The modules LoRA adapts, by PEFT's matching: list entries by suffix (so GPT-2's `c_proj` adapts
 * both attn.c_proj and mlp.c_proj), a string as a whole-path regex, `all-linear` every block linear.
 */
export function selectTargets(spec: ModelSpec, cfg: Pick<LoraConfig, 'targetModules' | 'layersToTransform'>): LinearModule[] {
  const all = linearModules(spec);
  const t = cfg.targetModules;
  let byName: LinearModule[];
  if (Array.isArray(t)) byName = all.filter((m) => t.some((e) => matchesEntry(m.path, e)));
  else if (t === 'all-linear') byName = all;
  else {
    const re = new RegExp(`^(?:${t})$`);
    byName = all.filter((m) => re.test(m.path));
  }
  const layers = cfg.layersToTransform;
  return layers ? byName.filter((m) => layers.includes(m.layer)) : byName;
}

/**
 * Why `cfg.r` cannot be trained on `spec`, or undefined: a rank above min(in, out) of a targeted
 * module is no longer a low-rank update (B·A cannot exceed that rank) and only costs memory;
 * an absurd one would allocate gigabytes before any pre-flight. Names the module with the
 * smallest bound. Training refuses it; reading an existing adapter does not ask.
 */
export function rankProblem(spec: ModelSpec, cfg: Pick<LoraConfig, 'r' | 'targetModules' | 'layersToTransform' | 'rankPattern'>): string | undefined {
  // The module whose rank (rank_pattern's where it applies) exceeds its bound by the most.
  let tightest: LinearModule | undefined;
  let r = cfg.r;
  const excess = (m: LinearModule) => moduleLora(cfg, m.path).r - Math.min(m.inFeatures, m.outFeatures);
  for (const m of selectTargets(spec, cfg)) {
    if (!tightest || excess(m) > excess(tightest)) tightest = m;
  }
  if (!tightest) return undefined;
  const bound = Math.min(tightest.inFeatures, tightest.outFeatures);
  r = moduleLora(cfg, tightest.path).r;
  if (r <= bound) return undefined;
  if (r !== cfg.r) return `rank_pattern gives ${tightest.path} r=${r}, which exceeds its min(in, out)=${bound} (in ${tightest.inFeatures}, out ${tightest.outFeatures}): past that the update is no longer low-rank. Choose r ≤ ${bound} for it`;
  return `LoRA rank r=${cfg.r} exceeds min(in, out)=${bound} of ${tightest.path} (in ${tightest.inFeatures}, out ${tightest.outFeatures}): past that the update is no longer low-rank. Choose r ≤ ${bound}, or target other modules`;
}

export interface ParameterCounts {
  trainable: number;
  /** All parameters of the PEFT model: base + LoRA (what print_trainable_parameters calls "all params"). */
  total: number;
  base: number;
  percent: number;
  adaptedModules: number;
  /** float32 bytes of the saved adapter's tensors. */
  adapterBytes: number;
}

/** Identical to PEFT's print_trainable_parameters() for the same config: r·(in + out) per module, + out with DoRA (its magnitude). */
export function countParameters(spec: ModelSpec, cfg: Pick<LoraConfig, 'r' | 'targetModules' | 'layersToTransform' | 'rankPattern'> & { useDora?: boolean }): ParameterCounts {
  const targets = selectTargets(spec, cfg);
  const trainable = targets.reduce((s, m) => s + moduleLora(cfg, m.path).r * (m.inFeatures + m.outFeatures) + (cfg.useDora ? m.outFeatures : 0), 0);
  const base = baseParameterCount(spec);
  const total = base + trainable;
  return { trainable, total, base, percent: (100 * trainable) / total, adaptedModules: targets.length, adapterBytes: 4 * trainable };
}

// ---- PiSSA / OLoRA: which inits take A and B from W (the math is initDecomp.ts's) ----

export type DecompInit = 'pissa' | 'olora' | `pissa_niter_${number}`;

/** Whether init_lora_weights (or the run config's lora.init) is one of the decomposition inits. */
export function isDecompInit(v: unknown): v is DecompInit {
  return v === 'pissa' || v === 'olora' || (typeof v === 'string' && niterOf(v) !== undefined);
}

/** N of `pissa_niter_N` (a whole number ≥ 0), else undefined. */
export function niterOf(v: string): number | undefined {
  const m = /^pissa_niter_(\d+)$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Why `cfg` cannot use its decomposition init, or undefined. PEFT 0.21.2's olora_init runs the QR on
 * the weight as stored, without the fan_in_fan_out transpose pissa_init does: on GPT-2's Conv1D
 * (stored (in, out)) its lora_A comes out (r, out) and the first forward fails, so an OLoRA GPT-2
 * adapter could not be reproduced or exported to PEFT. PEFT's conversion refuses rsLoRA with
 * rank_pattern/alpha_pattern (the ×√2 alpha rule cannot be expressed per pattern). DoRA on a
 * decomposition init is not implemented here (refused by name).
 */
export function decompProblem(cfg: Pick<LoraConfig, 'initLoraWeights' | 'useRslora' | 'rankPattern' | 'alphaPattern'> & { useDora?: boolean }, fanInFanOut: boolean): string | undefined {
  const init = cfg.initLoraWeights;
  if (!isDecompInit(init)) return undefined;
  if (cfg.useDora) return `use_dora with init_lora_weights ${JSON.stringify(init)} is not supported by LoRA Lab yet: train DoRA with init "kaiming" or "gaussian"`;
  if (init === 'olora' && fanInFanOut) {
    return 'init_lora_weights "olora" is not supported on GPT-2 (Conv1D, fan_in_fan_out): PEFT 0.21.2 does its QR on the stored (in, out) weight without transposing, so its adapter has the wrong shapes and fails in PEFT; use "pissa" (which PEFT transposes correctly) or a Llama-family model';
  }
  if (cfg.useRslora && (cfg.rankPattern || cfg.alphaPattern)) {
    return `init_lora_weights "${init}" with use_rslora and rank_pattern/alpha_pattern cannot be converted to a plain LoRA adapter (PEFT's save_pretrained refuses it too): drop rsLoRA or the patterns`;
  }
  return undefined;
}
